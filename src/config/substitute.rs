//! `${…}` references in configuration values, resolved when the file is loaded:
//!
//! - `${NAME}` and `${env:NAME}`: the environment variable `NAME` (the second form is how
//!   Kafka's `EnvVarConfigProvider` is written);
//! - `${file:PATH:KEY}`: key `KEY` of the Java properties file `PATH`, as Kafka's
//!   `FileConfigProvider` reads it (`apache/kafka: clients/.../config/provider/FileConfigProvider.java`).
//!
//! Kafka needs `config.providers` to be declared first; kmirror knows these two providers
//! without it. Errors name the reference, never the value it resolves to.

use std::borrow::Cow;
use std::collections::BTreeMap;

use encoding_rs::UTF_8;
use java_properties::{LineContent, PropertiesIter};

/// `value` with every reference replaced.
pub(crate) fn substitute(value: &str) -> Result<Cow<'_, str>, String> {
    if !value.contains("${") {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&resolve(&rest[start + 2..start + len])?);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn resolve(reference: &str) -> Result<String, String> {
    let env = |name: &str| {
        std::env::var(name)
            .map_err(|_| format!("environment variable `{name}` (from `${{{reference}}}`) is not set"))
    };
    match reference.split_once(':') {
        None => env(reference),
        Some(("env", name)) => env(name),
        Some(("file", path_key)) => {
            let (path, key) = path_key
                .rsplit_once(':')
                .ok_or_else(|| format!("`${{{reference}}}` must be `${{file:PATH:KEY}}`"))?;
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read `{path}` (from `${{{reference}}}`): {e}"))?;
            read_properties(&super::decode_properties(&bytes))
                .map_err(|e| format!("`{path}` (from `${{{reference}}}`) is not a properties file: {e}"))?
                .remove(key)
                .ok_or_else(|| format!("`{path}` has no key `{key}` (from `${{{reference}}}`)"))
        }
        Some((provider, _)) => Err(format!(
            "`${{{reference}}}`: unknown config provider `{provider}` (kmirror reads `${{NAME}}`, `${{env:NAME}}` and `${{file:PATH:KEY}}`)"
        )),
    }
}

fn read_properties(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for line in PropertiesIter::new_with_encoding(text.as_bytes(), UTF_8) {
        if let LineContent::KVPair(k, v) = line.map_err(|e| e.to_string())?.consume_content() {
            out.insert(k, v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file_references() {
        // Cargo sets CARGO_PKG_NAME for the test process (the crate forbids `unsafe`, which
        // `set_var` needs in edition 2024).
        assert_eq!(substitute("a ${CARGO_PKG_NAME} b").unwrap(), "a kmirror b");
        assert_eq!(substitute("${env:CARGO_PKG_NAME}").unwrap(), "kmirror");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.properties");
        std::fs::write(&path, "api.key = from-file\nother=x\n").unwrap();
        let value = format!("password=\"${{file:{}:api.key}}\";", path.display());
        assert_eq!(substitute(&value).unwrap(), "password=\"from-file\";");
        assert_eq!(
            substitute("no reference ${ here").unwrap(),
            "no reference ${ here"
        );
    }

    #[test]
    fn unresolved_references_are_errors_without_values() {
        let err = substitute("${KMIRROR_SURELY_UNSET_VARIABLE}").unwrap_err();
        assert!(err.contains("KMIRROR_SURELY_UNSET_VARIABLE"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.properties");
        std::fs::write(&path, "a=secret-value\n").unwrap();
        let err = substitute(&format!("${{file:{}:b}}", path.display())).unwrap_err();
        assert!(
            err.contains("no key `b`") && !err.contains("secret-value"),
            "{err}"
        );
        assert!(
            substitute("${vault:x:y}")
                .unwrap_err()
                .contains("unknown config provider")
        );
    }
}
