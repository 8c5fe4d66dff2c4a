//! SIGKILL at hundreds of points turned into a verdict on the outbox: a publisher in a child process, over a file-backed broker that is down and up by a seeded schedule, is killed at seeded delays and at steps of the outbox's push and drain, restarted, and finally drained healthy; every publish it acknowledged must be in the broker's file.
//!
//! The child is this test binary again, running [`child::crash_child`] alone (as
//! `common::in_own_process` does). Per lane, one directory holds the outbox, the broker's
//! file (`broker.log`: one line per record the broker took, fsync'ed before the send is
//! acknowledged) and the acknowledgements (`acked.log`: one line per publish that returned
//! `Delivered` or `Queued`, fsync'ed before the next publish). A kill is either a seeded delay
//! after the start or a step of the outbox ([`POINTS`], its n-th occurrence): the child
//! reports the step on stdout and stops there until the parent's SIGKILL lands. Seeds are
//! fixed; the moment a delay kill lands depends on the machine's speed.

mod child;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DIR: &str = "CAREBUS_CRASH_DIR";
const SEED: &str = "CAREBUS_CRASH_SEED";
const STOP: &str = "CAREBUS_CRASH_STOP";
const FINAL: &str = "CAREBUS_CRASH_FINAL";
const STOPPED: &str = "CRASH-STOPPED";
const IDLE: &str = "CRASH-IDLE";
const DRAINED: &str = "CRASH-DRAINED";

/// Steps of the outbox the child can be stopped at (and killed): a push staged but not
/// committed, committed but not acknowledged; a drain round sent but not deleted; deleted
/// rows staged but not committed, committed but not counted.
const POINTS: [&str; 5] = [
    "outbox.push.staged",
    "outbox.push.committed",
    "drain.sent",
    "outbox.delete.staged",
    "outbox.delete.committed",
];

/// Independent lanes run side by side, each with its own directory and seeds.
const LANES: u64 = 3;
/// Kills per lane.
const RUNS: u64 = 110;
/// Events each run publishes (two tasks, so pushes share commits).
const EVENTS_PER_TASK: i64 = 6;

#[derive(Default)]
struct Tally {
    delay: u32,
    idle: u32,
    points: BTreeMap<&'static str, u32>,
    unreached: u32,
}

#[test]
fn every_acknowledged_publish_survives_sigkill_at_hundreds_of_points() {
    let started = Instant::now();
    let base = std::env::temp_dir().join(format!("carebus-crash-{}", fastrand::u64(..)));
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            let dir = base.join(format!("lane-{lane}"));
            std::thread::spawn(move || run_lane(lane, &dir))
        })
        .collect();
    let mut tally = Tally::default();
    let (mut acked, mut queued, mut missing, mut duplicates) = (0, 0, Vec::new(), 0);
    for lane in lanes {
        let (t, verdict) = lane.join().unwrap();
        tally.delay += t.delay;
        tally.idle += t.idle;
        tally.unreached += t.unreached;
        for (p, n) in t.points {
            *tally.points.entry(p).or_default() += n;
        }
        acked += verdict.acked;
        queued += verdict.queued;
        duplicates += verdict.duplicates;
        missing.extend(verdict.missing);
    }
    let kills = tally.delay + tally.idle + tally.points.values().sum::<u32>() + tally.unreached;
    println!(
        "crash harness: {kills} kills ({} at a delay, {} idle, {} not at their step) at steps \
         {:?}; {acked} publishes acknowledged ({queued} queued), {} lost, {duplicates} \
         duplicates; {:.1} s",
        tally.delay,
        tally.idle,
        tally.unreached,
        tally.points,
        missing.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged publishes never reached the broker, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(kills >= 300, "{kills} kills");
    for point in POINTS {
        let n = tally.points.get(point).copied().unwrap_or(0);
        assert!(n >= 5, "killed at {point} only {n} times");
    }
    assert!(
        queued >= 100,
        "the outbox kept {queued} acknowledged publishes"
    );
    std::fs::remove_dir_all(&base).ok();
}

