//! The journey engine against real Kafka and PostgreSQL: the three journeys of schemas/journeys end to end (events in from Kafka, instances and outbox in PostgreSQL, outgoing events back on Kafka through the relay) — onboarding, chronic care, the referral saga compensating in reverse order with a retried and a parked compensation — plus a redelivered event with no second effect, durable timers firing once across two engines and after a restart (in this process and in two engine processes), an engine process killed with SIGKILL mid-stream and restarted, two engine processes sharing the stream through a rebalance, and a thousand concurrent instances.

use crate::kafka_support::{create_topic, subscribe, transport};
use crate::store_support::{created, fresh_store};
use carebus::consumer::Shutdown;
use carebus::envelope::Envelope;
use carebus::postgres::PgEventStore;
use carebus::store::outbox_relay::OutboxRelay;
use carebus::store::{EventContext, EventFilter, EventStore};
use carebus::transport::ConsumerEvent;
use carebus::{
    ConsumerConfig, DomainEvent, JsonCodec, PublishOptions, PublisherConfig, Service, Timestamp,
    TopicEvents, Uuid, wire,
};
use carebus_journey::{
    ENGINE_GROUP, Engine, Instance, InstanceStore, Journey, PgInstanceStore, Processed,
    ShiftedClock,
};
use carebus_schemas::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ONBOARDING: &str = "new-patient-onboarding";
const DAY: Duration = Duration::from_secs(86_400);

fn reference(kind: &str, id: &str) -> Reference {
    Reference {
        r#type: kind.into(),
        id: id.into(),
        display: None,
    }
}

pub(crate) fn scheduled(patient_id: &str) -> AppointmentScheduled {
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

fn completed(patient_id: &str) -> AppointmentCompleted {
    let start = Timestamp::now();
    AppointmentCompleted {
        appointment_id: Uuid::new_v4(),
        patient_id: patient_id.into(),
        encounter_id: Uuid::new_v4(),
        practitioner: reference("Practitioner", "pract-17"),
        checked_in_at: None,
        actual_start: start,
        actual_end: Timestamp(start.0 + 25 * 60_000_000),
        follow_up_required: false,
        follow_up_in_days: None,
    }
}

pub(crate) fn deactivated(patient_id: &str) -> PatientDeactivated {
    PatientDeactivated {
        patient_id: patient_id.into(),
        reason: DeactivationReason::EnteredInError,
        deceased_at: None,
        note: None,
        deactivated_by: reference("Practitioner", "registrar-2"),
        deactivated_at: Timestamp::now(),
    }
}

fn onboarding() -> Vec<Journey> {
    journeys::new_patient_onboarding::journeys().expect("embedded definitions parse")
}

/// The three journeys of schemas/journeys.
pub(crate) fn all_journeys() -> Vec<Journey> {
    let mut all = onboarding();
    all.extend(journeys::chronic_care::journeys().expect("embedded definitions parse"));
    all.extend(journeys::referral_booking::journeys().expect("embedded definitions parse"));
    all
}

/// An engine running `journeys` on `store`, emitting onto the test's copies
/// (`<topic>.<suffix>`) of the journeys and AI topics.
pub(crate) fn engine(
    store: &PgEventStore,
    clock: Arc<ShiftedClock>,
    journeys: Vec<Journey>,
    suffix: &str,
) -> Engine<PgInstanceStore> {
    Engine::builder(PgInstanceStore::new(store.clone()))
        .journeys(journeys)
        .emits::<JourneysEvent>()
        .emits::<AiEvent>()
        .route_topic(
            JourneysEvent::TOPIC,
            format!("{}.{suffix}", JourneysEvent::TOPIC),
        )
        .route_topic(AiEvent::TOPIC, format!("{}.{suffix}", AiEvent::TOPIC))
        .clock(clock)
        .build()
        .expect("engine")
}

/// Feed one event to the engine as its consumer would.
pub(crate) async fn feed<E: DomainEvent + JsonCodec>(
    engine: &Engine<PgInstanceStore>,
    event_id: &str,
    event: &E,
) -> Vec<Processed> {
    engine
        .handle(
            event_id,
            E::EVENT_TYPE,
            &carebus::json_legacy::readable(E::SCHEMA, &JsonCodec::to_json(event))
                .expect("the readable view"),
            &EventContext::new("prm-service"),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE))
}

/// The outgoing events in the outbox (the event store), by type, each as the readable view of
/// its JSON form, for one journey topic.
async fn outbox(store: &PgEventStore) -> Vec<(String, serde_json::Value)> {
    store
        .read(&EventFilter::default(), Default::default(), 100_000)
        .await
        .expect("read the outbox")
        .into_iter()
        .map(|e| {
            let info = <JourneysEvent as carebus::TopicEvents>::EVENTS
                .iter()
                .find(|i| i.event_type == e.event_type && i.version == e.event_version)
                .expect("a journeys event");
            let data = e.data_json.clone().unwrap_or_default();
            let readable =
                carebus::json_legacy::readable(info.schema, &data).expect("the readable view");
            (e.event_type.clone(), readable)
        })
        .collect()
}

