//! Tests of the security keys in both formats: TLS material read from PEM files and strings,
//! SASL credentials from `sasl.jaas.config` or plain keys, problems named by key, and no
//! secret in any message or Debug output.

use std::path::Path;

use crate::config::{Config, ConfigError, from_properties_str, from_toml_str};
use crate::security::{SaslMechanism, SecurityProtocol, TlsVersion};
use crate::testkit::certs::TestCa;

const BASE: &str = "clusters = source, target\nsource.bootstrap.servers = s:9092\n\
                    target.bootstrap.servers = t:9093\nsource->target.enabled = true\n";

fn props(extra: &str) -> Result<Config, ConfigError> {
    from_properties_str(&format!("{BASE}{extra}"), "mm2.properties")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The example, with `${…}` standing for the API key (Cargo sets
/// `CARGO_PKG_NAME` for tests) and a truststore so that it does not depend on system roots.
#[test]
fn the_mm2_example_parses() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("ca");
    let trust = write(dir.path(), "ca.pem", &ca.cert_pem);
    let c = props(&format!(
        "target.security.protocol=SASL_SSL\n\
         target.ssl.protocol=TLSv1.2\n\
         target.ssl.endpoint.identification.algorithm=https\n\
         target.sasl.mechanism=PLAIN\n\
         target.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"token\" password=${{CARGO_PKG_NAME}};\n\
         target.ssl.truststore.location={trust}\n\
         target.ssl.truststore.type=PEM\n"
    ))
    .unwrap();
    let security = &c.clusters["target"].client.security;
    assert_eq!(security.protocol, SecurityProtocol::SaslSsl);
    let tls = security.tls.as_ref().unwrap();
    assert!(tls.verify_hostname);
    assert_eq!(tls.versions, [TlsVersion::Tls12, TlsVersion::Tls13]);
    assert_eq!(tls.roots, [ca.cert_der()]);
    let sasl = security.sasl.as_ref().unwrap();
    assert_eq!(
        (sasl.mechanism, sasl.username.as_str()),
        (SaslMechanism::Plain, "token")
    );
    assert_eq!(sasl.password.expose(), "kmirror");
    assert_eq!(c.clusters["source"].client.security, Default::default());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn toml_security_tables_read_the_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("ca");
    let client = ca.client("kmirror");
    let trust = write(dir.path(), "ca.pem", &ca.cert_pem);
    let keystore = write(dir.path(), "client.pem", &client.keystore_pem());
    let text = format!(
        "[clusters.source]\nbootstrap_servers = [\"s:1\"]\n\
         [clusters.source.security]\nsecurity_protocol = \"SASL_PLAINTEXT\"\nsasl_mechanism = \"SCRAM-SHA-256\"\n\
         sasl_username = \"alice\"\nsasl_password = \"${{env:CARGO_PKG_NAME}}\"\n\
         [clusters.target]\nbootstrap_servers = [\"t:1\"]\n\
         [clusters.target.security]\nsecurity_protocol = \"SSL\"\nssl_truststore_location = \"{trust}\"\n\
         ssl_keystore_location = \"{keystore}\"\nssl_keystore_type = \"PEM\"\nssl_protocol = \"TLSv1.3\"\n\
         [[flows]]\nsource = \"source\"\ntarget = \"target\"\n"
    );
    let c = from_toml_str(&text, "kmirror.toml").unwrap();
    let sasl = c.clusters["source"].client.security.sasl.clone().unwrap();
    assert_eq!(
        (sasl.mechanism, sasl.username.as_str()),
        (SaslMechanism::ScramSha256, "alice")
    );
    assert_eq!(sasl.password.expose(), "kmirror");
    let tls = c.clusters["target"].client.security.tls.clone().unwrap();
    assert_eq!(tls.versions, [TlsVersion::Tls13]);
    let identity = tls.identity.unwrap();
    assert_eq!(identity.chain, client.chain());
    let err = from_toml_str(&text.replace("ssl_protocol", "ssl_protocols"), "kmirror.toml").unwrap_err();
    assert!(
        err.problems[0].contains("`clusters.target.security.ssl_protocols`: unknown security field"),
        "{err}"
    );
}

/// The DER of the target's mTLS client key.
fn client_key(c: &Config) -> Vec<u8> {
    let tls = c.clusters["target"].client.security.tls.clone().unwrap();
    tls.identity.unwrap().key.secret_der().to_vec()
}

#[test]
fn client_keys_as_strings_and_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("ca");
    let client = ca.client("kmirror");
    let one_line = |pem: &str| pem.replace('\n', "\\n\\\n");
    let c = props(&format!(
        "target.security.protocol=SSL\ntarget.ssl.truststore.certificates={}\n\
         target.ssl.keystore.certificate.chain={}\ntarget.ssl.keystore.key={}\n",
        one_line(&ca.cert_pem),
        one_line(&client.cert_pem),
        one_line(&client.key_pem)
    ))
    .unwrap();
    assert_eq!(client_key(&c), client.key().secret_der());

    let encrypted = format!("{}{}", client.encrypted_key_pem("key-pw"), client.cert_pem);
    let keystore = write(dir.path(), "enc.pem", &encrypted);
    let trust = write(dir.path(), "ca.pem", &ca.cert_pem);
    let base = format!(
        "target.security.protocol=SSL\ntarget.ssl.truststore.location={trust}\n\
         target.ssl.keystore.type=PEM\ntarget.ssl.keystore.location={keystore}\n"
    );
    let c = props(&format!("{base}target.ssl.key.password=key-pw\n")).unwrap();
    assert_eq!(client_key(&c), client.key().secret_der());
    let err = props(&format!("{base}target.ssl.key.password=wrong-pw\n")).unwrap_err();
    assert!(err.to_string().contains("check ssl.key.password"), "{err}");
    assert!(!err.to_string().contains("wrong-pw"));
    let err = props(&base).unwrap_err();
    assert!(err.to_string().contains("set ssl.key.password"), "{err}");
}

