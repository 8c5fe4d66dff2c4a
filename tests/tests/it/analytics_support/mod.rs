//! Helpers shared by the analytics tests: one run's names (Kafka topics per schema topic, group, index prefix) in, a running sink, published typed events, OpenSearch counts and documents, and the PHI values of what was published out.

#![allow(dead_code)]

use crate::kafka_support::{create_topic, transport};
use carebus::kafka::KafkaTransport;
use carebus::{DomainEvent, PublishOptions, Publisher, PublisherConfig};
use carebus_analytics::opensearch::Method;
use carebus_analytics::{
    AnalyticsSink, Deidentifier, IndexLayout, OpenSearch, OpenSearchConfig, SinkConfig, SinkStats,
    Source,
};
use carebus_codegen::ir::{Analytics, Model, NamedType, Record, Type};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pseudonymisation key of the tests (a deployment's key is 32+ random bytes).
pub const KEY: &[u8] = b"carebus analytics test key: 32+ bytes";

/// One test's names: a Kafka topic (and its `.dlq`) per schema topic, a group, an index prefix.
#[derive(Clone, Debug)]
pub struct Names {
    pub prefix: String,
    pub group: String,
    /// (the schemas' topic, the Kafka topic this test uses for it)
    pub topics: Vec<(&'static str, String)>,
}

impl Names {
    /// Fresh names for every topic of the schemas.
    pub fn new(label: &str) -> Names {
        let topics = carebus_schemas::TOPICS
            .iter()
            .filter(|t| t.derived_from.is_none())
            .map(|t| {
                (
                    t.name,
                    carebus_tests::unique_name(&format!("{label}_{}", t.name)),
                )
            })
            .collect();
        Names {
            prefix: carebus_tests::unique_name(&format!("t{label}")),
            group: carebus_tests::unique_name(&format!("{label}_sink")),
            topics,
        }
    }

    /// The Kafka topic standing for the schemas' topic `schema_topic`.
    pub fn topic(&self, schema_topic: &str) -> &str {
        &self
            .topics
            .iter()
            .find(|(s, _)| *s == schema_topic)
            .unwrap_or_else(|| panic!("{schema_topic} is a topic of the schemas"))
            .1
    }

    /// Create every topic and its dead-letter topic.
    pub async fn create_topics(&self, bootstrap: &str, partitions: i32) {
        for (_, t) in &self.topics {
            create_topic(bootstrap, t, partitions, 1).await;
            create_topic(bootstrap, &format!("{t}.dlq"), 1, 1).await;
        }
    }

    /// The sink's sources: each generated topic enum reading this test's topic.
    pub fn sources(&self) -> Vec<Source> {
        use carebus_schemas::*;
        [
            Source::of::<PatientsEvent>(),
            Source::of::<AppointmentsEvent>(),
            Source::of::<ClinicalEvent>(),
            Source::of::<JourneysEvent>(),
            Source::of::<AiEvent>(),
        ]
        .into_iter()
        .map(|s| {
            let topic = self.topic(s.events_of).to_owned();
            s.reading(topic)
        })
        .collect()
    }

    /// Indices of every topic of this test.
    pub fn indices(&self) -> String {
        format!("{}-*", self.prefix)
    }
}

/// The OpenSearch client of the tests (checks the cluster is reachable first).
pub fn opensearch() -> OpenSearch {
    let config = OpenSearchConfig {
        url: carebus_tests::opensearch_url(),
        ..OpenSearchConfig::default()
    };
    OpenSearch::new(&config).expect("OpenSearch URL")
}

/// A sink over Kafka for `names`, batching `batch` records.
pub fn sink(bootstrap: &str, names: &Names, batch: usize) -> AnalyticsSink<KafkaTransport> {
    let config = SinkConfig {
        group_id: names.group.clone(),
        layout: IndexLayout {
            prefix: names.prefix.clone(),
            ..IndexLayout::default()
        },
        batch_events: batch,
        max_backoff: Duration::from_secs(1),
        ..SinkConfig::default()
    };
    AnalyticsSink::new(
        transport(bootstrap),
        opensearch(),
        Deidentifier::new(KEY).expect("key"),
        carebus_schemas::ANALYTICS,
        &names.sources(),
        config,
    )
    .expect("sink")
}

/// A sink running on its own task until the returned sender is dropped or sent to.
pub struct RunningSink {
    pub stats: Arc<SinkStats>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), carebus_analytics::SinkError>>,
}

impl RunningSink {
    pub fn start(sink: AnalyticsSink<KafkaTransport>) -> RunningSink {
        let stats = sink.stats();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sink.run(async move {
                let _ = stopped.await;
            })
            .await
        });
        RunningSink { stats, stop, task }
    }

    /// Panics with the sink's error when it has stopped on its own.
    pub async fn check_running(&mut self) {
        if self.task.is_finished() {
            let ended = (&mut self.task)
                .await
                .expect("the sink task ran to its end");
            panic!("the sink stopped on its own: {ended:?}");
        }
    }

    /// Wait until `indices` hold `n` documents (or `deadline` passes, or the sink stops on
    /// its own); returns the last count.
    pub async fn await_count(
        &mut self,
        os: &OpenSearch,
        indices: &str,
        n: u64,
        deadline: Duration,
    ) -> u64 {
        let until = Instant::now() + deadline;
        loop {
            self.check_running().await;
            let c = count(os, indices).await;
            if c >= n || Instant::now() >= until {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Stop it and return how its run ended.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the sink task ran to its end")
            .expect("the sink stopped cleanly");
    }
}

/// A publisher over Kafka.
pub fn publisher(bootstrap: &str) -> Publisher<KafkaTransport> {
    Publisher::new(transport(bootstrap), PublisherConfig::default()).expect("publisher")
}

/// Publish `event` to this test's topic for its schema topic; returns its event id and the
/// readable view of its JSON (union values bare, dates as text: the values as a person would
/// search for them).
pub async fn publish<E: DomainEvent>(
    publisher: &Publisher<KafkaTransport>,
    names: &Names,
    event: &E,
) -> (String, Value) {
    let mut record = publisher
        .prepare(
            event,
            PublishOptions {
                tenant_id: Some("hospital-456".into()),
                ..PublishOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    record.topic = names.topic(E::TOPIC).to_owned();
    let id = carebus::transport::header_str(&record.headers, "ce_id")
        .expect("an event id")
        .to_owned();
    publisher
        .send_prepared(record)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    let json = event.to_json();
    let readable = match E::FORMAT {
        carebus::PayloadFormat::Avro => carebus::json_legacy::readable(E::SCHEMA, &json)
            .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE)),
        _ => json,
    };
    (id, readable)
}

/// Documents in `indices` now (after a refresh).
pub async fn count(os: &OpenSearch, indices: &str) -> u64 {
    let _ = os
        .request(
            "refresh",
            Method::POST,
            &format!("/{indices}/_refresh"),
            None,
        )
        .await;
    match os
        .request("count", Method::GET, &format!("/{indices}/_count"), None)
        .await
    {
        Ok(answer) if answer.status.is_success() => answer.body["count"].as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// Wait until `indices` hold `n` documents (or `deadline` passes); returns the last count.
pub async fn await_count(os: &OpenSearch, indices: &str, n: u64, deadline: Duration) -> u64 {
    let until = Instant::now() + deadline;
    loop {
        let c = count(os, indices).await;
        if c >= n || Instant::now() >= until {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every document's `_source` in `indices`.
pub async fn documents(os: &OpenSearch, indices: &str) -> Vec<Value> {
    let body = serde_json::json!({"size": 10000, "query": {"match_all": {}}});
    let answer = os
        .expect_ok(
            "search",
            Method::POST,
            &format!("/{indices}/_search"),
            Some(&body),
        )
        .await
        .expect("search");
    answer["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["_source"].clone())
        .collect()
}

/// The texts of a published event's sensitive values: every string of a field classified phi
/// or pii (anything inside it too) and of a pseudonymised identifier, that no non-sensitive
/// field of the published events also holds (such a value, e.g. a code system URL, is not
/// the sensitive field's to leak), nor an envelope name (aggregate or event type). Strings
/// shorter than 4 characters are left out.
#[derive(Default)]
pub struct SensitiveValues {
    sensitive: BTreeSet<String>,
    kept: BTreeSet<String>,
}

impl SensitiveValues {
    pub fn add<E: DomainEvent>(&mut self, model: &Model, data: &Value) {
        let event = model
            .events
            .iter()
            .find(|e| e.name == E::EVENT_TYPE && e.version == E::EVENT_VERSION)
            .expect("the event is in the IR");
        // The envelope's names are written as they are: a resource type name (`Patient`) in
        // a pii reference is not the reference's to leak.
        self.kept.insert(E::AGGREGATE_TYPE.to_owned());
        self.kept.insert(E::EVENT_TYPE.to_owned());
        self.record(model, &event.record, data);
    }

    fn record(&mut self, model: &Model, record: &Record, data: &Value) {
        for f in &record.fields {
            let Some(v) = data.get(f.json_name()) else {
                continue;
            };
            let sensitive = f.classification.is_sensitive()
                && f.analytics != Some(Analytics::Fields)
                || f.analytics == Some(Analytics::Pseudonymize);
            if sensitive {
                leaves(v, &mut self.sensitive);
            } else if let Some(nested) = record_of(model, &f.ty) {
                for item in items(v) {
                    self.record(model, nested, item);
                }
            } else {
                leaves(v, &mut self.kept);
            }
        }
    }

    /// The sensitive texts, less those a non-sensitive field also holds.
    pub fn values(&self) -> Vec<&str> {
        self.sensitive
            .difference(&self.kept)
            .map(String::as_str)
            .collect()
    }
}

fn record_of<'m>(model: &'m Model, ty: &Type) -> Option<&'m Record> {
    match ty {
        Type::Named { name } => match model.named_type(name) {
            Some(NamedType::Record(r)) => Some(r),
            _ => None,
        },
        Type::Array { items } => record_of(model, items),
        Type::Map { values } => record_of(model, values),
        Type::Union { branches } => branches.iter().find_map(|b| record_of(model, b)),
        _ => None,
    }
}

fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

fn leaves(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) if s.chars().count() >= 4 => {
            out.insert(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| leaves(x, out)),
        _ => {}
    }
}
