//! Monitoring end to end: a carebus service on the 3-node cluster, registered as a Prometheus target, in; what Prometheus's query API answers (publish rate, consumer lag, a broker metric from the JMX exporter), `/health` and `/ready`, and promtool's verdicts on the alert rules and the `/metrics` text out.

use crate::kafka_support::{create_topic, subscribe, transport};
use carebus::observe::{Health, Readiness, install_prometheus, serve};
use carebus::{
    ConsumerConfig, HandlerContext, HandlerResult, PublishOptions, PublisherConfig, Service,
    TopicHandler,
};
use carebus_schemas::PatientsEvent;
use carebus_tests::{database_url, kafka_cluster_bootstrap, repo_root, unique_name};
use serde_json::Value;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long Prometheus may take to scrape and show a series (it scrapes every 2 s).
const WAIT: Duration = Duration::from_secs(90);

/// A GET over HTTP/1.0 (the answer ends with the connection, never chunked): status and body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
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
        .unwrap_or_else(|| panic!("no HTTP status from {addr}{path}: {head}"));
    (status, body.to_string())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The samples an instant query answers: each series' labels and value.
async fn query(prometheus: &str, promql: &str) -> Vec<(Value, f64)> {
    let (status, body) = get(
        prometheus,
        &format!("/api/v1/query?query={}", encode(promql)),
    )
    .await;
    assert_eq!(status, 200, "Prometheus refused {promql}: {body}");
    let answer = json(&body);
    answer["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result array for {promql}: {body}"))
        .iter()
        .map(|s| {
            let value = s["value"][1].as_str().and_then(|v| v.parse().ok());
            (s["metric"].clone(), value.unwrap_or(f64::NAN))
        })
        .collect()
}

