//! Consumer scenarios on the in-process bus, each run by `consumer.rs` with the poll loop reading records in place and by `polling_thread.rs` with records read on the consumer's polling thread (on a current-thread and a multi-threaded runtime).

use super::handlers::{Overlap, Recorder, eventually};
use super::*;
use carebus::bus::Bus;
use carebus::testing::run_handler_with;
use carebus::{Consumer, ConsumerConfig, PublishOptions, Publisher, PublisherConfig, Shutdown};
use std::time::Duration;

pub const SECS5: Duration = Duration::from_secs(5);

pub fn setup(partitions: i32) -> (Bus, Publisher<Bus>) {
    let bus = Bus::default();
    bus.create_topic(TOPIC, partitions);
    let publisher = Publisher::new(bus.clone(), PublisherConfig::default()).unwrap();
    (bus, publisher)
}

/// Publish discharges with sequence numbers `0..n`, spread over `keys` patients (`p-0`, …).
pub async fn publish_discharges(publisher: &Publisher<Bus>, n: i64, keys: i64) {
    for seq in 0..n {
        publisher
            .publish_event(
                PatientDischarged::new(&format!("p-{}", seq % keys), seq),
                PublishOptions::default(),
            )
            .await
            .unwrap();
    }
}

/// [`fast`], reading records on the consumer's polling thread or in place.
pub fn reading(group: &str, polling_thread: bool) -> ConsumerConfig {
    let mut c = fast(group);
    c.polling_thread = polling_thread;
    c
}

pub fn fast(group: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(group);
    c.commit_interval = Duration::from_millis(20);
    c.poll_timeout = Duration::from_millis(10);
    c.retry.initial_backoff = Duration::from_millis(1);
    c.retry.max_backoff = Duration::from_millis(5);
    c
}

pub async fn graceful_shutdown_finishes_in_flight_work_commits_and_leaves(polling_thread: bool) {
    let (bus, publisher) = setup(1);
    for i in 0..20 {
        publisher
            .publish_event(PatientDischarged::new("p", i), PublishOptions::default())
            .await
            .unwrap();
    }
    let mut slow = Recorder::ok();
    slow.delay = Duration::from_millis(40);
    let mut config = reading("g", polling_thread);
    config.commit_interval = Duration::from_secs(60); // only the shutdown commits
    let running = run_handler_with(&bus, config.clone(), slow.clone());
    assert!(eventually(SECS5, || slow.count() >= 3).await);
    let report = running.stop().await.unwrap();
    let handled = slow.count();
    assert!(handled < 20, "shutdown stopped the consumer early");
    assert_eq!(
        report.finished as usize, handled,
        "the in-flight handler finished"
    );
    assert_eq!(bus.committed_offset("g", TOPIC, 0), Some(handled as i64));
    // The group continues exactly where it stopped.
    let rest = Recorder::ok();
    let running = run_handler_with(&bus, config, rest.clone());
    assert!(eventually(SECS5, || rest.count() == 20 - handled).await);
    running.stop().await.unwrap();
}

pub async fn a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted(
    polling_thread: bool,
) {
    let (bus, publisher) = setup(2);
    publish_discharges(&publisher, 40, 5).await;
    let mut slow = Recorder::ok();
    slow.delay = Duration::from_millis(5);
    let consumer = Consumer::new(publisher.clone(), reading("g", polling_thread));
    let task = tokio::spawn({
        let slow = slow.clone();
        async move { consumer.run(slow, Shutdown::never()).await }
    });
    assert!(eventually(SECS5, || slow.count() >= 10).await);
    task.abort(); // a crash: no shutdown commit, the member just disappears
    let _ = task.await;
    let before = slow.count();
    let rest = Recorder::ok();
    let running = run_handler_with(&bus, reading("g", polling_thread), rest.clone());
    assert!(eventually(SECS5, || committed_total(&bus, 2) == 40).await);
    running.stop().await.unwrap();
    assert!(before + rest.count() >= 40);
    let all = distinct_sequences(&[&slow, &rest]);
    assert_eq!(
        all,
        (0..40).collect::<Vec<_>>(),
        "every event handled at least once"
    );
}

