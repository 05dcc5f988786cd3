//! Name filters with MirrorMaker 2's semantics: which topics a flow replicates, which topic
//! configs it leaves alone.
//!
//! MM2 (`connect/mirror/src/main/java/org/apache/kafka/connect/mirror/MirrorUtils.java`,
//! `compilePatternList`) joins the elements of a list with `|` into one Java pattern and asks
//! for a match of the whole name. kmirror does the same with the `regex` crate, anchored as
//! `\A(?:p1|p2|…)\z` because `Regex::is_match` alone is a substring search. An empty list
//! matches nothing, as in MM2: an empty `topics` replicates nothing, an empty
//! `topics.exclude` excludes nothing.
//!
//! Java accepts syntax the `regex` crate does not (look-around, backreferences, atomic groups,
//! possessive quantifiers, `\Q…\E`, …). Such a pattern is refused when the configuration is
//! loaded, with a message naming the construct, rather than being approximated: a filter that
//! silently matched differently would replicate the wrong topics.

use regex::Regex;
use thiserror::Error;

use super::java_regex::java_only_construct;

/// `topics` default: every topic.
pub const DEFAULT_TOPICS: &[&str] = &[".*"];

/// `topics.exclude` default, as MM2's `DefaultTopicFilter` through the 3.x and 4.0 lines:
/// internal topics of Connect and MM2, replica topics of MM1, and Kafka's own `__` topics.
pub const DEFAULT_TOPICS_EXCLUDE: &[&str] = &[r".*[\-\.]internal", r".*\.replica", "__.*"];

/// `config.properties.exclude` default (MM2's `DefaultConfigPropertyFilter`, unchanged since
/// 2.4): topic configs that describe the source cluster's operation rather than the data.
pub const DEFAULT_CONFIG_EXCLUDE: &[&str] = &[
    r"follower\.replication\.throttled\.replicas",
    r"leader\.replication\.throttled\.replicas",
    r"message\.timestamp\.difference\.max\.ms",
    r"message\.timestamp\.type",
    r"unclean\.leader\.election\.enable",
    r"min\.insync\.replicas",
];

/// `groups` default (MM2's `DefaultGroupFilter`).
pub const DEFAULT_GROUPS: &[&str] = &[".*"];

/// `groups.exclude` default (MM2's `DefaultGroupFilter`).
pub const DEFAULT_GROUPS_EXCLUDE: &[&str] = &["console-consumer-.*", "connect-.*", "__.*"];

/// Splits a list value the way Kafka's `ConfigDef` reads a `LIST`: trimmed, cut at every
/// comma, each element trimmed. A regex that contains a comma (`a{1,3}`) is cut in two, as in
/// MM2. Empty elements are dropped (they could only ever match an empty name).
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A pattern kmirror cannot use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", describe(.pattern, *.java_only, .reason))]
pub struct PatternError {
    pub pattern: String,
    /// The Java-only construct found in the pattern, if one was recognised.
    pub java_only: Option<&'static str>,
    /// What the `regex` crate said.
    pub reason: String,
}

fn describe(pattern: &str, java_only: Option<&'static str>, reason: &str) -> String {
    match java_only {
        Some(construct) => format!(
            "pattern `{pattern}` uses {construct}, Java-only regex syntax that kmirror does not \
             support; rewrite the pattern without it"
        ),
        None => format!(
            "pattern `{pattern}` is not a valid regex for kmirror ({reason}); Java-only syntax \
             (look-around, backreferences, atomic groups, possessive quantifiers, \\Q…\\E) is \
             not supported"
        ),
    }
}

/// A list of patterns compiled once into a single full-match regex.
#[derive(Debug, Clone)]
pub struct PatternList {
    patterns: Vec<String>,
    regex: Option<Regex>,
}

impl PatternList {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let patterns: Vec<String> = patterns.iter().map(|p| p.as_ref().to_owned()).collect();
        // Each element alone first, so that an error names the pattern at fault. The Java
        // check comes first: some Java constructs (possessive quantifiers such as `a++`)
        // compile in the `regex` crate with another meaning.
        for p in &patterns {
            let java_only = java_only_construct(p);
            let compiled = Regex::new(p);
            if java_only.is_some() || compiled.is_err() {
                return Err(PatternError {
                    pattern: p.clone(),
                    java_only,
                    reason: compiled.err().map_or_else(String::new, |e| regex_reason(&e)),
                });
            }
        }
        let regex = if patterns.is_empty() {
            None
        } else {
            let joined = patterns.join("|");
            let full = Regex::new(&format!(r"\A(?:{joined})\z")).map_err(|e| PatternError {
                pattern: joined.clone(),
                java_only: None,
                reason: regex_reason(&e),
            })?;
            Some(full)
        };
        Ok(Self { patterns, regex })
    }

    /// Whether the whole of `name` matches one of the patterns. Never true for an empty list.
    pub fn is_match(&self, name: &str) -> bool {
        self.regex.as_ref().is_some_and(|r| r.is_match(name))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// For the built-in defaults, which are known to compile.
    fn builtin(patterns: &[&str]) -> Self {
        Self::new(patterns).unwrap_or_else(|e| unreachable!("built-in patterns compile: {e}"))
    }
}

