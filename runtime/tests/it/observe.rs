//! The observability endpoints: runtime metrics in Prometheus text on /metrics, /health, /ready.

use crate::common::*;
use carebus::bus::Bus;
use carebus::observe::{Health, Readiness, install_prometheus, serve};
use carebus::{PublishOptions, Publisher, PublisherConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[test]
fn metrics_health_and_readiness_are_served() {
    crate::common::in_own_process("observe::served_in_a_process_of_its_own");
}

#[tokio::test]
#[ignore = "run by metrics_health_and_readiness_are_served in a process of its own: the metrics recorder is process-wide"]
async fn served_in_a_process_of_its_own() {
    let handle = install_prometheus().unwrap();
    let readiness = Readiness::default();
    let server = serve(
        "127.0.0.1:0".parse().unwrap(),
        handle,
        readiness.clone(),
        Health::default(),
    )
    .await
    .unwrap();
    let bus = Bus::default();
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    for i in 0..3 {
        publisher
            .publish_event(PatientDischarged::new("p", i), PublishOptions::default())
            .await
            .unwrap();
    }
    // A consumer of those events counts and times what it handled, per topic.
    let recorder = crate::common::handlers::Recorder::ok();
    let running = carebus::testing::run_handler(&bus, "observed", recorder.clone());
    assert!(
        crate::common::handlers::eventually(std::time::Duration::from_secs(5), || recorder.count()
            == 3)
        .await
    );
    running.stop().await.unwrap();
    let metrics = get(server.local_addr(), "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for expected in [
        r#"carebus_published_total{topic="healthcare.wards.events"} 3"#,
        "carebus_publish_duration_seconds",
        r#"carebus_consumed_total{topic="healthcare.wards.events"} 3"#,
        "carebus_handle_duration_seconds",
    ] {
        assert!(metrics.contains(expected), "{expected} in {metrics}");
    }
    assert!(
        get(server.local_addr(), "/health")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        get(server.local_addr(), "/ready")
            .await
            .starts_with("HTTP/1.1 503")
    );
    readiness.set(true);
    assert!(
        get(server.local_addr(), "/ready")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        get(server.local_addr(), "/nope")
            .await
            .starts_with("HTTP/1.1 404")
    );
    server.stop().await;
}
