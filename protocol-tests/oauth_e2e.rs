//! SASL/OAUTHBEARER with the client-credentials flow against Apache Kafka's OAUTHBEARER
//! listener, which validates JWTs with the keys of a local issuer the test runs
//! (`support::oauth_issuer`): `kmirror run` replicates from that listener (SASL_SSL) to the shared
//! target while tokens live 15 s, so tokens are refreshed and the broker's sessions (bounded by
//! the token's expiry through `connections.max.reauth.ms`) end several times during the test;
//! records produced after the first token expired still arrive, checked with confluent-kafka.
//! Then `kmirror check` with a wrong client secret, and with a token the broker cannot
//! validate, fails with what is wrong and without the secret.

use std::time::{Duration, Instant};

use crate::support::kafka::{self, Kafka, KafkaOptions};
use crate::support::kmirror::{Kmirror, check};
use crate::support::oauth_issuer::{CLIENT_ID, CLIENT_SECRET, Issuer};
use crate::support::pyclient::{self, PyRecord};
use crate::support::{eventually, mm2_properties, topic};

const LIFETIME: Duration = Duration::from_secs(15);
const HANDLER: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler";

fn oauth_keys(kafka: &Kafka, token_url: &str, secret: &str) -> String {
    format!(
        "source.security.protocol = SASL_SSL\n\
         source.ssl.truststore.location = {ca}\n\
         source.sasl.mechanism = OAUTHBEARER\n\
         source.sasl.oauthbearer.token.endpoint.url = {token_url}\n\
         source.sasl.login.callback.handler.class = {HANDLER}\n\
         source.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \\\n  \
           clientId=\"{CLIENT_ID}\" clientSecret=\"{secret}\" scope=\"kafka\";\n",
        ca = kafka.pki().ca_file.display(),
    )
}

fn records(from: i64, count: i64) -> Vec<PyRecord> {
    (from..from + count)
        .map(|i| PyRecord {
            key: Some(format!("{i:02x}")),
            value: Some(crate::support::hex(format!("oauth-{i}").as_bytes())),
            timestamp: Some(1_700_000_000_000 + i),
            ..PyRecord::default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_over_oauthbearer_continues_across_token_refreshes() {
    let issuer = Issuer::start(LIFETIME).await;
    let source = Kafka::single_with(KafkaOptions::default().with_oauth(&issuer.jwks_url())).await;
    let target = kafka::shared_target().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("oauth");
    let name = format!("{prefix}.events");
    pyclient::create_topic(&source.addr(), &name, 1).await;
    let first = records(0, 20);
    pyclient::produce(&source.addr(), &name, 0, serde_json::json!({}), &first).await;

    let config = mm2_properties(
        dir.path(),
        &source.oauth_addr(),
        &target.addr(),
        &format!(
            "source->target.topics = {prefix}.*\n\
             emit.heartbeats.enabled = false\n\
             {}",
            oauth_keys(&source, &issuer.token_url(), CLIENT_SECRET)
        ),
    );
    let started = Instant::now();
    let kmirror = Kmirror::run(&config, dir.path());
    let target_topic = format!("source.{name}");
    let arrived = |count: usize| {
        let (addr, topic) = (target.addr(), target_topic.clone());
        eventually("the records on the target", Duration::from_secs(120), move || {
            let (addr, topic) = (addr.clone(), topic.clone());
            async move {
                let got = pyclient::consume(&addr, &topic, 0, 0, count, 5).await;
                (got.len() == count).then_some(got)
            }
        })
    };
    arrived(20).await;
    assert!(issuer.issued() >= 1);
    // Past the first token's expiry, with at least one refreshed token in use.
    eventually(
        "a refreshed token past the first one's expiry",
        Duration::from_secs(120),
        || {
            let done = issuer.issued() >= 2 && issuer.first_token_expired();
            async move { done.then_some(()) }
        },
    )
    .await;
    let second = records(20, 20);
    pyclient::produce(&source.addr(), &name, 0, serde_json::json!({}), &second).await;
    let copied = arrived(40).await;
    let strip = |r: &PyRecord| (r.key.clone(), r.value.clone(), r.timestamp);
    let sent: Vec<PyRecord> = first.into_iter().chain(second).collect();
    assert_eq!(
        copied.iter().map(strip).collect::<Vec<_>>(),
        sent.iter().map(strip).collect::<Vec<_>>()
    );
    assert_eq!(issuer.refused(), 0);
    let log = kmirror.log();
    kmirror.stop_cleanly().await;
    eprintln!(
        "oauth: {} tokens of {}s issued in {:.0}s of replication",
        issuer.issued(),
        LIFETIME.as_secs(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        !log.contains(CLIENT_SECRET),
        "the client secret is in the log:\n{log}"
    );
    assert!(log.contains("OAuth token obtained"), "{log}");

    // A wrong client secret: the endpoint's refusal, named.
    let wrong = mm2_properties(
        dir.path(),
        &source.oauth_addr(),
        &target.addr(),
        &format!(
            "source->target.topics = {prefix}.*\n{}",
            oauth_keys(&source, &issuer.token_url(), "Wrong-Secret-8")
        ),
    );
    let (ok, text) = check(&wrong).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("cluster source")
            && text.contains(&format!("no token for client `{CLIENT_ID}`"))
            && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(
        !text.contains("Wrong-Secret-8") && !text.contains(CLIENT_SECRET),
        "{text}"
    );

    // A token signed by a key the broker does not know: the broker's refusal, named.
    let stranger = Issuer::start(LIFETIME).await;
    let foreign = mm2_properties(
        dir.path(),
        &source.oauth_addr(),
        &target.addr(),
        &format!(
            "source->target.topics = {prefix}.*\n{}",
            oauth_keys(&source, &stranger.token_url(), CLIENT_SECRET)
        ),
    );
    let (ok, text) = check(&foreign).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("cluster source")
            && text.contains(&format!(
                "the broker refused the OAuth token of client `{CLIENT_ID}`"
            )),
        "{text}"
    );
    assert!(stranger.issued() >= 1);
}
