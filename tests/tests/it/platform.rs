//! `scripts/platform up`, a five-patient scenario and `scripts/platform down` turned into assertions on what each service process (and the workflow engine) did, on the local Kafka and PostgreSQL.

use carebus_examples::scenario::{ScenarioConfig, abnormal_lab, run};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const PATIENTS: usize = 5;

/// A port nothing listens on now (the kernel's choice), for one service address.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// `target/<profile>`, where `cargo test --workspace` puts the service binaries.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_path_buf();
    for bin in [
        "prm-service",
        "fhir-service",
        "ai-service",
        "realtime-service",
        "platform-demo",
        "carebus-topics",
    ] {
        assert!(
            dir.join(bin).exists(),
            "{} is missing: build the binaries with `cargo build -p carebus-examples -p carebus-cli --bins` \
             (`cargo test --workspace` builds them)",
            dir.join(bin).display()
        );
    }
    dir
}

struct Platform {
    env: Vec<(String, String)>,
    script: PathBuf,
}

impl Platform {
    fn run(&self, command: &str) -> Output {
        Command::new(&self.script)
            .arg(command)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run scripts/platform")
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        // A failed assertion must not leave the processes running.
        let _ = self.run("down");
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_runs_as_processes_and_the_scenario_sees_every_effect() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let database = carebus_tests::database_url();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .to_path_buf();
    let run_name = carebus_tests::unique_name("platform");
    let dir = repo.join("target").join("platform-test").join(&run_name);
    let key = format!("{:032x}{:032x}", fastrand::u128(..), fastrand::u128(..));
    let (prm, fhir, realtime) = (free_port(), free_port(), free_port());
    let dashboard = free_port();
    let endpoints = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let mut env: Vec<(String, String)> = vec![
        ("CAREBUS_KAFKA_BOOTSTRAP".into(), bootstrap),
        ("CAREBUS_DATABASE_URL".into(), database.clone()),
        ("CAREBUS_PLATFORM_DIR".into(), dir.display().to_string()),
        ("CAREBUS_PLATFORM_BUILD".into(), "0".into()),
        (
            "CAREBUS_PLATFORM_BIN_DIR".into(),
            bin_dir().display().to_string(),
        ),
        ("CAREBUS_PLATFORM_STOP_TIMEOUT".into(), "10".into()),
        ("CAREBUS_REALTIME_TOKEN_KEY".into(), key.clone()),
        ("CAREBUS_PRM_LISTEN".into(), prm.to_string()),
        ("CAREBUS_FHIR_LISTEN".into(), fhir.to_string()),
        ("CAREBUS_REALTIME_LISTEN".into(), realtime.to_string()),
        ("CAREBUS_PRM_ENDPOINT".into(), endpoints[0].to_string()),
        ("CAREBUS_FHIR_ENDPOINT".into(), endpoints[1].to_string()),
        ("CAREBUS_AI_ENDPOINT".into(), endpoints[2].to_string()),
        ("CAREBUS_REALTIME_ENDPOINT".into(), endpoints[3].to_string()),
        ("CAREBUS_ENGINE_ENDPOINT".into(), endpoints[4].to_string()),
        ("CAREBUS_ENGINE_DASHBOARD".into(), dashboard.to_string()),
        ("RUST_LOG".into(), "warn".into()),
        // The fresh groups start at the log end: earlier runs' events are not this run's.
        // `up` returns once every group has its partitions (`/ready`), so nothing is missed.
        ("CAREBUS_CONSUMER_OFFSET_RESET".into(), "latest".into()),
    ];
    // Fresh schemas and consumer groups: this run's services share nothing with another run's.
    let mut schemas = Vec::new();
    for service in ["PRM", "FHIR", "AI", "REALTIME", "ENGINE"] {
        let name = format!("{run_name}_{}", service.to_lowercase());
        env.push((format!("CAREBUS_{service}_GROUP"), name.clone()));
        if service != "REALTIME" {
            env.push((format!("CAREBUS_{service}_DB_SCHEMA"), name.clone()));
            schemas.push(name);
        }
    }
    let platform = Platform {
        env,
        script: repo.join("scripts").join("platform"),
    };

    let up = platform.run("up");
    assert!(
        up.status.success(),
        "scripts/platform up failed:\n{}",
        text(&up)
    );
    let status = platform.run("status");
    let shown = text(&status);
    assert!(status.status.success(), "status after up:\n{shown}");
    for service in [
        "prm-service",
        "fhir-service",
        "ai-service",
        "realtime-service",
        "workflow-engine",
    ] {
        assert!(
            shown
                .lines()
                .any(|l| l.starts_with(service) && l.contains(" ready ")),
            "{service} ready in:\n{shown}"
        );
    }

    let config = ScenarioConfig {
        patients: PATIENTS,
        concurrency: 5,
        prm,
        fhir,
        realtime,
        endpoints: vec![
            ("prm-service", endpoints[0]),
            ("fhir-service", endpoints[1]),
            ("ai-service", endpoints[2]),
            ("realtime-service", endpoints[3]),
        ],
        engine: Some(endpoints[4]),
        token_key: key.into_bytes(),
        timeout: Duration::from_secs(20),
    };
    let report = run(&config).await.expect("the scenario");
    println!("{}", report.render());
    let alerts = (0..PATIENTS).filter(|n| abnormal_lab(*n)).count();
    assert_eq!(report.registered, PATIENTS);
    assert_eq!(report.fhir_patients, PATIENTS);
    assert_eq!(report.booked, PATIENTS);
    // Patients 0..5: completed 0, 3, 4; cancelled 1; missed 2.
    let counts = |pairs: &[(&str, usize)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        report.visits,
        counts(&[("cancelled", 1), ("completed", 3), ("missed", 1)])
    );
    assert_eq!(
        report.fhir_appointments,
        counts(&[("booked", 1), ("cancelled", 1), ("fulfilled", 3)])
    );
    assert_eq!(report.observations_posted, PATIENTS * 6);
    assert_eq!(report.observations_visible, PATIENTS * 6);
    assert_eq!(
        report.foreign_notifications, 0,
        "a client saw another patient's notification"
    );
    assert_eq!(
        report.notifications.get("appointment_reminder"),
        Some(&PATIENTS)
    );
    assert_eq!(report.notifications.get("appointment_cancelled"), Some(&1));
    assert_eq!(report.notifications.get("lab_result_alert"), Some(&alerts));
    // The onboarding journey welcomed every patient (one SEND_EMAIL action each).
    assert!(report.engine, "the workflow engine answered");
    assert_eq!(report.notifications.get("journey_action"), Some(&PATIENTS));
    // prm-service relayed exactly the accepted commands' events: 5 registrations, 5 bookings,
    // 4 confirmations, 3 completions, 1 cancellation.
    let handled = |service: &str, metric: &str| -> f64 {
        report
            .handled
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, moved)| {
                moved
                    .iter()
                    .filter(|(k, _)| k.starts_with(metric))
                    .map(|(_, v)| v)
                    .sum()
            })
            .unwrap_or(0.0)
    };
    assert_eq!(
        handled("prm-service", "carebus_store_outbox_relayed_total"),
        18.0
    );
    assert_eq!(
        handled("fhir-service", "carebus_fhir_events_total"),
        (18 + PATIENTS * 6) as f64,
        "every patient, appointment and clinical event applied once"
    );

    // Every patient started the onboarding journey; the 3 completed visits finished it (the
    // cancelled one went back to waiting for a booking, the missed one waits for the visit).
    assert_eq!(
        handled("workflow-engine", "carebus_journey_started_total"),
        PATIENTS as f64
    );
    assert_eq!(
        handled("workflow-engine", "carebus_journey_finished_total"),
        3.0
    );

    // The engine process serves the journey dashboard, counting this run's instances.
    let page = {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(dashboard).expect("the journey dashboard");
        conn.write_all(b"GET /journeys/new-patient-onboarding HTTP/1.0\r\nHost: engine\r\n\r\n")
            .unwrap();
        let mut page = String::new();
        conn.read_to_string(&mut page).unwrap();
        page
    };
    assert!(page.starts_with("HTTP/1.0 200"), "{page}");
    assert!(page.contains("awaiting-first-appointment"), "{page}");
    assert!(page.contains("<svg"), "the state diagram: {page}");

    let down = platform.run("down");
    assert!(
        down.status.success(),
        "scripts/platform down:\n{}",
        text(&down)
    );
    let after = platform.run("status");
    assert!(
        !after.status.success(),
        "status after down:\n{}",
        text(&after)
    );
    let stopped = text(&after);
    assert_eq!(
        stopped.lines().filter(|l| l.contains(" down ")).count(),
        5,
        "every service down:\n{stopped}"
    );
    for service in [
        "prm-service",
        "fhir-service",
        "ai-service",
        "realtime-service",
        "workflow-engine",
    ] {
        let log =
            std::fs::read_to_string(dir.join(format!("{service}.log"))).expect("the service's log");
        assert!(
            log.contains(&format!("{service} stopped")),
            "{service} stopped gracefully on SIGTERM:\n{log}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let admin = sqlx::PgPool::connect(&database)
        .await
        .expect("connect to drop the run's schemas");
    for schema in schemas {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("drop schema {schema}: {e}"));
    }
}
