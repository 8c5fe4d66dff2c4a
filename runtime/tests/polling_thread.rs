//! The consumer scenarios of `common/scenarios.rs` on a multi-threaded runtime, where the consumer reads records on its polling thread and hands them to its poll loop in bursts.

mod common;

use common::scenarios;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_work_commits_and_leaves() {
    scenarios::graceful_shutdown_finishes_in_flight_work_commits_and_leaves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted() {
    scenarios::a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joining_mid_stream_takes_partitions_without_losing_events() {
    scenarios::a_member_joining_mid_stream_takes_partitions_without_losing_events().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not() {
    scenarios::sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_pauses_and_resumes_without_losing_or_reordering_events() {
    scenarios::backpressure_pauses_and_resumes_without_losing_or_reordering_events().await;
}
