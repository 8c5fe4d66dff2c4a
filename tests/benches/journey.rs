//! `cargo bench -p carebus-tests --bench journey`: patient events on Kafka through the journey engine (PostgreSQL instance, history, processed id, timers and outbox in one transaction; outbox relay) back onto Kafka, against a hand-written rdkafka + SQL loop doing the same work, printed as a table with the latency at a steady rate.
//!
//! Workload: the new-patient-onboarding journey. Per patient a `PatientCreated` (starts an
//! instance: `JourneyStarted` + the welcome `ActionTriggered` out) then an
//! `AppointmentScheduled` (one transition: `StageCompleted` out) — two transitions and three
//! outgoing events. The creations are published first and the run waits for their outgoing
//! events, then the bookings (a booking before its instance exists would find nothing to move).
//! Each side is timed from the first publication to the last outgoing event consumed from
//! Kafka by a separate consumer, and to the last transition committed in PostgreSQL (which
//! tells the engine's transactions from the outbox relay).
//!
//! Sides: the engine as the tests run it (its consumers in the default sequential mode, 4
//! PostgreSQL connections), the engine with key-ordered consumers ([`IN_FLIGHT`] records at
//! once, as many connections), and the baseline.
//!
//! Baseline: one raw rdkafka `StreamConsumer` on both input topics (the same librdkafka
//! settings as the engine's consumers, sequential like the engine's default mode); per event,
//! read the CloudEvents envelope, decode with the generated codec, one SQL transaction (upsert
//! of an instance row + insert of the outgoing rows into an outbox table, own schema), commit,
//! send the outgoing events with a `FutureProducer` (deliveries checked every 1,000 sends), store the
//! offset. No processed-id check, history, timers or relay: what the engine adds is what the
//! ratio prices.
//!
//! Latency: `PatientCreated` events at a steady 500/s, from each one's scheduled publication
//! time to its `JourneyStarted` (the baseline's first outgoing event) consumed from Kafka.
//! Needs `scripts/services up kafka postgres`. `CAREBUS_BENCH_EVENTS` sets the events per
//! throughput run (default 10000; two per patient).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport, TopicAdmin};
use carebus::postgres::PgEventStore;
use carebus::store::outbox_relay::OutboxRelay;
use carebus::topic::TopicEvents;
use carebus::{
    ConsumerConfig, DomainEvent, Phi, ProcessingMode, PublishOptions, Publisher, PublisherConfig,
    Service, Shutdown, Timestamp, Uuid,
};
use carebus_journey::{ENGINE_GROUP, Engine, PgInstanceStore};
use carebus_schemas::*;
use carebus_tests::{RawEnvelope, bench_size, kafka_bootstrap, unique_name};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const JOURNEY: &str = "new-patient-onboarding";
/// Events per second of the latency run.
const RATE_PER_SEC: u64 = 500;

