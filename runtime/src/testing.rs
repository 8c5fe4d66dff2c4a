//! Test utilities for services: a recording publisher, a test consumer that awaits expected events, and a handler run against the in-process bus.
//!
//! ```
//! # use carebus::avro::Reader;
//! # use carebus::{AvroCodec, DecodeError, DomainEvent, EventInfo, HandlerContext};
//! # use carebus::{HandlerResult, JsonCodec, PayloadFormat, TopicEvents, TopicHandler};
//! # // What the generator emits for a `healthcare.wards.events` topic, written by hand.
//! # #[derive(Clone, Debug, PartialEq)]
//! # pub struct PatientAdmitted { pub patient_id: String, pub ward: String }
//! # impl DomainEvent for PatientAdmitted {
//! #     const EVENT_TYPE: &'static str = "PatientAdmitted";
//! #     const EVENT_VERSION: u32 = 1;
//! #     const AGGREGATE_TYPE: &'static str = "Patient";
//! #     const TOPIC: &'static str = "healthcare.wards.events";
//! #     const SCHEMA: &'static str = "{}";
//! #     const FINGERPRINT: u64 = 0x1111_2222_3333_4444;
//! #     const FORMAT: PayloadFormat = PayloadFormat::Avro;
//! #     const PHI_FIELDS: &'static [&'static str] = &[];
//! #     fn aggregate_id(&self) -> String { self.patient_id.clone() }
//! #     fn encode_payload(&self, out: &mut Vec<u8>) {
//! #         self.patient_id.encode_avro(out);
//! #         self.ward.encode_avro(out);
//! #     }
//! #     fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError> {
//! #         let mut r = Reader::new(bytes);
//! #         let patient_id = String::decode_avro(&mut r)?;
//! #         let ward = String::decode_avro(&mut r)?;
//! #         r.finish()?;
//! #         Ok(PatientAdmitted { patient_id, ward })
//! #     }
//! #     fn to_json(&self) -> serde_json::Value {
//! #         serde_json::json!({ "patientId": self.patient_id, "ward": self.ward })
//! #     }
//! #     fn from_json(v: &serde_json::Value) -> Result<Self, DecodeError> {
//! #         let obj = carebus::event::json_object(v, "")?;
//! #         let text = |name| carebus::event::json_field(obj, name, "").and_then(|v| String::from_json(v, name));
//! #         Ok(PatientAdmitted { patient_id: text("patientId")?, ward: text("ward")? })
//! #     }
//! # }
//! # #[derive(Clone, Debug, PartialEq)]
//! # pub enum WardsEvent { PatientAdmitted(PatientAdmitted) }
//! # impl TopicEvents for WardsEvent {
//! #     const TOPIC: &'static str = "healthcare.wards.events";
//! #     const EVENTS: &'static [EventInfo] = &[carebus::topic::event_info::<PatientAdmitted>()];
//! #     fn decode(event_type: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
//! #         match (event_type, version) {
//! #             ("PatientAdmitted", 1) => PatientAdmitted::decode_payload(payload).map(WardsEvent::PatientAdmitted),
//! #             _ => Err(carebus::topic::unknown_event(Self::EVENTS, event_type, version)),
//! #         }
//! #     }
//! #     fn decode_fingerprint(fingerprint: u64, payload: &[u8]) -> Result<Self, DecodeError> {
//! #         if fingerprint == PatientAdmitted::FINGERPRINT {
//! #             return Self::decode("PatientAdmitted", 1, payload);
//! #         }
//! #         Err(DecodeError::UnknownFingerprint { fingerprint })
//! #     }
//! #     fn info(&self) -> &'static EventInfo { &Self::EVENTS[0] }
//! #     fn aggregate_id(&self) -> String { match self { WardsEvent::PatientAdmitted(e) => e.aggregate_id() } }
//! #     fn encode_payload(&self, out: &mut Vec<u8>) { match self { WardsEvent::PatientAdmitted(e) => e.encode_payload(out) } }
//! #     fn to_json(&self) -> serde_json::Value { match self { WardsEvent::PatientAdmitted(e) => e.to_json() } }
//! # }
//! # /// The ward service's handler (generated code wraps a typed one in a dispatcher).
//! # struct Wards;
//! # impl TopicHandler for Wards {
//! #     type Events = WardsEvent;
//! #     async fn handle(&self, _ctx: &HandlerContext, _event: WardsEvent) -> HandlerResult { Ok(()) }
//! # }
//! use carebus::bus::Bus;
//! use carebus::testing::{RecordingPublisher, TestConsumer, run_handler};
//! use carebus::{Publish, PublishError, Publisher, PublisherConfig};
//! use std::time::Duration;
//!
//! // The code under test publishes through any `Publish`.
//! async fn admit(publisher: &impl Publish, patient_id: &str) -> Result<(), PublishError> {
//!     let event = PatientAdmitted { patient_id: patient_id.into(), ward: "B2".into() };
//!     publisher.publish(event, Default::default()).await?;
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Record what it publishes instead of sending it.
//! let recorder = RecordingPublisher::new();
//! admit(&recorder, "patient-1").await?;
//! let admitted: Vec<PatientAdmitted> = recorder.events();
//! assert_eq!(admitted[0].patient_id, "patient-1");
//! assert_eq!(recorder.recorded()[0].envelope.aggregate_type, "Patient");
//!
//! // Or run a handler on the in-process bus and watch the topic.
//! let bus = Bus::default();
//! let running = run_handler(&bus, "ward-service", Wards);
//! let mut watch = TestConsumer::<Bus, WardsEvent>::new(&bus).await?;
//! let publisher = Publisher::new(bus.clone(), PublisherConfig::default())?;
//! admit(&publisher, "patient-2").await?;
//! let (envelope, _event) = watch
//!     .expect(
//!         |_, WardsEvent::PatientAdmitted(e)| e.patient_id == "patient-2",
//!         Duration::from_secs(5),
//!     )
//!     .await?;
//! assert_eq!(envelope.aggregate_id, "patient-2");
//! running.stop().await?;
//! # Ok(())
//! # }
//! ```

