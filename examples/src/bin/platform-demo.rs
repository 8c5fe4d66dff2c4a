//! The platform demo (the README's main job): a PRM service publishes patient and appointment events on the embedded bus, a clinic diagnoses and lab results; typed consumers (FHIR sync, reminders, the audit log, stubs of the AI service and the booking desk) and the journey engine (the three journeys of schemas/journeys, embedded) handle them; a summary is printed.
//!
//! Runs with no servers: the in-process bus has Kafka's semantics (partitions by key, consumer
//! groups, committed offsets, redelivery), so the same handlers run unchanged on Kafka.
//!
//! `platform-demo scenario [--patients N]` instead drives a day of traffic through the HTTP APIs
//! of the services `scripts/platform up` runs as processes on Kafka and PostgreSQL;
//! `platform-demo engine` runs the workflow engine as one of them (examples/src/engine.rs).

use carebus::bus::{Bus, BusConfig};
use carebus::consumer::Shutdown;
use carebus::store::MemoryEventStore;
use carebus::store::outbox_relay::OutboxRelay;
use carebus::{ConsumerConfig, HandlerContext, HandlerResult, PublisherConfig, Service};
use carebus_examples::{clinic, prm, summary::Summary};
use carebus_journey::{ENGINE_GROUP, Engine, MemoryInstanceStore, ShiftedClock};
use carebus_schemas::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// FHIR service: mirrors patients into its store (here: counts) as they are created or updated.
struct FhirSync(Arc<Summary>);

impl PatientsHandler for FhirSync {
    async fn on_patient_created(
        &self,
        ctx: &HandlerContext,
        event: PatientCreated,
    ) -> HandlerResult {
        self.0.handled("fhir-service", ctx);
        self.0.remember_patient(&event.patient_id);
        Ok(())
    }
    async fn on_patient_updated(
        &self,
        ctx: &HandlerContext,
        _event: PatientUpdated,
    ) -> HandlerResult {
        self.0.handled("fhir-service", ctx);
        Ok(())
    }
    async fn on_patient_merged(
        &self,
        ctx: &HandlerContext,
        _event: PatientMerged,
    ) -> HandlerResult {
        self.0.handled("fhir-service", ctx);
        Ok(())
    }
    async fn on_patient_deactivated(
        &self,
        ctx: &HandlerContext,
        _event: PatientDeactivated,
    ) -> HandlerResult {
        self.0.handled("fhir-service", ctx);
        Ok(())
    }
}

/// Real-time service: sends reminders for scheduled appointments, tracks their outcome.
struct Reminders(Arc<Summary>);

impl AppointmentsHandler for Reminders {
    async fn on_appointment_scheduled(
        &self,
        ctx: &HandlerContext,
        _e: AppointmentScheduled,
    ) -> HandlerResult {
        self.0.handled("realtime-service", ctx);
        Ok(())
    }
    async fn on_appointment_confirmed(
        &self,
        ctx: &HandlerContext,
        _e: AppointmentConfirmed,
    ) -> HandlerResult {
        self.0.handled("realtime-service", ctx);
        Ok(())
    }
    async fn on_appointment_cancelled(
        &self,
        ctx: &HandlerContext,
        _e: AppointmentCancelled,
    ) -> HandlerResult {
        self.0.handled("realtime-service", ctx);
        Ok(())
    }
    async fn on_appointment_completed(
        &self,
        ctx: &HandlerContext,
        _e: AppointmentCompleted,
    ) -> HandlerResult {
        self.0.handled("realtime-service", ctx);
        Ok(())
    }
}

/// Audit: checks the journey's causation chain back to the patient event.
struct JourneyAudit(Arc<Summary>);

