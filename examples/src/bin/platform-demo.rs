//! The platform demo (the README's main job): a PRM service publishes patient and appointment events on the embedded bus; typed consumers (FHIR sync, reminders, the journey engine) handle them; a summary is printed.
//!
//! Runs with no servers: the in-process bus has Kafka's semantics (partitions by key, consumer
//! groups, committed offsets, redelivery), so the same handlers run unchanged on Kafka.

use carebus::bus::{Bus, BusConfig};
use carebus::{
    ConsumerConfig, HandlerContext, HandlerResult, PublishOptions, PublisherConfig, Service,
};
use carebus_examples::{prm, summary::Summary};
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

/// Workflow engine: every new patient starts an onboarding journey. The JourneyStarted event
/// it publishes carries the PatientCreated's correlation id, and its event id as causation.
/// It implements only the event it cares about: the other patient events are acknowledged by
/// the trait's default `unhandled`.
struct JourneyEngine<P> {
    summary: Arc<Summary>,
    publisher: P,
}

impl<P: carebus::Publish + 'static> PatientsHandler for JourneyEngine<P> {
    async fn on_patient_created(
        &self,
        ctx: &HandlerContext,
        event: PatientCreated,
    ) -> HandlerResult {
        self.summary.handled("workflow-engine", ctx);
        let journey = prm::onboarding_journey(&event.patient_id, ctx);
        self.publisher
            .publish_journey_started(journey, PublishOptions::default())
            .await?;
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let patients: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
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
        .consume(
            fast("workflow-engine"),
            PatientsDispatcher(JourneyEngine {
                summary: summary.clone(),
                publisher: publisher.clone(),
            }),
        )
        .consume(
            fast("audit-log"),
            JourneysDispatcher(JourneyAudit(summary.clone())),
        );
    let running = platform.start().await?;

    let started = Instant::now();
    let published = prm::run_front_desk(&publisher, patients, &summary).await?;
    // Each patient leads to: FHIR sync + workflow engine (PatientCreated), audit (JourneyStarted).
    let expected = summary.expected_handled(patients);
    let deadline = Instant::now() + Duration::from_secs(60);
    while summary.total_handled() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored_expected = patients + patients.div_ceil(10);
    while store.len() < stored_expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    running.stop().await?;
    summary.print(published, expected, elapsed, &bus);
    let chart_ok = print_chart(&store, stored_expected).await?;
    if summary.total_handled() < expected || !summary.causation_ok() || !chart_ok {
        return Err("the demo did not see every event handled: see the summary above".into());
    }
    Ok(())
}
