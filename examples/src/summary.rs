//! What the demo's consumers saw, turned into the summary table the demo prints.

use carebus::HandlerContext;
use carebus::bus::Bus;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counters shared by the demo's handlers.
#[derive(Default)]
pub struct Summary {
    handled: Mutex<BTreeMap<(String, String), usize>>,
    partitions: Mutex<BTreeMap<String, BTreeSet<i32>>>,
    patients: Mutex<BTreeSet<String>>,
    total: AtomicUsize,
    updates: AtomicUsize,
    causation_checked: AtomicUsize,
    causation_broken: AtomicUsize,
    /// Appointment events published besides the front desk's (the referral desk's).
    more_appointments: AtomicUsize,
}

impl Summary {
    /// One event handled by `service`.
    pub fn handled(&self, service: &str, ctx: &HandlerContext) {
        let mut h = self.handled.lock().unwrap_or_else(|p| p.into_inner());
        *h.entry((service.to_string(), ctx.event_type().to_owned()))
            .or_default() += 1;
        drop(h);
        self.partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(ctx.topic().to_owned())
            .or_default()
            .insert(ctx.partition);
        self.total.fetch_add(1, Ordering::SeqCst);
    }

    pub fn remember_patient(&self, id: &str) {
        self.patients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string());
    }

    pub fn updated(&self) {
        self.updates.fetch_add(1, Ordering::SeqCst);
    }

    /// A JourneyStarted must name its cause (the PatientCreated's id) and keep the correlation.
    pub fn check_causation(&self, ctx: &HandlerContext) {
        self.causation_checked.fetch_add(1, Ordering::SeqCst);
        let ok = ctx
            .causation_id()
            .is_some_and(|c| !c.is_empty() && c != ctx.event_id())
            && ctx
                .correlation_id()
                .is_some_and(|c| c.starts_with("request-"))
            && ctx.tenant_id().is_some();
        if !ok {
            self.causation_broken.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn causation_ok(&self) -> bool {
        self.causation_broken.load(Ordering::SeqCst) == 0
            && self.causation_checked.load(Ordering::SeqCst) > 0
    }

    pub fn total_handled(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Handler calls expected for `patients` patients: FHIR sync sees every patient event,
    /// reminders every appointment event (3 each), the audit log every event the journey
    /// engine emitted (`journey_events`).
    pub fn expected_handled(&self, patients: usize, journey_events: usize) -> usize {
        let updates = self.updates.load(Ordering::SeqCst);
        let more = self.more_appointments.load(Ordering::SeqCst);
        (patients + updates) + 3 * patients + more + journey_events
    }

    /// `n` appointment events published besides the front desk's: reminders see them too.
    pub fn more_appointments(&self, n: usize) {
        self.more_appointments.fetch_add(n, Ordering::SeqCst);
    }

    /// Print the table.
    pub fn print(&self, published: usize, expected: usize, elapsed: Duration, bus: &Bus) {
        let total = self.total_handled();
        println!("carebus platform demo — embedded bus, no servers");
        println!(
            "  published by prm-service: {published} events; journeys started by the workflow engine: {}",
            self.handled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&("audit-log".to_string(), "JourneyStarted".to_string()))
                .copied()
                .unwrap_or(0)
        );
        println!(
            "  handled: {total} of {expected} expected in {:.2} s ({:.0} handler calls/s)",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        println!();
        println!("  {:<18} {:<22} {:>8}", "service", "event", "handled");
        for ((service, event), n) in self
            .handled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            println!("  {service:<18} {event:<22} {n:>8}");
        }
        println!();
        for (topic, parts) in self
            .partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let records: usize = bus.topic_records(topic).len();
            println!(
                "  {topic:<34} {records:>6} records over {} partitions (key = aggregate id)",
                parts.len()
            );
        }
        println!(
            "  distinct patients mirrored by fhir-service: {}",
            self.patients
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len()
        );
        println!(
            "  causation chain PatientCreated → JourneyStarted intact: {}",
            if self.causation_ok() { "yes" } else { "NO" }
        );
        let sample = crate::prm::new_patient(0);
        println!("  PHI stays out of logs: {:?}", sample.first_name);
    }
}
