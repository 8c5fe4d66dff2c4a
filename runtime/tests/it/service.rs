//! The production runner: one `Service` with one shared publisher, two consumer groups and the observability endpoint, started, ready, stopped gracefully with a report per group.

use crate::common::handlers::{Recorder, eventually};
use crate::common::scenarios::{SECS5, fast, publish_discharges};
use crate::common::*;
use carebus::bus::Bus;
use carebus::{PublisherConfig, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn status(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.lines().next().unwrap_or_default().to_string()
}

/// Wait until `/ready` answers 200: every consumer has its partitions assigned.
async fn until_ready(addr: std::net::SocketAddr) {
    let until = tokio::time::Instant::now() + SECS5;
    while status(addr, "/ready").await != "HTTP/1.1 200 OK" {
        assert!(
            tokio::time::Instant::now() < until,
            "not ready within {SECS5:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_service_runs_its_consumers_on_one_publisher_and_stops_them_gracefully() {
    let bus = Bus::default();
    bus.create_topic(TOPIC, 3);
    let mut service =
        Service::new("ward-service", bus.clone(), PublisherConfig::default()).unwrap();
    let (billing, census) = (Recorder::ok(), Recorder::ok());
    service
        .consume(fast("billing"), billing.clone())
        .consume(fast("census"), census.clone())
        .serve_endpoint("127.0.0.1:0".parse().unwrap());
    let running = service.start().await.unwrap();
    let endpoint = running.endpoint().expect("the endpoint is served");
    until_ready(endpoint).await;
    assert_eq!(status(endpoint, "/health").await, "HTTP/1.1 200 OK");

    publish_discharges(running.publisher(), 30, 5).await;
    assert!(eventually(SECS5, || billing.count() == 30 && census.count() == 30).await);
    let source = billing.seen()[0].0.source().map(str::to_owned);
    assert_eq!(
        source.as_deref(),
        Some("ward-service"),
        "the service's name is its events' source"
    );

    let report = running.stop().await.unwrap();
    let groups: Vec<(&str, u64, usize)> = report
        .consumers
        .iter()
        .map(|(g, r)| (g.as_str(), r.finished, r.unfinished))
        .collect();
    assert_eq!(groups, [("billing", 30, 0), ("census", 30, 0)]);
    for group in ["billing", "census"] {
        let committed: i64 = (0..3)
            .filter_map(|p| bus.committed_offset(group, TOPIC, p))
            .sum();
        assert_eq!(committed, 30, "{group} committed everything it handled");
    }
    assert!(
        tokio::net::TcpStream::connect(endpoint).await.is_err(),
        "the endpoint is closed after stop"
    );
}

/// A consumer that stops on its own (here its handler panics) makes the service not ready at
/// once, and the service's run ends with that consumer's error instead of waiting for a signal.
#[tokio::test]
async fn a_consumer_that_dies_makes_the_service_not_ready_and_ends_its_run() {
    let bus = Bus::default();
    bus.create_topic(TOPIC, 1);
    let mut service =
        Service::new("ward-service", bus.clone(), PublisherConfig::default()).unwrap();
    let healthy = Recorder::ok();
    let dying = Recorder::failing(|_, _| panic!("bug in the handler"));
    service
        .consume(fast("healthy"), healthy.clone())
        .consume(fast("dying"), dying)
        .serve_endpoint("127.0.0.1:0".parse().unwrap());
    let running = service.start().await.unwrap();
    let endpoint = running.endpoint().unwrap();
    until_ready(endpoint).await;
    publish_discharges(running.publisher(), 1, 1).await;
    tokio::time::timeout(SECS5, running.consumer_stopped())
        .await
        .expect("the dying consumer is noticed");
    assert_eq!(
        status(endpoint, "/ready").await,
        "HTTP/1.1 503 Service Unavailable"
    );
    let err = running.stop().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("dying") && text.contains("panicked"),
        "{text}"
    );
    assert_eq!(healthy.count(), 1, "the healthy consumer handled its event");
}
