//! A consumer group's committed offsets on a topic in, its position as event ids out (`offsets save`); those event ids looked up in the rebuilt topic in, the group's offsets committed just past them out (`offsets restore`).
//!
//! The mapping: for each partition, the group's last processed event is the record just
//! before its committed offset; its `ce_id` header (the event id) identifies it across a
//! rebuild. After `carebus-store replay` rebuilt the topic, each saved event id is found in the
//! rebuilt topic (every partition is read up to its high watermark) and the group's offset of
//! that partition is committed at the event's offset + 1, so the group resumes with the next
//! event. Exact when the topic was written in store order (the outbox relay and the replay
//! both are, per partition); partitions without a saved event keep no offset (the group's
//! `auto.offset.reset` applies). The group must have no running members while offsets are
//! committed. Kafka drops a group's offsets of a deleted topic: save before deleting; when the
//! topic is already lost, pass the consumer's last processed event ids (`--event`, e.g. from
//! its deduplication table) instead.

use crate::ClusterArgs;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long a lookup may take before it fails.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `carebus-store offsets` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(super) enum OffsetsCommand {
    /// Write the group's last processed event id of each partition of the topic to a file
    /// (`partition<TAB>event id` lines), before the topic is deleted.
    Save {
        /// The consumer group.
        #[arg(long)]
        group: String,
        /// The topic.
        #[arg(long)]
        topic: String,
        /// Where to write.
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Find the saved event ids in the rebuilt topic and commit the group's offsets just past
    /// them (the group must have no running members).
    Restore {
        /// The consumer group.
        #[arg(long)]
        group: String,
        /// The rebuilt topic.
        #[arg(long)]
        topic: String,
        /// A file written by `offsets save`.
        #[arg(long, required_unless_present = "event")]
        file: Option<std::path::PathBuf>,
        /// A last processed event id (repeatable), instead of a file.
        #[arg(long)]
        event: Vec<String>,
    },
}

/// Where one event is in the rebuilt topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetMapping {
    /// The event id (`ce_id`).
    pub event_id: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset; the group's committed offset becomes this + 1.
    pub offset: i64,
}

fn consumer(
    properties: &BTreeMap<String, String>,
    bootstrap: &str,
    group: &str,
) -> Result<BaseConsumer, String> {
    let mut config = ClientConfig::new();
    for (k, v) in properties {
        config.set(k, v);
    }
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    config
        .create()
        .map_err(|e| format!("cannot create a Kafka consumer for {bootstrap}: {e}"))
}

fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|e| format!("reading the metadata of topic {topic}: {e}"))?;
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| format!("topic {topic} not found"))?;
    if let Some(e) = t.error() {
        return Err(format!(
            "topic {topic}: {} (does it exist? rebuild it with `carebus-topics apply` and `carebus-store replay`)",
            rdkafka::error::RDKafkaErrorCode::from(e)
        ));
    }
    Ok(t.partitions().iter().map(|p| p.id()).collect())
}

