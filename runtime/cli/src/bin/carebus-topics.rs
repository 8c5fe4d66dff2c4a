//! `carebus-topics`: the topics spec and a cluster address in, the spec planned against (or applied to) the cluster out.
//!
//! `carebus-topics plan` prints the changes and drift without touching the cluster;
//! `carebus-topics apply` makes the changes. Topics are never deleted, partitions never lowered.

use carebus::kafka::{TopicAdmin, TopicsSpec};
use carebus_cli::ClusterArgs;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "carebus-topics",
    about = "Apply schemas/topics.toml to a Kafka cluster"
)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The topics spec.
    #[arg(long, default_value = "schemas/topics.toml", global = true)]
    spec: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the changes and drift without changing anything, with the changes checked by the
    /// brokers (validate-only); exit code 2 when there are changes to apply, 1 when one would fail.
    Plan,
    /// Create missing topics, raise partition counts, update configs; report drift.
    Apply,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let spec = TopicsSpec::load(&cli.spec).map_err(|e| e.to_string())?;
    let properties = cli.cluster.properties()?;
    let admin =
        TopicAdmin::connect(&cli.cluster.bootstrap, &properties).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Plan => {
            let plan = admin.plan(&spec).await.map_err(|e| e.to_string())?;
            print!("{plan}");
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
            let report = admin.apply(&spec).await.map_err(|e| e.to_string())?;
            print!("{}", report.plan);
            if !report.plan.changes.is_empty() {
                println!("applied {} change(s)", report.plan.changes.len());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
