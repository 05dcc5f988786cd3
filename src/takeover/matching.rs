//! Which source record is the last one MirrorMaker 2 wrote to a target partition.
//!
//! MM2 commits its source positions every `offset.flush.interval.ms` but produces ahead of
//! them, so the target holds records past the committed one. Its producer writes one partition
//! in source order (`max.in.flight.requests.per.connection=1`), copying each record's key,
//! value, headers and timestamp (MirrorSourceTask.convertRecord in apache/kafka
//! connect/mirror), but not its offset. So the last target record is found on the source by
//! content: the source is read from the committed record on, and a source record is a
//! candidate when it equals the target's last record and the records before it equal the
//! records before that one on the target, as far back as both sides go (the committed record on
//! the source, [`CONTEXT`] records on the target). Exactly one candidate is a match; none, or
//! several (runs of identical records longer than the context), is an error that names the
//! partition: kmirror does not guess where a wrong guess means loss or duplicates.
//!
//! Two records are equal when key, value and headers (in order) are equal and, when both
//! carry producer timestamps, the timestamps too (a LogAppendTime target has its own).

use std::collections::VecDeque;

use bytes::Bytes;

/// Target records compared before the last one, at most.
pub const CONTEXT: usize = 64;
/// Candidates kept for an error message.
const SHOWN_CANDIDATES: usize = 8;

/// A record as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(Bytes, Option<Bytes>)>,
    /// `None` for a LogAppendTime batch: the broker's time, not the producer's.
    pub timestamp: Option<i64>,
}

impl Rec {
    /// Same key, value, headers and, where both have one, producer timestamp.
    pub fn same_content(&self, other: &Self) -> bool {
        self.key == other.key
            && self.value == other.value
            && self.headers == other.headers
            && match (self.timestamp, other.timestamp) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// The target's last record found on the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// Source offset of the target's last record.
    pub last_source: i64,
    /// Records before it that were compared too (0: only the last record).
    pub context: usize,
}

/// Why no single source record could be named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error(
        "the target's last record (offset {target_offset}) matches no source record from offset {from} on: the target holds data MM2 did not write from this source, or the source changed"
    )]
    NotFound { target_offset: i64, from: i64 },
    #[error(
        "the target's last record (offset {target_offset}) matches {count} source records with the same context (offsets {shown:?}): identical runs of records, the match is ambiguous"
    )]
    Ambiguous {
        target_offset: i64,
        count: usize,
        shown: Vec<i64>,
    },
    #[error("the target partition holds no record to match")]
    EmptyTarget,
}

/// Streams source records (from the committed one on, in offset order) against the target's
/// tail (its last records, in order).
#[derive(Debug)]
pub struct Matcher {
    tail: Vec<Rec>,
    /// The last source records pushed, at most `tail.len()`.
    window: VecDeque<Rec>,
    candidates: Vec<Matched>,
    count: usize,
    first_source: Option<i64>,
}

impl Matcher {
    /// `tail`: the target partition's last records, oldest first (at most [`CONTEXT`] + 1 are
    /// used).
    pub fn new(mut tail: Vec<Rec>) -> Result<Self, MatchError> {
        if tail.is_empty() {
            return Err(MatchError::EmptyTarget);
        }
        let keep = tail.len().min(CONTEXT + 1);
        let _ = tail.drain(..tail.len() - keep);
        Ok(Self {
            window: VecDeque::with_capacity(keep),
            tail,
            candidates: Vec::new(),
            count: 0,
            first_source: None,
        })
    }

    /// The next source record.
    pub fn push(&mut self, rec: Rec) {
        if self.first_source.is_none() {
            self.first_source = Some(rec.offset);
        }
        if self.window.len() == self.tail.len() {
            let _ = self.window.pop_front();
        }
        self.window.push_back(rec);
        let Some(last_target) = self.tail.last() else {
            return;
        };
        let Some(newest) = self.window.back() else {
            return;
        };
        if !newest.same_content(last_target) {
            return;
        }
        // Compare backwards as far as both sides go.
        let agree = self
            .window
            .iter()
            .rev()
            .zip(self.tail.iter().rev())
            .all(|(s, t)| s.same_content(t));
        if agree {
            self.count += 1;
            if self.candidates.len() < SHOWN_CANDIDATES {
                self.candidates.push(Matched {
                    last_source: newest.offset,
                    context: self.window.len().min(self.tail.len()) - 1,
                });
            }
        }
    }

