//! The `carebus-catalog` command: a schemas folder (or an IR JSON file) in, the static catalog site and `asyncapi.json` out.

use carebus_catalog::{CatalogOptions, History, render};
use carebus_codegen::ir::Model;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "carebus-catalog",
    version,
    about = "Generate the event catalog site from the schemas"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the static site (HTML/CSS/JS, search index, asyncapi.json) into --out.
    Build {
        /// The schemas folder (Avro, Protobuf, topics.toml, services.toml, guides/).
        #[arg(long, default_value = "schemas", conflicts_with = "model")]
        schemas: PathBuf,
        /// Build from an IR JSON file (a serialized `carebus_codegen::ir::Model`) instead.
        #[arg(long)]
        model: Option<PathBuf>,
        /// The compatibility gate's history lock; default `<schemas>/schema-history.lock`
        /// (none with --model).
        #[arg(long)]
        history: Option<PathBuf>,
        /// Output directory (replaced if it holds an earlier catalog).
        #[arg(long, default_value = "target/catalog")]
        out: PathBuf,
        /// Site title.
        #[arg(long, default_value = "Healthcare event catalog")]
        title: String,
    },
    /// Write the Grafana dashboards (cluster health, topic rates, group lag, errors, SLA) as
    /// JSON files Grafana imports into --out.
    Dashboards {
        /// The schemas folder (topics.toml and services.toml name the topics and groups).
        #[arg(long, default_value = "schemas", conflicts_with = "model")]
        schemas: PathBuf,
        /// Build from an IR JSON file instead.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Output directory.
        #[arg(long, default_value = "target/dashboards")]
        out: PathBuf,
    },
}

fn load_model(schemas: &Path, model: Option<&Path>) -> Result<Model, String> {
    if let Some(path) = model {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the IR file {}: {e}", path.display()))?;
        return serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not an IR model in JSON form: {e}; generate it from the schemas or pass --schemas instead",
                path.display()
            )
        });
    }
    carebus_codegen::load::load_dir(schemas).map_err(|diags| {
        format!(
            "the schemas in {} have errors; fix them and run again:\n{diags}",
            schemas.display()
        )
    })
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Build {
            schemas,
            model,
            history,
            out,
            title,
        } => {
            // An IR file comes without its schemas folder: read a lock only when named.
            let lock = match (&history, &model) {
                (Some(path), _) => Some(path.clone()),
                (None, None) => Some(schemas.join("schema-history.lock")),
                (None, Some(_)) => None,
            };
            let model = load_model(&schemas, model.as_deref())?;
            let history = match lock {
                Some(path) => History::read(&path)?,
                None => History::default(),
            };
            let site = render(&model, &history, &CatalogOptions { title });
            site.write_to(&out).map_err(|e| e.to_string())?;
            let pages = site.files().filter(|(p, _)| p.ends_with(".html")).count();
            println!(
                "wrote {pages} pages, search-index.js and asyncapi.json to {}",
                out.display()
            );
            Ok(())
        }
        Command::Dashboards {
            schemas,
            model,
            out,
        } => {
            let model = load_model(&schemas, model.as_deref())?;
            std::fs::create_dir_all(&out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            let dashboards = carebus_catalog::dashboards::dashboards(&model);
            for d in &dashboards {
                let path = out.join(format!("{}.json", d.uid));
                let text = serde_json::to_string_pretty(&d.json).map_err(|e| e.to_string())?;
                std::fs::write(&path, text + "\n")
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            println!("wrote {} dashboards to {}", dashboards.len(), out.display());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
