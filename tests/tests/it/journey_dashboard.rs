//! The journey dashboard over a real PostgreSQL instance store: instances made by feeding the engine, the pages' HTML checked (states and counts, SLA compliance, stuck instances, one instance's history, 404s, escaping, no PHI), the instances gauge's counts, and each page opened in headless Chromium with a screenshot under target/journey-dashboard/.

use crate::journeys::{all_journeys, deactivated, engine, feed, scheduled};
use crate::store_support::{created, fresh_store};
use carebus::Uuid;
use carebus_journey::dashboard::Dashboard;
use carebus_journey::{InstanceStore, ShiftedClock, StateCount};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ONBOARDING: &str = "new-patient-onboarding";
const DAY: Duration = Duration::from_secs(86_400);

/// A GET over HTTP/1.0 (the answer ends with the connection): status and body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to the dashboard at {addr}: {e}"));
    s.write_all(format!("GET {path} HTTP/1.0\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status for {path}: {head}"));
    (status, body.to_string())
}

/// The text of cell `column` of the row of `state` in the table whose class is `table`
/// (the counts tables: of the onboarding journey).
fn cell(html: &str, table: &str, state: &str, column: usize) -> String {
    let open = match table {
        "counts" => format!("<table class=\"counts\" data-journey=\"{ONBOARDING}\">"),
        _ => format!("<table class=\"{table}\">"),
    };
    let t = html
        .split_once(&open)
        .unwrap_or_else(|| panic!("no {table} table in:\n{html}"))
        .1;
    let t = t.split_once("</table>").unwrap().0;
    let row = t
        .split_once(&format!("<tr data-state=\"{state}\">"))
        .unwrap_or_else(|| panic!("no row for {state} in the {table} table:\n{t}"))
        .1;
    let row = row.split_once("</tr>").unwrap().0;
    let cells: Vec<&str> = row
        .split("</td>")
        .filter_map(|c| c.rsplit_once('>').map(|(_, v)| v))
        .collect();
    cells[column].to_string()
}