/// What the final check found in one lane.
struct Verdict {
    acked: usize,
    queued: usize,
    missing: Vec<String>,
    duplicates: usize,
}

/// Where a run is killed.
enum Kill {
    After(Duration),
    At(&'static str, u32),
}

fn run_lane(lane: u64, dir: &Path) -> (Tally, Verdict) {
    std::fs::create_dir_all(dir).unwrap();
    let mut tally = Tally::default();
    for run in 0..RUNS {
        let seed = lane * 1_000_000 + run;
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
        let kill = if rng.u8(..10) < 4 {
            Kill::After(Duration::from_millis(rng.u64(5..150)))
        } else {
            Kill::At(POINTS[rng.usize(..POINTS.len())], rng.u32(1..=3))
        };
        let stop = match &kill {
            Kill::At(point, n) => format!("{point}:{n}"),
            Kill::After(_) => String::new(),
        };
        let mut child = spawn_child(dir, seed, &stop, false, run);
        let lines = read_lines(child.stdout.take().unwrap());
        let deadline = Instant::now()
            + match kill {
                Kill::After(d) => d,
                Kill::At(..) => Duration::from_secs(5),
            };
        let mut reached = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(STOPPED) => {
                    reached = Some(STOPPED);
                    break;
                }
                Ok(line) if line.contains(IDLE) && matches!(kill, Kill::At(..)) => {
                    reached = Some(IDLE);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // SIGKILL (Child::kill on Unix); a child that already exited must have failed.
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() || status.code().is_some() {
            panic!(
                "lane {lane} run {run}: the child exited by itself ({status}) instead of being \
                 killed:\n{}",
                std::fs::read_to_string(dir.join(format!("child-{run}.err"))).unwrap_or_default()
            );
        }
        std::fs::remove_file(dir.join(format!("child-{run}.err"))).ok();
        match (kill, reached) {
            (Kill::After(_), _) => tally.delay += 1,
            (Kill::At(point, _), Some(STOPPED)) => *tally.points.entry(point).or_default() += 1,
            (Kill::At(..), Some(_)) => tally.idle += 1,
            (Kill::At(..), None) => tally.unreached += 1,
        }
    }
    // A healthy run: the broker stays up until the outbox is empty.
    let mut child = spawn_child(dir, lane, "", true, RUNS);
    let lines = read_lines(child.stdout.take().unwrap());
    let status = child.wait().unwrap();
    let out: Vec<String> = lines.iter().collect();
    assert!(
        status.success() && out.iter().any(|l| l.contains(DRAINED)),
        "lane {lane}: the final run did not drain the outbox ({status}):\n{}\n{}",
        out.join("\n"),
        std::fs::read_to_string(dir.join(format!("child-{RUNS}.err"))).unwrap_or_default()
    );
    (tally, verdict(dir))
}

/// Compare the acknowledgements with what the broker took.
fn verdict(dir: &Path) -> Verdict {
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    for id in lines("broker.log") {
        *taken.entry(id).or_default() += 1;
    }
    let acked = lines("acked.log");
    let mut missing = Vec::new();
    let mut queued = 0;
    for line in &acked {
        let (how, id) = line
            .split_once(' ')
            .expect("acknowledgement lines are `Q|D id`");
        if how == "Q" {
            queued += 1;
        }
        if !taken.contains_key(id) {
            missing.push(id.to_owned());
        }
    }
    Verdict {
        acked: acked.len(),
        queued,
        missing,
        duplicates: taken.values().map(|n| n - 1).sum(),
    }
}

fn spawn_child(dir: &Path, seed: u64, stop: &str, last: bool, run: u64) -> std::process::Child {
    let err = File::create(dir.join(format!("child-{run}.err"))).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "outbox_crash::child::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR, dir)
        .env(SEED, seed.to_string())
        .env(STOP, stop)
        .env(FINAL, if last { "1" } else { "" })
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .unwrap()
}

/// The lines of a child's stdout, as they come.
fn read_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}
