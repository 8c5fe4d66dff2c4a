//! The durable outbox: records the transport could not take turned into fsync'ed lines of an append-only file on local disk, read back in order until delivered.
//!
//! Two files in the configured directory:
//! - `outbox.log`: one JSON line per queued record (`id`, topic, hex key/value/headers);
//! - `outbox.delivered`: one line per delivered `id`.
//!
//! Both are fsync'ed on every write, so a queued event survives a crash. Pending = queued −
//! delivered, in queue order. When everything is delivered both files are truncated. A crash
//! between a send and its `delivered` line re-sends that record (at-least-once). A torn last
//! line (crash mid-write) is skipped on load.
//!
//! The files hold event payloads, which may be PHI: put the directory on encrypted storage
//! readable only by the service.

use crate::transport::{Record, header_name};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const LOG: &str = "outbox.log";
const DELIVERED: &str = "outbox.delivered";

struct State {
    log: File,
    delivered: File,
    pending: VecDeque<(u64, Record)>,
    next_id: u64,
}

/// An append-only, fsync'ed queue of records on local disk.
pub struct Outbox {
    dir: PathBuf,
    state: Mutex<State>,
    durable: Mutex<Durable>,
}

/// The fsync side of the log, apart from its writers: while one push waits for the disk,
/// others append, and one fsync then covers them all (group commit).
struct Durable {
    /// The log, for fsync only.
    log: File,
    /// Every record with a lower id is on disk.
    below: u64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dir", &self.dir)
            .field("pending", &self.len())
            .finish()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn to_line(id: u64, r: &Record) -> String {
    let headers: Vec<Value> = r.headers.iter().map(|(n, v)| json!([n, hex(v)])).collect();
    let mut line = json!({
        "id": id,
        "topic": r.topic,
        "key": r.key.as_deref().map(hex),
        "value": hex(&r.value),
        "headers": headers,
        "partition": r.partition,
    })
    .to_string();
    line.push('\n');
    line
}

fn from_line(line: &str) -> Option<(u64, Record)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let headers = v["headers"]
        .as_array()?
        .iter()
        .map(|h| Some((header_name(h[0].as_str()?), unhex(h[1].as_str()?)?)))
        .collect::<Option<Vec<_>>>()?;
    Some((
        v["id"].as_u64()?,
        Record {
            topic: v["topic"].as_str()?.to_string(),
            key: match &v["key"] {
                Value::Null => None,
                k => Some(unhex(k.as_str()?)?),
            },
            value: unhex(v["value"].as_str()?)?,
            headers,
            partition: v["partition"].as_i64().map(|p| p as i32),
        },
    ))
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Outbox {
    /// Open (or create) the outbox in `dir`, loading what is still pending.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Outbox> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let log_path = dir.join(LOG);
        let delivered_path = dir.join(DELIVERED);
        let delivered: HashSet<u64> = match File::open(&delivered_path) {
            Ok(f) => BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.trim().parse().ok())
                .collect(),
            Err(_) => HashSet::new(),
        };
        let mut pending = VecDeque::new();
        let mut next_id = 1;
        if let Ok(f) = File::open(&log_path) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                if let Some((id, rec)) = from_line(&line) {
                    next_id = next_id.max(id + 1);
                    if !delivered.contains(&id) {
                        pending.push_back((id, rec));
                    }
                }
            }
        }
        if !pending.is_empty() {
            tracing::info!(pending = pending.len(), "outbox has undelivered events");
        }
        let log = open_append(&log_path)?;
        Ok(Outbox {
            durable: Mutex::new(Durable {
                log: log.try_clone()?,
                below: next_id,
            }),
            state: Mutex::new(State {
                log,
                delivered: open_append(&delivered_path)?,
                pending,
                next_id,
            }),
            dir,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append a record and fsync; returns once it is on disk. Blocks on the disk: from async
    /// code, call it on a blocking thread. Concurrent pushes share one fsync.
    pub fn push(&self, record: Record) -> std::io::Result<()> {
        let id = {
            let mut st = self.lock();
            let id = st.next_id;
            st.log.write_all(to_line(id, &record).as_bytes())?;
            st.next_id += 1;
            st.pending.push_back((id, record));
            metrics::gauge!("carebus_outbox_pending").set(st.pending.len() as f64);
            id
        };
        self.sync_through(id)
    }

    /// Wait until the record `id` is on disk, syncing the log unless another push's fsync
    /// already covered it.
    fn sync_through(&self, id: u64) -> std::io::Result<()> {
        let mut durable = self.durable.lock().unwrap_or_else(|p| p.into_inner());
        if durable.below > id {
            return Ok(());
        }
        // Everything written so far goes into this fsync.
        let below = self.lock().next_id;
        durable.log.sync_data()?;
        durable.below = below;
        Ok(())
    }

    /// The oldest pending record.
    pub fn peek(&self) -> Option<(u64, Record)> {
        self.lock().pending.front().cloned()
    }

    /// The oldest pending records, up to `max`, in queue order.
    pub fn peek_many(&self, max: usize) -> Vec<(u64, Record)> {
        self.lock().pending.iter().take(max).cloned().collect()
    }

    /// Record that `id` was delivered (fsync'ed); truncates both files once nothing is pending.
    pub fn mark_delivered(&self, id: u64) -> std::io::Result<()> {
        self.mark_delivered_many(&[id])
    }

    /// Record that these ids were delivered, with one write and one fsync for all of them;
    /// truncates both files once nothing is pending.
    pub fn mark_delivered_many(&self, ids: &[u64]) -> std::io::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut st = self.lock();
        let lines: String = ids.iter().map(|id| format!("{id}\n")).collect();
        st.delivered.write_all(lines.as_bytes())?;
        st.delivered.sync_data()?;
        // Deliveries come in queue order: take them off the front, and search only for the rest.
        let mut rest: HashSet<u64> = HashSet::new();
        for &id in ids {
            if st.pending.front().is_some_and(|(front, _)| *front == id) {
                st.pending.pop_front();
            } else {
                rest.insert(id);
            }
        }
        if !rest.is_empty() {
            st.pending.retain(|(i, _)| !rest.contains(i));
        }
        if st.pending.is_empty() {
            st.log.set_len(0)?;
            st.log.sync_all()?;
            st.delivered.set_len(0)?;
            st.delivered.sync_all()?;
        }
        metrics::gauge!("carebus_outbox_pending").set(st.pending.len() as f64);
        Ok(())
    }

    /// Records waiting for delivery.
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// Whether nothing waits for delivery.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The directory holding `outbox.log` and `outbox.delivered`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_marked_together_leave_the_rest_in_order_across_a_reopen() {
        let dir = std::env::temp_dir().join(format!("carebus-outbox-{}", fastrand::u64(..)));
        let ob = Outbox::open(&dir).unwrap();
        for i in 0..6u8 {
            ob.push(Record::new("t", format!("k{i}"), vec![i])).unwrap();
        }
        let round = ob.peek_many(4);
        let ids: Vec<u64> = round.iter().map(|(id, _)| *id).collect();
        let keys: Vec<&[u8]> = round
            .iter()
            .map(|(_, r)| r.key.as_deref().unwrap())
            .collect();
        assert_eq!(keys, [b"k0", b"k1", b"k2", b"k3"]);
        // The front two and, out of line, the fourth.
        ob.mark_delivered_many(&[ids[0], ids[1], ids[3]]).unwrap();
        ob.mark_delivered_many(&[]).unwrap();
        let left =
            |ob: &Outbox| -> Vec<u8> { ob.peek_many(10).iter().map(|(_, r)| r.value[0]).collect() };
        assert_eq!(left(&ob), [2, 4, 5]);
        drop(ob);
        let ob = Outbox::open(&dir).unwrap();
        assert_eq!(left(&ob), [2, 4, 5]);
        let rest: Vec<u64> = ob.peek_many(10).iter().map(|(id, _)| *id).collect();
        ob.mark_delivered_many(&rest).unwrap();
        assert!(ob.is_empty());
        assert_eq!(std::fs::metadata(dir.join(DELIVERED)).unwrap().len(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn pending_records_survive_a_reopen_and_delivered_ones_do_not() {
        let dir = std::env::temp_dir().join(format!("carebus-outbox-{}", fastrand::u64(..)));
        let ob = Outbox::open(&dir).unwrap();
        let mut r = Record::new("t", "k1", vec![1, 2, 3]);
        r.headers.push(("ce_id".into(), b"e1".to_vec()));
        ob.push(r.clone()).unwrap();
        ob.push(Record::new("t", "k2", vec![4])).unwrap();
        let (first, _) = ob.peek().unwrap();
        ob.mark_delivered(first).unwrap();
        drop(ob);
        let ob = Outbox::open(&dir).unwrap();
        assert_eq!(ob.len(), 1);
        let (id, rec) = ob.peek().unwrap();
        assert_eq!(rec.key.as_deref(), Some(&b"k2"[..]));
        ob.mark_delivered(id).unwrap();
        assert!(ob.is_empty());
        assert_eq!(std::fs::metadata(dir.join(LOG)).unwrap().len(), 0);
        // Ids keep growing after a truncate within one process.
        ob.push(r.clone()).unwrap();
        assert_eq!(ob.peek().unwrap().1, r);
        std::fs::remove_dir_all(&dir).ok();
    }
}
