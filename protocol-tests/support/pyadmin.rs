//! Runs `kafka_admin.py` (confluent-kafka's AdminClient): SCRAM users, ACLs and topic configs
//! set and read as an operator's admin client does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

async fn admin(command: &'static str, request: Value) -> Value {
    tokio::task::spawn_blocking(move || super::pyclient::run_script("kafka_admin.py", &[command], request))
        .await
        .expect("python task")
}

/// An ACL binding as confluent-kafka shows it (names lower case: `topic`, `literal`, `read`,
/// `allow`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Acl {
    pub resource_type: String,
    pub name: String,
    pub pattern: String,
    pub principal: String,
    pub host: String,
    pub operation: String,
    pub permission: String,
}

impl Acl {
    pub fn new(
        resource_type: &str,
        name: &str,
        pattern: &str,
        principal: &str,
        operation: &str,
        permission: &str,
    ) -> Self {
        Self {
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
            pattern: pattern.to_owned(),
            principal: principal.to_owned(),
            host: "*".to_owned(),
            operation: operation.to_owned(),
            permission: permission.to_owned(),
        }
    }

    /// Allow `operation` on the literal topic `name`.
    pub fn topic(name: &str, principal: &str, operation: &str) -> Self {
        Self::new("topic", name, "literal", principal, operation, "allow")
    }
}

/// Adds (or updates) a SCRAM-SHA-512 user.
pub async fn add_scram_user(bootstrap: &str, user: &str, password: &str) {
    let _ = admin(
        "add-scram-user",
        json!({"bootstrap": bootstrap, "user": user, "password": password}),
    )
    .await;
}

pub async fn create_acls(bootstrap: &str, acls: &[Acl]) {
    let _ = admin("create-acls", json!({"bootstrap": bootstrap, "acls": acls})).await;
}

/// Every ACL of topic resources, sorted.
pub async fn topic_acls(bootstrap: &str) -> Vec<Acl> {
    let answer = admin(
        "describe-acls",
        json!({"bootstrap": bootstrap, "resource_type": "topic"}),
    )
    .await;
    serde_json::from_value(answer["acls"].clone()).expect("acls")
}

/// A topic's configs: name -> (value, ConfigSource name).
pub async fn topic_configs(bootstrap: &str, topic: &str) -> BTreeMap<String, (Option<String>, String)> {
    let answer = admin(
        "describe-configs",
        json!({"bootstrap": bootstrap, "topic": topic}),
    )
    .await;
    let configs = answer["configs"].as_object().expect("configs").clone();
    configs
        .into_iter()
        .map(|(name, c)| {
            let value = c["value"].as_str().map(str::to_owned);
            let source = c["source"].as_str().unwrap_or("").to_owned();
            (name, (value, source))
        })
        .collect()
}

/// Sets and deletes topic configs (IncrementalAlterConfigs).
pub async fn alter_configs(bootstrap: &str, topic: &str, set: Value, delete: &[&str]) {
    let _ = admin(
        "alter-configs",
        json!({"bootstrap": bootstrap, "topic": topic, "set": set, "delete": delete}),
    )
    .await;
}
