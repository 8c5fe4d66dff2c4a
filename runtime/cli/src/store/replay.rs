//! A range of the event store in, its events republished onto their Kafka topics in global order out (original event ids, headers and keys), with progress, a checkpoint after every batch and ctrl-c: `carebus-store replay --to-kafka`.
//!
//! Records are built as the outbox relay builds them ([`StoredEvent::to_record`]): key = the
//! aggregate id, CloudEvents headers with the original `ce_id`. A batch is sent concurrently
//! through the idempotent producer (`acks=all`), which keeps each partition in send order, and
//! the checkpoint (a row of the store's `checkpoints` table, `carebus-store replay NAME`) moves
//! only past acknowledged events. A run that fails or is interrupted sends the rest of its
//! batch again on the next run: consumers deduplicate by event id.
//!
//! [`StoredEvent::to_record`]: carebus::store::StoredEvent::to_record

use crate::ClusterArgs;
use carebus::Settings;
use carebus::kafka::{KafkaConfig, KafkaTransport};
use carebus::postgres::PgEventStore;
use carebus::postgres::replay::Bound;
use carebus::store::{EventStore, StoreError};
use carebus_core::transport::Transport;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `carebus-store replay` options.
#[derive(clap::Args, Debug)]
pub(super) struct ReplayArgs {
    /// Publish to Kafka (the only target; required so that a replay is never started by
    /// accident).
    #[arg(long, required = true)]
    to_kafka: bool,
    /// First event: a global position, or a time (`2026-12-07T23:00:00Z`) compared with when
    /// the store recorded each event. Default: the first event.
    #[arg(long)]
    from: Option<String>,
    /// Last event (inclusive): a global position or a time. Default: the last event now.
    #[arg(long)]
    until: Option<String>,
    /// Only the events of this topic (default: every event, each to its own topic).
    #[arg(long)]
    topic: Option<String>,
    /// Name of the checkpoint to resume from and advance.
    #[arg(long, default_value = "default")]
    checkpoint: String,
    /// Forget the checkpoint and start at --from.
    #[arg(long)]
    restart: bool,
    /// Events read and sent per batch (the checkpoint moves after each).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
}

/// Which events a replay sends, and the checkpoint it resumes from.
#[derive(Clone, Debug)]
pub struct ReplayPlan {
    /// First event (default: the first).
    pub from: Option<Bound>,
    /// Last event, inclusive (default: the last one when the replay starts).
    pub until: Option<Bound>,
    /// Only this topic's events.
    pub topic: Option<String>,
    /// The checkpoint's name.
    pub checkpoint: String,
    /// Forget the checkpoint first.
    pub restart: bool,
    /// Events per batch.
    pub batch_size: usize,
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Events acknowledged by Kafka in this run.
    pub sent: u64,
    /// Events of the range left to send when the run began (after the checkpoint).
    pub planned: u64,
    /// The last position sent (the checkpoint), if any.
    pub last_position: Option<i64>,
    /// The end of the range.
    pub until: Option<i64>,
    /// Stopped by an interrupt before the end of the range.
    pub interrupted: bool,
}

/// The checkpoint row's name for a replay named `name`.
fn checkpoint_key(name: &str) -> String {
    format!("carebus-store replay {name}")
}

