//! The outbox relay on real PostgreSQL and Kafka with one event the broker refuses (over the topic's `max.message.bytes`) between good ones: it is parked with the broker's reason, the others are delivered in order, `run_until_idle` returns, and the parked event goes out once the topic takes it.

use super::*;
use carebus::TopicSpec;
use carebus::kafka::TopicAdmin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_parks_an_event_the_broker_refuses_and_delivers_the_rest() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let (store, _) = fresh("ops_parked").await;
    let topic = carebus_tests::unique_name("store_ops_parked");
    let admin = TopicAdmin::connect(&bootstrap, &BTreeMap::new()).unwrap();
    let limited = [TopicSpec {
        configs: &[("max.message.bytes", "4096")],
        ..TopicSpec::new(&topic, 1, 1)
    }];
    admin.apply(&limited).await.unwrap();

    let context = ctx("hospital-a", "parked");
    let mut events: Vec<NewEvent> = patient_events("pk", 2, &context)
        .into_iter()
        .map(|mut e| {
            e.topic = topic.clone();
            e
        })
        .collect();
    // Random bytes: compression cannot bring it under the topic's limit.
    events[1].data = (0..32_768).map(|_| fastrand::u8(..)).collect();
    events[1].data_json = None;
    store
        .append("Patient-pk", ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();

    let transport = Arc::new(crate::kafka_support::transport(&bootstrap));
    let relay = OutboxRelay::new(store.clone(), transport.clone(), "parking-relay");
    let stats = tokio::time::timeout(Duration::from_secs(60), relay.run_until_idle())
        .await
        .expect("run_until_idle returns")
        .unwrap();
    assert_eq!((stats.relayed, stats.parked), (2, 1), "{stats:?}");
    let parked = store.parked("parking-relay").await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].event_id, events[1].event_id);
    assert_eq!(parked[0].topic, topic);
    assert!(
        parked[0].reason.contains("MessageSizeTooLarge") || parked[0].reason.contains("exceeds"),
        "the broker's reason is kept: {}",
        parked[0].reason
    );

    let consumer = crate::kafka_support::subscribe(
        &transport,
        &carebus_tests::unique_name("parked_check"),
        &topic,
    )
    .await;
    let got = crate::kafka_support::consume(&consumer, 2, false, Duration::from_secs(30)).await;
    let ids: Vec<String> = got
        .iter()
        .map(|r| {
            carebus::transport::header_str(&r.headers, "ce_id")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        ids,
        [
            events[0].event_id.to_string(),
            events[2].event_id.to_string()
        ],
        "the events around the refused one, in stream order"
    );

    // Raise the topic's limit: the parked event goes out and leaves the parked list.
    let roomy = [TopicSpec {
        configs: &[("max.message.bytes", "1048576")],
        ..TopicSpec::new(&topic, 1, 1)
    }];
    admin.apply(&roomy).await.unwrap();
    assert_eq!(relay.retry_parked().await.unwrap(), 1);
    assert!(store.parked("parking-relay").await.unwrap().is_empty());
    let late = crate::kafka_support::consume(&consumer, 1, false, Duration::from_secs(30)).await;
    assert_eq!(
        carebus::transport::header_str(&late[0].headers, "ce_id"),
        Some(events[1].event_id.to_string().as_str())
    );
}