/// Patients per throughput run (two input events each).
fn patients() -> usize {
    let events = std::env::var("CAREBUS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| bench_size(10_000, 100));
    (events / 2).max(1)
}
/// Throughput runs per side, alternating; each side keeps its best.
fn rounds() -> usize {
    bench_size(2, 1)
}
/// How long the steady-rate latency run publishes.
fn latency_run() -> Duration {
    Duration::from_millis(bench_size(10_000, 100) as u64)
}

fn reference(kind: &str, id: &str) -> Reference {
    Reference {
        r#type: kind.into(),
        id: id.into(),
        display: None,
    }
}

fn created(patient_id: &str) -> PatientCreated {
    PatientCreated::from(PatientCreatedV1 {
        patient_id: patient_id.into(),
        first_name: Phi::new("Jordan".into()),
        last_name: Phi::new("Rivera".into()),
        date_of_birth: Phi::new(carebus::Date::from_ymd(1980, 1, 2).unwrap()),
        email: None,
    })
}

fn scheduled(patient_id: &str) -> AppointmentScheduled {
    let start = Timestamp(Timestamp::now().0 + 86_400_000_000);
    AppointmentScheduled {
        appointment_id: Uuid::new_v4(),
        patient_id: patient_id.into(),
        practitioner: reference("Practitioner", "pract-17"),
        location: reference("Location", "clinic-3"),
        start,
        end: Timestamp(start.0 + 30 * 60_000_000),
        appointment_type: Coding {
            system: "http://terminology.hl7.org/CodeSystem/v2-0276".into(),
            code: "ROUTINE".into(),
            display: None,
        },
        service_type: None,
        reason: None,
        visit_mode: VisitMode::InPerson,
        patient_instructions: None,
        scheduled_by: reference("Practitioner", "front-desk-1"),
        scheduled_at: Timestamp::now(),
    }
}

fn kafka_config(bootstrap: &str) -> KafkaConfig {
    let mut config = KafkaConfig::new(bootstrap);
    config.property("linger.ms", "1");
    config
}

async fn fresh_store(prefix: &str, connections: u32) -> PgEventStore {
    let url = carebus_tests::database_url();
    let schema = unique_name(prefix);
    let store = PgEventStore::connect_in_schema(&url, Some(&schema), connections)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
    carebus::postgres::tenancy::create_tenant_role(store.pool())
        .await
        .expect("create the role carebus_tenant");
    store.migrate().await.expect("migrate");
    store
}

/// One side's topics: where its inputs go and where its outgoing events arrive.
struct Topics {
    patients: String,
    appointments: String,
    out: String,
}

impl Topics {
    async fn create(bootstrap: &str, suffix: &str) -> Topics {
        let t = Topics {
            patients: format!("{}.{suffix}", PatientsEvent::TOPIC),
            appointments: format!("{}.{suffix}", AppointmentsEvent::TOPIC),
            out: format!("{}.{suffix}", JourneysEvent::TOPIC),
        };
        let admin = TopicAdmin::connect(bootstrap, &BTreeMap::new()).expect("admin client");
        let ai = format!("{}.{suffix}", AiEvent::TOPIC);
        let specs: Vec<_> = [&t.patients, &t.appointments, &t.out, &ai]
            .into_iter()
            .map(|n| carebus::TopicSpec::new(n, 3, 1))
            .collect();
        admin.apply(&specs).await.expect("create bench topics");
        t
    }
}

/// Reads a side's outgoing topic from the start: counts the events and notes when each
/// `JourneyStarted` arrived, by correlation id.
#[derive(Clone, Default)]
struct Outgoing {
    count: Arc<AtomicUsize>,
    started: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Outgoing {
    fn follow(bootstrap: &str, topic: &str) -> Outgoing {
        let out = Outgoing::default();
        let sub = carebus::transport::SubscribeConfig::new(unique_name("bench_out"), &[topic]);
        let consumer: StreamConsumer = kafka_config(bootstrap)
            .consumer_config(&sub)
            .create()
            .expect("outgoing consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let o = out.clone();
        tokio::spawn(async move {
            loop {
                let m = consumer.recv().await.expect("read outgoing events");
                let arrived = Instant::now();
                let env = RawEnvelope::read(
                    rdkafka::Message::headers(&m)
                        .iter()
                        .flat_map(|h| h.iter())
                        .map(|h| (h.key, h.value.unwrap_or_default())),
                );
                if env.event_type == "JourneyStarted"
                    && let Some(c) = env.correlation_id
                {
                    o.started.lock().unwrap().insert(c, arrived);
                }
                o.count.fetch_add(1, Ordering::SeqCst);
            }
        });
        out
    }

    fn seen(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Wait until `n` events arrived in all (panics after a bound, naming what is missing).
    async fn wait(&self, what: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(600);
        while self.seen() < n {
            assert!(
                Instant::now() < deadline,
                "{what}: {} of {n} outgoing events after 10 minutes",
                self.seen()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Publish `events` to `topic` with correlation ids `<prefix>-<i>`, 500 in flight.
async fn publish_all<E: DomainEvent>(
    publisher: &Publisher<KafkaTransport>,
    topic: &str,
    prefix: &str,
    events: &[E],
) {
    for (c, chunk) in events.chunks(500).enumerate() {
        let sends = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| publish_one(publisher, topic, format!("{prefix}-{}", c * 500 + i), e));
        futures::future::join_all(sends).await;
    }
}

async fn publish_one<E: DomainEvent>(
    publisher: &Publisher<KafkaTransport>,
    topic: &str,
    correlation: String,
    event: &E,
) {
    let mut record = publisher
        .prepare(
            event,
            PublishOptions {
                tenant_id: Some("hospital-456".into()),
                correlation_id: Some(correlation),
                ..PublishOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    record.topic = topic.to_string();
    publisher
        .send_prepared(record)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
}

/// One side as the bench drives it.
struct Side {
    name: &'static str,
    topics: Topics,
    out: Outgoing,
    /// Its database (the schema of its instance table).
    pool: sqlx::PgPool,
    /// Counts its instances with keys like `$1` in state `$2`.
    count_sql: &'static str,
}

/// One throughput run's times: until every transition was committed in PostgreSQL, and until
/// every outgoing event was consumed from Kafka (each the sum over the two phases).
#[derive(Clone, Copy)]
struct Run {
    committed: Duration,
    end_to_end: Duration,
}

impl Run {
    const NONE: Run = Run {
        committed: Duration::MAX,
        end_to_end: Duration::MAX,
    };
    fn best(self, other: Run) -> Run {
        if other.end_to_end < self.end_to_end {
            other
        } else {
            self
        }
    }
}

impl Side {
    /// One patient through both transitions, waiting for its three outgoing events (group
    /// joins, connections and metadata out of the measurements).
    async fn warm(&self, publisher: &Publisher<KafkaTransport>) {
        let id = unique_name("warm");
        let base = self.out.seen();
        publish_one(publisher, &self.topics.patients, id.clone(), &created(&id)).await;
        self.out.wait(self.name, base + 2).await;
        publish_one(
            publisher,
            &self.topics.appointments,
            id.clone(),
            &scheduled(&id),
        )
        .await;
        self.out.wait(self.name, base + 3).await;
    }

    /// Wait until `n` instances with keys like `pattern` are in `state`.
    async fn wait_committed(&self, pattern: &str, state: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let count: i64 = sqlx::query_scalar(self.count_sql)
                .bind(pattern)
                .bind(state)
                .fetch_one(&self.pool)
                .await
                .expect("count instances");
            if count as usize >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {count} of {n} instances in {state} after 10 minutes",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `patients()` patients through both transitions: each phase timed from its first
    /// publication to its last transition committed and to its last outgoing event consumed.
    async fn throughput(&self, publisher: &Publisher<KafkaTransport>, round: usize) -> Run {
        let prefix = format!("patient-{}-r{round}-", self.name);
        let ids: Vec<String> = (0..patients()).map(|i| format!("{prefix}{i}")).collect();
        let pattern = format!("{prefix}%");
        let n = ids.len();
        let creations: Vec<PatientCreated> = ids.iter().map(|id| created(id)).collect();
        let bookings: Vec<AppointmentScheduled> = ids.iter().map(|id| scheduled(id)).collect();
        let base = self.out.seen();
        let started = Instant::now();
        publish_all(publisher, &self.topics.patients, "c", &creations).await;
        self.wait_committed(&pattern, "awaiting-first-appointment", n)
            .await;
        let committed = started.elapsed();
        self.out.wait(self.name, base + 2 * n).await;
        let first = started.elapsed();
        let started = Instant::now();
        publish_all(publisher, &self.topics.appointments, "b", &bookings).await;
        self.wait_committed(&pattern, "first-appointment-booked", n)
            .await;
        let committed = committed + started.elapsed();
        self.out.wait(self.name, base + 3 * n).await;
        let end_to_end = first + started.elapsed();
        assert_eq!(
            self.out.seen(),
            base + 3 * n,
            "{}: no extra outgoing event",
            self.name
        );
        Run {
            committed,
            end_to_end,
        }
    }

    /// `PatientCreated` at [`RATE_PER_SEC`] for [`latency_run`]; each one's scheduled
    /// publication time to its `JourneyStarted`, sorted.
    async fn latency(&self, publisher: &Publisher<KafkaTransport>) -> Vec<Duration> {
        let n = (RATE_PER_SEC as u128 * latency_run().as_millis() / 1000) as usize;
        let prefix = unique_name("lat");
        let base = self.out.seen();
        let start = Instant::now() + Duration::from_millis(50);
        let mut scheduled_at = Vec::with_capacity(n);
        let mut sends = Vec::with_capacity(n);
        for i in 0..n {
            let at = start + Duration::from_micros(i as u64 * 1_000_000 / RATE_PER_SEC);
            tokio::time::sleep_until(at.into()).await;
            scheduled_at.push(at);
            let publisher = publisher.clone();
            let topic = self.topics.patients.clone();
            let correlation = format!("{prefix}-{i}");
            let event = created(&format!("{prefix}-p{i}"));
            sends.push(tokio::spawn(async move {
                publish_one(&publisher, &topic, correlation, &event).await
            }));
        }
        for s in sends {
            s.await.expect("publish task");
        }
        self.out.wait(self.name, base + 2 * n).await;
        let arrived = self.out.started.lock().unwrap();
        let mut out: Vec<Duration> = (0..n)
            .map(|i| {
                let at = arrived
                    .get(&format!("{prefix}-{i}"))
                    .unwrap_or_else(|| panic!("{}: no JourneyStarted for event {i}", self.name));
                at.saturating_duration_since(scheduled_at[i])
            })
            .collect();
        out.sort();
        out
    }
}

/// The journey engine consuming the side's topics as its consumer group in `mode`, over a
/// pool of `connections`, with the outbox relay publishing what it emits. Returns what stops
/// them.
async fn start_engine(
    bootstrap: &str,
    suffix: &str,
    topics: &Topics,
    mode: ProcessingMode,
    connections: u32,
) -> (
    carebus::RunningService<KafkaTransport>,
    carebus::consumer::ShutdownTrigger,
    tokio::task::JoinHandle<()>,
    sqlx::PgPool,
) {
    let store = fresh_store("bench_journey", connections).await;
    let engine = Engine::builder(PgInstanceStore::new(store.clone()))
        .journeys(journeys::new_patient_onboarding::journeys().expect("embedded definitions"))
        .emits::<JourneysEvent>()
        .emits::<AiEvent>()
        .route_topic(JourneysEvent::TOPIC, topics.out.clone())
        .route_topic(AiEvent::TOPIC, format!("{}.{suffix}", AiEvent::TOPIC))
        .build()
        .expect("engine");
    let transport = || KafkaTransport::new(kafka_config(bootstrap)).expect("kafka transport");
    let mut service =
        Service::new("workflow-engine", transport(), PublisherConfig::default()).unwrap();
    let group = format!("{ENGINE_GROUP}-{suffix}");
    let config = |topic: &str| {
        let mut c = ConsumerConfig::new(&group);
        c.topics = vec![topic.to_string()];
        c.mode = mode;
        c
    };
    service
        .consume(config(&topics.patients), engine.handler::<PatientsEvent>())
        .consume(
            config(&topics.appointments),
            engine.handler::<AppointmentsEvent>(),
        );
    let running = service.start().await.expect("engine service starts");
    let (stop, mut shutdown) = Shutdown::channel();
    let pool = store.pool().clone();
    let relay = OutboxRelay::new(store, Arc::new(transport()), format!("bench-{suffix}"));
    let task = tokio::spawn(async move {
        relay
            .run(async move { shutdown.wait().await })
            .await
            .expect("the outbox relay runs");
    });
    (running, stop, task, pool)
}

const BASELINE_TABLES: &str = "\
    CREATE TABLE bench_instances (journey text NOT NULL, correlation_key text NOT NULL, \
      instance_id uuid NOT NULL, state text NOT NULL, version int NOT NULL, data jsonb NOT NULL, \
      entered_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (journey, correlation_key)); \
    CREATE TABLE bench_outbox (position bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, \
      topic text NOT NULL, event_type text NOT NULL, message_key text NOT NULL, \
      correlation_id text, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())";

const UPSERT: &str = "INSERT INTO bench_instances (journey, correlation_key, instance_id, state, version, data) \
    VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (journey, correlation_key) DO UPDATE \
    SET state = EXCLUDED.state, version = bench_instances.version + 1, data = EXCLUDED.data, entered_at = now()";

const OUTBOX_INSERT: &str = "INSERT INTO bench_outbox (event_id, topic, event_type, message_key, correlation_id, payload) \
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])";

/// One outgoing event of the baseline.
struct Out {
    id: Uuid,
    event_type: &'static str,
    payload: serde_json::Value,
}

/// The baseline's decision for one input: the new state and what goes out.
fn baseline_decide(event_type: &str, patient_id: &str) -> Option<(&'static str, Vec<Out>)> {
    let out = |event_type: &'static str, extra: serde_json::Value| Out {
        id: Uuid::new_v4(),
        event_type,
        payload: serde_json::json!({"journey": JOURNEY, "patientId": patient_id, "detail": extra}),
    };
    match event_type {
        "PatientCreated" => Some((
            "awaiting-first-appointment",
            vec![
                out("JourneyStarted", serde_json::json!({"version": 1})),
                out(
                    "ActionTriggered",
                    serde_json::json!({"rule": "welcome-message", "type": "SEND_EMAIL"}),
                ),
            ],
        )),
        "AppointmentScheduled" => Some((
            "first-appointment-booked",
            vec![out(
                "StageCompleted",
                serde_json::json!({"stage": "awaiting-first-appointment"}),
            )],
        )),
        _ => None,
    }
}

/// The hand-written loop (see the module doc), running until the bench ends.
async fn start_baseline(bootstrap: &str, topics: &Topics) -> sqlx::PgPool {
    let store = fresh_store("bench_journey_raw", 4).await;
    let pool = store.pool().clone();
    sqlx::raw_sql(BASELINE_TABLES)
        .execute(&pool)
        .await
        .expect("create the baseline's tables");
    let config = kafka_config(bootstrap);
    let sub = carebus::transport::SubscribeConfig::new(
        unique_name("bench_raw_engine"),
        &[&topics.patients, &topics.appointments],
    );
    let consumer: StreamConsumer = config.consumer_config(&sub).create().expect("consumer");
    consumer
        .subscribe(&[&topics.patients, &topics.appointments])
        .expect("subscribe");
    let producer: FutureProducer = config.producer_config().create().expect("producer");
    let out_topic = topics.out.clone();
    let loop_pool = pool.clone();
    tokio::spawn(async move {
        let pool = loop_pool;
        let mut deliveries = Vec::new();
        loop {
            let m = consumer.recv().await.expect("baseline consume");
            let env = RawEnvelope::read(
                rdkafka::Message::headers(&m)
                    .iter()
                    .flat_map(|h| h.iter())
                    .map(|h| (h.key, h.value.unwrap_or_default())),
            );
            let framed = rdkafka::Message::payload(&m).unwrap_or_default();
            let payload = &framed[carebus::wire::SINGLE_OBJECT_MAGIC.len() + 8..];
            let patient_id = match env.event_type.as_str() {
                "PatientCreated" => {
                    match PatientsEvent::decode(&env.event_type, env.version, payload)
                        .expect("a patient event decodes")
                    {
                        PatientsEvent::PatientCreated(e) => e.patient_id,
                        _ => unreachable!("decoded by its type"),
                    }
                }
                "AppointmentScheduled" => {
                    match AppointmentsEvent::decode(&env.event_type, env.version, payload)
                        .expect("an appointment event decodes")
                    {
                        AppointmentsEvent::AppointmentScheduled(e) => e.patient_id,
                        _ => unreachable!("decoded by its type"),
                    }
                }
                _ => continue,
            };
            let Some((state, outgoing)) = baseline_decide(&env.event_type, &patient_id) else {
                continue;
            };
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query(UPSERT)
                .bind(JOURNEY)
                .bind(&patient_id)
                .bind(Uuid::new_v4().0)
                .bind(state)
                .bind(serde_json::json!({"stagesCompleted": 0}))
                .execute(&mut *tx)
                .await
                .expect("upsert the instance");
            let n = outgoing.len();
            sqlx::query(OUTBOX_INSERT)
                .bind(outgoing.iter().map(|o| o.id.0).collect::<Vec<_>>())
                .bind(vec![out_topic.as_str(); n])
                .bind(outgoing.iter().map(|o| o.event_type).collect::<Vec<_>>())
                .bind(vec![patient_id.as_str(); n])
                .bind(vec![env.correlation_id.as_deref(); n])
                .bind(
                    outgoing
                        .iter()
                        .map(|o| o.payload.clone())
                        .collect::<Vec<_>>(),
                )
                .execute(&mut *tx)
                .await
                .expect("insert into the outbox");
            tx.commit().await.expect("commit");
            for o in &outgoing {
                let id = o.id.to_string();
                let mut headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "ce_id",
                        value: Some(id.as_str()),
                    })
                    .insert(Header {
                        key: "ce_type",
                        value: Some(o.event_type),
                    });
                if let Some(c) = &env.correlation_id {
                    headers = headers.insert(Header {
                        key: "ce_correlationid",
                        value: Some(c.as_str()),
                    });
                }
                let body = o.payload.to_string();
                let record = FutureRecord::to(&out_topic)
                    .key(&patient_id)
                    .payload(&body)
                    .headers(headers);
                match producer.send_result(record) {
                    Ok(d) => deliveries.push(d),
                    Err((e, _)) => panic!("baseline send: {e}"),
                }
            }
            consumer
                .store_offset_from_message(&m)
                .expect("store the offset");
            // Check the deliveries acknowledged so far, keeping the pending ones.
            if deliveries.len() >= 1_000 {
                for d in deliveries.drain(..) {
                    d.await
                        .expect("delivery reported")
                        .expect("baseline delivery");
                }
            }
        }
    });
    pool
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// Records the key-ordered engine handles at once (and its PostgreSQL connections).
const IN_FLIGHT: usize = 8;

const ENGINE_COUNT: &str = "SELECT count(*) FROM journey_instances \
    WHERE journey = 'new-patient-onboarding' AND correlation_key LIKE $1 AND state = $2";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bootstrap = kafka_bootstrap();
    // The three sides set up at once (topics, schemas and migrations, group joins).
    let engine_side = async |name: &'static str, mode: ProcessingMode, connections: u32| {
        let suffix = unique_name("jbench");
        let topics = Topics::create(&bootstrap, &suffix).await;
        let (running, stop_relay, relay, pool) =
            start_engine(&bootstrap, &suffix, &topics, mode, connections).await;
        let side = Side {
            name,
            out: Outgoing::follow(&bootstrap, &topics.out),
            topics,
            pool,
            count_sql: ENGINE_COUNT,
        };
        (side, (running, stop_relay, relay))
    };
    let baseline_side = async || {
        let topics = Topics::create(&bootstrap, &unique_name("jbench_raw")).await;
        let pool = start_baseline(&bootstrap, &topics).await;
        Side {
            name: "baseline",
            out: Outgoing::follow(&bootstrap, &topics.out),
            topics,
            pool,
            count_sql: "SELECT count(*) FROM bench_instances \
                WHERE journey = 'new-patient-onboarding' AND correlation_key LIKE $1 AND state = $2",
        }
    };
    let ((sequential, e1), (keyed, e2), raw) = tokio::join!(
        engine_side("engine", ProcessingMode::Sequential, 4),
        engine_side(
            "engine-keyed",
            ProcessingMode::KeyOrdered {
                max_in_flight: IN_FLIGHT,
            },
            IN_FLIGHT as u32,
        ),
        baseline_side(),
    );
    let sides = [sequential, keyed, raw];
    let engines = [e1, e2];
    let publisher = Publisher::new(
        KafkaTransport::new(kafka_config(&bootstrap)).unwrap(),
        PublisherConfig::default(),
    )
    .unwrap();
    let warming = Instant::now();
    futures::future::join_all(sides.iter().map(|side| side.warm(&publisher))).await;
    let warm_up = warming.elapsed();

    let n = patients();
    let mut best = vec![Run::NONE; sides.len()];
    for round in 0..rounds() {
        // Take turns at going first.
        for k in 0..sides.len() {
            let i = (k + round) % sides.len();
            best[i] = best[i].best(sides[i].throughput(&publisher, round).await);
        }
    }
    let mut latencies = Vec::new();
    for side in &sides {
        latencies.push(side.latency(&publisher).await);
    }

    let transitions = 2 * n;
    let rate = |d: Duration| transitions as f64 / d.as_secs_f64();
    println!(
        "{n} patients, {transitions} input events and transitions, {} outgoing events per run; \
         best of {} run(s) each; warm-up (group joins) {:.1} s",
        3 * n,
        rounds(),
        warm_up.as_secs_f64()
    );
    println!();
    println!(
        "| measure | engine, sequential consumers | engine, key-ordered ({IN_FLIGHT} in flight) | hand-written baseline (sequential) | sequential engine/baseline |"
    );
    println!("|---|---:|---:|---:|---:|");
    let throughput_row = |what: &str, of: fn(&Run) -> Duration| {
        let cells: Vec<String> = best
            .iter()
            .map(|r| format!("{:.0} ({:.2} s)", rate(of(r)), of(r).as_secs_f64()))
            .collect();
        println!(
            "| {what} | {} | {:.2}× |",
            cells.join(" | "),
            rate(of(&best[0])) / rate(of(&best[2]))
        );
    };
    throughput_row(
        "transitions/s, Kafka in → PostgreSQL → Kafka out",
        |r| r.end_to_end,
    );
    throughput_row("transitions/s committed in PostgreSQL (same runs)", |r| {
        r.committed
    });
    for (label, p) in [("p50", 0.50), ("p99", 0.99)] {
        let cells: Vec<String> = latencies
            .iter()
            .map(|l| format!("{:.1} ms", percentile(l, p)))
            .collect();
        println!(
            "| {label} latency at {RATE_PER_SEC} events/s, publication → `JourneyStarted` consumed | {} | |",
            cells.join(" | ")
        );
    }
    let samples: Vec<String> = latencies.iter().map(|l| l.len().to_string()).collect();
    println!("| latency samples | {} | |", samples.join(" | "));
    println!();
    let (e, k, r) = (
        rate(best[0].end_to_end),
        rate(best[1].end_to_end),
        rate(best[2].end_to_end),
    );
    let met = |ok: bool| if ok { "met" } else { "not met" };
    println!(
        "goals: engine/baseline ≥ 0.8× — {} ({:.2}×, key-ordered engine {:.2}×); \
         ≥ 2,000 transitions/s — {} (best engine {:.0}/s)",
        met(e / r >= 0.8),
        e / r,
        k / r,
        met(e.max(k) >= 2_000.0),
        e.max(k)
    );

    for (running, stop_relay, relay) in engines {
        stop_relay.trigger();
        let _ = relay.await;
        running.stop().await.expect("engine stops");
    }
}