/// Replay `range` of `store` onto `transport`, resuming from its checkpoint (unless
/// `restart`); `progress(done, planned)` after each batch; stops between batches once
/// `interrupted` is set.
pub async fn replay_to_kafka<T: Transport>(
    store: &PgEventStore,
    transport: &T,
    range: &ReplayPlan,
    interrupted: &AtomicBool,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReplaySummary, StoreError> {
    let key = checkpoint_key(&range.checkpoint);
    let batch_size = range.batch_size;
    if range.restart {
        store.delete_checkpoint(&key).await?;
    }
    let mut summary = ReplaySummary::default();
    let start_after = match &range.from {
        None => Some(0),
        Some(b) => store.position_from(b).await?.map(|p| p - 1),
    };
    let until = match &range.until {
        None => store.position_until(&Bound::Position(i64::MAX)).await?,
        Some(b) => store.position_until(b).await?,
    };
    let (Some(mut after), Some(until)) = (start_after, until) else {
        return Ok(summary);
    };
    summary.until = Some(until);
    if let Some(done) = store.checkpoint(&key).await? {
        after = after.max(done.position);
        summary.last_position = Some(done.position);
    }
    let topic = range.topic.as_deref();
    summary.planned = store.count_range(after, until, topic).await?;
    progress(0, summary.planned);
    loop {
        if interrupted.load(Ordering::Relaxed) {
            summary.interrupted = summary.sent < summary.planned;
            return Ok(summary);
        }
        let batch = store
            .read_range(after, until, topic, batch_size.max(1))
            .await?;
        let Some(last) = batch.last() else {
            return Ok(summary);
        };
        let last_cursor = last.cursor();
        let results = transport
            .send_batch(batch.iter().map(|e| e.to_record()).collect())
            .await;
        if let Some(failed) = results.iter().position(|r| r.is_err()) {
            // Everything before the first failure is acknowledged (one partition keeps order;
            // across partitions the rest is sent again on the next run).
            if failed > 0 {
                let c = batch[failed - 1].cursor();
                store.save_checkpoint(&key, c).await?;
            }
            let error = match results.into_iter().nth(failed) {
                Some(Err(e)) => e.to_string(),
                _ => "unknown".into(),
            };
            return Err(StoreError::Backend {
                operation: "replay to Kafka",
                message: format!(
                    "the event at position {} was not acknowledged: {error}; run again to resume \
                     from the checkpoint",
                    batch[failed].global_position
                ),
                retriable: true,
                source: None,
            });
        }
        store.save_checkpoint(&key, last_cursor).await?;
        summary.sent += batch.len() as u64;
        summary.last_position = Some(last_cursor.position);
        after = last_cursor.position;
        progress(summary.sent, summary.planned);
    }
}

/// How the operator sees progress: a bar on a terminal, a plain line at most every second
/// otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Option<Instant>,
}

impl Progress {
    fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  {eta} left")
            {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            last_line: None,
        }
    }

    fn update(&mut self, done: u64, planned: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(planned);
            bar.set_position(done);
            return;
        }
        let now = Instant::now();
        let due = self
            .last_line
            .is_none_or(|t| now - t >= Duration::from_secs(1));
        if !due && done < planned {
            return;
        }
        self.last_line = Some(now);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let left = if rate > 0.0 {
            format!(
                "about {:.0} s left",
                (planned - done.min(planned)) as f64 / rate
            )
        } else {
            "time left unknown".into()
        };
        eprintln!("replay: {done}/{planned} events, {rate:.0} events/s, {left}");
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub(super) async fn run(store: &PgEventStore, cluster: &ClusterArgs, args: ReplayArgs) -> ExitCode {
    let _ = args.to_kafka;
    let mut config = KafkaConfig::new(&cluster.bootstrap);
    match cluster.properties() {
        Ok(properties) => {
            for (k, v) in &properties {
                config.property(k, v);
            }
        }
        Err(e) => {
            eprintln!("carebus-store: {e}");
            return ExitCode::from(2);
        }
    }
    let transport = match KafkaTransport::new(config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "carebus-store: cannot create a Kafka producer for {}: {e}",
                cluster.bootstrap
            );
            return ExitCode::FAILURE;
        }
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("carebus-store: interrupted; stopping after the batch in flight");
            flag.store(true, Ordering::Relaxed);
        }
    });
    let range = ReplayPlan {
        from: args.from.as_deref().map(Bound::parse),
        until: args.until.as_deref().map(Bound::parse),
        topic: args.topic.clone(),
        checkpoint: args.checkpoint.clone(),
        restart: args.restart,
        batch_size: args.batch_size,
    };
    let mut progress = Progress::new();
    let started = Instant::now();
    let result = replay_to_kafka(store, &transport, &range, &interrupted, |done, planned| {
        progress.update(done, planned)
    })
    .await;
    progress.finish();
    let _ = transport.flush(Duration::from_secs(10)).await;
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(s) => {
            let rate = if secs > 0.0 {
                s.sent as f64 / secs
            } else {
                0.0
            };
            let at = s
                .last_position
                .map_or_else(|| "none".to_string(), |p| p.to_string());
            let until = s.until.map_or_else(|| "-".to_string(), |p| p.to_string());
            println!(
                "replayed {} of {} events in {secs:.1} s ({rate:.0} events/s); checkpoint `{}` at position {at} of {until}",
                s.sent, s.planned, args.checkpoint
            );
            if s.interrupted {
                println!("interrupted: run the same command again to resume");
                ExitCode::from(130)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("carebus-store: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_positions_and_anything_else_a_time() {
        assert_eq!(Bound::parse(" 42 "), Bound::Position(42));
        assert_eq!(
            Bound::parse("2026-12-07T23:00:00Z"),
            Bound::Time("2026-12-07T23:00:00Z".into())
        );
    }

    #[test]
    fn checkpoints_of_replays_are_named_apart_from_subscriptions() {
        assert_eq!(checkpoint_key("rebuild"), "carebus-store replay rebuild");
    }
}
