//! The README's main job, run as a user runs it: the platform demo binary on the embedded bus exits 0 and prints its summary.

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
    assert!(stdout.contains("handled: 366 of 366 expected"), "{stdout}");
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
