//! Topics as code against the real single broker: a spec in, created topics, raised partitions, updated configs and reported drift out.

use crate::kafka_support::spec;
use carebus::kafka::{Change, Drift, Refusal, TopicAdmin};
use carebus::{CleanupPolicy, TopicSpec};
use carebus_tests::{kafka_bootstrap, unique_name};
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_raises_updates_and_reports_drift_with_rf_clamped_on_one_broker() {
    let bootstrap = kafka_bootstrap();
    let mut admin = TopicAdmin::connect(&bootstrap, &BTreeMap::new()).unwrap();
    let name = unique_name("topics_apply");
    let first = [TopicSpec {
        retention_ms: Some(7 * 86_400_000),
        min_insync_replicas: Some(2),
        configs: &[("segment.bytes", "10485760")],
        ..TopicSpec::new(&name, 3, 3)
    }];

    // Refused by default: RF 3 on a one-broker cluster would stay RF 1 for good.
    let refused = admin.apply(&first).await.unwrap_err().to_string();
    assert!(
        refused.contains("1 live broker(s)") && refused.contains(&name),
        "{refused}"
    );
    assert!(
        !admin
            .observe(&first)
            .await
            .unwrap()
            .topics
            .contains_key(&name),
        "nothing created"
    );

    // Allowed (a development cluster): RF 3 and min.insync.replicas 2 clamped to the single
    // broker, with a warning.
    admin.allow_under_replicated(true);
    let report = admin.apply(&first).await.unwrap();
    assert!(
        matches!(
            &report.plan.changes[..],
            [Change::Create {
                replication_factor: 1,
                partitions: 3,
                ..
            }]
        ),
        "{:?}",
        report.plan
    );
    assert!(
        report
            .plan
            .drift
            .contains(&Drift::ReplicationFactorClamped {
                topic: name.clone(),
                spec: 3,
                brokers: 1
            })
    );
    let seen = admin.observe(&first).await.unwrap();
    let topic = &seen.topics[&name];
    assert_eq!((topic.partitions, topic.replication_factor), (3, 1));
    assert_eq!(topic.configs["retention.ms"], "604800000");
    assert_eq!(topic.configs["min.insync.replicas"], "1");
    assert_eq!(topic.configs["segment.bytes"], "10485760");
    assert_eq!(topic.configs["cleanup.policy"], "delete");

    // Applying the same spec again changes nothing.
    let again = admin.plan(&first).await.unwrap();
    assert!(again.changes.is_empty(), "{again}");

    // Raise partitions, change retention and compaction: plan shows it, apply does it,
    // the passthrough config the new spec no longer names is kept, not reset.
    let second = [TopicSpec {
        retention_ms: Some(3_600_000),
        cleanup_policy: CleanupPolicy::Compact,
        min_insync_replicas: Some(2),
        ..TopicSpec::new(&name, 6, 3)
    }];
    let plan = admin.plan(&second).await.unwrap();
    assert!(plan.changes.contains(&Change::RaisePartitions {
        topic: name.clone(),
        from: 3,
        to: 6
    }));
    let text = plan.to_string();
    assert!(
        text.contains("retention.ms: 604800000 -> 3600000"),
        "{text}"
    );
    assert!(text.contains("cleanup.policy: delete -> compact"), "{text}");
    // plan changed nothing
    assert_eq!(
        admin.observe(&second).await.unwrap().topics[&name].partitions,
        3
    );

    admin.apply(&second).await.unwrap();
    let seen = admin.observe(&second).await.unwrap();
    let topic = &seen.topics[&name];
    assert_eq!(topic.partitions, 6);
    assert_eq!(topic.configs["retention.ms"], "3600000");
    assert_eq!(topic.configs["cleanup.policy"], "compact");
    assert_eq!(topic.configs["segment.bytes"], "10485760");
    assert!(admin.plan(&second).await.unwrap().changes.is_empty());

    // A spec with fewer partitions is drift, never a change; the topic keeps its 6.
    let lower = [TopicSpec {
        retention_ms: Some(3_600_000),
        cleanup_policy: CleanupPolicy::Compact,
        ..TopicSpec::new(&name, 2, 1)
    }];
    let report = admin.apply(&lower).await.unwrap();
    assert!(
        !report
            .plan
            .changes
            .iter()
            .any(|c| matches!(c, Change::RaisePartitions { .. } | Change::Create { .. }))
    );
    assert!(report.plan.drift.contains(&Drift::PartitionsAboveSpec {
        topic: name.clone(),
        actual: 6,
        spec: 2
    }));
    assert_eq!(
        admin.observe(&lower).await.unwrap().topics[&name].partitions,
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repository_spec_is_planned_against_the_broker() {
    let bootstrap = kafka_bootstrap();
    let admin = TopicAdmin::connect(&bootstrap, &BTreeMap::new()).unwrap();
    let topics = carebus_schemas::TOPICS;
    assert!(
        topics.len() >= 4,
        "the generated table lists the spec's topics"
    );
    let plan = admin.plan(topics).await.unwrap();
    // Every spec topic is either planned for creation, compared, or (replication factor above
    // the one broker's count) refused; nothing is ever deleted.
    for topic in topics {
        if topic.replication_factor > 1 {
            assert!(
                plan.refused.iter().any(|r| match r {
                    Refusal::UnderReplicated { topic: t, .. } => *t == topic.name,
                }),
                "{} (replication factor {}) is refused on one broker:\n{plan}",
                topic.name,
                topic.replication_factor
            );
            continue;
        }
        let mentioned = plan.changes.iter().any(|c| match c {
            Change::Create { topic: t, .. }
            | Change::RaisePartitions { topic: t, .. }
            | Change::AlterConfigs { topic: t, .. } => *t == topic.name,
        }) || plan.drift.iter().any(|d| match d {
            Drift::ReplicationFactorClamped { topic: t, .. }
            | Drift::PartitionsAboveSpec { topic: t, .. }
            | Drift::ReplicationFactorDiffers { topic: t, .. } => *t == topic.name,
        });
        assert!(mentioned, "{} missing from the plan:\n{plan}", topic.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_error_names_the_command_that_starts_kafka() {
    let admin = TopicAdmin::connect("127.0.0.1:1", &BTreeMap::new()).unwrap();
    let error = admin
        .plan(&spec("never_created", 1, 1))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("scripts/services up kafka"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_validation_catches_configs_the_broker_rejects_and_apply_creates_nothing() {
    let bootstrap = kafka_bootstrap();
    let admin = TopicAdmin::connect(&bootstrap, &BTreeMap::new()).unwrap();
    let name = unique_name("topics_invalid");
    let bad = [TopicSpec {
        configs: &[("retention.bytez", "10")],
        ..TopicSpec::new(&name, 1, 1)
    }];
    let plan = admin.plan(&bad).await.unwrap();
    let problems = admin.validate(&plan).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with(&name), "{problems:?}");
    let error = admin.apply(&bad).await.unwrap_err().to_string();
    assert!(error.contains(&name), "{error}");
    assert!(
        !admin
            .observe(&bad)
            .await
            .unwrap()
            .topics
            .contains_key(&name)
    );

    let good = spec(&name, 1, 1);
    assert!(
        admin
            .validate(&admin.plan(&good).await.unwrap())
            .await
            .is_empty()
    );
    assert!(
        !admin
            .observe(&good)
            .await
            .unwrap()
            .topics
            .contains_key(&name),
        "validation created nothing"
    );
}
