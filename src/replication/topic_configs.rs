//! What configuration a new target topic gets, decided from the source topic and from the
//! target's own answers (pure: `topics.rs` does the requests).
//!
//! - **Copied**: the source topic's own overrides minus the exclude list (MM2's
//!   `config.properties.exclude`).
//! - **Refused by the target**: a target may not know a config (Kafka 4.0 removed
//!   `message.format.version`, `message.downconversion.enable` and
//!   `message.timestamp.difference.max.ms`, KIP-724 / KIP-937), may refuse a value (4.x
//!   wants `segment.bytes` of at least 1 MiB) or may have a creation policy. Such configs are
//!   left out, each named with the broker's reason, and the topic is created with the rest.
//!   [`Negotiation`] finds them with validate-only CreateTopics requests, in at most
//!   `2 n + 1` of them for `n` configs (see there).
//! - **Needed for size**: batches are forwarded whole, so the target topic must admit the
//!   largest batch the source admits ([`size_needed`]).

use std::collections::VecDeque;

use crate::protocol::errors::ErrorCode;

/// The topic config that caps the size of one batch (Kafka's `TopicConfig`).
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
/// Kafka's default for `max.message.bytes` and the broker's `message.max.bytes`: 1 MiB plus
/// the 12 bytes of a batch's offset and length fields (`ServerLogConfigs`).
pub const KAFKA_DEFAULT_MAX_MESSAGE_BYTES: i64 = 1024 * 1024 + 12;

/// `INVALID_CONFIG`: an unknown config name or a value the broker refuses.
const INVALID_CONFIG: i16 = 40;
/// `POLICY_VIOLATION`: a `create.topic.policy.class.name` said no.
const POLICY_VIOLATION: i16 = 44;
/// `MESSAGE_TOO_LARGE`: a batch over the topic's `max.message.bytes`.
const MESSAGE_TOO_LARGE: i16 = 10;
/// `RECORD_LIST_TOO_LARGE`: a batch over the topic's `segment.bytes`.
const RECORD_LIST_TOO_LARGE: i16 = 18;

/// A config the target refused, left out of the creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub name: String,
    pub value: String,
    /// The broker's words (its error message, or the error code when it gave none).
    pub reason: String,
}

/// The target's answer to one validate-only creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Refused {
        code: ErrorCode,
        message: Option<String>,
    },
}

/// A refusal that is not about the configs (replication factor, authorization, a policy that
/// refuses the topic itself): the creation cannot succeed by leaving configs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAboutConfigs {
    pub code: ErrorCode,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Validating every config not refused yet; a refusal naming one of them removes it.
    Whole,
    /// A refusal named none of them: does the target take the topic with no config at all?
    Bare,
    /// One config at a time on top of those already accepted.
    OneByOne,
    Settled,
}

/// Finds the configs a target refuses, from its answers to validate-only creations.
///
/// Kafka's refusals name the config (`Unknown topic config name: message.format.version`,
/// `Invalid value 100000 for configuration segment.bytes: ...`), one at a time. So: validate
/// them all; while a refusal names one of them, leave that one out and validate the rest again
/// (at most `n` rounds). A refusal that names none (a policy's own words, or no message) turns
/// to one at a time: first the topic with no config (if the target refuses that too, the
/// problem is not a config), then each config added to those accepted so far, in order (`n`
/// rounds). At most `2 n + 1` requests in all, and every config left out has the refusal that
/// excluded it.
#[derive(Debug, Clone)]
pub struct Negotiation {
    /// `Whole`, `Bare`: the configs under test. `OneByOne`: those accepted so far.
    kept: Vec<(String, String)>,
    /// `OneByOne`: configs still to try, in order.
    untried: VecDeque<(String, String)>,
    refused: Vec<Refusal>,
    stage: Stage,
}

impl Negotiation {
    pub fn new(configs: Vec<(String, String)>) -> Self {
        Self {
            kept: configs,
            untried: VecDeque::new(),
            refused: Vec::new(),
            stage: Stage::Whole,
        }
    }

    /// The configs to validate next, or `None` once settled.
    pub fn next(&self) -> Option<Vec<(String, String)>> {
        match self.stage {
            Stage::Whole => Some(self.kept.clone()),
            Stage::Bare => Some(Vec::new()),
            Stage::OneByOne => {
                let mut attempt = self.kept.clone();
                attempt.push(self.untried.front()?.clone());
                Some(attempt)
            }
            Stage::Settled => None,
        }
    }

