//! `carebus-dlq`: a dead-letter topic on a Kafka cluster in, its dead letters listed (reason, origin, error — never the payload) or redriven to their original topics out.
//!
//! `carebus-dlq list healthcare.patients.events.dlq` reads without consuming;
//! `carebus-dlq redrive healthcare.patients.events.dlq [--reason handler-failed] [--event-type X]`
//! republishes matching dead letters once per consumer group (`--group`).

use carebus::Settings;
use carebus::dead_letter::{DeadLetter, inspect, redrive};
use carebus::kafka::{KafkaConfig, KafkaTransport};
use carebus_cli::ClusterArgs;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "carebus-dlq",
    about = "Inspect and redrive carebus dead-letter topics"
)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Stop reading after this many seconds without a new record.
    #[arg(long, default_value_t = 3, global = true)]
    idle_seconds: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the dead letters of a topic without consuming them.
    List { dlq_topic: String },
    /// Republish dead letters to their original topic (each once per group).
    Redrive {
        dlq_topic: String,
        /// Only dead letters with this reason (e.g. `handler-failed`, `poison-pill:unknown-event`).
        #[arg(long)]
        reason: Option<String>,
        /// Only dead letters of this event type.
        #[arg(long)]
        event_type: Option<String>,
        /// Consumer group that remembers what was redriven.
        #[arg(long, default_value = "carebus-dlq-redrive")]
        group: String,
    },
}

fn row(d: &DeadLetter) -> String {
    let origin = match (&d.original_topic, d.original_partition, d.original_offset) {
        (Some(t), Some(p), Some(o)) => format!("{t}[{p}]@{o}"),
        (Some(t), _, _) => t.clone(),
        _ => "?".into(),
    };
    format!(
        "{}[{}]@{}  {}  {}  from {}  attempts {}  {}",
        d.dlq_topic,
        d.partition,
        d.offset,
        d.reason.as_deref().unwrap_or("?"),
        d.event_type.as_deref().unwrap_or("?"),
        origin,
        d.attempts.map_or_else(|| "?".into(), |a| a.to_string()),
        d.error.as_deref().unwrap_or("")
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = KafkaConfig::new(&cli.cluster.bootstrap);
    match cli.cluster.properties() {
        Ok(properties) => {
            for (k, v) in &properties {
                config.property(k, v);
            }
        }
        Err(e) => {
            eprintln!("carebus-dlq: {e}");
            return ExitCode::from(2);
        }
    }
    let transport = match KafkaTransport::new(config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "carebus-dlq: cannot reach Kafka at {}: {e} (start it with `scripts/services up kafka`)",
                cli.cluster.bootstrap
            );
            return ExitCode::FAILURE;
        }
    };
    let idle = Duration::from_secs(cli.idle_seconds);
    match cli.command {
        Command::List { dlq_topic } => match inspect(&transport, &dlq_topic, idle).await {
            Ok(letters) => {
                for d in &letters {
                    println!("{}", row(d));
                }
                println!("{} dead letter(s) in {dlq_topic}", letters.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("carebus-dlq: reading {dlq_topic} failed: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Redrive {
            dlq_topic,
            reason,
            event_type,
            group,
        } => {
            let select = |d: &DeadLetter| {
                reason.as_ref().is_none_or(|r| d.reason.as_ref() == Some(r))
                    && event_type
                        .as_ref()
                        .is_none_or(|t| d.event_type.as_ref() == Some(t))
            };
            match redrive(&transport, &dlq_topic, &group, idle, select).await {
                Ok(report) => {
                    println!(
                        "redriven {}, skipped {} (group {group})",
                        report.redriven, report.skipped
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("carebus-dlq: redriving {dlq_topic} failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
