//! Topics as code from a generated `TOPICS` table and a cluster address in, the table planned against (or applied to) the cluster out: the library behind `carebus-topics`.
//!
//! `carebus-topics` is built with this repository's schemas (`carebus_schemas::TOPICS`). A
//! project with schemas of its own builds the same command in three lines:
//!
//! ```no_run
//! # mod my_schemas { pub static TOPICS: &[carebus::TopicSpec<'static>] = &[]; }
//! fn main() -> std::process::ExitCode {
//!     carebus_cli::topics::main(my_schemas::TOPICS)
//! }
//! ```

use crate::ClusterArgs;
use carebus::TopicSpec;
use carebus::kafka::TopicAdmin;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "carebus-topics",
    about = "Apply the topics of schemas/topics.toml (as generated into the TOPICS table) to a Kafka cluster"
)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Create topics with fewer replicas than the spec asks for when the cluster has fewer
    /// live brokers (a development cluster of one broker); without it such topics are refused.
    #[arg(long, global = true)]
    allow_under_replicated: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the changes and drift without changing anything, with the changes checked by the
    /// brokers (validate-only); exit code 2 when there are changes to apply, 1 when one would
    /// fail or a topic is refused (too few live brokers for its replication factor).
    Plan,
    /// Create missing topics, raise partition counts, update configs; report drift. Changes
    /// nothing and exits 1 when a topic is refused.
    Apply,
    /// List the topics of the table (name, partitions, replication factor, events).
    List,
    /// Print a consumer group's lag per partition (committed offset, log end, lag) from its
    /// committed offsets, without joining the group: works for groups in any language.
    Lag {
        /// The consumer group.
        #[arg(long)]
        group: String,
        /// Topics to report on (repeatable); default: every topic of the table.
        #[arg(long = "topic")]
        topics: Vec<String>,
    },
}

/// Parse the command line and plan, apply or list `topics`.
pub fn main(topics: &[TopicSpec<'_>]) -> ExitCode {
    let cli = Cli::parse();
    if let Command::List = cli.command {
        for t in topics {
            println!(
                "{}\t{} partitions\treplication factor {}\t{}",
                t.name,
                t.partitions,
                t.replication_factor,
                t.events.join(", ")
            );
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, topics)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, topics: &[TopicSpec<'_>]) -> Result<ExitCode, String> {
    let properties = cli.cluster.properties()?;
    let mut admin =
        TopicAdmin::connect(&cli.cluster.bootstrap, &properties).map_err(|e| e.to_string())?;
    admin.allow_under_replicated(cli.allow_under_replicated);
    match cli.command {
        Command::Plan => {
            let plan = admin.plan(topics).await.map_err(|e| e.to_string())?;
            print!("{plan}");
            if !plan.refused.is_empty() {
                return Err(format!(
                    "{} topic(s) refused: apply would change nothing",
                    plan.refused.len()
                ));
            }
            let rejected = admin.validate(&plan).await;
            if !rejected.is_empty() {
                return Err(format!(
                    "the brokers would reject {} change(s): {}",
                    rejected.len(),
                    rejected.join("; ")
                ));
            }
            Ok(if plan.changes.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Apply => {
            let report = admin.apply(topics).await.map_err(|e| e.to_string())?;
            print!("{}", report.plan);
            if !report.plan.changes.is_empty() {
                println!("applied {} change(s)", report.plan.changes.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List => Ok(ExitCode::SUCCESS),
        Command::Lag {
            group,
            topics: named,
        } => {
            let names: Vec<&str> = if named.is_empty() {
                topics.iter().map(|t| t.name).collect()
            } else {
                named.iter().map(String::as_str).collect()
            };
            let lag =
                carebus::kafka::group_lag(&cli.cluster.bootstrap, &properties, &group, &names)
                    .await
                    .map_err(|e| e.to_string())?;
            println!("topic\tpartition\tcommitted\tlog end\tlag");
            for p in &lag {
                let committed = p
                    .committed
                    .map_or_else(|| "-".to_string(), |c| c.to_string());
                println!(
                    "{}\t{}\t{committed}\t{}\t{}",
                    p.topic, p.partition, p.log_end, p.lag
                );
            }
            println!("total lag {}", lag.iter().map(|p| p.lag).sum::<i64>());
            Ok(ExitCode::SUCCESS)
        }
    }
}