    /// Takes the target's answer to what [`Negotiation::next`] gave.
    pub fn answer(&mut self, verdict: Verdict) -> Result<(), NotAboutConfigs> {
        let (code, message) = match verdict {
            Verdict::Accepted => {
                match self.stage {
                    Stage::Whole => self.stage = Stage::Settled,
                    Stage::Bare => {
                        self.untried = std::mem::take(&mut self.kept).into();
                        self.stage = Stage::OneByOne;
                    }
                    Stage::OneByOne => {
                        if let Some(c) = self.untried.pop_front() {
                            self.kept.push(c);
                        }
                    }
                    Stage::Settled => {}
                }
                self.settle_if_done();
                return Ok(());
            }
            Verdict::Refused { code, message } => (code, message),
        };
        let about_configs = matches!(code.0, INVALID_CONFIG | POLICY_VIOLATION);
        let not_about = || NotAboutConfigs {
            code,
            message: message.clone(),
        };
        let reason = message
            .clone()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| code.to_string());
        match self.stage {
            Stage::Whole if about_configs && !self.kept.is_empty() => {
                let named = message.as_deref().and_then(|m| named_config(m, &self.kept));
                match named {
                    Some(i) => {
                        let (name, value) = self.kept.remove(i);
                        self.refused.push(Refusal { name, value, reason });
                    }
                    None => self.stage = Stage::Bare,
                }
                Ok(())
            }
            Stage::OneByOne if about_configs => {
                if let Some((name, value)) = self.untried.pop_front() {
                    self.refused.push(Refusal { name, value, reason });
                }
                self.settle_if_done();
                Ok(())
            }
            _ => Err(not_about()),
        }
    }

    fn settle_if_done(&mut self) {
        if self.stage == Stage::OneByOne && self.untried.is_empty() {
            self.stage = Stage::Settled;
        }
    }

    pub fn is_settled(&self) -> bool {
        self.stage == Stage::Settled
    }

    /// The configs the target accepts, in their original order, and those it refused.
    pub fn finish(self) -> (Vec<(String, String)>, Vec<Refusal>) {
        (self.kept, self.refused)
    }
}

/// The one config of `configs` that `message` names, standing alone (not as a part of a longer
/// name: `retention.ms` is not named by a message about `local.retention.ms`). `None` when it
/// names none or more than one.
pub fn named_config(message: &str, configs: &[(String, String)]) -> Option<usize> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mentions = |name: &str| {
        message.match_indices(name).any(|(at, _)| {
            let before = message[..at].chars().next_back();
            // A name may end a sentence: "... for configuration segment.bytes."
            let after = message[at + name.len()..].trim_start_matches('.').chars().next();
            !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
        })
    };
    let mut found = configs
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| !name.is_empty() && mentions(name));
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// The value of `name` among `configs`, as a number.
pub fn number(configs: &[(String, Option<String>)], name: &str) -> Option<i64> {
    configs
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_deref()?.trim().parse().ok())
}

/// The `max.message.bytes` a new target topic must be given so that every batch the source
/// topic admits fits, or `None` when what it gets anyway is enough.
///
/// `source_limit` is the source topic's effective `max.message.bytes` (its override, or the
/// source broker's `message.max.bytes`, which DescribeConfigs reports under the topic's
/// name). `target_default` is what the target would give the topic (from the validate-only
/// creation; `None` when the broker does not say, then Kafka's default is assumed).
/// `configs` are those already going to the target: a copied override wins.
pub fn size_needed(
    source_limit: Option<i64>,
    target_default: Option<i64>,
    configs: &[(String, String)],
) -> Option<i64> {
    let source_limit = source_limit?;
    if configs.iter().any(|(n, _)| n == MAX_MESSAGE_BYTES) {
        return None;
    }
    (source_limit > target_default.unwrap_or(KAFKA_DEFAULT_MAX_MESSAGE_BYTES)).then_some(source_limit)
}

