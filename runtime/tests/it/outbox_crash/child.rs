//! The crash harness's child: environment settings turned into one run of a publisher over a file-backed broker, stopped at a step of the outbox for the parent's SIGKILL, or (the last run) drained and ended.

use super::{DIR, DRAINED, EVENTS_PER_TASK, FINAL, IDLE, SEED, STOP, STOPPED};
use crate::common::*;
use carebus::bus::{Bus, BusConsumer};
use carebus::publisher::OutboxKey;
use carebus::transport::{
    Record, RecordPosition, SubscribeConfig, Transport, TransportError, TransportErrorKind,
    header_str,
};
use carebus::{Delivery, PublishOptions, Publisher, PublisherConfig};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static STOP_AT: OnceLock<(String, u32)> = OnceLock::new();
static HITS: AtomicU32 = AtomicU32::new(0);

/// Stop this thread for good at the configured step's n-th occurrence, saying so on stdout.
fn stop_here(point: &'static str) {
    let Some((at, n)) = STOP_AT.get() else { return };
    if point != at || HITS.fetch_add(1, Ordering::SeqCst) + 1 != *n {
        return;
    }
    println!("{STOPPED} {point}");
    std::io::stdout().flush().ok();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// A broker that appends the event id of each record it takes to a file and fsyncs it before
/// acknowledging; down and up in turns of a seeded number of sends.
struct FileBroker {
    file: Mutex<File>,
    sends: AtomicU64,
    /// Send numbers at which the broker turns over (down ↔ up), ascending.
    turns: Vec<u64>,
    down_first: bool,
    offset: AtomicU64,
    bus: Bus,
}

impl FileBroker {
    fn open(path: &Path, seed: u64, healthy: bool) -> FileBroker {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut turns = Vec::new();
        let mut at = 0;
        if !healthy {
            for _ in 0..64 {
                at += rng.u64(1..8);
                turns.push(at);
            }
        }
        FileBroker {
            file: Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            sends: AtomicU64::new(0),
            down_first: !healthy && rng.bool(),
            turns,
            offset: AtomicU64::new(0),
            bus: Bus::default(),
        }
    }

    fn is_up(&self, send: u64) -> bool {
        let turned = self.turns.iter().filter(|&&t| t <= send).count();
        // Up for good after the last turn.
        if turned == self.turns.len() {
            return true;
        }
        (turned % 2 == 0) != self.down_first
    }
}

impl Transport for FileBroker {
    type Consumer = BusConsumer;
    async fn send(&self, record: Record) -> Result<RecordPosition, TransportError> {
        let n = self.sends.fetch_add(1, Ordering::SeqCst);
        if !self.is_up(n) {
            return Err(
                TransportError::new(TransportErrorKind::Unreachable, "produce")
                    .with_detail("the file broker is down by its schedule"),
            );
        }
        let id = header_str(&record.headers, carebus::envelope::headers::ID).unwrap_or("");
        let mut file = self.file.lock().unwrap();
        file.write_all(format!("{id}\n").as_bytes()).unwrap();
        file.sync_data().unwrap();
        Ok(RecordPosition {
            topic: record.topic,
            partition: 0,
            offset: self.offset.fetch_add(1, Ordering::SeqCst) as i64,
        })
    }
    async fn send_transaction(
        &self,
        records: Vec<Record>,
    ) -> Result<Vec<RecordPosition>, TransportError> {
        let mut out = Vec::new();
        for r in records {
            out.push(self.send(r).await?);
        }
        Ok(out)
    }
    async fn flush(&self, _timeout: Duration) -> Result<(), TransportError> {
        Ok(())
    }
    async fn partition_count(&self, _topic: &str) -> Result<i32, TransportError> {
        Ok(1)
    }
    async fn subscribe(&self, config: SubscribeConfig) -> Result<BusConsumer, TransportError> {
        self.bus.subscribe(config).await
    }
}

/// One run of the publisher, killed by the parent (or, the last, draining and exiting).
#[test]
#[ignore = "the crash harness's child process, run by every_acknowledged_publish_survives_sigkill_at_hundreds_of_points"]
fn crash_child() {
    let Some(dir) = std::env::var_os(DIR).map(PathBuf::from) else {
        return;
    };
    let seed: u64 = std::env::var(SEED).unwrap().parse().unwrap();
    let last = std::env::var(FINAL).is_ok_and(|v| v == "1");
    if let Some((point, n)) = std::env::var(STOP).unwrap().split_once(':') {
        STOP_AT.set((point.to_owned(), n.parse().unwrap())).unwrap();
        carebus::publisher::set_crash_hook(stop_here);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(child_run(&dir, seed, last));
}

async fn child_run(dir: &Path, seed: u64, last: bool) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let broker = FileBroker::open(&dir.join("broker.log"), seed, last);
    let mut config = PublisherConfig {
        outbox_dir: Some(dir.join("outbox")),
        outbox_key: Some(OutboxKey::from_bytes([7; 32])),
        outbox_retry_interval: Duration::from_millis(5),
        outbox_drain_window: [1, 3, 16, 512][rng.usize(..4)],
        dead_letter_topic: None,
        ..PublisherConfig::default()
    };
    config.retry.attempts = 2;
    config.retry.initial_backoff = Duration::from_millis(1);
    config.breaker.failure_threshold = 2;
    config.breaker.open_for = Duration::from_millis(10);
    let publisher = Publisher::new(broker, config).expect("the outbox opens after a kill");
    if last {
        let deadline = Instant::now() + Duration::from_secs(30);
        while publisher.outbox_len() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(publisher.outbox_len(), 0, "the outbox drains");
        publisher.close().await;
        println!("{DRAINED}");
        return;
    }
    let acked = std::sync::Arc::new(Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("acked.log"))
            .unwrap(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..2 {
        let publisher = publisher.clone();
        let acked = acked.clone();
        let pauses: Vec<u64> = (0..EVENTS_PER_TASK).map(|_| rng.u64(0..4)).collect();
        tasks.spawn(async move {
            for (i, pause) in pauses.into_iter().enumerate() {
                let event = PatientDischarged::new(&format!("p-{task}"), i as i64);
                let how = match publisher
                    .publish_event(event, PublishOptions::default())
                    .await
                {
                    Ok(Delivery::Delivered(d)) => format!("D {}", d.event_id),
                    Ok(Delivery::Queued { event_id, .. }) => format!("Q {event_id}"),
                    Ok(other) => panic!("unexpected delivery {other:?}"),
                    Err(e) => panic!("publish failed: {e}"),
                };
                {
                    let mut file = acked.lock().unwrap();
                    file.write_all(format!("{how}\n").as_bytes()).unwrap();
                    file.sync_data().unwrap();
                }
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    let deadline = Instant::now() + Duration::from_millis(300);
    while publisher.outbox_len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!("{IDLE}");
    std::io::stdout().flush().ok();
    tokio::time::sleep(Duration::from_secs(600)).await;
}
