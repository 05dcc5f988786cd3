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

    /// Fails if the latest metadata shows `topic` under another id. A topic absent from it
    /// (being deleted), or without an id, passes: it may be back in a moment, and then shows
    /// its id. `partition` names the partition for the error, `offset` where it stopped.
    pub(super) fn check(
        &self,
        source: &Cluster,
        topic: &str,
        partition: impl FnOnce() -> String,
        offset: i64,
    ) -> Result<(), ReplicationError> {
        match (self.0, current(source, topic)) {
            (Some(old), Some(new)) if old != new => Err(ReplicationError::SourceTopicRecreated {
                partition: partition(),
                cluster: source.name().to_owned(),
                topic: topic.to_owned(),
                offset,
                old,
                new,
            }),
            _ => Ok(()),
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