fn actions(events: &[(String, serde_json::Value)], rule: &str) -> usize {
    events
        .iter()
        .filter(|(t, d)| t == "ActionTriggered" && d["trigger"]["rule"] == rule)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_has_no_second_effect() {
    let store = fresh_store("journey_redelivery").await;
    let clock = Arc::new(ShiftedClock::new());
    let engine = engine(&store, clock, onboarding(), "unused");
    let id = Uuid::new_v4().to_string();
    let first = feed(&engine, &id, &created("patient-r1")).await;
    assert!(
        matches!(&first[..], [Processed::Applied(a)] if a.to == "awaiting-first-appointment"),
        "{first:?}"
    );
    let before = outbox(&store).await;
    assert_eq!(
        before.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["JourneyStarted", "ActionTriggered"]
    );
    let instance = engine
        .store()
        .instance(ONBOARDING, "patient-r1")
        .await
        .unwrap()
        .expect("instance");
    let history = engine.store().history(instance.id).await.unwrap();

    // The same event again (a redelivery after a crash before the offset commit).
    let again = feed(&engine, &id, &created("patient-r1")).await;
    assert_eq!(again, [Processed::Duplicate]);
    assert_eq!(
        outbox(&store).await.len(),
        before.len(),
        "no second JourneyStarted"
    );
    assert_eq!(engine.store().history(instance.id).await.unwrap(), history);
    let after = engine
        .store()
        .instance(ONBOARDING, "patient-r1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.row_version, instance.row_version);

    // A redelivered transition too.
    let booked = Uuid::new_v4().to_string();
    feed(&engine, &booked, &scheduled("patient-r1")).await;
    let n = outbox(&store).await.len();
    assert_eq!(
        feed(&engine, &booked, &scheduled("patient-r1")).await,
        [Processed::Duplicate]
    );
    assert_eq!(outbox(&store).await.len(), n);
    let i = engine
        .store()
        .instance(ONBOARDING, "patient-r1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i.state, "first-appointment-booked");
    assert_eq!(i.row_version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_once_across_two_engines_and_after_a_restart() {
    let store = fresh_store("journey_timers").await;
    let clock = Arc::new(ShiftedClock::new());
    let first = engine(&store, clock.clone(), onboarding(), "unused");
    const PATIENTS: usize = 40;
    for n in 0..PATIENTS {
        feed(
            &first,
            &Uuid::new_v4().to_string(),
            &created(&format!("patient-t{n}")),
        )
        .await;
    }
    // A second engine process: its own connection pool on the same database.
    let url = carebus_tests::database_url();
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let second_store = PgEventStore::connect_in_schema(&url, Some(&schema), 8)
        .await
        .unwrap();
    let second = engine(&second_store, clock.clone(), onboarding(), "unused");

    // Nothing is due yet.
    assert!(first.fire_due_timers(10).await.unwrap().is_empty());
    // Three days later every instance's booking reminder is due; both engines race for them.
    clock.advance(3 * DAY + Duration::from_secs(1));
    let (a, b) = tokio::join!(first.fire_due_timers(1000), second.fire_due_timers(1000));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.len() + b.len(),
        PATIENTS,
        "each timer fired by exactly one engine ({} + {})",
        a.len(),
        b.len()
    );
    let events = outbox(&store).await;
    assert_eq!(actions(&events, "booking-reminder"), PATIENTS);
    assert!(first.fire_due_timers(1000).await.unwrap().is_empty());
    assert!(second.fire_due_timers(1000).await.unwrap().is_empty());

    // Restart: new engines, new pools; the re-armed reminders (3 more days) and the SLA
    // deadlines (14 days) are still in the table and fire once.
    drop((first, second, second_store));
    let restarted_store = PgEventStore::connect_in_schema(&url, Some(&schema), 8)
        .await
        .unwrap();
    let restarted = engine(&restarted_store, clock.clone(), onboarding(), "unused");
    clock.advance(3 * DAY);
    let fired = restarted.fire_due_timers(1000).await.unwrap();
    assert_eq!(fired.len(), PATIENTS);
    assert_eq!(
        actions(&outbox(&store).await, "booking-reminder"),
        2 * PATIENTS
    );
    clock.advance(8 * DAY + Duration::from_secs(1));
    let fired = restarted.fire_due_timers(10_000).await.unwrap();
    // Day 14: a third reminder (day 9 + 3 = 12) fired, then the fourth (day 15) is not due;
    // the SLA deadline (day 14) fired once per instance.
    let events = outbox(&store).await;
    assert_eq!(
        actions(&events, "sla-breached"),
        PATIENTS,
        "{} fired",
        fired.len()
    );
    assert_eq!(actions(&events, "booking-reminder"), 3 * PATIENTS);
    let i = restarted
        .store()
        .instance(ONBOARDING, "patient-t0")
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<String> = restarted
        .store()
        .history(i.id)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "transition",
            "transition",
            "transition",
            "sla-breached"
        ]
    );
}

/// Publish `event` to this test's copy of its topic (`<topic>.<suffix>`), as its service would.
async fn publish<E: DomainEvent>(
    publisher: &carebus::Publisher<carebus::kafka::KafkaTransport>,
    suffix: &str,
    event: &E,
) {
    let mut record = publisher
        .prepare(
            event,
            PublishOptions {
                tenant_id: Some("hospital-456".into()),
                ..PublishOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
    record.topic = format!("{}.{suffix}", record.topic);
    publisher
        .send_prepared(record)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE));
}

async fn wait_for(what: &str, deadline: Duration, mut check: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The platform's topics a journey test copies (`<topic>.<suffix>`).
const PLATFORM_TOPICS: [&str; 5] = [
    PatientsEvent::TOPIC,
    AppointmentsEvent::TOPIC,
    ClinicalEvent::TOPIC,
    AiEvent::TOPIC,
    JourneysEvent::TOPIC,
];

/// One test's platform on Kafka and PostgreSQL: its own copies of the platform's topics, an
/// engine over its own database schema consuming them as a `workflow-engine-<suffix>` group,
/// the outbox relay publishing what the engine emits, and a publisher for the services' events.
struct Platform {
    suffix: String,
    bootstrap: String,
    clock: Arc<ShiftedClock>,
    engine: Engine<PgInstanceStore>,
    running: carebus::RunningService<carebus::kafka::KafkaTransport>,
    stop_relay: carebus::consumer::ShutdownTrigger,
    relay: tokio::task::JoinHandle<()>,
}

impl Platform {
    async fn start(name: &str, journeys: Vec<Journey>) -> Platform {
        let bootstrap = carebus_tests::kafka_bootstrap();
        let store = fresh_store(name).await;
        let suffix = carebus_tests::unique_name("j");
        for t in PLATFORM_TOPICS {
            create_topic(&bootstrap, &format!("{t}.{suffix}"), 3, 1).await;
        }
        let clock = Arc::new(ShiftedClock::new());
        let engine = engine(&store, clock.clone(), journeys, &suffix);
        let mut service = Service::new(
            "workflow-engine",
            transport(&bootstrap),
            PublisherConfig::default(),
        )
        .unwrap();
        let group = format!("{ENGINE_GROUP}-{suffix}");
        let config = |topic: &str| {
            let mut c = ConsumerConfig::new(&group);
            c.topics = vec![format!("{topic}.{suffix}")];
            c
        };
        service
            .consume(
                config(PatientsEvent::TOPIC),
                engine.handler::<PatientsEvent>(),
            )
            .consume(
                config(AppointmentsEvent::TOPIC),
                engine.handler::<AppointmentsEvent>(),
            )
            .consume(
                config(ClinicalEvent::TOPIC),
                engine.handler::<ClinicalEvent>(),
            )
            .consume(config(AiEvent::TOPIC), engine.handler::<AiEvent>());
        let running = service.start().await.unwrap();
        let (stop_relay, relay) = relay(&store, &bootstrap, &suffix);
        Platform {
            suffix,
            bootstrap,
            clock,
            engine,
            running,
            stop_relay,
            relay,
        }
    }

    async fn publish<E: DomainEvent>(&self, event: &E) {
        publish(self.running.publisher(), &self.suffix, event).await;
    }

    /// The instance of `journey` for `key`, once it exists.
    async fn instance(&self, journey: &str, key: &str) -> Option<Instance> {
        self.engine.store().instance(journey, key).await.unwrap()
    }

    /// Wait until the instance of `journey` for `key` is in `state`.
    async fn wait_state(&self, journey: &str, key: &str, state: &str) -> Instance {
        wait_for(
            &format!("{journey} of {key} in {state}"),
            Duration::from_secs(60),
            async || {
                self.instance(journey, key)
                    .await
                    .is_some_and(|i| i.state == state)
            },
        )
        .await;
        self.instance(journey, key).await.unwrap()
    }

    async fn history(&self, instance: &Instance) -> Vec<String> {
        self.engine
            .store()
            .history(instance.id)
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.kind)
            .collect()
    }

    /// The first `n` events on this test's copy of `topic`, decoded as `E`.
    async fn read<E: TopicEvents>(&self, topic: &str, n: usize) -> Vec<(Envelope, E)> {
        read_topic(&self.bootstrap, &format!("{topic}.{}", self.suffix), n).await
    }

    async fn stop(self) {
        self.stop_relay.trigger();
        let _ = self.relay.await;
        self.running.stop().await.unwrap();
    }
}

/// The outbox relay over `store`, publishing to Kafka until triggered.
fn relay(
    store: &PgEventStore,
    bootstrap: &str,
    suffix: &str,
) -> (
    carebus::consumer::ShutdownTrigger,
    tokio::task::JoinHandle<()>,
) {
    let (stop, mut shutdown) = Shutdown::channel();
    let relay = OutboxRelay::new(
        store.clone(),
        Arc::new(transport(bootstrap)),
        format!("journeys-{suffix}"),
    );
    let task = tokio::spawn(async move {
        relay
            .run(async move { shutdown.wait().await })
            .await
            .expect("the outbox relay runs");
    });
    (stop, task)
}

/// Read `n` events of `topic` from the start (a fresh group), waiting up to a minute; then
/// three more seconds, so events beyond `n` show up too.
async fn read_topic<E: TopicEvents>(bootstrap: &str, topic: &str, n: usize) -> Vec<(Envelope, E)> {
    let kafka = transport(bootstrap);
    let consumer = subscribe(&kafka, &carebus_tests::unique_name("check"), topic).await;
    let mut out = Vec::new();
    let mut until = Instant::now() + Duration::from_secs(60);
    let mut settled = false;
    while Instant::now() < until {
        if let Ok(Some(ConsumerEvent::Record(r))) = consumer.poll(Duration::from_millis(500)).await
        {
            let decoded = wire::decode::<E>(&r.headers, r.payload())
                .unwrap_or_else(|e| panic!("an event of {topic}: {e}"));
            out.push(decoded);
        }
        if out.len() >= n && !settled {
            settled = true;
            until = Instant::now() + Duration::from_secs(3);
        }
    }
    out
}

/// What a journeys-topic event is, for comparing sequences: its type, and the rule of an
/// action, the stage of a stage, the outcome of a completion.
fn what(event: &JourneysEvent) -> String {
    match event {
        JourneysEvent::ActionTriggered(a) => format!(
            "ActionTriggered:{}",
            a.trigger.rule.clone().unwrap_or_default()
        ),
        JourneysEvent::JourneyCompleted(c) => format!("JourneyCompleted:{:?}", c.outcome),
        JourneysEvent::StageCompleted(s) => format!("StageCompleted:{}", s.stage_id),
        other => other.info().event_type.to_string(),
    }
}

/// The journeys-topic events by patient, in order.
fn by_patient(events: &[(Envelope, JourneysEvent)]) -> BTreeMap<String, Vec<String>> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, e) in events {
        seen.entry(
            e.to_json()["patientId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
        .or_default()
        .push(what(e));
    }
    seen
}

/// A typed event from its readable JSON form (plain unions and RFC 3339 timestamps).
fn from_json<E: JsonCodec + DomainEvent>(json: serde_json::Value) -> E {
    <E as DomainEvent>::from_legacy_json(&json).unwrap_or_else(|e| panic!("{}: {e}", E::EVENT_TYPE))
}

fn now_text() -> Option<String> {
    Timestamp::now().rfc3339_text()
}

fn diagnosis(patient_id: &str, code: &str) -> DiagnosisAdded {
    from_json(serde_json::json!({
        "patientId": patient_id,
        "diagnosisId": Uuid::new_v4().to_string(),
        "encounterId": null,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code, "display": null}], "text": null},
        "category": "ENCOUNTER_DIAGNOSIS",
        "clinicalStatus": "ACTIVE",
        "verificationStatus": "CONFIRMED",
        "severity": null,
        "onsetDate": null,
        "note": null,
        "recorder": {"type": "Practitioner", "id": "pract-17", "display": null},
        "recordedAt": now_text(),
    }))
}