impl JourneysHandler for JourneyAudit {
    async fn on_journey_started(&self, ctx: &HandlerContext, _e: JourneyStarted) -> HandlerResult {
        self.0.handled("audit-log", ctx);
        self.0.check_causation(ctx);
        Ok(())
    }
    async fn on_stage_completed(&self, ctx: &HandlerContext, _e: StageCompleted) -> HandlerResult {
        self.0.handled("audit-log", ctx);
        Ok(())
    }
    async fn on_journey_completed(
        &self,
        ctx: &HandlerContext,
        _e: JourneyCompleted,
    ) -> HandlerResult {
        self.0.handled("audit-log", ctx);
        Ok(())
    }
    async fn on_action_triggered(
        &self,
        ctx: &HandlerContext,
        _e: ActionTriggered,
    ) -> HandlerResult {
        self.0.handled("audit-log", ctx);
        Ok(())
    }
}

/// A consumer group that commits often: the demo stops as soon as everything is handled.
fn fast(group: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(group);
    config.commit_interval = Duration::from_millis(50);
    config.poll_timeout = Duration::from_millis(20);
    config
}

/// Rebuild one patient's chart from the embedded event store, with and without a snapshot.
async fn print_chart(
    store: &carebus::store::MemoryEventStore,
    expected: usize,
) -> Result<bool, Box<dyn std::error::Error>> {
    use carebus::store::{Repository, SnapshotPolicy, Upcasters};
    use carebus_examples::chart::PatientChart;
    let repo: Repository<_, PatientChart> = Repository::new(store.clone(), Upcasters::new())
        .with_snapshots(SnapshotPolicy::on_demand());
    let chart = repo.load("patient-00010").await?;
    repo.snapshot("patient-00010").await?;
    let again = repo.load("patient-00010").await?;
    println!();
    println!(
        "  event store (embedded): {} events in patient streams (expected {expected})",
        store.len()
    );
    println!(
        "  patient-00010 chart at version {}: registered={}, updates={}, language={:?}; reloaded from snapshot v{:?}: same state = {}",
        chart.version,
        chart.state.registered,
        chart.state.updates,
        chart.state.preferred_language,
        again.from_snapshot,
        again.state == chart.state
    );
    Ok(store.len() == expected
        && chart.state.registered
        && chart.state.updates == 1
        && again.state == chart.state)
}

/// The journeys' instances by state, and what the engine emitted.
async fn print_journeys(
    engine: &Engine<MemoryInstanceStore>,
    outbox: &MemoryEventStore,
    timers: usize,
) {
    use carebus::store::{EventFilter, EventStore};
    use std::collections::BTreeMap;
    let mut by_state: BTreeMap<(String, String), usize> = BTreeMap::new();
    for i in engine.store().instances().await {
        *by_state.entry((i.journey, i.state)).or_default() += 1;
    }
    println!();
    println!("  journeys (workflow engine, embedded; {timers} timers fired):");
    for ((journey, state), n) in &by_state {
        println!("  {journey:<24} {state:<28} {n:>6} instances");
    }
    let mut emitted: BTreeMap<String, usize> = BTreeMap::new();
    let events = outbox
        .read(&EventFilter::default(), Default::default(), usize::MAX)
        .await
        .unwrap_or_default();
    for e in &events {
        // The stored JSON is Avro's JSON encoding (`trigger` is a union); read it as plain JSON.
        let readable = e
            .data_json
            .as_ref()
            .filter(|_| e.event_type == "ActionTriggered")
            .and_then(|d| {
                carebus::json_legacy::readable(<ActionTriggered as carebus::DomainEvent>::SCHEMA, d)
                    .ok()
            });
        let what = match readable
            .as_ref()
            .and_then(|d| d["trigger"]["rule"].as_str())
        {
            Some(rule) if e.event_type == "ActionTriggered" => format!("ActionTriggered {rule}"),
            _ => e.event_type.clone(),
        };
        *emitted.entry(what).or_default() += 1;
    }
    for (what, n) in &emitted {
        println!("  emitted {what:<40} {n:>6}");
    }
}

/// The engine's events on the journeys topic (the audit log sees them; AnalysisRequested goes
/// to the AI topic).
async fn journey_events(outbox: &MemoryEventStore) -> Result<usize, Box<dyn std::error::Error>> {
    use carebus::store::{EventFilter, EventStore};
    Ok(outbox
        .read(&EventFilter::default(), Default::default(), usize::MAX)
        .await?
        .iter()
        .filter(|e| e.topic == <JourneysEvent as carebus::TopicEvents>::TOPIC)
        .count())
}

