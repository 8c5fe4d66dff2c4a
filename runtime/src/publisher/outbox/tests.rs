//! The outbox's contract: queue order across reopens, ids that never restart, records sealed on disk, a wrong key refused, the size limit, a directory used once, an old-format outbox imported.

use super::*;

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("carebus-outbox-{}", fastrand::u64(..)))
}

fn values(ob: &Outbox) -> Vec<u8> {
    ob.peek_many(100)
        .unwrap()
        .iter()
        .map(|(_, r)| r.payload()[0])
        .collect()
}

fn ids(ob: &Outbox) -> Vec<u64> {
    ob.peek_many(100)
        .unwrap()
        .iter()
        .map(|(id, _)| *id)
        .collect()
}

#[test]
fn deliveries_marked_together_leave_the_rest_in_order_across_a_reopen() {
    let dir = temp_dir();
    let key = OutboxKey::generate();
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    for i in 0..6u8 {
        ob.push(Record::new("t", format!("k{i}"), vec![i])).unwrap();
    }
    let round = ob.peek_many(4).unwrap();
    let keys: Vec<&[u8]> = round
        .iter()
        .map(|(_, r)| r.key.as_deref().unwrap())
        .collect();
    assert_eq!(keys, [b"k0", b"k1", b"k2", b"k3"]);
    let round_ids: Vec<u64> = round.iter().map(|(id, _)| *id).collect();
    // The front two and, out of line, the fourth.
    ob.mark_delivered_many(&[round_ids[0], round_ids[1], round_ids[3]])
        .unwrap();
    ob.mark_delivered_many(&[]).unwrap();
    assert_eq!(values(&ob), [2, 4, 5]);
    assert_eq!(ob.len(), 3);
    drop(ob);
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    assert_eq!(values(&ob), [2, 4, 5]);
    assert_eq!(ob.len(), 3);
    let (first, record) = ob.peek().unwrap().unwrap();
    assert_eq!(record.key.as_deref(), Some(&b"k2"[..]));
    ob.mark_delivered(first).unwrap();
    ob.mark_delivered_many(&ids(&ob)).unwrap();
    assert!(ob.is_empty());
    assert_eq!(ob.bytes(), 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ids_keep_growing_after_the_outbox_empties_and_reopens() {
    let dir = temp_dir();
    let key = OutboxKey::generate();
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    for i in 0..3u8 {
        ob.push(Record::new("t", "k", vec![i])).unwrap();
    }
    let first = ids(&ob);
    ob.mark_delivered_many(&first).unwrap();
    assert!(ob.is_empty());
    drop(ob);
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    assert!(ob.is_empty(), "delivered records stay delivered");
    ob.push(Record::new("t", "k", vec![9])).unwrap();
    let next = ids(&ob);
    assert_eq!(next.len(), 1);
    assert!(
        next[0] > *first.last().unwrap(),
        "id {} after {first:?}",
        next[0]
    );
    // Delivering an old id again touches nothing.
    ob.mark_delivered_many(&first).unwrap();
    assert_eq!(values(&ob), [9]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn records_are_sealed_on_disk_and_another_key_is_refused_without_losing_them() {
    let dir = temp_dir();
    let key = OutboxKey::generate();
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    let phi = b"Jane Doe, MRN 4711";
    let record = Record::new("healthcare.wards.events", "patient-4711", phi.to_vec())
        .with_header("ce_subject", "patient-4711");
    ob.push(record.clone()).unwrap();
    drop(ob);
    let file = std::fs::read(dir.join(FILE)).unwrap();
    for plain in [&phi[..], b"patient-4711", b"healthcare.wards.events"] {
        assert!(
            !file.windows(plain.len()).any(|w| w == plain),
            "{} is not on disk in plaintext",
            String::from_utf8_lossy(plain)
        );
    }
    let err = Outbox::open(&dir, &OutboxKey::generate(), DEFAULT_MAX_BYTES).unwrap_err();
    assert!(matches!(err, OutboxError::WrongKey { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("another key") && text.contains("CAREBUS_OUTBOX_KEY"),
        "{text}"
    );
    assert!(!text.contains(&key.to_base64()));
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    assert_eq!(ob.peek().unwrap().unwrap().1, record, "still there");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_full_outbox_refuses_a_push_and_takes_one_again_once_records_are_delivered() {
    let dir = temp_dir();
    let key = OutboxKey::generate();
    let record = |i: u8| Record::new("t", "k", vec![i; 100]);
    let one = (seal::encode(&record(0)).len() + seal::OVERHEAD) as u64;
    let ob = Outbox::open(&dir, &key, 3 * one + one / 2).unwrap();
    for i in 0..3 {
        ob.push(record(i)).unwrap();
    }
    let err = ob.push(record(3)).unwrap_err();
    let OutboxError::Full {
        used_bytes,
        limit_bytes,
    } = err
    else {
        panic!("expected Full, got {err:?}");
    };
    assert_eq!((used_bytes, limit_bytes), (3 * one, 3 * one + one / 2));
    assert!(err_text(&dir, &key).contains("outbox_max_bytes"));
    assert_eq!(ob.len(), 3, "the refused record is not kept");
    let first = ids(&ob)[0];
    ob.mark_delivered(first).unwrap();
    ob.push(record(3)).unwrap();
    assert_eq!(values(&ob), [1, 2, 3]);
    drop(ob);
    // The limit counts what is on disk after a reopen too.
    let ob = Outbox::open(&dir, &key, 3 * one + one / 2).unwrap();
    assert_eq!(ob.bytes(), 3 * one);
    assert!(matches!(ob.push(record(4)), Err(OutboxError::Full { .. })));
    std::fs::remove_dir_all(&dir).ok();
}

/// The text of the `Full` error of a fresh outbox of one byte.
fn err_text(dir: &Path, key: &OutboxKey) -> String {
    let small = dir.join("small");
    let ob = Outbox::open(&small, key, 1).unwrap();
    let text = ob
        .push(Record::new("t", "k", vec![1]))
        .unwrap_err()
        .to_string();
    assert!(text.contains("full"), "{text}");
    text
}

#[test]
fn a_file_left_by_a_crash_while_creating_the_outbox_does_not_keep_it_from_opening() {
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // What redb leaves when killed while initialising a file: not a database.
    std::fs::write(dir.join(format!("{FILE}.new")), vec![0u8; 4096]).unwrap();
    let key = OutboxKey::generate();
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    ob.push(Record::new("t", "k", vec![1])).unwrap();
    drop(ob);
    assert!(!dir.join(format!("{FILE}.new")).exists());
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    assert_eq!(values(&ob), [1]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_directory_serves_one_outbox() {
    let dir = temp_dir();
    let key = OutboxKey::generate();
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    let err = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap_err();
    assert!(matches!(err, OutboxError::InUse { .. }), "{err:?}");
    assert!(
        err.to_string().contains("outbox directory of its own"),
        "{err}"
    );
    drop(ob);
    Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// A line of the old `outbox.log`, as the line-based outbox wrote it.
fn old_line(id: u64, value: u8) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    serde_json::json!({
        "id": id,
        "topic": "t",
        "key": hex(b"k"),
        "value": hex(&[value]),
        "headers": [["ce_id", hex(format!("e{value}").as_bytes())]],
        "partition": null,
    })
    .to_string()
}

#[test]
fn an_old_format_outbox_is_imported_once_and_its_plaintext_files_removed() {
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let key = OutboxKey::generate();
    // 1 delivered; 2 and 3 pending; 4 torn by a crash with 5 appended to its fragment.
    let torn = &old_line(4, 4)[..20];
    let log = format!(
        "{}\n{}\n{}\n{torn}{}\n",
        old_line(1, 1),
        old_line(2, 2),
        old_line(3, 3),
        old_line(5, 5)
    );
    std::fs::write(dir.join(legacy::LOG), &log).unwrap();
    std::fs::write(dir.join("outbox.delivered"), "1\n").unwrap();
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    assert_eq!(
        values(&ob),
        [2, 3, 5],
        "pending ones, the appended one recovered"
    );
    let (_, first) = ob.peek().unwrap().unwrap();
    assert_eq!(first.headers, vec![("ce_id".into(), b"e2".to_vec())]);
    assert!(!dir.join(legacy::LOG).exists() && !dir.join("outbox.delivered").exists());
    // A crash before the old files were removed: the next open does not import them twice.
    drop(ob);
    std::fs::write(dir.join(legacy::LOG), &log).unwrap();
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    assert_eq!(values(&ob), [2, 3, 5]);
    assert!(!dir.join(legacy::LOG).exists());
    ob.push(Record::new("t", "k", vec![6])).unwrap();
    assert!(ids(&ob).windows(2).all(|w| w[0] < w[1]), "{:?}", ids(&ob));
    drop(ob);

    // A delivered file that outlived its log (the old emptying bug) names ids the log does
    // not hold: none of it is trusted, every record is sent again rather than lost.
    let stale = temp_dir();
    std::fs::create_dir_all(&stale).unwrap();
    let log = format!("{}\n{}\n", old_line(1, 7), old_line(2, 8));
    std::fs::write(stale.join(legacy::LOG), log).unwrap();
    std::fs::write(stale.join("outbox.delivered"), "1\n2\n3\n").unwrap();
    let ob = Outbox::open(&stale, &key, DEFAULT_MAX_BYTES).unwrap();
    assert_eq!(values(&ob), [7, 8]);
    // An emptied old log holds nothing.
    let empty = temp_dir();
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join(legacy::LOG), "").unwrap();
    assert!(
        Outbox::open(&empty, &key, DEFAULT_MAX_BYTES)
            .unwrap()
            .is_empty()
    );
    for d in [dir, stale, empty] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn concurrent_pushes_are_all_kept_in_the_order_each_pusher_made_them() {
    let dir = temp_dir();
    let key = OutboxKey::generate();
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let ob = &ob;
            s.spawn(move || {
                for i in 0..25u8 {
                    ob.push(Record::new("t", vec![t], vec![i])).unwrap();
                }
            });
        }
    });
    drop(ob);
    let ob = Outbox::open(&dir, &key, DEFAULT_MAX_BYTES).unwrap();
    let all = ob.peek_many(1_000).unwrap();
    assert_eq!(all.len(), 100);
    for t in 0..4u8 {
        let seq: Vec<u8> = all
            .iter()
            .filter(|(_, r)| r.key.as_deref() == Some(&[t][..]))
            .map(|(_, r)| r.payload()[0])
            .collect();
        assert_eq!(seq, (0..25).collect::<Vec<u8>>(), "pusher {t}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
