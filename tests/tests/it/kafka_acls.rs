//! ACLs generated from the services manifest and applied to the secured broker (`scripts/services up secure`) in; enforcement and errors out: a service publishes and consumes what it declares and nothing else, a second apply adds nothing, extra bindings go only when pruning, and a wrong password, an unknown user, an untrusted CA and a missing ACL are each a clear, non-retriable error.
//!
//! Every binding is scoped to a namespace of its own (topics, group and transactional id
//! prefixed with a unique name), so the other tests on the shared secured broker — one of
//! which checks that a service without ACLs is denied — are not affected, and is deleted at
//! the end.

use crate::kafka_support::{consume, subscribe};
use carebus::kafka::acl::{
    Acl, AclAdmin, AclScope, Operation, PatternKind, ResourceKind, ServiceAccess, desired_acls,
    services_from_toml,
};
use carebus::kafka::{KafkaConfig, KafkaTransport, TopicAdmin};
use carebus::transport::{Record, Transport, TransportError, TransportErrorKind};
use carebus::{PublishError, Publisher, PublisherConfig, TopicSpec};
use std::collections::BTreeSet;
use std::time::Duration;

fn transport(mut config: KafkaConfig) -> KafkaTransport {
    config.delivery_timeout = Duration::from_secs(10);
    KafkaTransport::new(config).expect("kafka transport")
}

fn acl_admin() -> AclAdmin {
    let admin = carebus_tests::kafka_secure("admin");
    AclAdmin::connect(&admin.bootstrap, &admin.client_properties()).expect("ACL admin client")
}

/// A service of schemas/services.toml.
fn manifest_service(name: &str) -> ServiceAccess {
    let path = carebus_tests::repo_root().join("schemas/services.toml");
    let text = std::fs::read_to_string(&path).expect("schemas/services.toml");
    services_from_toml(&text)
        .expect("the manifest parses")
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is in {}", path.display()))
}

/// The topic of the table that carries `event`.
fn topic_of(event: &str) -> &'static str {
    carebus_schemas::TOPICS
        .iter()
        .find(|t| t.derived_from.is_none() && t.events.contains(&event))
        .map(|t| t.name)
        .unwrap_or_else(|| panic!("a topic carries {event}"))
}

/// Create `names` on the secured broker as the admin (1 partition, 1 replica).
async fn create_topics_as_admin(names: &[&str]) {
    let admin = carebus_tests::kafka_secure("admin");
    let specs: Vec<TopicSpec<'_>> = names.iter().map(|n| TopicSpec::new(n, 1, 1)).collect();
    TopicAdmin::connect(&admin.bootstrap, &admin.client_properties())
        .expect("admin client")
        .apply(&specs)
        .await
        .unwrap_or_else(|e| panic!("creating {names:?} as admin: {e}"));
}

/// A handler of the patients topic that handles nothing (the consumer never gets a record).
struct Nothing;

impl carebus_schemas::PatientsHandler for Nothing {}