pub async fn a_member_joining_mid_stream_takes_partitions_without_losing_events(
    polling_thread: bool,
) {
    let (bus, publisher) = setup(4);
    let mut first = Recorder::ok();
    first.delay = Duration::from_millis(2);
    let a = run_handler_with(&bus, reading("g", polling_thread), first.clone());
    for i in 0..60 {
        publisher
            .publish_event(
                PatientDischarged::new(&format!("p-{}", i % 12), i),
                PublishOptions::default(),
            )
            .await
            .unwrap();
    }
    assert!(eventually(SECS5, || first.count() >= 5).await);
    let second = Recorder::ok();
    let b = run_handler_with(&bus, reading("g", polling_thread), second.clone());
    assert!(eventually(SECS5, || committed_total(&bus, 4) == 60).await);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    assert!(second.count() > 0, "the new member got partitions");
    assert_eq!(distinct_sequences(&[&first, &second]).len(), 60);
}

pub async fn sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not(
    polling_thread: bool,
) {
    // Handlers that finish at once run inline in the poll loop; those that wait are handed to
    // their lane's worker. Records after a waiting one must not overtake it, and sequential
    // mode never runs two handlers at once.
    let (bus, publisher) = setup(2);
    publish_discharges(&publisher, 40, 5).await;
    let handler = Overlap::new(|e| match e {
        WardsEvent::PatientDischarged(d) if d.sequence % 3 == 0 => Duration::from_millis(2),
        _ => Duration::ZERO,
    });
    let order = handler.order.clone();
    let running = run_handler_with(&bus, reading("g", polling_thread), handler.clone());
    assert!(eventually(SECS5, || order.lock().unwrap().len() == 40).await);
    let report = running.stop().await.unwrap();
    assert_eq!(report.finished, 40);
    assert_eq!(handler.max_running(), 1, "one handler at a time");
    handled_in_partition_order_and_committed(&bus, &order.lock().unwrap(), 2);
}

pub async fn backpressure_pauses_and_resumes_without_losing_or_reordering_events(
    polling_thread: bool,
) {
    // Every handler waits, so records queue behind it and the consumer pauses at four
    // buffered; what was read before the pause (in place or by the polling thread) and what
    // comes after the resume all arrive, each partition in order.
    let (bus, publisher) = setup(2);
    publish_discharges(&publisher, 60, 6).await;
    let handler = Overlap::new(|_| Duration::from_millis(1));
    let order = handler.order.clone();
    let mut config = reading("g", polling_thread);
    config.max_buffered = 4;
    let running = run_handler_with(&bus, config, handler.clone());
    assert!(eventually(SECS5, || order.lock().unwrap().len() == 60).await);
    let report = running.stop().await.unwrap();
    assert_eq!(report.finished, 60);
    assert_eq!(handler.max_running(), 1, "one handler at a time");
    handled_in_partition_order_and_committed(&bus, &order.lock().unwrap(), 2);
}

/// Each of the first `partitions` partitions got events, handled in offset order from 0,
/// and group `g` committed past the last of them.
fn handled_in_partition_order_and_committed(
    bus: &Bus,
    seen: &[(carebus::HandlerContext, WardsEvent)],
    partitions: i32,
) {
    for partition in 0..partitions {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|(ctx, _)| ctx.partition == partition)
            .map(|(ctx, _)| ctx.offset)
            .collect();
        assert!(!offsets.is_empty(), "partition {partition} got events");
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, expected, "partition {partition} in offset order");
        assert_eq!(
            bus.committed_offset("g", TOPIC, partition),
            Some(offsets.len() as i64)
        );
    }
}

/// Offsets group `g` committed over the first `partitions` partitions.
fn committed_total(bus: &Bus, partitions: i32) -> i64 {
    (0..partitions)
        .map(|p| bus.committed_offset("g", TOPIC, p).unwrap_or(0))
        .sum()
}

/// The discharge sequence numbers the recorders saw, each once, in order.
fn distinct_sequences(recorders: &[&Recorder]) -> Vec<i64> {
    let mut all: Vec<i64> = recorders
        .iter()
        .flat_map(|r| r.seen())
        .map(|(_, e)| match e {
            WardsEvent::PatientDischarged(d) => d.sequence,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    all.sort();
    all.dedup();
    all
}
