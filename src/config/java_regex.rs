//! Java `Pattern` syntax the `regex` crate does not share.
//!
//! MM2 compiles topic and group lists with `java.util.regex.Pattern`; kmirror uses the `regex`
//! crate. Most patterns mean the same in both. The ones that do not either fail to compile
//! in the `regex` crate (look-around, backreferences, atomic groups, `\Q…\E`, …), where this
//! module names the construct for the error message, or compile with another meaning
//! (possessive quantifiers: `a++` is a nested repetition there), where it is the only thing
//! that stops a filter from silently selecting other topics than MM2 would.

/// Recognises Java `Pattern` constructs (see `java.util.regex.Pattern`) that the `regex`
/// crate rejects, to name them in the error, or accepts with another meaning (a possessive
/// `a++` is a nested repetition there), to refuse them.
pub(crate) fn java_only_construct(pattern: &str) -> Option<&'static str> {
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut in_count = false;
    let mut prev_quantifier = false;
    while let Some(c) = chars.next() {
        let quantifier_before = std::mem::replace(&mut prev_quantifier, false);
        match c {
            '\\' => {
                let escaped = chars.next();
                // `\p{…}`, `\x{…}`: the braces belong to the escape, not to a repetition.
                let braced: Option<String> = (matches!(escaped, Some('p' | 'P' | 'x' | 'u'))
                    && chars.peek() == Some(&'{'))
                .then(|| chars.by_ref().skip(1).take_while(|&c| c != '}').collect());
                match escaped {
                    Some('Q' | 'E') => return Some("`\\Q…\\E` quoting"),
                    Some('1'..='9') => return Some("a backreference"),
                    Some('k') if chars.peek() == Some(&'<') => return Some("a named backreference"),
                    Some('Z') => return Some("`\\Z`"),
                    Some('G') => return Some("`\\G`"),
                    Some('R') => return Some("`\\R`"),
                    Some('h' | 'H') => return Some("the `\\h` class"),
                    Some('e') => return Some("the `\\e` escape"),
                    Some('c') => return Some("a `\\cX` control escape"),
                    Some('0') => return Some("an octal escape"),
                    // `\p{IsAlphabetic}` means the same in both; Java's own classes and
                    // Unicode blocks (`\p{InGreek}`) do not exist in the `regex` crate.
                    Some('p' | 'P')
                        if braced
                            .as_deref()
                            .is_some_and(|b| b.starts_with("java") || b.starts_with("In")) =>
                    {
                        return Some("a Java character class");
                    }
                    _ => {}
                }
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class && chars.peek() == Some(&'?') => {
                let rest: String = chars.clone().skip(1).take(2).collect();
                if rest.starts_with('=') || rest.starts_with('!') {
                    return Some("a look-ahead");
                }
                if rest == "<=" || rest == "<!" {
                    return Some("a look-behind");
                }
                if rest.starts_with('>') {
                    return Some("an atomic group");
                }
            }
            '{' if !in_class => in_count = true,
            // A `}` that closes no count is a literal.
            '}' if !in_count => {}
            '*' | '+' | '?' | '}' if !in_class => {
                in_count = false;
                if c == '+' && quantifier_before {
                    return Some("a possessive quantifier");
                }
                prev_quantifier = true;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;
    use crate::config::filter::PatternList;

    #[test]
    fn detected_constructs_are_rejected_by_the_regex_crate_or_mean_something_else() {
        // Refusing these costs nothing that would have worked: the `regex` crate rejects them.
        for p in [
            "(?=a)",
            "(?!a)",
            "(?<=a)b",
            "(?<!a)b",
            "(?>a)",
            r"(a)\1",
            r"(?<n>a)\k<n>",
            r"\Qa\E",
            r"a\Z",
            r"\Ga",
            r"\R",
            r"\h",
            r"\e",
            r"\cA",
            r"\01",
            r"\p{javaLowerCase}",
            r"\p{InGreek}",
        ] {
            assert!(java_only_construct(p).is_some(), "{p}");
            assert!(Regex::new(p).is_err(), "{p}");
        }
        // This one compiles, as a nested repetition: Java's `a++a` never matches `aa`.
        assert!(Regex::new(r"\A(?:a++a)\z").unwrap().is_match("aa"));
        assert!(PatternList::new(&["a++a"]).is_err());
    }

    #[test]
    fn classes_and_escapes_do_not_fool_the_detector() {
        assert_eq!(java_only_construct("[?+]"), None);
        assert_eq!(java_only_construct("a+?b*?"), None);
        assert_eq!(java_only_construct("a}+"), None);
        assert_eq!(java_only_construct(r"\p{IsAlphabetic}+"), None);
        assert_eq!(java_only_construct("a{2}+"), Some("a possessive quantifier"));
        assert_eq!(java_only_construct(r"\.*+"), Some("a possessive quantifier"));
        assert_eq!(java_only_construct(r"a\++"), None);
        assert_eq!(java_only_construct(r"\(?=x"), None);
    }
}