fn assert_not_authorized(e: &TransportError, principal: &str, operation: &str, resource: &str) {
    match e.kind() {
        TransportErrorKind::NotAuthorized {
            principal: p,
            operation: o,
            resource: r,
        } => {
            assert_eq!(p, principal, "{e}");
            assert_eq!(o, operation, "{e}");
            assert_eq!(r, resource, "{e}");
        }
        other => panic!("expected NotAuthorized, got {other:?}: {e}"),
    }
    eprintln!("refused as expected: {e}");
    assert!(
        !e.is_retriable(),
        "an authorization failure is not retried: {e}"
    );
    let text = e.to_string();
    for part in [principal, operation, resource, "carebus-acls apply"] {
        assert!(text.contains(part), "the error names {part}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_from_the_manifest_let_a_service_do_what_it_declares_and_nothing_else() {
    let ns = format!("{}.", carebus_tests::unique_name("acls"));
    let prm = manifest_service("prm-service");
    assert!(prm.produces.iter().any(|e| e == "PatientCreated"));
    assert!(!prm.produces.iter().any(|e| e == "VitalSignsRecorded"));
    assert!(prm.consumes.iter().any(|e| e == "AnalysisCompleted"));
    let own = format!("{ns}{}", topic_of("PatientCreated"));
    let undeclared = format!("{ns}{}", topic_of("VitalSignsRecorded"));
    let consumed = format!("{ns}{}", topic_of("AnalysisCompleted"));
    let publish_dlq = format!("{ns}carebus.publish.dlq");
    create_topics_as_admin(&[&own, &undeclared, &consumed, &publish_dlq]).await;

    let services = std::slice::from_ref(&prm);
    let desired = desired_acls(services, carebus_schemas::TOPICS, &ns).expect("ACLs");
    let scope = AclScope::of(services, &ns);
    let admin = acl_admin();

    // Apply as the admin; a second apply (and plan) has nothing to do.
    let first = admin.apply(&desired, &scope, false).await.expect("apply");
    assert_eq!(first.add.len(), desired.len() - first.present, "{first}");
    assert!(
        first
            .add
            .iter()
            .any(|a| a.name == own && a.operation == Operation::Write)
    );
    let again = admin.plan(&desired, &scope, false).await.expect("plan");
    assert!(
        again.is_empty() && again.add.is_empty(),
        "second plan: {again}"
    );
    assert_eq!(again.present, desired.len(), "{again}");
    let second = admin
        .apply(&desired, &scope, false)
        .await
        .expect("second apply");
    assert!(second.add.is_empty(), "second apply adds nothing: {second}");

    // The service publishes the event it declares…
    let prm_config = carebus_tests::kafka_secure("prm-service");
    let t = transport(prm_config.clone());
    t.send(Record::new(own.clone(), "p-1", b"declared".to_vec()))
        .await
        .expect("prm-service may publish PatientCreated's topic");
    // …and the broker refuses one it does not declare, naming principal, operation, topic.
    let refused = t
        .send(Record::new(
            undeclared.clone(),
            "p-1",
            b"undeclared".to_vec(),
        ))
        .await
        .expect_err("prm-service does not declare VitalSignsRecorded");
    assert_not_authorized(
        &refused,
        "User:prm-service",
        "WRITE",
        &format!("topic {undeclared}"),
    );

    // The publisher dead-letters the refused event at once: no retries, not parked in its
    // outbox as if Kafka were down, breaker still closed.
    let outbox = std::env::temp_dir().join(carebus_tests::unique_name("acls-outbox"));
    let publisher = Publisher::new(
        transport(prm_config.clone()),
        PublisherConfig {
            outbox_dir: Some(outbox.clone()),
            outbox_key: Some(carebus::publisher::OutboxKey::from_bytes([7; 32])),
            dead_letter_topic: Some(publish_dlq.clone()),
            ..PublisherConfig::default()
        },
    )
    .expect("publisher");
    let result = publisher
        .send_prepared(Record::new(
            undeclared.clone(),
            "p-2",
            b"undeclared".to_vec(),
        ))
        .await;
    match result {
        Err(PublishError::DeadLettered {
            dead_letter_topic,
            source,
            ..
        }) => {
            assert_eq!(dead_letter_topic, publish_dlq);
            assert!(
                matches!(source.kind(), TransportErrorKind::NotAuthorized { .. }),
                "{source}"
            );
        }
        other => panic!("expected the refused event dead-lettered, got {other:?}"),
    }
    assert_eq!(publisher.outbox_len(), 0, "nothing parked in the outbox");
    assert_eq!(
        format!("{:?}", publisher.breaker_state()),
        "Closed",
        "an authorization failure does not open the breaker"
    );
    drop(publisher);
    let _ = std::fs::remove_dir_all(&outbox);

    // It consumes its declared topic in its group (the namespace + its name)…
    let admin_t = transport(carebus_tests::kafka_secure("admin"));
    admin_t
        .send(Record::new(consumed.clone(), "a-1", b"analysis".to_vec()))
        .await
        .expect("the admin writes the consumed topic");
    let group = format!("{ns}prm-service");
    let consumer = subscribe(&t, &group, &consumed).await;
    let got = consume(&consumer, 1, true, Duration::from_secs(60)).await;
    assert_eq!(
        got.len(),
        1,
        "prm-service reads {consumed} in group {group}"
    );
    assert_eq!(got[0].payload(), b"analysis");
    drop(consumer);
    // …but not in a group that is not its own: the poll fails, not retriable, naming the group.
    let foreign = format!("{ns}someone-else");
    let denied = subscribe(&t, &foreign, &consumed).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let error = loop {
        match denied.poll(Duration::from_millis(500)).await {
            Err(e) => break e,
            Ok(_) => assert!(
                std::time::Instant::now() < deadline,
                "a member of {foreign} was never refused"
            ),
        }
    };
    assert_not_authorized(
        &error,
        "User:prm-service",
        "READ",
        &format!("group {foreign}"),
    );
    drop(denied);
    // The runtime's consumer stops with that error instead of polling on.
    let mut config = carebus::ConsumerConfig::new(&foreign);
    config.topics = vec![consumed.clone()];
    let publisher = Publisher::new(transport(prm_config.clone()), PublisherConfig::default())
        .expect("publisher");
    let runtime_consumer = carebus::Consumer::new(publisher, config);
    let (_keep_running, shutdown) = carebus::Shutdown::channel();
    let stopped = tokio::time::timeout(
        Duration::from_secs(60),
        runtime_consumer.run(carebus_schemas::PatientsDispatcher(Nothing), shutdown),
    )
    .await
    .expect("a consumer denied its group stops instead of polling on")
    .expect_err("a consumer denied its group stops with an error");
    let text = stopped.to_string();
    for part in ["User:prm-service", "READ", &format!("group {foreign}")] {
        assert!(
            text.contains(part),
            "the consumer's error names {part}: {text}"
        );
    }

    // A binding added by hand is reported as extra, kept without --prune, removed with it.
    let extra = Acl::allow(
        "User:prm-service",
        ResourceKind::Topic,
        &undeclared,
        PatternKind::Literal,
        Operation::Write,
    );
    admin
        .create(std::slice::from_ref(&extra))
        .await
        .expect("add a binding by hand");
    let mut seen = admin.plan(&desired, &scope, false).await.expect("plan");
    for _ in 0..20 {
        if seen.extra.contains(&extra) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        seen = admin.plan(&desired, &scope, false).await.expect("plan");
    }
    assert_eq!(seen.extra, std::slice::from_ref(&extra), "{seen}");
    assert!(
        seen.is_empty(),
        "without --prune nothing would change: {seen}"
    );
    assert!(seen.to_string().contains("--prune removes it"), "{seen}");
    let kept = admin.apply(&desired, &scope, false).await.expect("apply");
    assert!(kept.remove().is_empty());
    let observed = admin
        .observe(&scope.principals)
        .await
        .expect("describe ACLs");
    assert!(
        observed.contains(&extra),
        "apply without --prune keeps the extra binding"
    );
    let pruned = admin
        .apply(&desired, &scope, true)
        .await
        .expect("apply --prune");
    assert_eq!(pruned.remove(), std::slice::from_ref(&extra), "{pruned}");
    let after = admin.plan(&desired, &scope, true).await.expect("plan");
    assert!(
        after.is_empty() && after.extra.is_empty(),
        "after pruning: {after}"
    );

    // Clean up: this test's bindings (its namespace's and the cluster one) go.
    let mine: Vec<Acl> = desired.into_iter().collect();
    admin.delete(&mine).await.expect("delete the test's ACLs");
    let left: BTreeSet<Acl> = admin
        .observe(&scope.principals)
        .await
        .expect("describe ACLs")
        .into_iter()
        .filter(|a| a.name.starts_with(&ns))
        .collect();
    assert!(left.is_empty(), "bindings left behind: {left:?}");
}

/// Send one record as `config` and return the error (a send that succeeds fails the test).
async fn refused_send(config: KafkaConfig, topic: &str) -> TransportError {
    transport(config)
        .send(Record::new(topic.to_string(), "k", b"x".to_vec()))
        .await
        .expect_err("the brokers refuse this client")
}

fn assert_not_authenticated(e: &TransportError, principal: &str, hint: &str, secret: &str) {
    match e.kind() {
        TransportErrorKind::NotAuthenticated { principal: p, .. } => {
            assert_eq!(p, principal, "{e}")
        }
        other => panic!("expected NotAuthenticated, got {other:?}: {e}"),
    }
    eprintln!("refused as expected: {e}");
    assert!(
        !e.is_retriable(),
        "not retried as if the broker were down: {e}"
    );
    let text = e.to_string();
    assert!(text.contains(principal), "names the principal: {text}");
    assert!(text.contains(hint), "says what to check ({hint}): {text}");
    assert!(!text.contains(secret), "never shows the secret: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_an_untrusted_ca_are_clear_non_retriable_errors() {
    let topic = carebus_tests::unique_name("acls-auth");
    create_topics_as_admin(&[&topic]).await;
    let real_password = carebus_tests::kafka_secure("prm-service")
        .security
        .password
        .expect("a password")
        .expose()
        .to_string();

    let wrong = "not-the-password-of-prm-service";
    let mut wrong_password = carebus_tests::kafka_secure("prm-service");
    wrong_password.security.password = Some(carebus::config::Secret::new(wrong));
    let mut unknown_user = carebus_tests::kafka_secure("prm-service");
    unknown_user.security.username = Some("no-such-service".into());
    let mut untrusted = carebus_tests::kafka_secure("prm-service");
    // A certificate that is not the CA that signed the broker's.
    untrusted.security.ca_location =
        Some(carebus_tests::repo_root().join("target/services/pki/kafka-broker.crt"));

    let (a, b, c) = tokio::join!(
        refused_send(wrong_password.clone(), &topic),
        refused_send(unknown_user, &topic),
        refused_send(untrusted.clone(), &topic),
    );
    assert_not_authenticated(&a, "User:prm-service", "password", wrong);
    assert_not_authenticated(&b, "User:no-such-service", "password", &real_password);
    assert_not_authenticated(&c, "User:prm-service", "ssl.ca.location", &real_password);

    // A consumer that cannot authenticate stops with the error instead of polling nothing.
    for (config, hint) in [(wrong_password, "password"), (untrusted, "ssl.ca.location")] {
        let t = transport(config);
        let consumer = subscribe(&t, &carebus_tests::unique_name("acls-auth"), &topic).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let error = loop {
            match consumer.poll(Duration::from_millis(500)).await {
                Err(e) => break e,
                Ok(_) => assert!(
                    std::time::Instant::now() < deadline,
                    "a consumer that cannot authenticate kept polling without an error"
                ),
            }
        };
        assert_not_authenticated(&error, "User:prm-service", hint, wrong);
    }
}
