//! `carebus-topics` against the one-broker test cluster: the repository's topics (replication factor 3) are refused with a non-zero exit naming the live broker count, and created only when under-replication is explicitly allowed.

use carebus_tests::kafka_bootstrap;
use std::process::{Command, Output};

fn topics(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carebus-topics"))
        .args(["--bootstrap", &kafka_bootstrap()])
        .args(args)
        .output()
        .expect("carebus-topics runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn under_replicated_topics_are_refused_unless_allowed() {
    let listed = topics(&["list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(
        text(&listed).contains("healthcare.patients.events\t12 partitions\treplication factor 3"),
        "{}",
        text(&listed)
    );

    for command in ["plan", "apply"] {
        let out = topics(&[command]);
        assert_eq!(out.status.code(), Some(1), "{command}: {}", text(&out));
        assert!(
            text(&out).contains("1 live broker(s)")
                && text(&out).contains("--allow-under-replicated"),
            "{command}: {}",
            text(&out)
        );
    }

    let allowed = topics(&["apply", "--allow-under-replicated"]);
    assert!(allowed.status.success(), "{}", text(&allowed));
    let again = topics(&["plan", "--allow-under-replicated"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "after apply, plan has nothing to change: {}",
        text(&again)
    );
    assert!(text(&again).contains("clamped to 1"), "{}", text(&again));

    // A group's lag from outside it: a group that never committed has "-" on every partition.
    let group = carebus_tests::unique_name("cli-lag");
    let lag = topics(&[
        "lag",
        "--group",
        &group,
        "--topic",
        "healthcare.patients.events",
    ]);
    assert!(lag.status.success(), "{}", text(&lag));
    let out = text(&lag);
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("healthcare.patients.events\t"))
        .collect();
    assert_eq!(rows.len(), 12, "{out}");
    assert!(
        rows.iter().all(|r| r.split('\t').nth(2) == Some("-")),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap_or("").starts_with("total lag "),
        "{out}"
    );
}
