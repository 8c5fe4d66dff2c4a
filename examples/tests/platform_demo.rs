//! The README's main job, run as a user runs it: the platform demo binary on the embedded bus exits 0 and prints its summary, the three journeys' instances and what the engine emitted.

#[test]
fn the_platform_demo_runs_with_no_servers_and_sees_every_event() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_platform-demo"))
        .arg("60")
        .output()
        .expect("the demo binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // FHIR 66 + reminders 180 (+ 6 referral bookings, 6 cancellations) + the audit log's 390
    // journey events.
    assert!(stdout.contains("handled: 648 of 648 expected"), "{stdout}");
    // The onboarding journey: 48 patients completed their first appointment; the 12 whose
    // appointment was cancelled are back to booking, were reminded twice and breached the SLA.
    for line in [
        "new-patient-onboarding   awaiting-first-appointment       12 instances",
        "new-patient-onboarding   onboarded                        48 instances",
        "emitted ActionTriggered booking-reminder             24",
        // 48 onboarded, 6 referrals withdrawn.
        "emitted JourneyCompleted                             54",
        // Chronic care: 6 diabetes patients, HbA1c analysed; the 3 high-risk ones wait for
        // their follow-up booking (its 14-day SLA passes), the others are back to monitoring.
        "chronic-care             awaiting-hba1c                    3 instances",
        "chronic-care             follow-up-to-book                 3 instances",
        "emitted ActionTriggered diabetes-follow-up            3",
        // Referral saga: 6 referred patients, the specialist appointment booked and the
        // pre-visit labs in (two steps), the AI triage fails: both steps undone, newest first,
        // the booking desk confirming the cancellation.
        "referral-booking         withdrawn                         6 instances",
        "emitted ActionTriggered order-pre-visit-labs          6",
        "emitted ActionTriggered cancel-lab-follow-up          6",
        "emitted ActionTriggered cancel-specialist-appointment      6",
        "emitted AnalysisRequested                            12",
        // SLA breaches: 12 onboarding, 3 follow-up bookings.
        "emitted ActionTriggered sla-breached                 15",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    assert!(
        stdout.contains("causation chain PatientCreated → JourneyStarted intact: yes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("event store (embedded): 66 events in patient streams (expected 66)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Amara") && !stdout.contains("MRN-"),
        "no PHI in the demo's output"
    );
}
