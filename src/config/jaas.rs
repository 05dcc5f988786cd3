//! `sasl.jaas.config`: one JAAS login module entry, as Kafka reads it
//! (`apache/kafka: clients/.../security/JaasConfig.java`):
//!
//! ```text
//! org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";
//! ```
//!
//! A module class, a control flag, `key=value` options, and `;`. Values are bare words or
//! double-quoted strings in which `\` escapes the next character (`\"`, `\\`, `\n`, `\t`).
//! Kafka allows exactly one entry in this key. Errors name positions, never values: the
//! option values are credentials.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::secret::Secret;

/// One login module entry. Option values are kept as secrets (they hold passwords).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    pub module: String,
    pub flag: String,
    pub options: BTreeMap<String, Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JaasError {
    #[error("is empty: expected `<LoginModule class> required username=\"…\" password=\"…\";`")]
    Empty,
    #[error("has no control flag after the login module class (expected `required`)")]
    MissingFlag,
    #[error("has an unknown control flag (expected required, requisite, sufficient or optional)")]
    BadFlag,
    #[error("option at byte {0} is not `key=value`")]
    BadOption(usize),
    #[error("has a quoted value starting at byte {0} that is never closed")]
    Unterminated(usize),
    #[error("does not end with `;`")]
    MissingSemicolon,
    #[error("holds more than one login module entry (Kafka allows one)")]
    SeveralEntries,
    #[error("sets option `{0}` twice")]
    Duplicate(String),
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

/// Parses the value of `sasl.jaas.config`.
pub fn parse(text: &str) -> Result<JaasEntry, JaasError> {
    let tokens = tokenize(text)?;
    let mut it = tokens.into_iter().peekable();
    let module = match it.next() {
        Some((_, Token::Word(w))) => w,
        None => return Err(JaasError::Empty),
        Some((at, _)) => return Err(JaasError::BadOption(at)),
    };
    let flag = match it.next() {
        Some((_, Token::Word(w))) => w,
        _ => return Err(JaasError::MissingFlag),
    };
    if !["required", "requisite", "sufficient", "optional"]
        .iter()
        .any(|f| f.eq_ignore_ascii_case(&flag))
    {
        return Err(JaasError::BadFlag);
    }
    let mut options = BTreeMap::new();
    loop {
        match it.next() {
            Some((_, Token::Semicolon)) => break,
            Some((at, Token::Word(key))) => {
                if !matches!(it.next(), Some((_, Token::Equals))) {
                    return Err(JaasError::BadOption(at));
                }
                let value = match it.next() {
                    Some((_, Token::Word(v) | Token::Quoted(v))) => v,
                    _ => return Err(JaasError::BadOption(at)),
                };
                if options.insert(key.clone(), Secret::new(value)).is_some() {
                    return Err(JaasError::Duplicate(key));
                }
            }
            Some((at, _)) => return Err(JaasError::BadOption(at)),
            None => return Err(JaasError::MissingSemicolon),
        }
    }
    if it.next().is_some() {
        return Err(JaasError::SeveralEntries);
    }
    Ok(JaasEntry {
        module,
        flag,
        options,
    })
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, JaasError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '=' => tokens.push((at, Token::Equals)),
            ';' => tokens.push((at, Token::Semicolon)),
            '"' => {
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err(JaasError::Unterminated(at)),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            None => return Err(JaasError::Unterminated(at)),
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, 't')) => value.push('\t'),
                            Some((_, 'r')) => value.push('\r'),
                            Some((_, other)) => value.push(other),
                        },
                        Some((_, other)) => value.push(other),
                    }
                }
                tokens.push((at, Token::Quoted(value)));
            }
            c => {
                let mut word = String::from(c);
                while let Some(&(_, next)) = chars.peek() {
                    if next.is_whitespace() || matches!(next, '=' | ';' | '"') {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push((at, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(entry: &JaasEntry, key: &str) -> String {
        entry.options[key].expose().to_owned()
    }

    #[test]
    fn plain_and_scram_entries() {
        let e = parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="token" password="s3cr=t;x";"#,
        )
        .unwrap();
        assert_eq!(
            e.module,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(e.flag, "required");
        assert_eq!(option(&e, "username"), "token");
        assert_eq!(option(&e, "password"), "s3cr=t;x");
        let e = parse("org.apache.kafka.common.security.scram.ScramLoginModule   REQUIRED\n  username=alice\n  password=\"p\";  ").unwrap();
        assert_eq!(option(&e, "username"), "alice");
        assert_eq!(option(&e, "password"), "p");
    }

    #[test]
    fn escapes_in_quoted_values() {
        let e = parse(r#"M required username="a\"b" password="back\\slash\ttab";"#).unwrap();
        assert_eq!(option(&e, "username"), "a\"b");
        assert_eq!(option(&e, "password"), "back\\slash\ttab");
        let e = parse(r#"M required password="";"#).unwrap();
        assert_eq!(option(&e, "password"), "");
    }

    #[test]
    fn malformed_entries_are_refused_without_echoing_values() {
        let cases = [
            ("", JaasError::Empty),
            ("M", JaasError::MissingFlag),
            ("M always;", JaasError::BadFlag),
            (
                "M required username=\"u\" password=\"secret",
                JaasError::Unterminated(33),
            ),
            (
                "M required username=\"u\" password=\"secret\"",
                JaasError::MissingSemicolon,
            ),
            ("M required username \"u\";", JaasError::BadOption(11)),
            ("M required username=;", JaasError::BadOption(11)),
            ("M required a=1; N required b=2;", JaasError::SeveralEntries),
            ("M required a=1 a=2;", JaasError::Duplicate("a".to_owned())),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err, expected, "{text}");
            assert!(!err.to_string().contains("secret"));
        }
    }

    #[test]
    fn debug_redacts_option_values() {
        let e = parse(r#"M required username="u" password="hunter2";"#).unwrap();
        assert!(!format!("{e:?}").contains("hunter2"));
    }
}
