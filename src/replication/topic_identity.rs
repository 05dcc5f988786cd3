//! A source topic deleted and created again under the same name has new offsets that mean
//! nothing for what the target holds: it is told apart from the old one by its topic id
//! (Metadata v10+), noted when a partition task starts and compared with every later
//! metadata snapshot.

use crate::cluster::{Cluster, TopicId};

use super::error::ReplicationError;

/// The id a source topic had when replication of one of its partitions began.
#[derive(Debug, Clone, Copy)]
pub(super) struct TopicIdentity(Option<TopicId>);

impl TopicIdentity {
    /// The id in the source's current metadata (the flow's plan refreshed it just before).
    pub(super) fn noted(source: &Cluster, topic: &str) -> Self {
        Self(current(source, topic))
    }

    /// Fails if the latest metadata shows `topic` under another id. Returns whether the
    /// metadata confirms the id noted at start: a topic that had an id and is now absent from
    /// the metadata (being deleted, or created again and not seen yet) is not confirmed, and
    /// must not be fetched by name until it is, or the records of a topic created again could
    /// be read at the old position before its new id shows. A topic that never had an id
    /// (brokers before Metadata v10) is always confirmed. `partition` names the partition for
    /// the error, `offset` where it stopped.
    pub(super) fn check(
        &self,
        source: &Cluster,
        topic: &str,
        partition: impl FnOnce() -> String,
        offset: i64,
    ) -> Result<bool, ReplicationError> {
        match (self.0, current(source, topic)) {
            (Some(old), Some(new)) if old != new => Err(ReplicationError::SourceTopicRecreated {
                partition: partition(),
                cluster: source.name().to_owned(),
                topic: topic.to_owned(),
                offset,
                old,
                new,
            }),
            (Some(_), None) => Ok(false),
            _ => Ok(true),
        }
    }
}

fn current(source: &Cluster, topic: &str) -> Option<TopicId> {
    source
        .metadata()
        .topics
        .get(topic)
        .filter(|t| t.error.is_ok())
        .and_then(|t| t.topic_id)
}
