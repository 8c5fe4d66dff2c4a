//! The consumer scenarios of `common/scenarios.rs` with records read on the consumer's polling thread and handed to its poll loop in bursts, on a multi-threaded runtime (handlers beside the polling thread on two workers) and on a current-thread one.

use crate::common::scenarios;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_work_commits_and_leaves() {
    scenarios::graceful_shutdown_finishes_in_flight_work_commits_and_leaves(true).await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_work_commits_and_leaves_on_a_current_thread_runtime()
{
    scenarios::graceful_shutdown_finishes_in_flight_work_commits_and_leaves(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted() {
    scenarios::a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted(
        true,
    )
    .await;
}

#[tokio::test]
async fn a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted_on_a_current_thread_runtime()
 {
    scenarios::a_consumer_killed_mid_stream_loses_nothing_the_group_redelivers_the_uncommitted(
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joining_mid_stream_takes_partitions_without_losing_events() {
    scenarios::a_member_joining_mid_stream_takes_partitions_without_losing_events(true).await;
}

#[tokio::test]
async fn a_member_joining_mid_stream_takes_partitions_without_losing_events_on_a_current_thread_runtime()
 {
    scenarios::a_member_joining_mid_stream_takes_partitions_without_losing_events(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not() {
    scenarios::sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not(true)
        .await;
}

#[tokio::test]
async fn sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not_on_a_current_thread_runtime()
 {
    scenarios::sequential_mode_keeps_partition_order_when_some_handlers_wait_and_some_do_not(true)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_pauses_and_resumes_without_losing_or_reordering_events() {
    scenarios::backpressure_pauses_and_resumes_without_losing_or_reordering_events(true).await;
}

#[tokio::test]
async fn backpressure_pauses_and_resumes_without_losing_or_reordering_events_on_a_current_thread_runtime()
 {
    scenarios::backpressure_pauses_and_resumes_without_losing_or_reordering_events(true).await;
}