fn event_id(message: &rdkafka::message::BorrowedMessage<'_>) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == carebus_core::headers::ID)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The group's last processed event id per partition of `topic` (partitions where it
/// committed nothing, or committed offset 0, are left out).
pub fn last_processed(
    cluster: &ClusterArgs,
    group: &str,
    topic: &str,
) -> Result<Vec<(i32, String)>, String> {
    let properties = cluster.properties()?;
    let member = consumer(&properties, &cluster.bootstrap, group)?;
    let mut tpl = TopicPartitionList::new();
    for p in partitions(&member, topic)? {
        tpl.add_partition(topic, p);
    }
    let committed = member
        .committed_offsets(tpl, TIMEOUT)
        .map_err(|e| format!("reading the committed offsets of group {group}: {e}"))?;
    let mut wanted = TopicPartitionList::new();
    for e in committed.elements() {
        if let Offset::Offset(o) = e.offset()
            && o > 0
        {
            wanted
                .add_partition_offset(topic, e.partition(), Offset::Offset(o - 1))
                .map_err(|e| e.to_string())?;
        }
    }
    let mut out = BTreeMap::new();
    let want = wanted.count();
    if want == 0 {
        return Ok(Vec::new());
    }
    let reader = consumer(&properties, &cluster.bootstrap, "carebus-store-offsets")?;
    let targets: BTreeMap<i32, i64> = wanted
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect();
    reader
        .assign(&wanted)
        .map_err(|e| format!("reading topic {topic}: {e}"))?;
    let deadline = Instant::now() + TIMEOUT;
    while out.len() < want {
        if Instant::now() > deadline {
            return Err(format!(
                "the records before group {group}'s committed offsets on {topic} were not read within {TIMEOUT:?} (deleted by retention?)"
            ));
        }
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if targets.get(&m.partition()) == Some(&m.offset()) => {
                let id = event_id(&m).ok_or_else(|| {
                    format!(
                        "the record at {topic}[{}]@{} has no ce_id header: not a carebus event",
                        m.partition(),
                        m.offset()
                    )
                })?;
                out.insert(m.partition(), id);
            }
            Some(Ok(_)) | None => {}
            Some(Err(e)) => return Err(format!("reading topic {topic}: {e}")),
        }
    }
    Ok(out.into_iter().collect())
}

/// Where each of `ids` is in `topic`: every partition is read from its start to its high
/// watermark (ids not found are left out).
pub fn event_offsets(
    cluster: &ClusterArgs,
    topic: &str,
    ids: &HashSet<String>,
) -> Result<Vec<OffsetMapping>, String> {
    let properties = cluster.properties()?;
    let reader = consumer(&properties, &cluster.bootstrap, "carebus-store-offsets")?;
    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in partitions(&reader, topic)? {
        let (low, high) = reader
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(|e| format!("reading the offsets of {topic}[{p}]: {e}"))?;
        if high > low {
            ends.insert(p, high);
            tpl.add_partition_offset(topic, p, Offset::Offset(low))
                .map_err(|e| e.to_string())?;
        }
    }
    reader
        .assign(&tpl)
        .map_err(|e| format!("reading topic {topic}: {e}"))?;
    let mut found = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while !ends.is_empty() && found.len() < ids.len() {
        if Instant::now() > deadline {
            return Err(format!(
                "topic {topic} was not read to its end within {TIMEOUT:?}"
            ));
        }
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                if let Some(id) = event_id(&m).filter(|id| ids.contains(id)) {
                    found.push(OffsetMapping {
                        event_id: id,
                        partition: m.partition(),
                        offset: m.offset(),
                    });
                }
                if ends
                    .get(&m.partition())
                    .is_some_and(|&h| m.offset() + 1 >= h)
                {
                    ends.remove(&m.partition());
                }
            }
            None => {}
            Some(Err(e)) => return Err(format!("reading topic {topic}: {e}")),
        }
    }
    Ok(found)
}

/// Commit `group`'s offsets on `topic` just past each mapped event (the latest one when a
/// partition has several).
pub fn restore_offsets(
    cluster: &ClusterArgs,
    group: &str,
    topic: &str,
    mappings: &[OffsetMapping],
) -> Result<(), String> {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for m in mappings {
        let o = next.entry(m.partition).or_insert(0);
        *o = (*o).max(m.offset + 1);
    }
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &next {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .map_err(|e| e.to_string())?;
    }
    let properties = cluster.properties()?;
    let member = consumer(&properties, &cluster.bootstrap, group)?;
    member.commit(&tpl, CommitMode::Sync).map_err(|e| {
        format!(
            "committing group {group}'s offsets on {topic}: {e} (stop the group's consumers first)"
        )
    })
}

pub(super) async fn run(cluster: &ClusterArgs, command: &OffsetsCommand) -> ExitCode {
    let result = match command {
        OffsetsCommand::Save { group, topic, file } => last_processed(cluster, group, topic)
            .and_then(|found| {
                let text: String = found
                    .iter()
                    .map(|(p, id)| format!("{p}\t{id}\n"))
                    .collect();
                std::fs::write(file, text)
                    .map_err(|e| format!("writing {}: {e}", file.display()))?;
                Ok(format!(
                    "saved group {group}'s last processed event of {} partitions of {topic} to {}",
                    found.len(),
                    file.display()
                ))
            }),
        OffsetsCommand::Restore {
            group,
            topic,
            file,
            event,
        } => saved_ids(file.as_deref(), event).and_then(|ids| {
            let found = event_offsets(cluster, topic, &ids)?;
            let missing: Vec<&String> = ids
                .iter()
                .filter(|id| !found.iter().any(|m| &m.event_id == *id))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "events not found in {topic}: {missing:?}; replay the store onto it first (`carebus-store replay --to-kafka --topic {topic}`)"
                ));
            }
            restore_offsets(cluster, group, topic, &found)?;
            let mut lines = format!("committed group {group}'s offsets on {topic}:");
            for m in &found {
                lines.push_str(&format!(
                    "\n  partition {}: {} (after event {})",
                    m.partition,
                    m.offset + 1,
                    m.event_id
                ));
            }
            Ok(lines)
        }),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("carebus-store: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Event ids from `--event` and the file's lines (`partition<TAB>id` or `id`).
fn saved_ids(file: Option<&std::path::Path>, events: &[String]) -> Result<HashSet<String>, String> {
    let mut ids: HashSet<String> = events.iter().cloned().collect();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let id = line.rsplit('\t').next().unwrap_or(line).trim();
            ids.insert(id.to_string());
        }
    }
    Ok(ids)
}
