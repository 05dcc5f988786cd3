//! The producer identity a partition's records are written with, kept in the offsets log so
//! that a batch whose outcome is unknown can be sent again as the same batch.
//!
//! Kafka's broker recognises a batch it already appended when a batch arrives again with the
//! same producer id, epoch and sequence range, among the last five batches of that producer
//! and partition, and answers with the offsets of the first copy instead of appending a second
//! (apache/kafka: `ProducerStateEntry.findDuplicateBatch`, `UnifiedLog.analyzeAndValidateProducerState`).
//! That is the only way to settle a produce whose answer never came: the batch may sit in the
//! leader's log above the high watermark, invisible to ListOffsets, and become committed once
//! the followers catch up. Sent again under a new producer id it would be written twice.
//!
//! A flow is the only writer of its target partitions and produces every record once, in
//! order, so the sequence of a record follows from its target offset: from
//! `first_target_offset` on, the record at target offset `o` was (or will be) written with
//! sequence `first_sequence + (o - first_target_offset)`, wrapping to 0 after `i32::MAX` as
//! Kafka's sequences do. The log therefore keeps one [`ProducerMark`] per partition, written
//! (and made durable) before the first produce with a new identity, and nothing per batch.

use std::fmt;

/// Sequences count modulo 2^31: after `i32::MAX` comes 0 (apache/kafka:
/// `DefaultRecordBatch.incrementSequence`).
const SEQUENCE_SPACE: i64 = i32::MAX as i64 + 1;

/// From target offset `first_target_offset` on, a partition's records are written by producer
/// `producer_id` at `producer_epoch`, with sequences counting from `first_sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerMark {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub first_sequence: i32,
    pub first_target_offset: i64,
}

impl ProducerMark {
    /// The sequence of the record at `target_offset`; `None` before the mark's first offset,
    /// where another identity wrote.
    pub fn sequence_at(&self, target_offset: i64) -> Option<i32> {
        let ahead = target_offset.checked_sub(self.first_target_offset)?;
        if ahead < 0 {
            return None;
        }
        let sequence = (i64::from(self.first_sequence) + ahead % SEQUENCE_SPACE) % SEQUENCE_SPACE;
        // Below 2^31 by construction.
        i32::try_from(sequence).ok()
    }

    /// Why the mark cannot describe a producer, if it cannot.
    pub(super) fn check(&self) -> Result<(), &'static str> {
        if self.producer_id < 0 || self.producer_epoch < 0 {
            return Err("the producer id and epoch must not be negative");
        }
        if self.first_sequence < 0 {
            return Err("the first sequence must not be negative");
        }
        if self.first_target_offset < 0 {
            return Err("the first target offset must not be negative");
        }
        Ok(())
    }
}

impl fmt::Display for ProducerMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "producer id {} epoch {} from target offset {} at sequence {}",
            self.producer_id, self.producer_epoch, self.first_target_offset, self.first_sequence
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mark(first_sequence: i32, first_target_offset: i64) -> ProducerMark {
        ProducerMark {
            producer_id: 4000,
            producer_epoch: 0,
            first_sequence,
            first_target_offset,
        }
    }

    #[test]
    fn sequences_follow_target_offsets() {
        let m = mark(0, 100);
        assert_eq!(m.sequence_at(99), None);
        assert_eq!(m.sequence_at(100), Some(0));
        assert_eq!(m.sequence_at(145), Some(45));
        assert_eq!(mark(7, 0).sequence_at(3), Some(10));
    }

    #[test]
    fn sequences_wrap_to_zero_after_the_largest() {
        let m = mark(i32::MAX - 1, 10);
        assert_eq!(m.sequence_at(10), Some(i32::MAX - 1));
        assert_eq!(m.sequence_at(11), Some(i32::MAX));
        assert_eq!(m.sequence_at(12), Some(0));
        assert_eq!(m.sequence_at(13), Some(1));
        // Far ahead, and at the end of the offset range, without overflow.
        assert_eq!(mark(0, 0).sequence_at(SEQUENCE_SPACE * 3 + 5), Some(5));
        assert!(mark(i32::MAX, 0).sequence_at(i64::MAX).is_some());
        assert_eq!(mark(0, i64::MAX).sequence_at(0), None);
    }

    #[test]
    fn invalid_marks_are_named() {
        assert!(mark(0, 0).check().is_ok());
        assert!(mark(-1, 0).check().is_err());
        assert!(mark(0, -1).check().is_err());
        let m = ProducerMark {
            producer_id: -1,
            ..mark(0, 0)
        };
        assert!(m.check().is_err());
    }

    proptest! {
        /// Walking offset by offset and incrementing the sequence as Kafka does gives the
        /// same sequences as the closed form.
        #[test]
        fn closed_form_matches_stepping(first in (i32::MAX - 300)..=i32::MAX, steps in 0i64..600) {
            let m = mark(first, 50);
            let mut expected = first;
            for o in 50..50 + steps {
                prop_assert_eq!(m.sequence_at(o), Some(expected));
                expected = if expected == i32::MAX { 0 } else { expected + 1 };
            }
        }
    }
}
