//! Push throughput of the publisher's outbox: records of a typical event's size turned into records per second, one pusher and eight at once (whose pushes share commits).
//!
//! ```sh
//! cargo run -p carebus --example outbox_push [records] [dir]
//! ```
//!
//! Writes into a fresh directory under `dir` (default: the system's temporary directory) and
//! removes it afterwards. Each push returns once its record is on disk (committed and fsync'ed), so
//! the numbers are mostly the disk's sync latency; run it on the disk the outbox will live on.

use carebus::publisher::{Outbox, OutboxKey};
use carebus::transport::Record;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A record the size of a typical enveloped event: 300 bytes of value, a key and 12 headers.
fn record(i: usize) -> Record {
    let mut r = Record::new("healthcare.wards.events", format!("p-{i}"), vec![7; 300]);
    for h in 0..12 {
        r.headers.push((format!("ce_h{h}").into(), vec![b'x'; 24]));
    }
    r
}

fn open(dir: &Path) -> Outbox {
    let key = OutboxKey::generate();
    Outbox::open(dir, &key, u64::MAX)
        .unwrap_or_else(|e| panic!("cannot open the outbox in {}: {e}", dir.display()))
}

/// Push `n` records from `pushers` threads at once; records per second.
fn run(base: &Path, n: usize, pushers: usize) -> f64 {
    let dir = base.join(format!("pushers-{pushers}"));
    let outbox = Arc::new(open(&dir));
    let started = Instant::now();
    std::thread::scope(|s| {
        for p in 0..pushers {
            let outbox = outbox.clone();
            s.spawn(move || {
                for i in (p..n).step_by(pushers) {
                    outbox.push(record(i)).unwrap();
                }
            });
        }
    });
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(outbox.len(), n, "every push is kept");
    drop(outbox);
    std::fs::remove_dir_all(&dir).ok();
    rate
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let base: PathBuf = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("carebus-outbox-bench-{}", std::process::id()));
    for pushers in [1, 8] {
        let rate = run(&base, n, pushers);
        println!("{n} pushes, {pushers} pusher(s): {rate:.0} records/s");
    }
    std::fs::remove_dir_all(&base).ok();
}
