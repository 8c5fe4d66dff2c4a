//! Kafka bridge tests: the outbox relay through a broker outage and the idempotent Kafka → store audit sink.

use crate::store_common::*;

/// Events of `streams` patients with their topic set to `topic`.
fn topic_events(id: &str, updates: u32, topic: &str) -> Vec<NewEvent> {
    patient_events(id, updates, &ctx("hospital-a", "relay"))
        .into_iter()
        .map(|mut e| {
            e.topic = topic.to_string();
            e
        })
        .collect()
}

async fn wait_for_checkpoint(store: &PgEventStore, name: &str, target: Cursor, within: Duration) {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if store
            .checkpoint(name)
            .await
            .unwrap()
            .is_some_and(|c| c >= target)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("relay checkpoint did not reach {target} within {within:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_relay_survives_a_broker_outage_and_the_audit_sink_archives_idempotently() {
    let _exclusive = crate::exclusive().await;
    let bootstrap = carebus_tests::kafka_bootstrap();
    let (store, _) = fresh("ops_relay").await;
    let topic = carebus_tests::unique_name("store_ops_relay");
    crate::kafka_support::create_topic(&bootstrap, &topic, 3, 1).await;
    let streams = ["o1", "o2", "o3", "o4"];
    for s in streams {
        store
            .append(
                &format!("Patient-{s}"),
                ExpectedVersion::Any,
                topic_events(s, 13, &topic),
            )
            .await
            .unwrap();
    }
    let transport = Arc::new(crate::kafka_support::transport(&bootstrap));
    let relay_store = store.clone();
    let relay_transport = transport.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(async move {
        OutboxRelay::new(relay_store, relay_transport, "relay-test")
            .batch_size(10)
            .max_backoff(Duration::from_millis(500))
            .run(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    let first = settled(&store, 56).await;
    wait_for_checkpoint(
        &store,
        "relay-test",
        first[9].cursor(),
        Duration::from_secs(60),
    )
    .await;

    // Broker down mid-relay; more events are appended meanwhile; broker back within seconds.
    carebus_tests::services(&["stop", "kafka"]).expect("stopping kafka");
    let outage = Instant::now();
    for s in streams {
        store
            .append(
                &format!("Patient-{s}"),
                ExpectedVersion::Any,
                topic_events(s, 4, &topic)[1..].to_vec(),
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    carebus_tests::services(&["start", "kafka"]).expect("starting kafka");
    // How long the broker was away depends on the machine (a loaded CI box restarts the JVM
    // slowly); what the test asserts is that the relay delivers everything afterwards.
    println!("broker outage lasted {:?}", outage.elapsed());
    let all = settled(&store, 72).await;
    wait_for_checkpoint(
        &store,
        "relay-test",
        all.last().unwrap().cursor(),
        Duration::from_secs(120),
    )
    .await;
    stop_tx.send(()).unwrap();
    let stats = relay.await.unwrap().unwrap();
    assert!(stats.relayed >= 62, "{stats:?}");
    // A new run resumes from the checkpoint: nothing left to send.
    let again = OutboxRelay::new(store.clone(), transport.clone(), "relay-test")
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(again.relayed, 0, "{again:?}");
    assert_eq!(again.cursor, all.last().unwrap().cursor());

    // Consume everything: nothing lost, per-stream order kept (first occurrences in order).
    let consumer = crate::kafka_support::subscribe(
        &transport,
        &carebus_tests::unique_name("relay_check"),
        &topic,
    )
    .await;
    let version_of: HashMap<String, (String, u64)> = all
        .iter()
        .map(|e| {
            (
                e.event_id.to_string(),
                (e.stream_id.clone(), e.stream_version),
            )
        })
        .collect();
    let mut firsts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut seen = HashSet::new();
    let until = Instant::now() + Duration::from_secs(60);
    while seen.len() < all.len() && Instant::now() < until {
        let batch =
            crate::kafka_support::consume(&consumer, 1, false, Duration::from_secs(2)).await;
        for r in batch {
            let id = carebus::transport::header_str(&r.headers, "ce_id")
                .unwrap()
                .to_string();
            let (stream, version) = version_of[&id].clone();
            assert_eq!(
                r.key.as_deref(),
                Some(stream.trim_start_matches("Patient-").as_bytes())
            );
            if seen.insert(id) {
                firsts.entry(stream).or_default().push(version);
            }
        }
    }
    assert_eq!(seen.len(), 72, "every appended event reached the topic");
    for (stream, versions) in &firsts {
        assert_eq!(
            *versions,
            (1..=18).collect::<Vec<u64>>(),
            "order of {stream}"
        );
    }

    // The audit sink archives the topic into another store, once per event id.
    let (audit, _) = fresh("ops_audit").await;
    for round in 0..2 {
        let group = carebus_tests::unique_name("audit");
        let sink = AuditSink::<_, _, carebus_schemas::PatientsEvent>::new(
            audit.clone(),
            transport.clone(),
            SubscribeConfig::new(group, &[topic.as_str()]),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let audit_check = audit.clone();
        let watcher = tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(60);
            let mut last_change = Instant::now();
            let mut last = 0;
            while Instant::now() < until {
                let n = audit_check
                    .count(&EventFilter::all(), Cursor::START)
                    .await
                    .unwrap();
                if n != last {
                    last = n;
                    last_change = Instant::now();
                }
                if n >= 72 && last_change.elapsed() > Duration::from_secs(3) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let _ = tx.send(());
        });
        let sink_stats = if round == 0 {
            sink.run(async move {
                let _ = rx.await;
            })
            .await
            .unwrap()
        } else {
            // Second group re-reads the whole topic: every record is a duplicate.
            let r = sink
                .run(tokio::time::sleep(Duration::from_secs(15)))
                .await
                .unwrap();
            drop(rx);
            r
        };
        watcher.abort();
        if round == 0 {
            assert_eq!(sink_stats.stored, 72, "{sink_stats:?}");
        } else {
            assert_eq!(sink_stats.stored, 0, "{sink_stats:?}");
            assert!(sink_stats.duplicates >= 72, "{sink_stats:?}");
        }
        assert_eq!(sink_stats.dead_lettered, 0);
        let stored = settled(&audit, 72).await;
        let ids: HashSet<_> = stored.iter().map(|e| e.event_id.to_string()).collect();
        assert_eq!(ids, version_of.keys().cloned().collect());
        // The archived payloads decode as the events that were appended.
        let original: HashMap<_, _> = all.iter().map(|e| (e.event_id, e.data.clone())).collect();
        for e in &stored {
            assert_eq!(e.data, original[&e.event_id]);
            PatientsEvent::decode(&e.event_type, e.event_version, &e.data).unwrap();
        }
    }
}
