//! Configuration errors.
//!
//! Loading a file reports every problem it finds, not only the first, so that an operator
//! fixes a file in one pass instead of one restart per typo. Each problem is one line that
//! names the file and the key; warnings (unknown keys, deprecated names) use the same form.

use std::fmt::Display;

use thiserror::Error;

/// Everything wrong with a configuration, one problem per line, each naming the origin (the
/// file) and the key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ConfigError {
    /// An error with one problem that concerns the whole origin rather than a key.
    pub(crate) fn whole(origin: &str, message: impl Display) -> Self {
        Self {
            problems: vec![format!("{origin}: {message}")],
        }
    }
}

/// Problems and warnings collected while one origin is read and validated.
#[derive(Debug)]
pub(crate) struct Report {
    origin: String,
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl Report {
    pub(crate) fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// A problem with the value of `key` (the key as the file spells it).
    pub(crate) fn problem(&mut self, key: &str, message: impl Display) {
        push_once(&mut self.problems, format!("{}: `{key}`: {message}", self.origin));
    }

    /// A problem that concerns the file as a whole (syntax, missing sections).
    pub(crate) fn problem_at(&mut self, location: impl Display, message: impl Display) {
        self.problems
            .push(format!("{}{location}: {message}", self.origin));
    }

    pub(crate) fn warn(&mut self, key: &str, message: impl Display) {
        push_once(&mut self.warnings, format!("{}: `{key}`: {message}", self.origin));
    }

    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The warnings if nothing is wrong, otherwise every problem.
    pub(crate) fn finish(self) -> Result<Vec<String>, ConfigError> {
        if self.problems.is_empty() {
            Ok(self.warnings)
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// A top-level key is checked once for every flow that inherits it; say what is wrong with
/// it once.
fn push_once(lines: &mut Vec<String>, line: String) {
    if !lines.contains(&line) {
        lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_each_problem_on_its_own_line() {
        let mut r = Report::new("mm2.properties");
        r.problem("A->B.topics", "bad pattern");
        r.problem_at(":3", "unterminated escape");
        r.problem("A->B.topics", "bad pattern");
        r.warn("foo", "unknown key, ignored");
        let err = r.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "mm2.properties: `A->B.topics`: bad pattern\nmm2.properties:3: unterminated escape"
        );
    }

    #[test]
    fn warnings_come_back_when_there_is_no_problem() {
        let mut r = Report::new("kmirror.toml");
        r.warn("foo", "unknown key, ignored");
        assert!(!r.has_problems());
        assert_eq!(
            r.finish().unwrap(),
            vec!["kmirror.toml: `foo`: unknown key, ignored"]
        );
    }
}
