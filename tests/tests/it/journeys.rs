//! The journey engine against real Kafka and PostgreSQL: new-patient onboarding end to end (events in from Kafka, instances and outbox in PostgreSQL, outgoing events back on Kafka through the relay), a redelivered event with no second effect, and durable timers firing once across two engines and after a restart.

use crate::kafka_support::{create_topic, subscribe, transport};
use crate::store_support::{created, fresh_store};
use carebus::consumer::Shutdown;
use carebus::postgres::PgEventStore;
use carebus::store::outbox_relay::OutboxRelay;
use carebus::store::{EventContext, EventFilter, EventStore};
use carebus::transport::ConsumerEvent;
use carebus::{
    ConsumerConfig, DomainEvent, JsonCodec, PublishOptions, PublisherConfig, Service, Timestamp,
    TopicEvents, Uuid, wire,
};
use carebus_journey::{
    ENGINE_GROUP, Engine, InstanceStore, PgInstanceStore, Processed, ShiftedClock,
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

fn deactivated(patient_id: &str) -> PatientDeactivated {
    PatientDeactivated {
        patient_id: patient_id.into(),
        reason: DeactivationReason::EnteredInError,
        deceased_at: None,
        note: None,
        deactivated_by: reference("Practitioner", "registrar-2"),
        deactivated_at: Timestamp::now(),
    }
}

/// An engine running onboarding on `store`, emitting onto `journeys_topic`.
fn engine(
    store: &PgEventStore,
    clock: Arc<ShiftedClock>,
    journeys_topic: &str,
) -> Engine<PgInstanceStore> {
    Engine::builder(PgInstanceStore::new(store.clone()))
        .journeys(journeys::new_patient_onboarding::journeys().expect("embedded definitions parse"))
        .emits::<JourneysEvent>()
        .emits::<AiEvent>()
        .route_topic(JourneysEvent::TOPIC, journeys_topic)
        .clock(clock)
        .build()
        .expect("engine")
}

/// Feed one event to the engine as its consumer would.
async fn feed<E: DomainEvent + JsonCodec>(
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
    let engine = engine(&store, clock, "unused.journeys");
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
    let first = engine(&store, clock.clone(), "unused.journeys");
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
    let second = engine(&second_store, clock.clone(), "unused.journeys");

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
    let restarted = engine(&restarted_store, clock.clone(), "unused.journeys");
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

/// Publish `event` to `topic` (a test's own topic) as the PRM service would.
async fn publish<E: DomainEvent>(
    publisher: &carebus::Publisher<carebus::kafka::KafkaTransport>,
    topic: &str,
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
    record.topic = topic.to_string();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_runs_end_to_end_on_kafka_and_postgres() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let store = fresh_store("journey_e2e").await;
    let suffix = carebus_tests::unique_name("j");
    let (patients_topic, appointments_topic, journeys_topic) = (
        format!("patients.{suffix}"),
        format!("appointments.{suffix}"),
        format!("journeys.{suffix}"),
    );
    for t in [&patients_topic, &appointments_topic, &journeys_topic] {
        create_topic(&bootstrap, t, 3, 1).await;
    }
    let clock = Arc::new(ShiftedClock::new());
    let engine = engine(&store, clock.clone(), &journeys_topic);
    let kafka = transport(&bootstrap);
    let mut service = Service::new(
        "workflow-engine",
        transport(&bootstrap),
        PublisherConfig::default(),
    )
    .unwrap();
    let group = format!("{ENGINE_GROUP}-{suffix}");
    let config = |topic: &str| {
        let mut c = ConsumerConfig::new(&group);
        c.topics = vec![topic.to_string()];
        c
    };
    service
        .consume(config(&patients_topic), engine.handler::<PatientsEvent>())
        .consume(
            config(&appointments_topic),
            engine.handler::<AppointmentsEvent>(),
        );
    let running = service.start().await.unwrap();
    let (stop_relay, relay_shutdown) = Shutdown::channel();
    let relay = {
        let relay = OutboxRelay::new(
            store.clone(),
            Arc::new(transport(&bootstrap)),
            format!("journeys-{suffix}"),
        );
        let mut stop = relay_shutdown;
        tokio::spawn(async move { relay.run(async move { stop.wait().await }).await })
    };
    let publisher = running.publisher().clone();

    // Three patients register: one will be onboarded, one deactivated, one never books.
    for p in ["patient-a", "patient-b", "patient-c"] {
        publish(&publisher, &patients_topic, &created(p)).await;
    }
    wait_for("three instances", Duration::from_secs(60), async || {
        let mut n = 0;
        for p in ["patient-a", "patient-b", "patient-c"] {
            n += usize::from(
                engine
                    .store()
                    .instance(ONBOARDING, p)
                    .await
                    .unwrap()
                    .is_some(),
            );
        }
        n == 3
    })
    .await;
    // patient-a: the completion reaches the engine before the booking (deferred), then the booking.
    publish(&publisher, &appointments_topic, &completed("patient-a")).await;
    wait_for(
        "the completion deferred",
        Duration::from_secs(60),
        async || {
            let i = engine
                .store()
                .instance(ONBOARDING, "patient-a")
                .await
                .unwrap()
                .unwrap();
            !i.deferred.is_empty()
        },
    )
    .await;
    publish(&publisher, &appointments_topic, &scheduled("patient-a")).await;
    publish(&publisher, &patients_topic, &deactivated("patient-b")).await;
    wait_for(
        "a onboarded, b cancelled",
        Duration::from_secs(60),
        async || {
            let a = engine
                .store()
                .instance(ONBOARDING, "patient-a")
                .await
                .unwrap()
                .unwrap();
            let b = engine
                .store()
                .instance(ONBOARDING, "patient-b")
                .await
                .unwrap()
                .unwrap();
            a.state == "onboarded" && b.state == "cancelled"
        },
    )
    .await;
    // patient-c: 14 days pass without a booking.
    clock.advance(14 * DAY + Duration::from_secs(1));
    // The overdue reminder fires once (re-armed from now, not four times to catch up), then the
    // SLA deadline, which the reminder's re-entry did not move.
    let fired = engine.fire_due_timers(100).await.unwrap();
    assert_eq!(fired.len(), 2, "{fired:?}");

    // Everything the engine emitted arrives on Kafka, decodable as the journeys topic's events.
    let consumer = subscribe(&kafka, &format!("check-{suffix}"), &journeys_topic).await;
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let expected = 5 + 3 + 4;
    let until = Instant::now() + Duration::from_secs(60);
    let mut total = 0;
    while total < expected && Instant::now() < until {
        if let Ok(Some(ConsumerEvent::Record(r))) = consumer.poll(Duration::from_millis(500)).await
        {
            let (_, event) =
                wire::decode::<JourneysEvent>(&r.headers, r.payload()).expect("a journeys event");
            let json = event.to_json();
            let what = match &event {
                JourneysEvent::ActionTriggered(a) => format!(
                    "ActionTriggered:{}",
                    a.trigger.rule.clone().unwrap_or_default()
                ),
                JourneysEvent::JourneyCompleted(c) => format!("JourneyCompleted:{:?}", c.outcome),
                JourneysEvent::StageCompleted(s) => format!("StageCompleted:{}", s.stage_id),
                other => other.info().event_type.to_string(),
            };
            seen.entry(json["patientId"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(what);
            total += 1;
        }
    }
    stop_relay.trigger();
    relay.abort();
    running.stop().await.unwrap();
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
    let a = engine
        .store()
        .instance(ONBOARDING, "patient-a")
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<String> = engine
        .store()
        .history(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.kind)
        .collect();
    assert_eq!(kinds, ["started", "deferred", "transition", "transition"]);
    assert_eq!(a.stages_completed, 2);
}