use crate::bus::Bus;
use crate::consumer::{
    Consumer, ConsumerConfig, ConsumerError, RunReport, Shutdown, ShutdownTrigger,
};
use crate::envelope::Envelope;
use crate::event::DomainEvent;
use crate::publish::{Delivered, Delivery, Publish, PublishError, PublishOptions};
use crate::publisher::{Publisher, PublisherConfig};
use crate::topic::{TopicEvents, TopicHandler};
use crate::transport::{ConsumerEvent, OffsetReset, SubscribeConfig, Transport, TransportConsumer};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One event recorded by a [`RecordingPublisher`].
#[derive(Clone, Debug)]
pub struct RecordedEvent {
    /// The envelope the real publisher would have sent (ids, correlation, causation filled in).
    pub envelope: Envelope,
    /// The event's JSON form.
    pub data: serde_json::Value,
    payload: Vec<u8>,
}

/// A [`Publish`] that records events instead of sending them. Validation, envelope filling
/// (ids, correlation from the handled event) and size checks are the real publisher's.
#[derive(Clone)]
pub struct RecordingPublisher {
    shaper: Publisher<Bus>,
    recorded: Arc<Mutex<Vec<RecordedEvent>>>,
}

impl Default for RecordingPublisher {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingPublisher {
    /// An empty recorder.
    pub fn new() -> Self {
        let config = PublisherConfig {
            dead_letter_topic: None,
            ..PublisherConfig::default()
        };
        RecordingPublisher {
            shaper: Publisher::new(Bus::default(), config)
                .expect("a publisher without outbox or claim-check directory opens no files"),
            recorded: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedEvent>> {
        self.recorded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything recorded, in publish order.
    pub fn recorded(&self) -> Vec<RecordedEvent> {
        self.lock().clone()
    }

    /// The recorded events of type `E` (same type and version), decoded.
    pub fn events<E: DomainEvent>(&self) -> Vec<E> {
        self.lock()
            .iter()
            .filter(|r| {
                r.envelope.event_type == E::EVENT_TYPE
                    && r.envelope.event_version == E::EVENT_VERSION
            })
            .filter_map(|r| E::decode_payload(&r.payload).ok())
            .collect()
    }

    /// Forget everything recorded.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

impl Publish for RecordingPublisher {
    fn publish<E: DomainEvent>(
        &self,
        event: E,
        options: PublishOptions,
    ) -> impl Future<Output = Result<Delivery, PublishError>> + Send {
        let result = self.shaper.prepare(&event, options).and_then(|prepared| {
            let record = prepared.into_record();
            // The shaper frames in binary mode, so the headers hold the whole envelope.
            let envelope = Envelope::from_headers(&record.headers)
                .map_err(|e| PublishError::Encode(e.into()))?;
            let mut payload = Vec::new();
            event.encode_payload(&mut payload);
            let mut recorded = self.lock();
            recorded.push(RecordedEvent {
                envelope: envelope.clone(),
                data: event.to_json(),
                payload,
            });
            Ok(Delivery::Delivered(Delivered {
                event_id: envelope.event_id,
                topic: record.topic,
                partition: 0,
                offset: recorded.len() as i64 - 1,
            }))
        });
        std::future::ready(result)
    }
}

/// The expected event did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("no matching event on {topic} within {waited:?} ({seen} other events seen)")]
pub struct ExpectTimeout {
    /// The topic read.
    pub topic: String,
    /// How long it waited.
    pub waited: Duration,
    /// Events that arrived but did not match.
    pub seen: usize,
}

/// Reads every event of topic `E` published on a transport (its own consumer group, from
/// the beginning), for assertions.
pub struct TestConsumer<T: Transport, E> {
    consumer: T::Consumer,
    _events: PhantomData<fn() -> E>,
}

impl<T: Transport, E: TopicEvents> TestConsumer<T, E> {
    /// Subscribe to `E::TOPIC` in a fresh group.
    pub async fn new(transport: &T) -> Result<Self, crate::transport::TransportError> {
        let consumer = transport
            .subscribe(SubscribeConfig {
                group_id: format!("carebus-test-{}", crate::types::Uuid::new_v4()),
                topics: vec![E::TOPIC.to_string()],
                offset_reset: OffsetReset::Earliest,
                ..SubscribeConfig::default()
            })
            .await?;
        Ok(TestConsumer {
            consumer,
            _events: PhantomData,
        })
    }

    /// The next decodable event, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<(Envelope, E)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            if let Ok(Some(ConsumerEvent::Record(r))) = self.consumer.poll(left).await
                && let Ok(decoded) = crate::wire::decode::<E>(&r.headers, r.payload())
            {
                return Some(decoded);
            }
        }
    }

    /// Wait up to `timeout` for an event matching `expected`; events before it are skipped.
    pub async fn expect(
        &mut self,
        expected: impl Fn(&Envelope, &E) -> bool,
        timeout: Duration,
    ) -> Result<(Envelope, E), ExpectTimeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = 0;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some((env, e)) if expected(&env, &e) => return Ok((env, e)),
                Some(_) => seen += 1,
                None => {
                    return Err(ExpectTimeout {
                        topic: E::TOPIC.into(),
                        waited: timeout,
                        seen,
                    });
                }
            }
        }
    }
}

