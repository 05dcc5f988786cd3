//! Creating an internal topic the way MM2 does: one partition, `cleanup.policy=compact`, the
//! configured replication factor or the cluster's default (-1, KIP-464).

use super::InternalTopicError;
use crate::cluster::Cluster;
use crate::protocol::errors;

/// `TOPIC_AUTHORIZATION_FAILED` and `CLUSTER_AUTHORIZATION_FAILED`.
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;

/// What [`ensure_internal_topic`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The topic was already there (kmirror never changes an existing topic).
    Existed,
    Created,
    /// Creation was refused in a way MM2 also tolerates (not authorised, or CreateTopics not
    /// supported): the topic is assumed to exist or to be auto-created on first write.
    Assumed,
}

/// Creates `name` on `cluster` as a compacted topic with one partition unless it exists.
/// `replication_factor` `None` takes the cluster's default.
///
/// Like MM2 (`MirrorUtils.createCompactedTopic`), "already exists", "unsupported version" and
/// authorisation refusals are not errors; anything else is.
pub async fn ensure_internal_topic(
    cluster: &Cluster,
    name: &str,
    replication_factor: Option<i16>,
) -> Result<Ensured, InternalTopicError> {
    let create_error = |source| InternalTopicError::Create {
        topic: name.to_owned(),
        source: Box::new(source),
    };
    let snapshot = cluster
        .refresh_topics(&[name.to_owned()])
        .await
        .map_err(create_error)?;
    if snapshot.topic(name).is_ok() {
        return Ok(Ensured::Existed);
    }
    let configs = [("cleanup.policy".to_owned(), "compact".to_owned())];
    match cluster
        .create_topic(name, 1, replication_factor.unwrap_or(-1), &configs)
        .await
    {
        Ok(()) => {
            tracing::info!(cluster = cluster.name(), topic = name, "created internal topic");
            Ok(Ensured::Created)
        }
        Err(e) => match e.error_code().map(|c| c.0) {
            Some(errors::TOPIC_ALREADY_EXISTS) => Ok(Ensured::Existed),
            Some(errors::UNSUPPORTED_VERSION | TOPIC_AUTHORIZATION_FAILED | CLUSTER_AUTHORIZATION_FAILED) => {
                tracing::warn!(cluster = cluster.name(), topic = name, error = %e, "cannot create internal topic; assuming it exists or will be auto-created");
                Ok(Ensured::Assumed)
            }
            _ => Err(create_error(e)),
        },
    }
}
