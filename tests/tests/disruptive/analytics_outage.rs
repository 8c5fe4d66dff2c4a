//! OpenSearch stopped under a running analytics sink turned into proof of its backpressure: while it is down the sink retries one batch with its partitions paused and commits nothing; when it is back every event is indexed exactly once.

use crate::analytics_support::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_stopped_mid_stream_pauses_the_sink_and_nothing_is_lost_or_duplicated() {
    let _guard = crate::exclusive().await;
    let bootstrap = carebus_tests::kafka_bootstrap();
    let os = opensearch();
    let names = Names::new("analytics_outage");
    names.create_topics(&bootstrap, 3).await;
    let publisher = publisher(&bootstrap);
    let mut running = RunningSink::start(sink(&bootstrap, &names, 200));
    let events: Vec<_> = (0..4000).map(carebus_tests::bench_event).collect();

    for e in &events[..2000] {
        publish(&publisher, &names, e).await;
    }
    let before = running
        .await_count(&os, &names.indices(), 2000, Duration::from_secs(60))
        .await;
    assert_eq!(
        before, 2000,
        "the first half is indexed while OpenSearch is up"
    );

    carebus_tests::services(&["stop", "opensearch"]).expect("stopping OpenSearch");
    let stopped = std::panic::AssertUnwindSafe(async {
        for e in &events[2000..] {
            publish(&publisher, &names, e).await;
        }
        // Time for the sink to read the second half and fail to write it, more than once.
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let outcome = futures::FutureExt::catch_unwind(stopped).await;
    let retries_while_down = running
        .stats
        .retries
        .load(std::sync::atomic::Ordering::Relaxed);
    let indexed_while_down = running
        .stats
        .indexed
        .load(std::sync::atomic::Ordering::Relaxed);
    carebus_tests::services(&["start", "opensearch"]).expect("starting OpenSearch again");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }

    assert!(
        retries_while_down >= 2,
        "the sink retried while OpenSearch was down ({retries_while_down} retries)"
    );
    assert_eq!(
        indexed_while_down, 2000,
        "nothing was confirmed while it was down"
    );
    let after = running
        .await_count(&os, &names.indices(), 4000, Duration::from_secs(120))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = count(&os, &names.indices()).await;
    running.stop().await;
    assert_eq!(after, 4000, "nothing lost");
    assert_eq!(settled, 4000, "nothing duplicated");
}