#[test]
fn problems_name_the_key_and_what_to_fix() {
    let cases = [
        (
            "target.security.protocol=SASL_SSL\ntarget.sasl.mechanism=GSSAPI\n",
            "`target.sasl.mechanism`: `GSSAPI` is not supported",
        ),
        (
            "target.security.protocol=SASL_PLAINTEXT\n",
            "`target.sasl.mechanism`: is required",
        ),
        (
            "target.security.protocol=SASL_PLAINTEXT\ntarget.sasl.mechanism=PLAIN\n",
            "`target.sasl.jaas.config`: is required",
        ),
        (
            "target.security.protocol=SASL_PLAINTEXT\ntarget.sasl.mechanism=SCRAM-SHA-512\n\
             target.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=u password=p;\n",
            "needs org.apache.kafka.common.security.scram.ScramLoginModule",
        ),
        (
            "target.security.protocol=SASL_PLAINTEXT\ntarget.sasl.mechanism=PLAIN\n\
             target.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=u;\n",
            "needs both username",
        ),
        (
            "target.security.protocol=SSL\ntarget.ssl.truststore.location=/no/such/ca.pem\n",
            "`target.ssl.truststore.location`: cannot read",
        ),
        (
            "target.security.protocol=SSL\ntarget.ssl.truststore.location=/etc/hostname\ntarget.ssl.truststore.type=JKS\n",
            "`/etc/hostname` is neither a PKCS12 nor a JKS store nor PEM text (the type says JKS)",
        ),
        (
            "target.security.protocol=SSL\ntarget.ssl.endpoint.identification.algorithm=ldap\n",
            "is not `https` or empty",
        ),
        (
            "target.security.protocol=SSL\ntarget.ssl.enabled.protocols=TLSv1.1\n",
            "enables neither TLSv1.2 nor TLSv1.3",
        ),
        (
            "target.security.protocol=SSL\ntarget.ssl.protocol=SSLv2\n",
            "is not TLSv1.2, TLSv1.3 or TLS",
        ),
        (
            "target.security.protocol=SSL\ntarget.ssl.keystore.key=x\n",
            "set either ssl.keystore.location, or both",
        ),
    ];
    for (extra, expected) in cases {
        let err = props(extra).unwrap_err();
        assert!(err.to_string().contains(expected), "{extra}: {err}");
    }
}

