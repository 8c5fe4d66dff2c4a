//! The secured services (`scripts/services up secure postgres`) in, checks out: clients authenticate with SCRAM-SHA-512 over TLS checked against the test CA, a wrong password and an unauthorized service are refused, each denial is in the broker's audit log, and the event store connects to PostgreSQL with `sslmode=verify-full`.

use crate::kafka_support::{consume, spec, subscribe};
use carebus::kafka::{KafkaConfig, KafkaTransport, TopicAdmin};
use carebus::transport::{Record, Transport};
use std::time::Duration;

fn transport(mut config: KafkaConfig) -> KafkaTransport {
    config.delivery_timeout = Duration::from_secs(15);
    KafkaTransport::new(config).expect("kafka transport")
}

async fn create_topic_as_admin(name: &str) {
    let admin = carebus_tests::kafka_secure("admin");
    TopicAdmin::connect(&admin.bootstrap, &admin.client_properties())
        .expect("admin client")
        .apply(&spec(name, 1, 1))
        .await
        .unwrap_or_else(|e| panic!("creating {name} as admin: {e}"));
}

fn audit_log() -> String {
    std::fs::read_to_string(
        carebus_tests::repo_root().join("target/services/kafka/secure/logs/kafka-authorizer.log"),
    )
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_publishes_and_reads_over_scram_and_tls() {
    let topic = carebus_tests::unique_name("secure-roundtrip");
    create_topic_as_admin(&topic).await;
    let admin = carebus_tests::kafka_secure("admin");
    let shown = format!("{admin:?}");
    let password = admin.security.password.clone().expect("a password");
    assert!(
        !shown.contains(password.expose()),
        "Debug of the config hides the password: {shown}"
    );
    let t = transport(admin);
    t.send(Record::new(topic.clone(), "k", b"over TLS".to_vec()))
        .await
        .expect("the admin may write");
    let consumer = subscribe(&t, &carebus_tests::unique_name("secure-reader"), &topic).await;
    let got = consume(&consumer, 1, false, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload(), b"over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_not_shown() {
    let topic = carebus_tests::unique_name("secure-wrong-password");
    create_topic_as_admin(&topic).await;
    let mut config = carebus_tests::kafka_secure("prm-service");
    let wrong = "not-the-password-of-prm-service";
    config.security.password = Some(carebus::config::Secret::new(wrong));
    let err = transport(config)
        .send(Record::new(topic, "k", b"x".to_vec()))
        .await
        .expect_err("a wrong password cannot publish");
    let text = err.to_string();
    assert!(!text.contains(wrong), "the error shows no password: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_acls_is_denied_and_the_denial_is_audited() {
    let topic = carebus_tests::unique_name("secure-denied");
    create_topic_as_admin(&topic).await;
    let err = transport(carebus_tests::kafka_secure("prm-service"))
        .send(Record::new(topic.clone(), "k", b"x".to_vec()))
        .await
        .expect_err("no ACL allows prm-service to write");
    let text = err.to_string();
    assert!(
        text.to_ascii_lowercase().contains("authoriz"),
        "the error says it was not authorized: {text}"
    );
    // The authorizer logs each denial with the principal, the operation and the resource.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = audit_log();
        if log.lines().any(|l| {
            l.contains("User:prm-service") && l.contains("Denied") && l.contains(topic.as_str())
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no denial of User:prm-service on {topic} in the audit log; its tail:\n{}",
            log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_connects_to_postgres_with_verify_full_tls() {
    let url = carebus_tests::database_url();
    let ca = carebus_tests::test_ca();
    let sep = if url.contains('?') { '&' } else { '?' };
    let verified = format!("{url}{sep}sslmode=verify-full&sslrootcert={}", ca.display());
    let store = carebus::postgres::PgEventStore::connect(&verified)
        .await
        .expect("the store connects with sslmode=verify-full");
    let (ssl, version): (bool, Option<String>) =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pool())
            .await
            .expect("pg_stat_ssl");
    assert!(ssl, "the connection is encrypted");
    assert!(version.unwrap_or_default().starts_with("TLS"));

    // Verification is real: a root that did not sign the server's certificate is refused.
    let not_the_ca = carebus_tests::repo_root().join("target/services/pki/kafka-broker.crt");
    let wrong = format!(
        "{url}{sep}sslmode=verify-full&sslrootcert={}",
        not_the_ca.display()
    );
    let refused = carebus::postgres::PgEventStore::connect_with(
        &wrong,
        &carebus::postgres::PgStoreOptions {
            acquire_timeout: Duration::from_secs(5),
            ..Default::default()
        },
    )
    .await;
    assert!(
        refused.is_err(),
        "a server certificate from another CA is refused"
    );
}
