//! The OAUTHBEARER keys: the JAAS entry or Kafka 4's keys, both login handler names, the token
//! endpoint, and problems named by key without the client secret.

use crate::config::{Config, ConfigError, from_properties_str};
use crate::security::SaslMechanism;

const BASE: &str = "clusters = source, target\nsource.bootstrap.servers = s:9092\n\
                    target.bootstrap.servers = t:9093\nsource->target.enabled = true\n\
                    target.security.protocol=SASL_SSL\ntarget.sasl.mechanism=OAUTHBEARER\n";
const MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

fn props(extra: &str) -> Result<Config, ConfigError> {
    from_properties_str(&format!("{BASE}{extra}"), "mm2.properties")
}

#[test]
fn jaas_entry_or_kafka_4_keys_with_either_handler() {
    for handler in [
        "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler",
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
    ] {
        let c = props(&format!(
            "target.sasl.oauthbearer.token.endpoint.url=https://idp.example:8443/oauth2/token\n\
             target.sasl.login.callback.handler.class={handler}\n\
             target.sasl.jaas.config={MODULE} required clientId=\"kmirror\" clientSecret=\"S3cret-9\" scope=\"kafka\";\n"
        ))
        .unwrap();
        let sasl = c.clusters["target"].client.security.sasl.clone().unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::OAuthBearer);
        assert_eq!(sasl.username, "kmirror");
        assert_eq!(sasl.password.expose(), "S3cret-9");
        let oauth = sasl.oauth.unwrap();
        assert_eq!(
            (
                oauth.token_endpoint.host.as_str(),
                oauth.token_endpoint.port,
                oauth.token_endpoint.target.as_str()
            ),
            ("idp.example", 8443, "/oauth2/token")
        );
        assert_eq!(oauth.scope.as_deref(), Some("kafka"));
        assert_eq!(oauth.sub_claim, "sub");
        assert!(!format!("{c:?}").contains("S3cret-9"));
    }
    let c = props(
        "target.sasl.oauthbearer.token.endpoint.url=http://127.0.0.1:9/token\n\
         target.sasl.oauthbearer.client.credentials.client.id=kmirror\n\
         target.sasl.oauthbearer.client.credentials.client.secret=S3cret-9\n\
         target.sasl.oauthbearer.sub.claim.name=client_id\n\
         target.sasl.oauthbearer.header.urlencode=true\n",
    )
    .unwrap();
    let sasl = c.clusters["target"].client.security.sasl.clone().unwrap();
    let oauth = sasl.oauth.unwrap();
    assert_eq!(
        (sasl.username.as_str(), oauth.sub_claim.as_str()),
        ("kmirror", "client_id")
    );
    assert!(oauth.header_urlencode && oauth.scope.is_none() && !oauth.token_endpoint.tls);
}

#[test]
fn problems_name_the_key_and_never_the_secret() {
    let jaas =
        format!("target.sasl.jaas.config={MODULE} required clientId=\"k\" clientSecret=\"S3cret-9\";\n");
    let url = "target.sasl.oauthbearer.token.endpoint.url=https://idp.example/token\n";
    let cases = [
        (
            jaas.clone(),
            "`target.sasl.oauthbearer.token.endpoint.url`: is required with sasl.mechanism=OAUTHBEARER",
        ),
        (
            format!("{url}target.sasl.jaas.config={MODULE} required clientId=\"k\";\n"),
            "needs clientId=\"…\" and clientSecret=\"…\"",
        ),
        (
            format!("{jaas}target.sasl.oauthbearer.token.endpoint.url=file:///etc/token\n"),
            "`file:///etc/token` is not an http:// or https:// URL",
        ),
        (
            format!("{jaas}{url}target.sasl.login.callback.handler.class=com.example.Custom\n"),
            "`com.example.Custom` is not supported",
        ),
        (
            format!("{jaas}{url}target.sasl.oauthbearer.client.credentials.client.id=k\n"),
            "is also set in sasl.jaas.config",
        ),
        (
            format!(
                "{url}target.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required clientId=\"k\" clientSecret=\"S3cret-9\";\n"
            ),
            "needs org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
        ),
    ];
    for (extra, expected) in cases {
        let err = props(&extra).unwrap_err().to_string();
        assert!(err.contains(expected), "{extra}: {err}");
        assert!(!err.contains("S3cret-9"), "{err}");
    }
}

#[test]
fn plain_http_beyond_loopback_and_ignored_refresh_keys_warn() {
    let c = props(&format!(
        "target.sasl.oauthbearer.token.endpoint.url=http://idp.example/token\n\
         target.sasl.login.refresh.window.factor=0.5\n\
         target.sasl.jaas.config={MODULE} required clientId=\"k\" clientSecret=\"s\";\n"
    ))
    .unwrap();
    let warnings = c.warnings.join("\n");
    assert!(warnings.contains("unencrypted"), "{warnings}");
    assert!(warnings.contains("refreshes OAuth tokens at 80%"), "{warnings}");
}
