//! The generated TOPICS table against the runtime's naming: every dead-letter and retry topic it derives is the one consumers and publishers actually write to.

use carebus::dead_letter::{dlq_topic, retry_topic};
use carebus::{PublisherConfig, TopicSpec};

#[test]
fn derived_topics_are_named_as_the_runtime_writes_them() {
    let topics: &[TopicSpec<'static>] = carebus_schemas::TOPICS;
    let own: Vec<&TopicSpec<'_>> = topics.iter().filter(|t| t.derived_from.is_none()).collect();
    let publish_dlq = PublisherConfig::default().dead_letter_topic.unwrap();
    assert!(
        own.iter().any(|t| t.name == publish_dlq),
        "the publishers' dead-letter topic {publish_dlq} is declared"
    );
    for t in own.iter().filter(|t| t.name != publish_dlq) {
        let dlq = dlq_topic(t.name);
        let declared = topics
            .iter()
            .find(|d| d.name == dlq)
            .unwrap_or_else(|| panic!("{} has no declared dead-letter topic {dlq}", t.name));
        assert_eq!(declared.derived_from, Some(t.name));
        assert_eq!(declared.replication_factor, t.replication_factor);
    }
    let mut retries = 0;
    for d in topics.iter().filter(|d| d.name.contains(".retry.")) {
        let source = d.derived_from.expect("a retry topic names its topic");
        let level: usize = d.name.rsplit('.').next().unwrap().parse().unwrap();
        assert_eq!(d.name, retry_topic(source, level));
        retries += 1;
    }
    assert!(
        retries > 0,
        "the spec declares retry topics for at least one topic"
    );
}