fn lab_result(patient_id: &str, loinc: &str) -> LabResultReceived {
    from_json(serde_json::json!({
        "patientId": patient_id,
        "resultId": Uuid::new_v4().to_string(),
        "orderId": null,
        "encounterId": null,
        "code": {"system": "http://loinc.org", "code": loinc, "display": null},
        "value": null,
        "valueText": null,
        "referenceRange": null,
        "interpretation": "HIGH",
        "specimen": {"type": {"system": "http://snomed.info/sct", "code": "119297000", "display": null}, "accessionId": null, "collectedAt": now_text()},
        "status": "FINAL",
        "performingLab": {"type": "Organization", "id": "lab-1", "display": null},
        "issuedAt": now_text(),
    }))
}

fn analysis_completed(patient_id: &str, analysis_id: &str, severity: &str) -> AnalysisCompleted {
    from_json(serde_json::json!({
        "analysisId": analysis_id,
        "patientId": patient_id,
        "kind": "ANALYSIS_KIND_LAB_TREND",
        "modelName": "carebus-lab-trend",
        "modelVersion": "2024.11.2",
        "confidence": 0.91,
        "findings": [
            {"code": {"system": "http://snomed.info/sct", "code": "44054006", "display": null}, "description": "-", "confidence": 0.9, "severity": "FINDING_SEVERITY_INFO", "evidence": []},
            {"code": {"system": "http://snomed.info/sct", "code": "44054006", "display": null}, "description": "-", "confidence": 0.9, "severity": severity, "evidence": []},
        ],
        "summary": null,
        "durationMs": 1840,
        "completedAtMicros": Timestamp::now().0,
        "resultText": "",
    }))
}