    /// The single match, once every source record up to the end was pushed.
    pub fn finish(self) -> Result<Matched, MatchError> {
        let target_offset = self.tail.last().map_or(-1, |r| r.offset);
        match (self.count, self.candidates.first()) {
            (1, Some(m)) => Ok(*m),
            (0, _) | (_, None) => Err(MatchError::NotFound {
                target_offset,
                from: self.first_source.unwrap_or(-1),
            }),
            (count, Some(_)) => Err(MatchError::Ambiguous {
                target_offset,
                count,
                shown: self.candidates.iter().map(|m| m.last_source).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: i64, value: &str, timestamp: i64) -> Rec {
        Rec {
            offset,
            key: Some(Bytes::from(format!("k{value}"))),
            value: Some(Bytes::from(value.to_owned())),
            headers: vec![(Bytes::from_static(b"h"), Some(Bytes::from(value.to_owned())))],
            timestamp: Some(timestamp),
        }
    }

    /// Source records `from..to` with values `v<i>`.
    fn source(from: i64, to: i64) -> Vec<Rec> {
        (from..to).map(|i| rec(i, &format!("v{i}"), 1000 + i)).collect()
    }

    /// The target's copy of source records `from..to`, starting at target offset `at`.
    fn copied(from: i64, to: i64, at: i64) -> Vec<Rec> {
        source(from, to)
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                r.offset = at + i as i64;
                r
            })
            .collect()
    }

    fn run(tail: Vec<Rec>, src: Vec<Rec>) -> Result<Matched, MatchError> {
        let mut m = Matcher::new(tail)?;
        for r in src {
            m.push(r);
        }
        m.finish()
    }

    #[test]
    fn finds_the_last_written_record_past_the_commit() {
        // MM2 committed source 100 and wrote on to 130; the target started at 7.
        let tail = copied(60, 131, 67);
        let found = run(tail, source(100, 500)).unwrap();
        assert_eq!(found.last_source, 130);
        assert_eq!(found.context, 30, "back to the committed record");
    }

    #[test]
    fn the_committed_record_itself_can_be_the_last() {
        assert_eq!(
            run(copied(0, 101, 0), source(100, 200)).unwrap(),
            Matched {
                last_source: 100,
                context: 0
            }
        );
    }

    #[test]
    fn a_repeated_last_record_is_told_apart_by_the_records_before_it() {
        // Source values: v100..v110, then the last target record's content again at 150.
        let mut src = source(100, 200);
        src[50] = rec(150, "v110", 1110);
        let found = run(copied(90, 111, 0), src).unwrap();
        assert_eq!(found.last_source, 110);
    }

    #[test]
    fn identical_runs_are_ambiguous() {
        let same = |o| rec(o, "x", 5);
        let tail: Vec<Rec> = (0..3).map(same).collect();
        let src: Vec<Rec> = (10..20).map(same).collect();
        assert!(matches!(
            run(tail, src),
            Err(MatchError::Ambiguous { count: 10, .. })
        ));
    }

    #[test]
    fn a_target_that_holds_other_data_is_not_matched() {
        let tail = vec![rec(0, "foreign", 1)];
        assert!(matches!(
            run(tail, source(0, 50)),
            Err(MatchError::NotFound {
                target_offset: 0,
                from: 0
            })
        ));
        assert_eq!(Matcher::new(Vec::new()).unwrap_err(), MatchError::EmptyTarget);
    }

    #[test]
    fn timestamps_count_unless_one_side_has_none() {
        let mut tail = copied(0, 5, 0);
        tail[4].timestamp = Some(1);
        assert!(run(tail.clone(), source(0, 10)).is_err());
        for r in &mut tail {
            r.timestamp = None;
        }
        assert_eq!(run(tail, source(0, 10)).unwrap().last_source, 4);
    }
}
