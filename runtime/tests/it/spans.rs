//! Tracing spans of the publisher and the consumer on the in-process bus: one `publish` and one `handle` span per event, each carrying the event's type, id and correlation id.

use crate::common::handlers::{Recorder, eventually};
use crate::common::*;
use carebus::bus::Bus;
use carebus::testing::run_handler;
use carebus::{PublishOptions, Publisher, PublisherConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

type Fields = BTreeMap<String, String>;

/// Every span opened, with its name and fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, Fields)>>>);

impl Spans {
    fn named(&self, name: &str) -> Vec<Fields> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

struct FieldText<'a>(&'a mut Fields);

impl Visit for FieldText<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut FieldText(&mut fields));
        let name = attrs.metadata().name().to_string();
        self.0.lock().unwrap().push((name, fields));
    }
}

#[tokio::test]
async fn publishing_and_handling_an_event_open_spans_carrying_its_correlation_id() {
    let spans = Spans::default();
    // The test runtime has one thread: the consumer's tasks see this subscriber too.
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    // Another test's thread may have registered the runtime's span callsites while only the
    // no-op global subscriber existed, caching "never"; recompute with this subscriber live.
    tracing::callsite::rebuild_interest_cache();
    let bus = Bus::default();
    bus.create_topic(TOPIC, 1);
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    let recorder = Recorder::ok();
    let running = run_handler(&bus, "g", recorder.clone());
    let options = PublishOptions {
        correlation_id: Some("request-789".into()),
        ..PublishOptions::default()
    };
    let delivery = publisher
        .publish_event(PatientDischarged::new("patient-1", 1), options)
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || recorder.count() == 1).await);
    running.stop().await.unwrap();

    let expected = |extra: &[(&str, &str)]| {
        let mut f: Fields = [
            ("event_type", "PatientDischarged"),
            ("event_id", delivery.event_id()),
            ("correlation_id", "request-789"),
            ("topic", TOPIC),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        f.retain(|_, v| !v.is_empty());
        f
    };
    assert_eq!(spans.named("publish"), vec![expected(&[])]);
    assert_eq!(spans.named("handle"), vec![expected(&[("attempt", "1")])]);
}