fn cancelled(patient_id: &str) -> AppointmentCancelled {
    from_json(serde_json::json!({
        "appointmentId": Uuid::new_v4().to_string(),
        "patientId": patient_id,
        "reason": "OTHER",
        "reasonText": null,
        "cancelledBy": {"type": "Device", "id": "scheduling-system", "display": null},
        "rescheduledAppointmentId": null,
        "lateCancellation": false,
        "cancelledAt": now_text(),
    }))
}

/// The AnalysisRequested the engine sent for `patient_id`, from the AI topic.
fn requested_for<'a>(
    requests: &'a [(Envelope, AiEvent)],
    patient_id: &str,
) -> &'a AnalysisRequested {
    requests
        .iter()
        .find_map(|(_, e)| match e {
            AiEvent::AnalysisRequested(r) if r.patient_id == patient_id => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no AnalysisRequested for {patient_id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_runs_end_to_end_on_kafka_and_postgres() {
    let p = Platform::start("journey_e2e", onboarding()).await;
    // Three patients register: one will be onboarded, one deactivated, one never books.
    for patient in ["patient-a", "patient-b", "patient-c"] {
        p.publish(&created(patient)).await;
    }
    for patient in ["patient-a", "patient-b", "patient-c"] {
        p.wait_state(ONBOARDING, patient, "awaiting-first-appointment")
            .await;
    }
    // patient-a: the completion reaches the engine before the booking (deferred), then the booking.
    p.publish(&completed("patient-a")).await;
    wait_for(
        "the completion deferred",
        Duration::from_secs(60),
        async || {
            p.instance(ONBOARDING, "patient-a")
                .await
                .is_some_and(|i| !i.deferred.is_empty())
        },
    )
    .await;
    p.publish(&scheduled("patient-a")).await;
    p.publish(&deactivated("patient-b")).await;
    let a = p.wait_state(ONBOARDING, "patient-a", "onboarded").await;
    p.wait_state(ONBOARDING, "patient-b", "cancelled").await;
    // patient-c: 14 days pass without a booking.
    p.clock.advance(14 * DAY + Duration::from_secs(1));
    // The overdue reminder fires once (re-armed from now, not four times to catch up), then the
    // SLA deadline, which the reminder's re-entry did not move.
    let fired = p.engine.fire_due_timers(100).await.unwrap();
    assert_eq!(fired.len(), 2, "{fired:?}");

    // Everything the engine emitted arrives on Kafka, decodable as the journeys topic's events.
    let events = p
        .read::<JourneysEvent>(JourneysEvent::TOPIC, 5 + 3 + 4)
        .await;
    let seen = by_patient(&events);
    assert_eq!(
        seen["patient-a"],
        [
            "JourneyStarted",
            "ActionTriggered:welcome-message",
            "StageCompleted:awaiting-first-appointment",
            "StageCompleted:first-appointment-booked",
            "JourneyCompleted:Completed",
        ]
    );
    assert_eq!(
        seen["patient-b"],
        [
            "JourneyStarted",
            "ActionTriggered:welcome-message",
            "JourneyCompleted:Cancelled"
        ]
    );
    assert_eq!(
        seen["patient-c"],
        [
            "JourneyStarted",
            "ActionTriggered:welcome-message",
            "ActionTriggered:booking-reminder",
            "ActionTriggered:sla-breached",
        ]
    );
    assert_eq!(
        p.history(&a).await,
        ["started", "deferred", "transition", "transition"]
    );
    assert_eq!(a.stages_completed, 2);
    p.stop().await;
}

const CHRONIC: &str = "chronic-care";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chronic_care_runs_end_to_end_on_kafka_and_postgres() {
    let p = Platform::start("journey_chronic", all_journeys()).await;
    // Three diabetes diagnoses start the pathway; a hypertension diagnosis does not.
    p.publish(&diagnosis("chr-a", "E11.9")).await;
    p.publish(&diagnosis("chr-b", "E11.65")).await;
    p.publish(&diagnosis("chr-d", "E10.9")).await;
    p.publish(&diagnosis("chr-c", "I10")).await;
    for patient in ["chr-a", "chr-b", "chr-d"] {
        p.wait_state(CHRONIC, patient, "awaiting-hba1c").await;
    }
    // A glucose result is not an HbA1c: ignored. HbA1c results go to the AI service.
    p.publish(&lab_result("chr-b", "2345-7")).await;
    for patient in ["chr-a", "chr-b", "chr-d"] {
        p.publish(&lab_result(patient, "4548-4")).await;
    }
    let mut instances = BTreeMap::new();
    for patient in ["chr-a", "chr-b", "chr-d"] {
        instances.insert(
            patient,
            p.wait_state(CHRONIC, patient, "awaiting-analysis").await,
        );
    }
    assert!(p.instance(CHRONIC, "chr-c").await.is_none());
    assert!(p.instance("referral-booking", "chr-c").await.is_none());
    // The AI service reads the requests: one per result, tied to the instance.
    let requests = p.read::<AiEvent>(AiEvent::TOPIC, 3).await;
    assert_eq!(requests.len(), 3, "one AnalysisRequested per HbA1c result");
    for patient in ["chr-a", "chr-b", "chr-d"] {
        let r = requested_for(&requests, patient);
        assert_eq!(JsonCodec::to_json(r)["kind"], "ANALYSIS_KIND_LAB_TREND");
        assert_eq!(
            r.journey_id.as_deref(),
            Some(instances[patient].id.to_string().as_str())
        );
    }
    // A high-risk finding books a follow-up; a low one goes back to routine monitoring; chr-d's
    // analysis never comes.
    let a = requested_for(&requests, "chr-a").analysis_id.clone();
    let b = requested_for(&requests, "chr-b").analysis_id.clone();
    p.publish(&analysis_completed("chr-a", &a, "FINDING_SEVERITY_HIGH"))
        .await;
    p.publish(&analysis_completed("chr-b", &b, "FINDING_SEVERITY_LOW"))
        .await;
    p.wait_state(CHRONIC, "chr-a", "follow-up-to-book").await;
    p.wait_state(CHRONIC, "chr-b", "awaiting-hba1c").await;
    p.publish(&scheduled("chr-a")).await;
    p.wait_state(CHRONIC, "chr-a", "follow-up-booked").await;
    p.publish(&completed("chr-a")).await;
    let chr_a = p.wait_state(CHRONIC, "chr-a", "awaiting-hba1c").await;
    // Two days on, chr-d's analysis stage is past its SLA: the only timer due.
    p.clock.advance(2 * DAY + Duration::from_secs(1));
    let fired = p.engine.fire_due_timers(100).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].timer.key, "chr-d");

    let events = p
        .read::<JourneysEvent>(JourneysEvent::TOPIC, 7 + 4 + 4)
        .await;
    let seen = by_patient(&events);
    let enrolled = [
        "JourneyStarted",
        "ActionTriggered:chronic-care-enrolment",
        "StageCompleted:awaiting-hba1c",
    ];
    assert_eq!(
        seen["chr-a"],
        [
            &enrolled[..],
            &[
                "StageCompleted:awaiting-analysis",
                "ActionTriggered:diabetes-follow-up",
                "StageCompleted:follow-up-to-book",
                "StageCompleted:follow-up-booked",
            ]
        ]
        .concat()
    );
    assert_eq!(
        seen["chr-b"],
        [&enrolled[..], &["StageCompleted:awaiting-analysis"]].concat()
    );
    assert_eq!(
        seen["chr-d"],
        [&enrolled[..], &["ActionTriggered:sla-breached"]].concat()
    );
    assert!(!seen.contains_key("chr-c"));
    assert_eq!(events.len(), 15);
    assert_eq!(
        p.history(&chr_a).await,
        [
            "started",
            "transition",
            "transition",
            "transition",
            "transition"
        ]
    );
    let chr_b = p.instance(CHRONIC, "chr-b").await.unwrap();
    assert_eq!(
        p.history(&chr_b).await,
        ["started", "ignored", "transition", "transition"]
    );
    p.stop().await;
}

const REFERRAL: &str = "referral-booking";
const HOUR: Duration = Duration::from_secs(3_600);

/// The compensating actions the engine published, in order: (step undone, attempt, causation).
fn compensations(
    events: &[(Envelope, JourneysEvent)],
    patient_id: &str,
) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter_map(|(env, e)| match e {
            JourneysEvent::ActionTriggered(a) if a.patient_id == patient_id => {
                let params = e.to_json()["parameters"].clone();
                Some((
                    params.get("compensatesStep")?.as_str()?.to_owned(),
                    params["attempt"].as_str().unwrap_or_default().to_owned(),
                    env.causation_id.clone().unwrap_or_default(),
                ))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referral_saga_compensates_in_reverse_order_retrying_and_parking() {
    let p = Platform::start("journey_referral", all_journeys()).await;
    // ref-a completes three steps across three services (appointments, laboratory, AI).
    p.publish(&diagnosis("ref-a", "I50.9")).await;
    p.wait_state(REFERRAL, "ref-a", "awaiting-booking").await;
    p.publish(&scheduled("ref-a")).await;
    p.wait_state(REFERRAL, "ref-a", "awaiting-pre-visit-labs")
        .await;
    p.publish(&lab_result("ref-a", "2160-0")).await;
    p.wait_state(REFERRAL, "ref-a", "awaiting-triage").await;
    let analysis = Uuid::new_v4().to_string();
    p.publish(&analysis_completed(
        "ref-a",
        &analysis,
        "FINDING_SEVERITY_MODERATE",
    ))
    .await;
    let ready = p.wait_state(REFERRAL, "ref-a", "awaiting-specialist").await;
    assert_eq!(ready.steps.len(), 3);
    // The specialist does not confirm within 3 days: the step fails, the completed steps are
    // undone newest first; the appointment's cancellation waits for its confirmation.
    p.clock.advance(3 * DAY + Duration::from_secs(1));
    let fired = p.engine.fire_due_timers(100).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    let i = p.instance(REFERRAL, "ref-a").await.unwrap();
    assert_eq!(i.state, "withdrawn");
    assert!(
        !i.finished,
        "the appointment's cancellation is not confirmed yet"
    );
    // The appointments service fails the first cancellation (no confirmation within the
    // hour): the engine sends it again, then its confirmation arrives.
    p.clock.advance(HOUR + Duration::from_secs(1));
    let fired = p.engine.fire_due_timers(100).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    p.publish(&cancelled("ref-a")).await;
    wait_for("ref-a compensated", Duration::from_secs(60), async || {
        p.instance(REFERRAL, "ref-a")
            .await
            .is_some_and(|i| i.finished)
    })
    .await;
    let i = p.instance(REFERRAL, "ref-a").await.unwrap();
    assert_eq!(i.state, "withdrawn");
    assert_eq!(i.compensation, None);
    assert_eq!(
        p.engine
            .store()
            .history(i.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|h| h.kind.starts_with("compensat"))
            .map(|h| format!("{} {}", h.kind, h.from.unwrap_or_default()))
            .collect::<Vec<_>>(),
        [
            "compensating referral-letter",
            "compensated referral-letter",
            "compensating pre-visit-labs",
            "compensated pre-visit-labs",
            "compensating specialist-appointment",
            "compensating specialist-appointment",
            "compensated specialist-appointment",
        ]
    );

    // ref-b: booked, then the patient record is deactivated; the cancellation is never
    // confirmed: after three attempts the instance is parked for the referral desk.
    p.publish(&diagnosis("ref-b", "49436004")).await;
    p.wait_state(REFERRAL, "ref-b", "awaiting-booking").await;
    p.publish(&scheduled("ref-b")).await;
    p.wait_state(REFERRAL, "ref-b", "awaiting-pre-visit-labs")
        .await;
    p.publish(&deactivated("ref-b")).await;
    p.wait_state(REFERRAL, "ref-b", "withdrawn").await;
    for _ in 0..3 {
        p.clock.advance(HOUR + Duration::from_secs(1));
        let fired = p.engine.fire_due_timers(100).await.unwrap();
        assert_eq!(fired.len(), 1, "{fired:?}");
    }
    let parked = p.engine.store().parked().await.unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(
        (parked[0].journey.as_str(), parked[0].key.as_str()),
        (REFERRAL, "ref-b")
    );
    assert!(
        parked[0].reason.contains("`specialist-appointment`")
            && parked[0].reason.contains("after 3 attempts"),
        "{}",
        parked[0].reason
    );
    let b = p.instance(REFERRAL, "ref-b").await.unwrap();
    assert!(!b.finished);
    assert!(
        p.engine.store().timers(b.id).await.unwrap().is_empty(),
        "a parked instance is not retried"
    );
    // Someone cancels the appointment by hand; its confirmation still completes the saga.
    p.publish(&cancelled("ref-b")).await;
    wait_for("ref-b compensated", Duration::from_secs(60), async || {
        p.instance(REFERRAL, "ref-b")
            .await
            .is_some_and(|i| i.finished)
    })
    .await;
    assert!(p.engine.store().parked().await.unwrap().is_empty());

    let a_events = 12;
    let b_events = 4 + 3 + 1;
    let events = p
        .read::<JourneysEvent>(JourneysEvent::TOPIC, a_events + b_events)
        .await;
    let seen = by_patient(&events);
    assert_eq!(
        seen["ref-a"],
        [
            "JourneyStarted",
            "ActionTriggered:book-specialist-appointment",
            "StageCompleted:awaiting-booking",
            "ActionTriggered:order-pre-visit-labs",
            "StageCompleted:awaiting-pre-visit-labs",
            "StageCompleted:awaiting-triage",
            "ActionTriggered:send-referral-letter",
            "ActionTriggered:withdraw-referral-letter",
            "ActionTriggered:cancel-lab-follow-up",
            "ActionTriggered:cancel-specialist-appointment",
            "ActionTriggered:cancel-specialist-appointment",
            "JourneyCompleted:Failed",
        ]
    );
    assert_eq!(seen["ref-b"].len(), b_events, "{:?}", seen["ref-b"]);
    // Each action names its instance and step in its causation and parameters, the same for
    // every attempt, so the service can act once.
    let id = i.id.to_string();
    let step = |s: &str, n: &str| (s.to_string(), n.to_string(), format!("{id}/compensate:{s}"));
    assert_eq!(
        compensations(&events, "ref-a"),
        [
            step("referral-letter", "1"),
            step("pre-visit-labs", "1"),
            step("specialist-appointment", "1"),
            step("specialist-appointment", "2"),
        ]
    );
    let letter = events
        .iter()
        .find(|(_, e)| what(e) == "ActionTriggered:send-referral-letter")
        .expect("the referral letter");
    assert_eq!(
        letter.0.causation_id.as_deref(),
        Some(format!("{id}/step:referral-letter").as_str())
    );
    p.stop().await;
}

/// Settings of the engine child process.
const CHILD_SCHEMA: &str = "CAREBUS_TEST_JOURNEY_SCHEMA";
const CHILD_SUFFIX: &str = "CAREBUS_TEST_JOURNEY_SUFFIX";
/// `consume` (the default: the engine's consumers) or `timers` (only its timer loop).
const CHILD_ROLE: &str = "CAREBUS_TEST_JOURNEY_ROLE";
/// Seconds the child's clock runs ahead of the real one (timers come due).
const CHILD_SHIFT: &str = "CAREBUS_TEST_JOURNEY_SHIFT_SECS";
/// The file the child writes how many timers it fired to, when it stops.
const CHILD_REPORT: &str = "CAREBUS_TEST_JOURNEY_REPORT";

/// An engine child process (see [`engine_process`]) in `role`, with its clock `shift` ahead.
/// It runs until killed, or until its standard input closes ([`stop_engine_process`]): then
/// it stops (leaving the consumer group) and writes how many timers it fired to `report`.
fn spawn_engine(
    schema: &str,
    suffix: &str,
    role: &str,
    shift: Duration,
    report: &std::path::Path,
) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "journeys::engine_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SCHEMA, schema)
        .env(CHILD_SUFFIX, suffix)
        .env(CHILD_ROLE, role)
        .env(CHILD_SHIFT, shift.as_secs().to_string())
        .env(CHILD_REPORT, report)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the engine process starts")
}

fn spawn_engine_process(schema: &str, suffix: &str) -> std::process::Child {
    spawn_engine(
        schema,
        suffix,
        "consume",
        Duration::ZERO,
        std::path::Path::new("/dev/null"),
    )
}

/// Stop an engine child the orderly way (its standard input closed) and wait for it.
fn stop_engine_process(mut child: std::process::Child) {
    drop(child.stdin.take());
    let status = child.wait().expect("the engine process ends");
    assert!(status.success(), "the engine process failed: {status}");
}

/// A timer child's report file, and reading it once the child stopped.
struct Report(std::path::PathBuf);

impl Report {
    fn new() -> Report {
        let dir = std::env::temp_dir().join(carebus_tests::unique_name("engine-report"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Report(dir.join("fired"))
    }
    fn fired(&self) -> u64 {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("the engine process wrote no count to {}", self.0.display()))
    }
}

/// The child process of the multi-process tests: a journey engine over the test's schema and
/// topics (`consume`: its consumers in the `workflow-engine-<suffix>` group; `timers`: its
/// timer loop) until killed or its standard input closes. The outbox relay runs in the test.
#[test]
#[ignore = "the child process of the engine process tests (SIGKILL, rebalance, timers)"]
fn engine_process() {
    let (Ok(schema), Ok(suffix)) = (std::env::var(CHILD_SCHEMA), std::env::var(CHILD_SUFFIX))
    else {
        return;
    };
    let role = std::env::var(CHILD_ROLE).unwrap_or_else(|_| "consume".into());
    let shift: u64 = std::env::var(CHILD_SHIFT)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let bootstrap = carebus_tests::kafka_bootstrap();
            let store =
                PgEventStore::connect_in_schema(&carebus_tests::database_url(), Some(&schema), 8)
                    .await
                    .expect("the test's database schema");
            let clock = Arc::new(ShiftedClock::new());
            clock.advance(Duration::from_secs(shift));
            let engine = engine(&store, clock, all_journeys(), &suffix);
            // Standard input closing is the signal to stop.
            let stdin_closed = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
            });
            if role == "timers" {
                let (stop, shutdown) = Shutdown::channel();
                let timers = {
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        engine.run_timers(Duration::from_millis(50), shutdown).await
                    })
                };
                let _ = stdin_closed.await;
                stop.trigger();
                let fired = timers.await.expect("the timer loop");
                if let Ok(report) = std::env::var(CHILD_REPORT) {
                    std::fs::write(report, fired.to_string()).expect("the report file");
                }
                return;
            }
            let mut service = Service::new(
                "workflow-engine",
                transport(&bootstrap),
                PublisherConfig::default(),
            )
            .unwrap();
            let group = format!("{ENGINE_GROUP}-{suffix}");
            let config = |topic: &str| {
                let mut c = ConsumerConfig::new(&group);
                c.topics = vec![format!("{topic}.{suffix}")];
                c
            };
            service
                .consume(
                    config(PatientsEvent::TOPIC),
                    engine.handler::<PatientsEvent>(),
                )
                .consume(
                    config(AppointmentsEvent::TOPIC),
                    engine.handler::<AppointmentsEvent>(),
                );
            let running = service.start().await.unwrap();
            let _ = stdin_closed.await;
            running.stop().await.expect("the engine stops");
        });
}