/// A handler running against the in-process bus; stop it to get its report.
pub struct RunningHandler {
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<Result<RunReport, ConsumerError>>,
}

impl RunningHandler {
    /// Shut down gracefully and return what the consumer did.
    pub async fn stop(self) -> Result<RunReport, ConsumerError> {
        self.trigger.trigger();
        self.task.await.unwrap_or_else(|e| {
            Err(ConsumerError::HandlerFailed(format!(
                "the consumer task did not finish: {e}"
            )))
        })
    }
}

/// Run `handler` in consumer group `group` on `bus` (sequential mode, fast commits) until
/// stopped. Events the handler publishes go through a publisher on the same bus.
pub fn run_handler<H: TopicHandler>(bus: &Bus, group: &str, handler: H) -> RunningHandler {
    let mut config = ConsumerConfig::new(group);
    config.commit_interval = Duration::from_millis(50);
    config.poll_timeout = Duration::from_millis(20);
    run_handler_with(bus, config, handler)
}

/// [`run_handler`] with your own consumer configuration.
pub fn run_handler_with<H: TopicHandler>(
    bus: &Bus,
    config: ConsumerConfig,
    handler: H,
) -> RunningHandler {
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default())
        .expect("a publisher without outbox or claim-check directory opens no files");
    let consumer = Consumer::new(publisher, config);
    let (trigger, shutdown) = Shutdown::channel();
    let task = tokio::spawn(async move { consumer.run(handler, shutdown).await });
    RunningHandler { trigger, task }
}