#[test]
fn empty_endpoint_algorithm_turns_hostname_checks_off_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let trust = write(dir.path(), "ca.pem", &TestCa::new("ca").cert_pem);
    let c = props(&format!(
        "target.security.protocol=SSL\ntarget.ssl.truststore.location={trust}\n\
         target.ssl.endpoint.identification.algorithm=\ntarget.ssl.cipher.suites=X\nsource.sasl.mechanism=PLAIN\n"
    ))
    .unwrap();
    assert!(
        !c.clusters["target"]
            .client
            .security
            .tls
            .clone()
            .unwrap()
            .verify_hostname
    );
    let has = |text: &str| c.warnings.iter().any(|w| w.contains(text));
    assert!(
        has("`target.ssl.endpoint.identification.algorithm`: is empty"),
        "{:?}",
        c.warnings
    );
    assert!(has("`target.ssl.cipher.suites`: ignored"), "{:?}", c.warnings);
    assert!(
        has("`source.sasl.mechanism`: ignored: security.protocol is PLAINTEXT"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn secrets_appear_in_no_message_and_no_debug_output() {
    let password = "Sup3r-Secret-Pw";
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"{password}\";"
    );
    let c = props(&format!(
        "target.security.protocol=SASL_PLAINTEXT\ntarget.sasl.mechanism=SCRAM-SHA-512\ntarget.sasl.jaas.config={jaas}\n"
    ))
    .unwrap();
    assert!(!format!("{c:?}").contains(password));
    // A broken entry: the error names the key and the position, not the value.
    let err = props(&format!(
        "target.security.protocol=SASL_PLAINTEXT\ntarget.sasl.mechanism=PLAIN\ntarget.sasl.jaas.config={}\n",
        jaas.trim_end_matches(';')
    ))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("`target.sasl.jaas.config`: does not end with `;`"),
        "{err}"
    );
    assert!(!err.to_string().contains(password) && !format!("{err:?}").contains(password));
    let err = props(&format!(
        "target.security.protocol=SASL_PLAINTEXT\ntarget.sasl.mechanism=OAUTHBEARER\ntarget.sasl.jaas.config={jaas}\n"
    ))
    .unwrap_err();
    assert!(!err.to_string().contains(password), "{err}");
}

/// Security keys where kmirror does not read them (in a flow's scope, per client, in TOML
/// `properties`) are ignored with a warning, and their values must not be kept where Debug
/// output can show them.
#[test]
fn ignored_security_keys_keep_no_secret() {
    let password = "Sup3r-Secret-Pw";
    let jaas = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"{password}\";"
    );
    for extra in [
        format!("source->target.sasl.jaas.config={jaas}\n"),
        format!("producer.sasl.jaas.config={jaas}\n"),
        format!("source->target.producer.sasl.jaas.config={jaas}\n"),
        format!("source->target.consumer.ssl.key.password={password}\n"),
        format!("source.producer.sasl.jaas.config={jaas}\n"),
        format!("admin.sasl.password={password}\n"),
    ] {
        let c = props(&extra).unwrap();
        assert!(!format!("{c:?}").contains(password), "{extra}");
        let key = extra.split('=').next().unwrap();
        assert!(
            c.warnings.iter().any(|w| w.contains(key)),
            "{extra}: {:?}",
            c.warnings
        );
    }
    let toml = format!(
        "[clusters.s]\nbootstrap_servers = [\"s:9092\"]\n\
         [clusters.s.properties]\n\"producer.sasl.jaas.config\" = '{jaas}'\n\
         [clusters.t]\nbootstrap_servers = [\"t:9092\"]\n\
         [[flows]]\nsource = \"s\"\ntarget = \"t\"\n\
         [flows.properties]\n\"sasl.jaas.config\" = '{jaas}'\n\"ssl.key.password\" = \"{password}\"\n"
    );
    let c = from_toml_str(&toml, "kmirror.toml").unwrap();
    assert!(!format!("{c:?}").contains(password), "{:?}", c.warnings);
}
