#!/usr/bin/env bash
# Installs what the integration tests need into the project-local tools directory
# (.tools/ by default, KMIRROR_TOOLS to override), reusing whatever is already there:
#
#   .tools/venv        a Python venv with confluent-kafka 2.16.1 (librdkafka 2.16), the
#                      independent client the tests check results with
#   .tools/kafka/V     Apache Kafka and MirrorMaker 2 jars, for each version the tests run
#                      (scripts/install-kafka.sh, from Maven Central through a committed pom):
#                      the brokers the tests, the demo and the comparison run against
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${KMIRROR_TOOLS:-$root/.tools}
confluent_version=2.16.1

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

mkdir -p "$tools"
venv=$tools/venv
if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c "import sys; from importlib.metadata import version; sys.exit(version('confluent-kafka') != '$confluent_version')" 2>/dev/null; then
    log "confluent-kafka $confluent_version present"
else
    log "creating $venv with confluent-kafka $confluent_version"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "confluent-kafka==$confluent_version"
fi

"$root/scripts/install-kafka.sh"