/// Headless Chromium's screenshot of `url` into `png`.
fn screenshot(url: &str, png: &Path) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let profile = std::env::temp_dir().join(carebus_tests::unique_name("dash-chromium"));
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1400,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {chromium}: {e}; install it with `apt-get install -y chromium` or set CHROMIUM")
        });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes =
        std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        "{} is not a PNG of a rendered page ({} bytes)",
        png.display(),
        bytes.len()
    );
    println!("journey dashboard screenshot: {}", png.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_states_counts_sla_stuck_and_history() {
    let store = fresh_store("journey_dashboard").await;
    let clock = Arc::new(ShiftedClock::new());
    let engine = engine(&store, clock.clone(), all_journeys(), "unused");
    let odd = "dash-<b>4</b>";
    for p in ["dash-1", "dash-2", "dash-3", odd] {
        feed(&engine, &Uuid::new_v4().to_string(), &created(p)).await;
    }
    feed(&engine, &Uuid::new_v4().to_string(), &scheduled("dash-2")).await;
    feed(&engine, &Uuid::new_v4().to_string(), &deactivated("dash-3")).await;
    // The 14-day booking SLA passes for the two still waiting (their reminders fire too).
    clock.advance(15 * DAY);
    let fired = engine.fire_due_timers(1_000).await.unwrap();
    assert!(!fired.is_empty(), "the SLA and reminder timers fire");

    let counts = engine.refresh_instance_gauges().await.unwrap();
    for (state, n) in [
        ("awaiting-first-appointment", 2),
        ("first-appointment-booked", 1),
        ("cancelled", 1),
    ] {
        assert!(
            counts.contains(&StateCount {
                journey: ONBOARDING.into(),
                state: state.into(),
                count: n
            }),
            "{state}: {counts:?}"
        );
    }

    let (addr, server) = Dashboard::new(engine.clone())
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("the dashboard listens");
    let addr = addr.to_string();

    // Every journey, its diagram and its counts.
    let (status, index) = get(&addr, "/journeys").await;
    assert_eq!(status, 200, "{index}");
    for title in ["New patient onboarding", "chronic-care", "referral-booking"] {
        assert!(index.contains(title), "{title} missing:\n{index}");
    }
    assert_eq!(index.matches("<svg").count(), 3, "one diagram per journey");
    assert_eq!(cell(&index, "counts", "awaiting-first-appointment", 3), "2");
    assert_eq!(cell(&index, "counts", "first-appointment-booked", 3), "1");
    assert_eq!(cell(&index, "counts", "onboarded", 3), "0");

    // One journey: SLA compliance, stuck instances.
    let (status, page) = get(&addr, &format!("/journeys/{ONBOARDING}")).await;
    assert_eq!(status, 200, "{page}");
    // Entered 4 times (4 registrations; reminders re-entering the state do not count),
    // breached twice.
    assert_eq!(cell(&page, "sla", "awaiting-first-appointment", 2), "4");
    assert_eq!(cell(&page, "sla", "awaiting-first-appointment", 3), "2");
    assert_eq!(cell(&page, "sla", "awaiting-first-appointment", 4), "2");
    assert_eq!(
        cell(&page, "sla", "awaiting-first-appointment", 5),
        "50.0 %"
    );
    let stuck = page
        .split_once("<h3>Stuck</h3>")
        .unwrap()
        .1
        .split_once("<h3>")
        .unwrap()
        .0;
    assert_eq!(stuck.matches("past SLA").count(), 2, "{stuck}");
    assert!(
        stuck.contains("dash-1") && stuck.contains("dash-&lt;b&gt;4&lt;/b&gt;"),
        "{stuck}"
    );
    assert!(
        !stuck.contains("dash-3"),
        "a finished instance is not stuck: {stuck}"
    );
    assert!(
        page.contains("No instance is undoing saga steps or parked."),
        "{page}"
    );

    // One instance and its history.
    let instance = engine
        .store()
        .instance(ONBOARDING, "dash-1")
        .await
        .unwrap()
        .expect("dash-1's instance");
    let path = format!("/journeys/{ONBOARDING}/instances/{}", instance.id);
    assert!(
        stuck.contains(&path),
        "stuck rows link the instance page: {stuck}"
    );
    let (status, detail) = get(&addr, &path).await;
    assert_eq!(status, 200, "{detail}");
    let history = detail.split_once("class=\"history\"").unwrap().1;
    for row in [
        "<td>started</td><td>PatientCreated</td><td></td><td>awaiting-first-appointment</td>",
        "<td>sla-breached</td><td>timer:sla:awaiting-first-appointment</td><td>awaiting-first-appointment</td>",
        "<td>transition</td><td>timer:booking-reminder</td>",
    ] {
        assert!(history.contains(row), "{row} missing:\n{history}");
    }
    assert!(
        detail.contains("booking-reminder"),
        "pending timer shown: {detail}"
    );

    // Unknown things are 404 pages, not errors.
    for missing in [
        format!("/journeys/{ONBOARDING}/instances/{}", Uuid::new_v4()),
        format!("/journeys/{ONBOARDING}/instances/not-a-uuid"),
        "/journeys/no-such-journey".to_string(),
        format!("/journeys/no-such-journey/instances/{}", instance.id),
    ] {
        let (status, body) = get(&addr, &missing).await;
        assert_eq!(status, 404, "{missing}: {body}");
    }

    // Names and opaque ids only: the escaped key, never markup from data or PHI.
    let odd_instance = engine
        .store()
        .instance(ONBOARDING, odd)
        .await
        .unwrap()
        .unwrap();
    let (_, odd_page) = get(
        &addr,
        &format!("/journeys/{ONBOARDING}/instances/{}", odd_instance.id),
    )
    .await;
    for html in [&index, &page, &detail, &odd_page] {
        assert!(!html.contains("<b>4</b>"), "unescaped key:\n{html}");
        for phi in ["Jordan", "Rivera", "1980-01-02"] {
            assert!(!html.contains(phi), "PHI {phi} on a page:\n{html}");
        }
    }

    // What a person sees: each page in headless Chromium.
    let dir = carebus_tests::repo_root().join("target/journey-dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    let shots: [(&str, PathBuf); 3] = [
        ("/journeys", dir.join("journeys.png")),
        (
            &format!("/journeys/{ONBOARDING}"),
            dir.join("new-patient-onboarding.png"),
        ),
        (&path, dir.join("instance.png")),
    ];
    for (page, png) in &shots {
        let url = format!("http://{addr}{page}");
        let png = png.clone();
        tokio::task::spawn_blocking(move || screenshot(&url, &png))
            .await
            .unwrap();
    }
    server.abort();
}
