//! The command line of `carebus-store` in, the event store migrated, verified, replayed onto Kafka, or a consumer group's offsets mapped onto a rebuilt topic out: the library behind `carebus-store`.
//!
//! ```text
//! carebus-store migrate
//! carebus-store verify [--contiguous]
//! carebus-store replay --to-kafka [--from POS|TIME] [--until POS|TIME] [--topic T] [--checkpoint NAME] [--restart]
//! carebus-store offsets save --group G --topic T --file F
//! carebus-store offsets restore --group G --topic T (--file F | --event ID ...)
//! ```
//!
//! The database comes from `--database-url` or `CAREBUS_DATABASE_URL` (never printed: it may
//! hold a password), the schema from `--schema` / `CAREBUS_STORE_SCHEMA`; the cluster from the
//! shared options of every carebus Kafka command ([`ClusterArgs`]). Exit codes: 0 done, 1 a
//! problem found or an operation failed, 2 bad arguments, 130 interrupted (resumable).

mod offsets;
mod replay;

use crate::ClusterArgs;
use carebus::postgres::PgEventStore;
use carebus::postgres::verify::{VerifyOptions, verify};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub use offsets::{OffsetMapping, event_offsets, last_processed, restore_offsets};
pub use replay::{ReplayPlan, ReplaySummary, replay_to_kafka};

#[derive(Parser)]
#[command(
    name = "carebus-store",
    about = "Migrate and verify the carebus event store, and rebuild Kafka topics from it"
)]
struct Cli {
    /// The event store's database (postgres://user:password@host:port/db?sslmode=...).
    #[arg(
        long,
        env = "CAREBUS_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    database_url: Option<String>,
    /// The schema holding the store's tables (default: the role's search path).
    #[arg(long, env = "CAREBUS_STORE_SCHEMA", global = true)]
    schema: Option<String>,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the store's migrations not applied yet (the role carebus_tenant must exist:
    /// runtime/postgres/sql/roles.sql).
    Migrate,
    /// Check global positions, stream versions and each row's JSON form against its payload;
    /// print a summary and a digest of the log; exit 1 when a problem is found.
    Verify {
        /// Also count gaps between global positions as problems (a store where no append was
        /// ever rolled back).
        #[arg(long)]
        contiguous: bool,
    },
    /// Republish stored events onto their Kafka topics in global order, with their original
    /// event ids, headers and keys; resumes from its checkpoint; ctrl-c stops after the batch
    /// in flight (exit 130) and the next run continues.
    Replay(replay::ReplayArgs),
    /// Save a consumer group's position on a topic as event ids, or commit the offsets of
    /// those events on the rebuilt topic.
    #[command(subcommand)]
    Offsets(offsets::OffsetsCommand),
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("carebus-store: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

/// The store of `--database-url` / `--schema`, or the exit code of why not.
async fn connect(cli: &Cli) -> Result<PgEventStore, ExitCode> {
    let Some(url) = cli.database_url.as_deref() else {
        eprintln!(
            "carebus-store: no database: pass --database-url or set CAREBUS_DATABASE_URL \
             (postgres://user:password@host:port/db)"
        );
        return Err(ExitCode::from(2));
    };
    PgEventStore::connect_in_schema(url, cli.schema.as_deref(), 4)
        .await
        .map_err(|e| {
            eprintln!("carebus-store: cannot connect to the event store's database: {e}");
            ExitCode::FAILURE
        })
}

async fn run(cli: Cli) -> ExitCode {
    if let Command::Offsets(command) = &cli.command {
        return offsets::run(&cli.cluster, command).await;
    }
    let store = match connect(&cli).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match cli.command {
        Command::Migrate => match store.migrate().await {
            Ok(()) => {
                println!("migrations applied");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("carebus-store: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Verify { contiguous } => {
            match verify(
                &store,
                &carebus_schemas::payload_json,
                VerifyOptions { contiguous },
            )
            .await
            {
                Ok(report) => {
                    println!("{report}");
                    let problems = report.problems();
                    for p in &problems {
                        println!("PROBLEM: {p}");
                    }
                    if problems.is_empty() {
                        println!("the store is sound");
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("carebus-store: verify failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Replay(args) => replay::run(&store, &cli.cluster, args).await,
        Command::Offsets(command) => offsets::run(&cli.cluster, &command).await,
    }
}