/// Query until `promql` answers at least one sample; what it answered then.
async fn until_answered(prometheus: &str, promql: &str, what: &str) -> Vec<(Value, f64)> {
    let until = Instant::now() + WAIT;
    loop {
        let samples = query(prometheus, promql).await;
        if !samples.is_empty() {
            return samples;
        }
        assert!(
            Instant::now() < until,
            "Prometheus showed no {what} within {WAIT:?} (query: {promql})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Poll `/ready` until `accept` takes its status and body; the body then.
async fn ready_when(endpoint: &str, what: &str, accept: impl Fn(u16, &Value) -> bool) -> Value {
    let until = Instant::now() + WAIT;
    loop {
        let (status, body) = get(endpoint, "/ready").await;
        let body = json(&body);
        if accept(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < until,
            "/ready did not show {what} within {WAIT:?}; last answer {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Counts the events it handles.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl TopicHandler for Counting {
    type Events = PatientsEvent;
    async fn handle(&self, _: &HandlerContext, _: PatientsEvent) -> HandlerResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A file_sd target file Prometheus reads; removed when dropped.
struct Target(PathBuf);

impl Target {
    fn register(dir: &Path, name: &str, endpoint: SocketAddr) -> Target {
        let path = dir.join(format!("{name}.json"));
        let targets = serde_json::json!([{
            "targets": [endpoint.to_string()],
            "labels": { "test": name },
        }]);
        std::fs::write(&path, targets.to_string())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        Target(path)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `promtool` with `args`, `input` on its stdin: whether it passed, and what it printed.
fn promtool(args: &[&str], input: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install it with `scripts/services up monitoring` \
                 (Debian's prometheus package)"
            )
        });
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn alert_rules_pass_promtool_checks_and_unit_tests() {
    let (ok, out) = promtool(
        &["check", "rules", "ops/prometheus/carebus-rules.yml"],
        None,
    );
    assert!(ok, "promtool check rules:\n{out}");
    assert!(out.contains("9 rules found"), "{out}");
    let (ok, out) = promtool(
        &["test", "rules", "ops/prometheus/carebus-rules.test.yml"],
        None,
    );
    assert!(ok, "promtool test rules:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn prometheus_scrapes_a_carebus_service_and_the_brokers() {
    // The metrics recorder is process-wide: in a process of its own, /metrics holds only what
    // this test recorded.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "monitoring::scraped_in_a_process_of_its_own",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "in its own process: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by prometheus_scrapes_a_carebus_service_and_the_brokers in a process of its own"]
async fn scraped_in_a_process_of_its_own() {
    let prometheus = carebus_tests::prometheus_address();
    let targets = carebus_tests::prometheus_targets();
    let bootstrap = kafka_cluster_bootstrap();
    let database = database_url();
    let topic = unique_name("monitoring");
    let group = unique_name("monitoring_group");
    create_topic(&bootstrap, &topic, 3, 3).await;

    let kafka = transport(&bootstrap);
    let health = Health::default()
        .kafka("kafka", &kafka)
        .postgres("database", &database)
        .unwrap();
    let mut service = Service::new("monitoring-test", kafka, PublisherConfig::default()).unwrap();
    let mut config = ConsumerConfig::new(&group);
    config.topics = vec![topic.clone()];
    let handled = Counting::default();
    service
        .consume(config, handled.clone())
        .serve_endpoint("127.0.0.1:0".parse().unwrap())
        .health(health);
    let running = service.start().await.unwrap();
    let endpoint = running.endpoint().unwrap().to_string();

    // Ready once the group assigned the consumer the topic's three partitions.
    let ready = ready_when(&endpoint, "three partitions assigned", |status, body| {
        status == 200 && body["groups"][&group]["assigned_partitions"] == 3
    })
    .await;
    assert_eq!(ready["ready"], true, "{ready}");
    let (status, body) = get(&endpoint, "/health").await;
    assert_eq!(status, 200, "{body}");
    let health = json(&body);
    assert_eq!(health["failed"], serde_json::json!([]), "{health}");
    assert_eq!(
        health["checks"].as_array().map(Vec::len),
        Some(2),
        "{health}"
    );

    // Publish steadily while Prometheus scrapes.
    let publishing = Arc::new(AtomicBool::new(true));
    let publisher = running.publisher().clone();
    let publisher_task = {
        let (publishing, topic) = (publishing.clone(), topic.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while publishing.load(Ordering::Relaxed) {
                let mut record = publisher
                    .prepare(&carebus_tests::bench_event(i), PublishOptions::default())
                    .unwrap();
                record.topic = topic.clone();
                publisher.send_prepared(record).await.unwrap();
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            i
        })
    };
    let _target = Target::register(&targets, &topic, running.endpoint().unwrap());

    let up = until_answered(
        &prometheus,
        &format!(r#"up{{job="carebus",test="{topic}"}} == 1"#),
        "the service as a healthy target",
    )
    .await;
    assert_eq!(up.len(), 1, "{up:?}");
    let rate = until_answered(
        &prometheus,
        &format!(
            r#"sum(rate(carebus_published_total{{topic="{topic}",test="{topic}"}}[10s])) > 0"#
        ),
        "a publish rate",
    )
    .await;
    println!("publish rate seen by Prometheus: {:.1} events/s", rate[0].1);
    let lag = until_answered(
        &prometheus,
        &format!(r#"carebus_consumer_lag{{topic="{topic}",test="{topic}"}}"#),
        "the consumer lag of the service's partitions",
    )
    .await;
    assert!(
        lag.iter()
            .all(|(labels, value)| labels["partition"].is_string() && *value >= 0.0),
        "{lag:?}"
    );
    let messages_in = until_answered(
        &prometheus,
        &format!(
            r#"sum(kafka_server_brokertopicmetrics_messagesinpersec_total{{job="kafka",topic="{topic}"}}) > 0"#
        ),
        "the brokers' MessagesInPerSec of the topic (JMX exporter; are the brokers started with it? \
         `scripts/services down cluster && scripts/services up cluster`)",
    )
    .await;
    println!("messages in per the brokers: {}", messages_in[0].1);
    let controllers = until_answered(
        &prometheus,
        r#"sum(kafka_controller_kafkacontroller_activecontrollercount{kafka_cluster="cluster"})"#,
        "the cluster's active controller count",
    )
    .await;
    assert_eq!(controllers[0].1, 1.0, "{controllers:?}");

    // /metrics is valid Prometheus text with help on every family.
    let (status, metrics) = get(&endpoint, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains(&format!(r#"carebus_published_total{{topic="{topic}"}}"#)));
    let (ok, out) = promtool(&["check", "metrics"], Some(&metrics));
    assert!(
        ok,
        "promtool check metrics:\n{out}\n--- the text:\n{metrics}"
    );

    // Another member joins the group: partitions revoked from the service show on /ready.
    let other = Arc::new(subscribe(&transport(&bootstrap), &group, &topic).await);
    let polling = Arc::new(AtomicBool::new(true));
    let poller = {
        let (other, polling) = (other.clone(), polling.clone());
        tokio::spawn(async move {
            while polling.load(Ordering::Relaxed) {
                let _ = other.poll(Duration::from_millis(200)).await;
            }
        })
    };
    let shared = ready_when(&endpoint, "partitions revoked", |_, body| {
        body["groups"][&group]["assigned_partitions"]
            .as_u64()
            .is_some_and(|n| n < 3)
    })
    .await;
    println!("/ready with a second member: {shared}");
    polling.store(false, Ordering::Relaxed);
    poller.await.unwrap();
    other.close().await.unwrap();
    ready_when(&endpoint, "all partitions back", |status, body| {
        status == 200 && body["groups"][&group]["assigned_partitions"] == 3
    })
    .await;

    publishing.store(false, Ordering::Relaxed);
    let published = publisher_task.await.unwrap();
    assert!(published > 0);
    assert!(handled.0.load(Ordering::Relaxed) > 0);
    running.stop().await.unwrap();

    // /health names the database it cannot reach (and never the password in its URL).
    let unreachable = "postgres://carebus:not-this-password@127.0.0.1:1/carebus_test";
    let health = Health::default()
        .kafka("kafka", &transport(&bootstrap))
        .postgres("database", unreachable)
        .unwrap();
    let server = serve(
        "127.0.0.1:0".parse().unwrap(),
        install_prometheus().unwrap(),
        Readiness::default(),
        health,
    )
    .await
    .unwrap();
    let (status, body) = get(&server.local_addr().to_string(), "/health").await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.contains("not-this-password"), "{body}");
    let health = json(&body);
    assert_eq!(
        health["failed"],
        serde_json::json!(["database"]),
        "{health}"
    );
    assert_eq!(health["status"], "failing");
    // /ready of a server never started: 503.
    let (status, body) = get(&server.local_addr().to_string(), "/ready").await;
    assert_eq!(status, 503, "{body}");
    server.stop().await;
}

#[test]
fn generated_dashboards_round_trip_through_grafanas_dashboard_model() {
    let model = carebus_codegen::load::load_dir(&repo_root().join("schemas"))
        .unwrap_or_else(|d| panic!("the schemas have errors:\n{d}"));
    let dir = repo_root().join("target").join(unique_name("dashboards"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for d in carebus_catalog::dashboards::dashboards(&model) {
        let path = dir.join(format!("{}.json", d.uid));
        std::fs::write(&path, serde_json::to_string_pretty(&d.json).unwrap()).unwrap();
        files.push(path.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = carebus_tests::run_python("check_dashboards.py", &args);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        out.lines().filter(|l| l.ends_with(" panels, ok")).count(),
        5,
        "{out}"
    );
    for uid in [
        "cluster-health",
        "topic-rates",
        "group-lag",
        "error-trend",
        "sla",
    ] {
        assert!(out.contains(&format!("carebus-{uid}.json")), "{uid}: {out}");
    }
    assert!(!out.contains("DIFFERS"), "{out}");
}
