#!/usr/bin/env python3
"""Administration steps for kmirror's Kafka tests on confluent-kafka (librdkafka): SCRAM users,
ACLs and topic configs, as an operator's admin client sets and reads them. Same conventions
as kafka_client.py (JSON request on stdin, JSON answer on stdout; "security" adds librdkafka
settings).

  add-scram-user   {"bootstrap", "user", "password"} -> {"added"} (SCRAM-SHA-512)
  create-acls      {"bootstrap", "acls": [ACL]} -> {"created": n}
  describe-acls    {"bootstrap", "resource_type": "topic"|"group"|"cluster"|"any"} -> {"acls": [ACL]}
  describe-configs {"bootstrap", "topic"} -> {"configs": {name: {"value", "source"}}}
                   ("source": Kafka's ConfigSource name, e.g. DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG;
                   {} for a topic that does not exist)
  alter-configs    {"bootstrap", "topic", "set": {name: value}, "delete": [name]} -> {"altered"}

  ACL = {"resource_type": "topic"|"group"|"cluster", "name", "pattern": "literal"|"prefixed",
         "principal", "host", "operation": "read"|"write"|"all"|…, "permission": "allow"|"deny"}
"""
import json
import sys

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourcePatternType,
                                   ResourceType, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

COMMON = {"enable.metrics.push": False}


def admin(req):
    return AdminClient({"bootstrap.servers": req["bootstrap"], **COMMON, **req.get("security", {})})


def add_scram_user(req):
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upsert = UserScramCredentialUpsertion(req["user"], info, req["password"].encode())
    client = admin(req)  # kept until the futures are done: a dropped client fails them
    for _, f in client.alter_user_scram_credentials([upsert]).items():
        f.result(timeout=30)
    return {"added": req["user"]}


# confluent-kafka calls the cluster resource BROKER (its code is Kafka's CLUSTER, 4).
def resource_type(name):
    return ResourceType.BROKER if name == "cluster" else ResourceType[name.upper()]


def binding(a):
    return AclBinding(resource_type(a["resource_type"]), a["name"],
                      ResourcePatternType[a.get("pattern", "literal").upper()], a["principal"], a.get("host", "*"),
                      AclOperation[a["operation"].upper()], AclPermissionType[a.get("permission", "allow").upper()])


def as_dict(b):
    kind = "cluster" if b.restype == ResourceType.BROKER else b.restype.name.lower()
    return {"resource_type": kind, "name": b.name, "pattern": b.resource_pattern_type.name.lower(),
            "principal": b.principal, "host": b.host, "operation": b.operation.name.lower(),
            "permission": b.permission_type.name.lower()}


def create_acls(req):
    bindings = [binding(a) for a in req["acls"]]
    client = admin(req)
    for _, f in client.create_acls(bindings, request_timeout=30).items():
        f.result()
    return {"created": len(bindings)}


def describe_acls(req):
    kind = resource_type(req.get("resource_type", "any"))
    flt = AclBindingFilter(kind, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY)
    client = admin(req)
    acls = client.describe_acls(flt, request_timeout=30).result()
    return {"acls": sorted((as_dict(b) for b in acls), key=lambda a: json.dumps(a, sort_keys=True))}


def describe_configs(req):
    resource = ConfigResource(ConfigResource.Type.TOPIC, req["topic"])
    out = {}
    client = admin(req)
    for _, f in client.describe_configs([resource], request_timeout=30).items():
        try:
            entries = f.result()
        except KafkaException as e:
            if e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return {"configs": {}}
            raise
        for name, entry in entries.items():
            # The C layer hands the source over as Kafka's code.
            out[name] = {"value": entry.value, "source": ConfigSource(int(entry.source)).name}
    return {"configs": out}


def alter_configs(req):
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in req.get("set", {}).items()]
    entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in req.get("delete", [])]
    resource = ConfigResource(ConfigResource.Type.TOPIC, req["topic"], incremental_configs=entries)
    client = admin(req)
    for _, f in client.incremental_alter_configs([resource]).items():
        f.result(timeout=30)
    return {"altered": req["topic"]}


def main():
    commands = {"add-scram-user": add_scram_user, "create-acls": create_acls, "describe-acls": describe_acls,
                "describe-configs": describe_configs, "alter-configs": alter_configs}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: kafka_admin.py {{{'|'.join(commands)}}} < request.json")
    json.dump(commands[sys.argv[1]](json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
