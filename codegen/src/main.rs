//! The `carebus-codegen` command: a schemas folder in, its schema-history and journey-history locks checked (`check`) or brought up to date (`lock`) out.
//!
//! ```text
//! cargo run -p carebus-codegen -- lock              # record new versions in schemas/schema-history.lock
//! cargo run -p carebus-codegen -- check             # fail when the lock is out of date
//! cargo run -p carebus-codegen -- lock --schemas path/to/schemas
//! ```

use carebus_codegen::Config;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Schema-history lock tool of carebus-codegen.
#[derive(Parser)]
#[command(name = "carebus-codegen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record new event versions and compatible revisions in the schema-history lock
    /// (incompatible changes fail with their diagnostics and write nothing).
    Lock(Schemas),
    /// Check that the lock records the schemas as they are and every change is compatible;
    /// writes nothing.
    Check(Schemas),
}

#[derive(clap::Args)]
struct Schemas {
    /// The schemas folder (holding avro/, proto/, topics.toml, schema-history.lock).
    #[arg(long, default_value = "schemas")]
    schemas: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (Command::Lock(args) | Command::Check(args)) = &cli.command;
    if !args.schemas.is_dir() {
        eprintln!(
            "carebus-codegen: no schemas folder at {}; run from the workspace root or pass --schemas <dir>",
            args.schemas.display()
        );
        return ExitCode::FAILURE;
    }
    let mut config = Config::new();
    config
        .schemas_dir(&args.schemas)
        .cargo_directives(false)
        .analytics_review(true);
    let lock = args.schemas.join(carebus_codegen::config::HISTORY_FILE);
    let journeys = args
        .schemas
        .join(carebus_codegen::journey_lock::JOURNEY_LOCK_FILE);
    let locks = format!("{} and {}", lock.display(), journeys.display());
    let result = match cli.command {
        Command::Lock(_) => config.lock().map(|changed| {
            if changed {
                format!("updated {locks}; review and commit them")
            } else {
                format!("{locks} are up to date")
            }
        }),
        Command::Check(_) => config
            .check()
            .map(|()| format!("{locks} record the schemas and journeys as they are")),
    };
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(diags) => {
            // Diagnostics name files relative to the schemas folder's parent.
            let base = args
                .schemas
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            eprintln!(
                "{}",
                diags.render_with(|file| std::fs::read_to_string(base.join(file)).ok())
            );
            ExitCode::FAILURE
        }
    }
}