/// What to tell an operator whose target refused a batch for its size; `None` for other
/// errors. kmirror forwards source batches whole and cannot split them, so the target topic
/// must be changed.
pub fn oversized_batch_hint(code: ErrorCode, topic: &str, batch_bytes: usize) -> Option<String> {
    match code.0 {
        MESSAGE_TOO_LARGE => Some(format!(
            "the batch is {batch_bytes} bytes, more than target topic {topic} admits; kmirror forwards source batches whole and cannot split them: raise {MAX_MESSAGE_BYTES} of {topic} to at least {batch_bytes} (e.g. kafka-configs.sh --alter --entity-type topics --entity-name {topic} --add-config {MAX_MESSAGE_BYTES}={batch_bytes})"
        )),
        RECORD_LIST_TOO_LARGE => Some(format!(
            "the batch is {batch_bytes} bytes, more than a log segment of target topic {topic} holds; kmirror forwards source batches whole: raise segment.bytes of {topic} above {batch_bytes}"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    fn refused(code: i16, message: &str) -> Verdict {
        Verdict::Refused {
            code: ErrorCode(code),
            message: Some(message.to_owned()),
        }
    }

    type Outcome = Result<(Vec<(String, String)>, Vec<Refusal>), NotAboutConfigs>;

    /// Runs a negotiation against `target`'s answers and counts the requests.
    fn negotiate(
        configs: Vec<(String, String)>,
        target: impl Fn(&[(String, String)]) -> Verdict,
    ) -> (Outcome, usize) {
        let mut n = Negotiation::new(configs);
        let mut requests = 0;
        while let Some(attempt) = n.next() {
            requests += 1;
            assert!(requests <= 100, "the negotiation does not end");
            if let Err(e) = n.answer(target(&attempt)) {
                return (Err(e), requests);
            }
        }
        assert!(n.is_settled());
        (Ok(n.finish()), requests)
    }

    /// Kafka 4.x's answers: names an unknown config first, then a value out of range.
    fn kafka4(attempt: &[(String, String)]) -> Verdict {
        for (name, value) in attempt {
            if name == "message.format.version" || name == "message.downconversion.enable" {
                return refused(40, &format!("Unknown topic config name: {name}"));
            }
            if name == "segment.bytes" && value.parse::<i64>().unwrap() < 1 << 20 {
                return refused(
                    40,
                    &format!(
                        "Invalid value {value} for configuration segment.bytes: Value must be at least 1048576"
                    ),
                );
            }
        }
        Verdict::Accepted
    }

    #[test]
    fn configs_a_kafka_4_target_refuses_are_left_out_with_its_reason() {
        let configs = vec![
            c("cleanup.policy", "compact"),
            c("message.format.version", "3.0-IV1"),
            c("segment.bytes", "100000"),
            c("retention.ms", "1000"),
            c("message.downconversion.enable", "true"),
        ];
        let (result, requests) = negotiate(configs, kafka4);
        let (kept, refused) = result.unwrap();
        assert_eq!(
            kept,
            vec![c("cleanup.policy", "compact"), c("retention.ms", "1000")]
        );
        let names: Vec<&str> = refused.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "message.format.version",
                "segment.bytes",
                "message.downconversion.enable"
            ]
        );
        assert_eq!(refused[1].value, "100000");
        assert_eq!(
            refused[1].reason,
            "Invalid value 100000 for configuration segment.bytes: Value must be at least 1048576"
        );
        // One request per refused config, and the one that passes.
        assert_eq!(requests, 4);
    }

    #[test]
    fn accepted_at_once_costs_one_request() {
        let (result, requests) = negotiate(vec![c("retention.ms", "1")], kafka4);
        assert_eq!(result.unwrap(), (vec![c("retention.ms", "1")], vec![]));
        assert_eq!(requests, 1);
        let (result, requests) = negotiate(vec![], kafka4);
        assert_eq!(result.unwrap(), (vec![], vec![]));
        assert_eq!(requests, 1);
    }

    #[test]
    fn a_policy_that_names_no_config_is_answered_one_config_at_a_time() {
        // The policy refuses any retention over a day and says so in its own words.
        let policy = |attempt: &[(String, String)]| {
            let long = attempt
                .iter()
                .any(|(n, v)| n.ends_with("retention.ms") && v.parse::<i64>().unwrap() > 86_400_000);
            if long {
                refused(44, "topics may keep data for one day at most")
            } else {
                Verdict::Accepted
            }
        };
        let configs = vec![
            c("cleanup.policy", "delete"),
            c("retention.ms", "604800000"),
            c("segment.ms", "1000"),
            c("local.retention.ms", "172800000"),
        ];
        let (result, requests) = negotiate(configs.clone(), policy);
        let (kept, refused) = result.unwrap();
        assert_eq!(kept, vec![c("cleanup.policy", "delete"), c("segment.ms", "1000")]);
        assert_eq!(refused.len(), 2);
        assert!(
            refused
                .iter()
                .all(|r| r.reason == "topics may keep data for one day at most")
        );
        // The whole set, the bare topic, then each of the four: 2 n + 1 at most.
        assert_eq!(requests, 6);
        assert!(requests <= 2 * configs.len() + 1);
    }

    #[test]
    fn a_refusal_without_a_message_names_the_error_code() {
        let silent = |attempt: &[(String, String)]| {
            if attempt.iter().any(|(n, _)| n == "x") {
                Verdict::Refused {
                    code: ErrorCode(40),
                    message: None,
                }
            } else {
                Verdict::Accepted
            }
        };
        let (result, _) = negotiate(vec![c("x", "1"), c("y", "2")], silent);
        let (kept, refused) = result.unwrap();
        assert_eq!(kept, vec![c("y", "2")]);
        assert_eq!(refused[0].reason, ErrorCode(40).to_string());
    }

    #[test]
    fn refusals_not_about_configs_end_the_negotiation() {
        // The replication factor: no config is to blame, none is left out.
        let (result, requests) = negotiate(vec![c("retention.ms", "1")], |_| {
            refused(38, "Replication factor: 3 larger than available brokers: 1.")
        });
        assert_eq!(result.unwrap_err().code, ErrorCode(38));
        assert_eq!(requests, 1);
        // A policy that refuses the topic itself, config or not.
        let (result, requests) = negotiate(vec![c("retention.ms", "1")], |_| {
            refused(44, "no new topics on Fridays")
        });
        assert_eq!(result.unwrap_err().code, ErrorCode(44));
        assert_eq!(requests, 2);
        // Already exists: the caller's business.
        let (result, _) = negotiate(vec![], |_| refused(36, "Topic 't' already exists."));
        assert_eq!(result.unwrap_err().code, ErrorCode(36));
    }

    #[test]
    fn a_config_is_named_only_as_a_whole_word() {
        let configs = vec![
            c("retention.ms", "1"),
            c("local.retention.ms", "1"),
            c("segment.bytes", "1"),
        ];
        assert_eq!(
            named_config(
                "Invalid value 1 for configuration local.retention.ms: x",
                &configs
            ),
            Some(1)
        );
        assert_eq!(
            named_config("Unknown topic config name: retention.ms", &configs),
            Some(0)
        );
        assert_eq!(named_config("segment.bytes.", &configs), Some(2));
        assert_eq!(
            named_config("retention.ms and segment.bytes conflict", &configs),
            None
        );
        assert_eq!(named_config("nothing", &configs), None);
        assert_eq!(named_config("", &configs), None);
    }

    #[test]
    fn the_size_limit_is_carried_only_when_the_target_would_admit_less() {
        let mib4 = 4 * 1024 * 1024;
        // The source broker admits 4 MiB, the target's default is Kafka's.
        assert_eq!(
            size_needed(Some(mib4), Some(KAFKA_DEFAULT_MAX_MESSAGE_BYTES), &[]),
            Some(mib4)
        );
        // A target broker that admits as much already.
        assert_eq!(size_needed(Some(mib4), Some(mib4), &[]), None);
        assert_eq!(
            size_needed(Some(1000), Some(KAFKA_DEFAULT_MAX_MESSAGE_BYTES), &[]),
            None
        );
        // The target did not say: Kafka's default is assumed.
        assert_eq!(size_needed(Some(mib4), None, &[]), Some(mib4));
        assert_eq!(
            size_needed(Some(KAFKA_DEFAULT_MAX_MESSAGE_BYTES), None, &[]),
            None
        );
        // A copied override is the source's limit already.
        assert_eq!(
            size_needed(Some(mib4), None, &[c(MAX_MESSAGE_BYTES, "4194304")]),
            None
        );
        assert_eq!(size_needed(None, None, &[]), None);
    }

    #[test]
    fn numbers_are_read_from_reported_configs() {
        let configs = vec![
            (MAX_MESSAGE_BYTES.to_owned(), Some("1048588".to_owned())),
            ("x".to_owned(), None),
            ("y".to_owned(), Some("no".to_owned())),
        ];
        assert_eq!(number(&configs, MAX_MESSAGE_BYTES), Some(1_048_588));
        assert_eq!(number(&configs, "x"), None);
        assert_eq!(number(&configs, "y"), None);
        assert_eq!(number(&configs, "z"), None);
    }

    #[test]
    fn a_batch_too_large_says_what_to_raise() {
        let hint = oversized_batch_hint(ErrorCode(10), "source.big", 3_145_800).unwrap();
        assert!(
            hint.contains("max.message.bytes of source.big to at least 3145800"),
            "{hint}"
        );
        let hint = oversized_batch_hint(ErrorCode(18), "source.big", 3_145_800).unwrap();
        assert!(hint.contains("segment.bytes of source.big"), "{hint}");
        assert_eq!(oversized_batch_hint(ErrorCode(6), "t", 1), None);
    }
}