/// How many onboarding instances are in `state`.
async fn count_instances(store: &PgEventStore, state: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM journey_instances WHERE journey = $1 AND state = $2")
        .bind(ONBOARDING)
        .bind(state)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// SIGKILL `child` once at least `at_least` onboarding instances are in `state` (or two
/// minutes passed); how many were.
async fn kill_when(
    store: &PgEventStore,
    state: &str,
    at_least: i64,
    child: &mut std::process::Child,
) -> i64 {
    let until = Instant::now() + Duration::from_secs(120);
    let mut n = count_instances(store, state).await;
    while n < at_least && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
        n = count_instances(store, state).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_process_killed_with_sigkill_loses_no_transition_and_duplicates_no_event() {
    const PATIENTS: i64 = 300;
    let bootstrap = carebus_tests::kafka_bootstrap();
    let store = fresh_store("journey_kill").await;
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let suffix = carebus_tests::unique_name("jk");
    for t in PLATFORM_TOPICS {
        create_topic(&bootstrap, &format!("{t}.{suffix}"), 3, 1).await;
    }
    let (stop_relay, relay_task) = relay(&store, &bootstrap, &suffix);
    let publisher = carebus::Publisher::new(transport(&bootstrap), PublisherConfig::default())
        .expect("publisher");
    let patients: Vec<String> = (0..PATIENTS).map(|n| format!("patient-k{n}")).collect();
    for p in &patients {
        publish(&publisher, &suffix, &created(p)).await;
    }

    // Registrations: killed mid-stream, restarted, every instance started once.
    let mut child = spawn_engine_process(&schema, &suffix);
    let started = kill_when(
        &store,
        "awaiting-first-appointment",
        PATIENTS / 4,
        &mut child,
    )
    .await;
    assert!(
        started > 0 && started < PATIENTS,
        "killed mid-stream ({started} of {PATIENTS} started)"
    );
    let mut child = spawn_engine_process(&schema, &suffix);
    let n = kill_when(&store, "awaiting-first-appointment", PATIENTS, &mut child).await;
    assert_eq!(n, PATIENTS, "every registration started an instance");
    // Bookings and completions: killed mid-stream again, restarted, everyone onboarded.
    for p in &patients {
        publish(&publisher, &suffix, &scheduled(p)).await;
        publish(&publisher, &suffix, &completed(p)).await;
    }
    let mut child = spawn_engine_process(&schema, &suffix);
    let done = kill_when(&store, "onboarded", PATIENTS / 4, &mut child).await;
    assert!(
        done > 0 && done < PATIENTS,
        "killed mid-stream ({done} of {PATIENTS} onboarded)"
    );
    let mut child = spawn_engine_process(&schema, &suffix);
    let done = kill_when(&store, "onboarded", PATIENTS, &mut child).await;
    assert_eq!(done, PATIENTS, "no lost transition");

    // Every instance went through each transition once.
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT instance_id FROM journey_history GROUP BY instance_id \
         HAVING count(*) FILTER (WHERE kind = 'started') <> 1 OR count(*) FILTER (WHERE kind = 'transition') <> 2) d",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        doubled, 0,
        "instances with a missing or repeated transition"
    );
    // On Kafka: five events per patient, each once.
    let expected = 5 * PATIENTS as usize;
    let events = read_topic::<JourneysEvent>(
        &bootstrap,
        &format!("{}.{suffix}", JourneysEvent::TOPIC),
        expected,
    )
    .await;
    stop_relay.trigger();
    let _ = relay_task.await;
    let mut ids = std::collections::BTreeSet::new();
    for (env, _) in &events {
        assert!(
            ids.insert(env.event_id.clone()),
            "event {} published twice",
            env.event_id
        );
    }
    assert_eq!(events.len(), expected, "five outgoing events per patient");
    let seen = by_patient(&events);
    assert_eq!(seen.len(), PATIENTS as usize);
    for (patient, whats) in &seen {
        let mut whats = whats.clone();
        whats.sort();
        assert_eq!(
            whats,
            [
                "ActionTriggered:welcome-message",
                "JourneyCompleted:Completed",
                "JourneyStarted",
                "StageCompleted:awaiting-first-appointment",
                "StageCompleted:first-appointment-booked",
            ],
            "{patient}"
        );
    }
}