impl PartialEq for PatternList {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for PatternList {}

/// Which source topics a flow selects: `topics` minus `topics.exclude` (MM2's
/// `DefaultTopicFilter`; the exclusion wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    include: PatternList,
    exclude: PatternList,
}

impl TopicFilter {
    pub fn new(include: PatternList, exclude: PatternList) -> Self {
        Self { include, exclude }
    }

    pub fn matches(&self, topic: &str) -> bool {
        self.include.is_match(topic) && !self.exclude.is_match(topic)
    }

    pub fn include(&self) -> &PatternList {
        &self.include
    }

    pub fn exclude(&self) -> &PatternList {
        &self.exclude
    }
}

impl Default for TopicFilter {
    fn default() -> Self {
        Self::new(
            PatternList::builtin(DEFAULT_TOPICS),
            PatternList::builtin(DEFAULT_TOPICS_EXCLUDE),
        )
    }
}

/// Which topic configs are never copied to the target (`config.properties.exclude`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFilter {
    exclude: PatternList,
}

impl ConfigFilter {
    pub fn new(exclude: PatternList) -> Self {
        Self { exclude }
    }

    pub fn excludes(&self, name: &str) -> bool {
        self.exclude.is_match(name)
    }

    pub fn exclude(&self) -> &PatternList {
        &self.exclude
    }
}

impl Default for ConfigFilter {
    fn default() -> Self {
        Self::new(PatternList::builtin(DEFAULT_CONFIG_EXCLUDE))
    }
}

/// The `regex` crate's message without the copy of the pattern and the caret line.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.lines().next().unwrap_or("invalid pattern"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(p: &[&str]) -> PatternList {
        PatternList::new(p).unwrap()
    }

    #[test]
    fn lists_split_like_connect() {
        assert_eq!(split_list(" a , b,c ,, "), vec!["a", "b", "c"]);
        assert_eq!(split_list("a{1,3}"), vec!["a{1", "3}"]);
        assert!(split_list("  ").is_empty());
    }

    #[test]
    fn matching_is_on_the_whole_name() {
        let l = list(&["orders"]);
        assert!(l.is_match("orders"));
        assert!(!l.is_match("orders-eu"));
        assert!(!l.is_match("old-orders"));
        assert!(list(&["orders.*"]).is_match("orders-eu"));
        // Alternation inside an element stays inside the anchors.
        let l = list(&["a|b", "c"]);
        assert!(l.is_match("a") && l.is_match("b") && l.is_match("c"));
        assert!(!l.is_match("ab"));
    }

    #[test]
    fn an_empty_list_matches_nothing() {
        let empty = PatternList::new::<&str>(&[]).unwrap();
        assert!(!empty.is_match("") && !empty.is_match("orders"));
        let f = TopicFilter::new(list(&[".*"]), empty.clone());
        assert!(f.matches("__consumer_offsets"));
        assert!(!TopicFilter::new(empty, list(&[])).matches("orders"));
    }

    #[test]
    fn default_topic_filter_excludes_internal_topics() {
        let f = TopicFilter::default();
        for t in ["orders", "a.b", "replica", "x-internal-y"] {
            assert!(f.matches(t), "{t}");
        }
        for t in [
            "__consumer_offsets",
            "__transaction_state",
            "connect-offsets-internal",
            "mm2-offset-syncs.b.internal",
            "B.checkpoints.internal",
            "orders.replica",
        ] {
            assert!(!f.matches(t), "{t}");
        }
    }

    #[test]
    fn default_config_filter() {
        let f = ConfigFilter::default();
        assert!(f.excludes("min.insync.replicas"));
        assert!(f.excludes("message.timestamp.type"));
        assert!(!f.excludes("retention.ms"));
        assert!(!f.excludes("message.timestamp.before.max.ms"));
        // Dots are escaped: no accidental wildcard.
        assert!(!f.excludes("minXinsyncXreplicas"));
    }

    #[test]
    fn java_only_syntax_is_named() {
        for (p, construct) in [
            ("(?!internal).*", "look-ahead"),
            ("(?<=a)b", "look-behind"),
            ("(a)\\1", "backreference"),
            ("(?>ab)", "atomic group"),
            ("a++", "possessive"),
            ("\\Qa.b\\E", "quoting"),
            ("\\p{javaLowerCase}+", "Java character class"),
        ] {
            let err = PatternList::new(&["ok", p]).unwrap_err();
            assert_eq!(err.pattern, p);
            let text = err.to_string();
            assert!(text.contains(construct), "{p}: {text}");
            assert!(
                text.contains("Java-only regex syntax that kmirror does not support"),
                "{text}"
            );
        }
        let err = PatternList::new(&["[a-"]).unwrap_err();
        assert_eq!(err.java_only, None);
        let text = err.to_string();
        assert!(
            text.contains("`[a-`") && text.contains("Java-only syntax"),
            "{text}"
        );
    }

    #[test]
    fn equality_is_by_patterns() {
        assert_eq!(list(&["a", "b"]), list(&["a", "b"]));
        assert_ne!(list(&["a|b"]), list(&["a", "b"]));
    }
}
