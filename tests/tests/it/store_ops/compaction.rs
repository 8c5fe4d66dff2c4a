//! Crypto-shredding, archive-then-replay and retention tests.

use super::*;

fn policy() -> PhiPolicy {
    PhiPolicy::from_events(carebus_schemas::EVENTS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_shredding_erases_phi_and_keeps_the_events() {
    let (store, _) = fresh("ops_shred").await;
    let shred = ShreddingStore::new(
        store.clone(),
        store.pool().clone(),
        MasterKey::generate(),
        policy(),
    );
    let c = ctx("hospital-a", "c");
    append_patient(&shred, "p1", 1, &c).await;
    append_patient(&shred, "p2", 0, &c).await;
    let snapshot = |stream: &str, version: u64| Snapshot {
        stream_id: stream.into(),
        version,
        state_version: 1,
        aggregate_type: "Patient".into(),
        tenant_id: Some("hospital-a".into()),
        data: json!({"name": "Jordan Rivera"}),
        created_at: Timestamp::now(),
    };
    shred
        .save_snapshot(snapshot("Patient-p1", 2))
        .await
        .unwrap();
    // p3's events are archived behind its snapshot (compaction): erasure must find them there.
    append_patient(&shred, "p3", 1, &c).await;
    shred
        .save_snapshot(snapshot("Patient-p3", 2))
        .await
        .unwrap();
    assert_eq!(
        archive_to_snapshot(&store, "Patient-p3", 1).await.unwrap(),
        2
    );
    // Snapshots of streams with sealed events are sealed too; through the decorator they open.
    let raw_snapshots: Vec<Value> = sqlx::query_scalar("SELECT data FROM snapshots")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(raw_snapshots.len(), 2);
    for raw in &raw_snapshots {
        assert!(!raw.to_string().contains("Jordan"), "{raw}");
        assert!(raw.get("$sealed").is_some(), "{raw}");
    }
    assert_eq!(
        shred
            .latest_snapshot("Patient-p1")
            .await
            .unwrap()
            .unwrap()
            .data,
        json!({"name": "Jordan Rivera"})
    );

    // No plaintext PHI in the table.
    let raw: Vec<(Vec<u8>, Option<Value>)> =
        sqlx::query_as("SELECT data, data_json FROM events WHERE event_type = 'PatientCreated'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(raw.len(), 2);
    for (data, json) in &raw {
        assert!(
            !data.windows(6).any(|w| w == b"Jordan"),
            "binary payload is encrypted"
        );
        let json = json.as_ref().unwrap();
        assert!(json["firstName"].get("$phi").is_some(), "{json}");
        assert!(!json.to_string().contains("Jordan"));
        assert!(json["patientId"].is_string(), "non-PHI fields stay plain");
    }

    // Through the decorator, events decode as written.
    let upcasters = Upcasters::new();
    let p1 = shred.read_stream("Patient-p1", 1, 10).await.unwrap();
    assert_eq!(p1.len(), 2);
    match decode_erasable::<PatientsEvent>(&p1[0], &upcasters).unwrap() {
        Erasable::Intact(PatientsEvent::PatientCreated(e)) => assert_eq!(e, created("p1")),
        other => panic!("expected the intact event, got {other:?}"),
    }
    assert_eq!(p1[0].data_json.as_ref().unwrap()["firstName"], "Jordan");

    // Erase p1: its events stay, PHI shows as erased; p2 is untouched.
    assert!(shred.erase("p1").await.unwrap());
    let p1 = shred.read_stream("Patient-p1", 1, 10).await.unwrap();
    assert_eq!(p1.len(), 2, "the events are still there");
    match decode_erasable::<PatientsEvent>(&p1[0], &upcasters).unwrap() {
        Erasable::Erased { event_type, json } => {
            assert_eq!(event_type, "PatientCreated");
            let json = json.unwrap();
            for path in PatientCreated::PHI_FIELDS {
                let v = &json[*path];
                assert!(v == ERASED || v.is_null(), "{path}: {v}");
            }
            assert_eq!(json["firstName"], ERASED);
            assert_eq!(json["patientId"], "p1");
        }
        other => panic!("expected the erased marker, got {other:?}"),
    }
    let p2 = shred.read_stream("Patient-p2", 1, 10).await.unwrap();
    assert!(matches!(
        decode_erasable::<PatientsEvent>(&p2[0], &upcasters).unwrap(),
        Erasable::Intact(PatientsEvent::PatientCreated(_))
    ));
    // The whole log replays; the erased subject's snapshot is gone; it takes no new PHI.
    settled(&shred, 3).await;
    assert!(store.latest_snapshot("Patient-p1").await.unwrap().is_none());
    assert!(
        shred
            .save_snapshot(snapshot("Patient-p1", 2))
            .await
            .is_err(),
        "no snapshot of an erased subject"
    );
    // An archived stream's snapshot goes with its subject too.
    assert!(shred.erase("p3").await.unwrap());
    assert!(store.latest_snapshot("Patient-p3").await.unwrap().is_none());
    let again = shred
        .append(
            "Patient-p1",
            ExpectedVersion::Any,
            vec![NewEvent::from_event(&created("p1"), &c).unwrap()],
        )
        .await;
    assert!(again.is_err());
    assert!(!shred.erase("p1").await.unwrap(), "already erased");
    // A decorator with another master key cannot read the keys.
    let wrong = ShreddingStore::new(
        store.clone(),
        store.pool().clone(),
        MasterKey::generate(),
        policy(),
    );
    assert!(wrong.read_stream("Patient-p2", 1, 10).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_then_replay_includes_archived_rows_and_retention_applies() {
    let (store, _) = fresh("ops_archive").await;
    let c = ctx("hospital-a", "c");
    append_patient(&store, "r1", 9, &c).await;
    append_patient(&store, "r2", 2, &c).await;
    store
        .save_snapshot(Snapshot {
            stream_id: "Patient-r1".into(),
            version: 6,
            state_version: 3,
            aggregate_type: "Patient".into(),
            tenant_id: Some("hospital-a".into()),
            data: json!({"updates": 5}),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    assert_eq!(
        archive_to_snapshot(&store, "Patient-r1", 2).await.unwrap(),
        0,
        "other shape"
    );
    assert_eq!(
        archive_to_snapshot(&store, "Patient-r1", 3).await.unwrap(),
        6
    );

    let live = store.read_stream("Patient-r1", 1, 100).await.unwrap();
    assert_eq!(
        live.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    let archived: i64 = sqlx::query_scalar("SELECT count(*) FROM events_archive")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(archived, 6);
    let with = WithArchive::new(store.clone());
    let full = with.read_stream("Patient-r1", 1, 100).await.unwrap();
    assert_eq!(
        full.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );

    let lean = WithArchive::new(store.clone()).binary_only();
    let lean_events = lean.read_stream("Patient-r1", 1, 100).await.unwrap();
    assert_eq!(lean_events.len(), 10);
    assert!(lean_events.iter().all(|e| e.data_json.is_none()));
    for (lean_event, full_event) in lean_events.iter().zip(&full) {
        let mut with_json = lean_event.clone();
        with_json.data_json = full_event.data_json.clone();
        assert_eq!(
            &with_json, full_event,
            "binary-only rows keep every other field"
        );
    }
    assert_eq!(
        lean_events.iter().map(|e| &e.data).collect::<Vec<_>>(),
        full.iter().map(|e| &e.data).collect::<Vec<_>>()
    );
    // A replay through the archive view sees every event in the original order.
    let replayed = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = replayed.clone();
    let mut sink = HandlerSink::new(with.clone(), "replay-all", move |e: &StoredEvent| {
        sink_seen.lock().unwrap().push(e.global_position);
        Ok(())
    });
    let progress = CatchUp::new(with.clone())
        .batch_size(4)
        .run_to_end(&mut sink, |_| {})
        .await
        .unwrap();
    assert_eq!(progress.done, 13);
    let mut original: Vec<i64> = full.iter().map(|e| e.global_position).collect();
    original.extend(
        with.read_stream("Patient-r2", 1, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.global_position),
    );
    original.sort();
    assert_eq!(*replayed.lock().unwrap(), original);
    // Without the view, a replay sees the live log only.
    let mut n = 0;
    let mut plain = HandlerSink::new(store.clone(), "replay-live", |_: &StoredEvent| {
        n += 1;
        Ok(())
    });
    CatchUp::new(store.clone())
        .run_to_end(&mut plain, |_| {})
        .await
        .unwrap();
    drop(plain);
    assert_eq!(n, 7);
    // The query API includes archived rows on request.
    let q = EventQuery {
        filter: EventFilter::all().stream("Patient-r1"),
        include_archived: true,
        ..EventQuery::default()
    };
    assert_eq!(query(store.pool(), &q).await.unwrap().events.len(), 10);

    // Retention: Patient events older than a day, seen from two days ahead, are deleted
    // (live and archived); a type without a rule is kept.
    let later = Timestamp(Timestamp::now().0 + 2 * 86_400 * 1_000_000);
    let report = apply_retention(
        &store,
        &RetentionPolicy::default()
            .rule("Patient", 1, RetentionAction::Delete)
            .rule("Visit", 1, RetentionAction::Archive),
        later,
    )
    .await
    .unwrap();
    assert_eq!(report["Patient"], (0, 13));
    assert_eq!(report["Visit"], (0, 0));
    assert_eq!(with.read_all(Cursor::START, 100).await.unwrap().len(), 0);
    // Archive retention moves rather than deletes.
    append_patient(&store, "r3", 1, &c).await;
    let report = apply_retention(
        &store,
        &RetentionPolicy::default().rule("Patient", 1, RetentionAction::Archive),
        later,
    )
    .await
    .unwrap();
    assert_eq!(report["Patient"], (2, 0));
    assert_eq!(store.read_all(Cursor::START, 100).await.unwrap().len(), 0);
    settled(&with, 2).await;
}
