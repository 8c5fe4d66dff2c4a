//! PHI at rest outside the event store, on real Kafka and PostgreSQL: claim-checked payloads sealed with their patient's key from the crypto-shredding key store, unreadable once the patient is erased, absent in plaintext from every blob file, outbox file and table, and removed after their topic's retention.

use super::*;
use carebus::claim_check::{ClaimCheckStore, LocalDirStore, SharedClaimCheck};
use carebus::topic::TopicSpec;
use carebus::transport::header_str;
use carebus::{Publisher, PublisherConfig};

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_patient_reaches_their_claim_checked_blobs() {
    let bootstrap = carebus_tests::kafka_bootstrap();
    let (store, _) = fresh("ops_blobs").await;
    let shred = ShreddingStore::new(
        store.clone(),
        store.pool().clone(),
        MasterKey::generate(),
        PhiPolicy::from_events(carebus_schemas::EVENTS),
    );
    let dir = std::env::temp_dir().join(carebus_tests::unique_name("sealed_blobs"));
    let sealed = Arc::new(shred.seal_claim_checks(LocalDirStore::new(&dir).unwrap()));
    let transport = Arc::new(crate::kafka_support::transport(&bootstrap));
    let topic = carebus_tests::unique_name("store_ops_blobs");
    crate::kafka_support::create_topic(&bootstrap, &topic, 1, 1).await;
    let publisher = Publisher::with_claim_check(
        transport.clone(),
        PublisherConfig {
            max_message_bytes: 200,
            ..PublisherConfig::default()
        },
        Some(sealed.clone() as SharedClaimCheck),
    )
    .unwrap();

    // Two patients, each with a name found nowhere else, both over the size limit.
    let patients = [("blob-p1", "Zebulon"), ("blob-p2", "Quillon")];
    // The first patient's event also waits in a publisher's outbox (its transport is down).
    let outbox_dir = std::env::temp_dir().join(carebus_tests::unique_name("blobs_outbox"));
    let down = carebus::bus::Bus::default();
    down.set_unreachable(true);
    let queued = Publisher::new(
        down,
        PublisherConfig {
            outbox_dir: Some(outbox_dir.clone()),
            outbox_key: Some(carebus::publisher::OutboxKey::generate()),
            ..PublisherConfig::default()
        },
    )
    .unwrap();
    let mut waiting = created("blob-p1");
    waiting.first_name = Phi::new("Zebulon".repeat(20));
    let delivery = queued
        .publish_event(waiting, carebus::PublishOptions::default())
        .await
        .unwrap();
    assert!(
        matches!(delivery, carebus::Delivery::Queued { .. }),
        "{delivery:?}"
    );
    let mut references = Vec::new();
    for (patient, name) in patients {
        let mut event = created(patient);
        event.first_name = Phi::new(name.repeat(20));
        let mut record = publisher
            .prepare(&event, carebus::PublishOptions::default())
            .unwrap();
        assert!(record.needs_claim_check());
        record.topic = topic.clone();
        publisher.send_prepared(record).await.unwrap();
    }
    let consumer =
        crate::kafka_support::subscribe(&transport, &carebus_tests::unique_name("blobs"), &topic)
            .await;
    let received =
        crate::kafka_support::consume(&consumer, 2, false, Duration::from_secs(30)).await;
    for (record, (_, name)) in received.iter().zip(patients) {
        assert!(!holds(record.payload(), name), "only the reference travels");
        let reference = header_str(&record.headers, carebus::claim_check::CLAIM_CHECK_HEADER)
            .expect("claim-checked")
            .to_owned();
        // Through the sealing store the payload comes back whole.
        let value = sealed.get(&reference).await.unwrap();
        let (_, event) = carebus::wire::decode::<PatientsEvent>(&record.headers, &value).unwrap();
        let PatientsEvent::PatientCreated(c) = event else {
            panic!("expected PatientCreated");
        };
        assert_eq!(c.first_name.expose(), &name.repeat(20));
        references.push(reference);
    }
    // On disk the blobs are sealed: no name in any file, and the files are in a folder per topic.
    let on_disk = files(&dir);
    assert_eq!(on_disk.len(), 2);
    for file in &on_disk {
        assert_eq!(file.parent().unwrap().file_name().unwrap(), topic.as_str());
        let bytes = std::fs::read(file).unwrap();
        for (_, name) in patients {
            assert!(
                !holds(&bytes, name),
                "{} holds plaintext PHI",
                file.display()
            );
        }
    }
    // The audit sink resolves the sealed blobs into the shredding store.
    let subscribe = SubscribeConfig::new(carebus_tests::unique_name("blobs_sink"), &[&topic]);
    let sink = AuditSink::<_, _, PatientsEvent>::new(shred.clone(), transport.clone(), subscribe)
        .with_claim_check(sealed.clone() as SharedClaimCheck);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        sink.run(async move {
            let _ = stopped.await;
        })
        .await
    });
    settled(&shred, 2).await;
    let _ = stop.send(());
    assert_eq!(running.await.unwrap().unwrap().stored, 2);

    // Erase the first patient: their blob no longer opens, the other's still does.
    assert!(shred.erase("blob-p1").await.unwrap());
    let erased = sealed.get(&references[0]).await.unwrap_err();
    assert_eq!(erased.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(erased.to_string().contains("erased"), "{erased}");
    assert!(!erased.to_string().contains("blob-p1"), "{erased}");
    assert!(sealed.get(&references[1]).await.is_ok());

    // Nowhere at rest is the erased patient's name in plaintext: not in the blob files, not in
    // the outbox's files, not in any row of the store's tables.
    let at_rest: Vec<_> = files(&dir).into_iter().chain(files(&outbox_dir)).collect();
    assert!(at_rest.len() >= 3, "{at_rest:?}");
    for file in at_rest {
        assert!(
            !holds(&std::fs::read(&file).unwrap(), "Zebulon"),
            "{}",
            file.display()
        );
    }
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT coalesce(encode(data, 'escape'), '') || coalesce(data_json::text, '') FROM events \
         UNION ALL SELECT data::text FROM snapshots",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| !r.contains("Zebulon")));
    let through = shred.read_all(Cursor::START, 10).await.unwrap();
    assert!(through.iter().all(|e| !holds(&e.data, "Zebulon")));
    assert!(through.iter().any(|e| holds(&e.data, "Quillon")));

    // After the topic's retention the blobs are deleted.
    let retained = [TopicSpec {
        retention_ms: Some(60_000),
        ..TopicSpec::new(&topic, 1, 1)
    }];
    let store_dir = sealed.inner();
    assert_eq!(
        store_dir
            .remove_expired(&retained, std::time::SystemTime::now())
            .unwrap(),
        0,
        "younger than the retention: kept"
    );
    let later = std::time::SystemTime::now() + Duration::from_secs(61);
    assert_eq!(store_dir.remove_expired(&retained, later).unwrap(), 2);
    assert!(files(&dir).is_empty());
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(outbox_dir).ok();
}