/// `platform-demo scenario [--patients N]`: the day driven through the HTTP APIs of the
/// processes `scripts/platform up` runs (see docs/services/platform.md); fails when something
/// it drove did not show up.
async fn scenario(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let patients = match args {
        [] => 20,
        [flag, n] if flag == "--patients" => n.parse().map_err(|_| {
            format!("--patients {n:?} is not a number: expected e.g. `scenario --patients 20`")
        })?,
        _ => return Err("usage: platform-demo scenario [--patients N] (default 20)".into()),
    };
    let config = carebus_examples::scenario::ScenarioConfig::from_env(patients)?;
    let report = carebus_examples::scenario::run(&config).await?;
    print!("{}", report.render());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("engine") {
        return carebus_examples::process::main(async {
            let config = carebus_examples::engine::EngineConfig::from_env()?;
            let transport = carebus_examples::process::kafka_transport()?;
            let report = carebus_examples::engine::run(config, transport).await?;
            eprintln!("workflow-engine stopped: {report:?}");
            Ok(())
        })
        .await
        .eq(&std::process::ExitCode::SUCCESS)
        .then_some(())
        .ok_or_else(|| "the workflow engine stopped with an error (above)".into());
    }
    if args.first().map(String::as_str) == Some("scenario") {
        if let Err(e) = scenario(&args[1..]).await {
            eprintln!("scenario: {e}");
            std::process::exit(1);
        }
        return Ok(());
    }
    let patients: usize = args.first().and_then(|n| n.parse().ok()).unwrap_or(500);
    let bus = Bus::new(BusConfig::default());
    for info in carebus_schemas::TOPICS {
        bus.create_topic(info.name, info.partitions);
    }
    // One service runner for the demo's services: one shared publisher, a consumer group per
    // service, graceful shutdown (a real deployment runs one `Service` per process).
    let mut platform = Service::new(
        "prm-service",
        bus.clone(),
        PublisherConfig {
            source: "prm-service".into(),
            ..PublisherConfig::default()
        },
    )?;
    let publisher = platform.publisher().clone();
    let summary = Arc::new(Summary::default());
    let store = carebus::store::MemoryEventStore::new();
    // The workflow engine runs the journeys of schemas/journeys/ embedded: instances in memory,
    // outgoing events in an in-memory outbox that a relay publishes to the bus. Its clock is
    // moved forward by hand below, so days-long reminders and SLAs come due at once.
    let clock = Arc::new(ShiftedClock::new());
    let outbox = MemoryEventStore::new();
    let engine = Engine::builder(MemoryInstanceStore::new(outbox.clone()))
        .journeys(journeys::new_patient_onboarding::journeys()?)
        .journeys(journeys::chronic_care::journeys()?)
        .journeys(journeys::referral_booking::journeys()?)
        .emits::<JourneysEvent>()
        .emits::<AiEvent>()
        .clock(clock.clone())
        .build()?;
    let (stop_relay, relay_stop) = Shutdown::channel();
    let relay = {
        let relay = OutboxRelay::new(outbox.clone(), Arc::new(bus.clone()), ENGINE_GROUP)
            .poll_interval(Duration::from_millis(10));
        let mut stop = relay_stop;
        tokio::spawn(async move { relay.run(async move { stop.wait().await }).await })
    };
    platform
        .consume(
            fast("event-store"),
            PatientsDispatcher(carebus_examples::chart::StoreWriter(store.clone())),
        )
        .consume(
            fast("fhir-service"),
            PatientsDispatcher(FhirSync(summary.clone())),
        )
        .consume(
            fast("realtime-service"),
            AppointmentsDispatcher(Reminders(summary.clone())),
        )
        .consume(fast(ENGINE_GROUP), engine.handler::<PatientsEvent>())
        .consume(fast(ENGINE_GROUP), engine.handler::<AppointmentsEvent>())
        .consume(fast(ENGINE_GROUP), engine.handler::<ClinicalEvent>())
        .consume(fast(ENGINE_GROUP), engine.handler::<AiEvent>())
        .consume(
            fast("ai-service"),
            AiDispatcher(clinic::AiService(publisher.clone())),
        )
        .consume(
            fast("booking-desk"),
            JourneysDispatcher(clinic::BookingDesk(publisher.clone())),
        )
        .consume(
            fast("audit-log"),
            JourneysDispatcher(JourneyAudit(summary.clone())),
        );
    let running = platform.start().await?;

    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Patients register first; their bookings follow once the engine has started their journeys
    // (events of two topics have no order with each other).
    let mut published = prm::register_patients(&publisher, patients).await?;
    while engine.store().instances().await.len() < patients && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    published += prm::run_front_desk(&publisher, patients, &summary).await?;
    // Wait until the engine is quiet, then let 3 days pass (booking reminders for the patients
    // whose appointment was cancelled), then 14 more (the booking SLA passes for them).
    let mut quiet = 0;
    while quiet < 10 && Instant::now() < deadline {
        let before = outbox.len();
        tokio::time::sleep(Duration::from_millis(20)).await;
        quiet = if outbox.len() == before { quiet + 1 } else { 0 };
    }
    // The clinic, once the front desk's events are through: diabetes patients enter the
    // chronic-care pathway (an HbA1c result each, which the AI service analyses); referred
    // patients enter the referral saga: the specialist appointment booked, the pre-visit labs
    // in, then the AI triage fails, so the saga undoes both steps (the booking desk confirms
    // the appointment's cancellation).
    published += clinic::record_diagnoses(&publisher, patients).await?;
    let referred = (0..patients)
        .filter(|n| clinic::referred_patient(*n))
        .count();
    let in_state = async |state: &str| {
        engine
            .store()
            .instances()
            .await
            .iter()
            .filter(|i| i.journey == "referral-booking" && i.state == state)
            .count()
    };
    while in_state("awaiting-booking").await < referred && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let booked = clinic::book_referrals(&publisher, patients).await?;
    summary.more_appointments(booked);
    published += booked;
    while in_state("awaiting-pre-visit-labs").await < referred && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    published += clinic::referral_labs(&publisher, patients).await?;
    let withdrawn = async || {
        engine
            .store()
            .instances()
            .await
            .iter()
            .filter(|i| i.journey == "referral-booking" && i.state == "withdrawn" && i.finished)
            .count()
    };
    while withdrawn().await < referred && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The booking desk's cancellations: reminders see them too.
    summary.more_appointments(referred);
    let mut quiet = 0;
    while quiet < 10 && Instant::now() < deadline {
        let before = outbox.len();
        tokio::time::sleep(Duration::from_millis(20)).await;
        quiet = if outbox.len() == before { quiet + 1 } else { 0 };
    }
    let mut timers = 0;
    for days in [3, 14] {
        clock.advance(Duration::from_secs(days * 86_400 + 1));
        timers += engine.fire_due_timers(usize::MAX).await?.len();
    }
    // Each patient leads to: FHIR sync (PatientCreated), reminders (appointments), audit (every
    // event the engine emitted).
    let mut expected = summary.expected_handled(patients, journey_events(&outbox).await?);
    while summary.total_handled() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        expected = summary.expected_handled(patients, journey_events(&outbox).await?);
    }
    let stored_expected = patients + patients.div_ceil(10);
    while store.len() < stored_expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    running.stop().await?;
    stop_relay.trigger();
    relay.await??;
    summary.print(published, expected, elapsed, &bus);
    let chart_ok = print_chart(&store, stored_expected).await?;
    print_journeys(&engine, &outbox, timers).await;
    if summary.total_handled() < expected || !summary.causation_ok() || !chart_ok {
        return Err("the demo did not see every event handled: see the summary above".into());
    }
    Ok(())
}