/// Every instance's history: exactly one `started` and `transitions` transitions (no missing,
/// no repeated transition); how many instances break that.
async fn instances_off_the_count(store: &PgEventStore, transitions: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT instance_id FROM journey_history GROUP BY instance_id \
         HAVING count(*) FILTER (WHERE kind = 'started') <> 1 \
         OR count(*) FILTER (WHERE kind = 'transition') <> $1) d",
    )
    .bind(transitions)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// The database schema of a test's store (for its child processes).
async fn schema_of(store: &PgEventStore) -> String {
    sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engine_processes_share_the_stream_through_a_rebalance() {
    const PATIENTS: i64 = 200;
    let bootstrap = carebus_tests::kafka_bootstrap();
    let store = fresh_store("journey_rebalance").await;
    let schema = schema_of(&store).await;
    let suffix = carebus_tests::unique_name("jr");
    for t in PLATFORM_TOPICS {
        create_topic(&bootstrap, &format!("{t}.{suffix}"), 3, 1).await;
    }
    let (stop_relay, relay_task) = relay(&store, &bootstrap, &suffix);
    let publisher = carebus::Publisher::new(transport(&bootstrap), PublisherConfig::default())
        .expect("publisher");
    let patients: Vec<String> = (0..PATIENTS).map(|n| format!("patient-r{n}")).collect();
    for p in &patients {
        publish(&publisher, &suffix, &created(p)).await;
    }
    // The first engine process alone, then a second joins the group mid-stream (a rebalance
    // hands it some of the partitions) while bookings and completions arrive.
    let first = spawn_engine_process(&schema, &suffix);
    wait_for(
        "the first process to start instances",
        Duration::from_secs(120),
        async || count_instances(&store, "awaiting-first-appointment").await >= PATIENTS / 4,
    )
    .await;
    let second = spawn_engine_process(&schema, &suffix);
    for p in &patients {
        publish(&publisher, &suffix, &scheduled(p)).await;
        publish(&publisher, &suffix, &completed(p)).await;
    }
    // Once some are onboarded, the first process stops (leaving the group: the second takes
    // over its partitions, from their committed offsets).
    wait_for(
        "some patients onboarded",
        Duration::from_secs(120),
        async || count_instances(&store, "onboarded").await >= PATIENTS / 4,
    )
    .await;
    let onboarded_when_stopped = count_instances(&store, "onboarded").await;
    stop_engine_process(first);
    assert!(
        onboarded_when_stopped < PATIENTS,
        "the first process stopped mid-stream ({onboarded_when_stopped} of {PATIENTS} onboarded)"
    );
    wait_for(
        "every patient onboarded",
        Duration::from_secs(120),
        async || count_instances(&store, "onboarded").await >= PATIENTS,
    )
    .await;
    stop_engine_process(second);
    println!(
        "rebalance: {onboarded_when_stopped} of {PATIENTS} onboarded when the first process stopped"
    );
    assert_eq!(count_instances(&store, "onboarded").await, PATIENTS);
    assert_eq!(
        instances_off_the_count(&store, 2).await,
        0,
        "instances with a missing or repeated transition"
    );
    // Outgoing: five events per patient in the outbox and on Kafka, each once.
    let outgoing = outbox(&store).await;
    assert_eq!(outgoing.len(), 5 * PATIENTS as usize, "outbox");
    let expected = 5 * PATIENTS as usize;
    let events = read_topic::<JourneysEvent>(
        &bootstrap,
        &format!("{}.{suffix}", JourneysEvent::TOPIC),
        expected,
    )
    .await;
    stop_relay.trigger();
    let _ = relay_task.await;
    let ids: std::collections::BTreeSet<&str> =
        events.iter().map(|(e, _)| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "an event published twice");
    assert_eq!(events.len(), expected, "five outgoing events per patient");
    let seen = by_patient(&events);
    assert_eq!(seen.len(), PATIENTS as usize);
    for (patient, whats) in &seen {
        let mut whats = whats.clone();
        whats.sort();
        assert_eq!(
            whats,
            [
                "ActionTriggered:welcome-message",
                "JourneyCompleted:Completed",
                "JourneyStarted",
                "StageCompleted:awaiting-first-appointment",
                "StageCompleted:first-appointment-booked",
            ],
            "{patient}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_once_across_two_engine_processes_and_after_their_restart() {
    const PATIENTS: usize = 100;
    let store = fresh_store("journey_process_timers").await;
    let schema = schema_of(&store).await;
    // The instances start here (real time): each arms its 3-day booking reminder.
    let here = engine(
        &store,
        Arc::new(ShiftedClock::new()),
        onboarding(),
        "unused",
    );
    for n in 0..PATIENTS {
        feed(
            &here,
            &Uuid::new_v4().to_string(),
            &created(&format!("patient-pt{n}")),
        )
        .await;
    }
    let reminders = async || actions(&outbox(&store).await, "booking-reminder");
    // Two timer processes whose clocks are 3 days ahead: both poll the same due timers.
    let ahead = 3 * DAY + Duration::from_secs(60);
    let (ra, rb) = (Report::new(), Report::new());
    let a = spawn_engine(&schema, "unused", "timers", ahead, &ra.0);
    let b = spawn_engine(&schema, "unused", "timers", ahead, &rb.0);
    wait_for(
        "every reminder fired",
        Duration::from_secs(60),
        async || reminders().await >= PATIENTS,
    )
    .await;
    stop_engine_process(a);
    stop_engine_process(b);
    let (fired_a, fired_b) = (ra.fired(), rb.fired());
    println!("timers: first run {fired_a} + {fired_b}");
    assert_eq!(
        (fired_a + fired_b) as usize,
        PATIENTS,
        "each timer fired by exactly one process ({fired_a} + {fired_b})"
    );
    assert_eq!(reminders().await, PATIENTS);
    assert_eq!(instances_off_the_count(&store, 1).await, 0);

    // Restarted, 6 days ahead: the re-armed reminders (3 days after the first) fire, once.
    let ahead = 6 * DAY + Duration::from_secs(120);
    let (ra, rb) = (Report::new(), Report::new());
    let a = spawn_engine(&schema, "unused", "timers", ahead, &ra.0);
    let b = spawn_engine(&schema, "unused", "timers", ahead, &rb.0);
    wait_for(
        "every re-armed reminder fired",
        Duration::from_secs(60),
        async || reminders().await >= 2 * PATIENTS,
    )
    .await;
    stop_engine_process(a);
    stop_engine_process(b);
    let (fired_a, fired_b) = (ra.fired(), rb.fired());
    println!("timers: after the restart {fired_a} + {fired_b}");
    assert_eq!((fired_a + fired_b) as usize, PATIENTS);
    assert_eq!(reminders().await, 2 * PATIENTS);
    assert_eq!(instances_off_the_count(&store, 2).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_instances_each_take_every_transition_once() {
    const PATIENTS: usize = 1_000;
    let began = Instant::now();
    let p = Platform::start("journey_thousand", onboarding()).await;
    let store = p.engine.store().event_store().clone();
    let patients: Vec<String> = (0..PATIENTS).map(|n| format!("patient-c{n}")).collect();
    let publish_all = async |events: Vec<AppointmentScheduled>| {
        for chunk in events.chunks(100) {
            futures::future::join_all(chunk.iter().map(|e| p.publish(e))).await;
        }
    };
    for chunk in patients.chunks(100) {
        let events: Vec<PatientCreated> = chunk.iter().map(|id| created(id)).collect();
        futures::future::join_all(events.iter().map(|e| p.publish(e))).await;
    }
    wait_for(
        "every instance started",
        Duration::from_secs(120),
        async || count_instances(&store, "awaiting-first-appointment").await >= PATIENTS as i64,
    )
    .await;
    let started = began.elapsed();
    publish_all(patients.iter().map(|id| scheduled(id)).collect()).await;
    wait_for(
        "every first appointment booked",
        Duration::from_secs(120),
        async || count_instances(&store, "first-appointment-booked").await >= PATIENTS as i64,
    )
    .await;
    let booked = began.elapsed();
    println!(
        "{PATIENTS} concurrent instances: all started after {:.1} s, all booked after {:.1} s",
        started.as_secs_f64(),
        booked.as_secs_f64()
    );
    assert_eq!(
        count_instances(&store, "first-appointment-booked").await,
        PATIENTS as i64
    );
    assert_eq!(instances_off_the_count(&store, 1).await, 0);
    let events = outbox(&store).await;
    let count = |t: &str| events.iter().filter(|(e, _)| e == t).count();
    assert_eq!(count("JourneyStarted"), PATIENTS);
    assert_eq!(actions(&events, "welcome-message"), PATIENTS);
    assert_eq!(count("StageCompleted"), PATIENTS);
    assert_eq!(events.len(), 3 * PATIENTS, "nothing else emitted");
    p.stop().await;
}
