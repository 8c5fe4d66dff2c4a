//! ACLs as code from the services manifest, the topics table and a cluster address in, each service's least-privilege ACLs planned against (or applied to) the cluster out: the library behind `carebus-acls`.
//!
//! `carebus-acls` is built with this repository's schemas (the services of the generated IR,
//! `carebus_schemas::TOPICS`). A project with schemas of its own builds the same command:
//!
//! ```no_run
//! # mod my_schemas { pub static TOPICS: &[carebus::TopicSpec<'static>] = &[]; }
//! # macro_rules! include_str { ($path:literal) => { "" }; }
//! fn main() -> std::process::ExitCode {
//!     let services = carebus::kafka::acl::services_from_toml(include_str!("../services.toml"));
//!     match services {
//!         Ok(services) => carebus_cli::acls::main(my_schemas::TOPICS, &services),
//!         Err(e) => { eprintln!("error: {e}"); std::process::ExitCode::FAILURE }
//!     }
//! }
//! ```

use crate::ClusterArgs;
use carebus::TopicSpec;
use carebus::kafka::acl::{AclAdmin, AclScope, ServiceAccess, desired_acls, services_from_toml};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "carebus-acls",
    about = "Least-privilege Kafka ACLs for every service of the services manifest: plan or apply them"
)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Put this in front of every topic, group and transactional id (e.g. `staging.`); only
    /// bindings on resources starting with it are then reported as extra or pruned.
    #[arg(long, default_value = "", global = true)]
    namespace: String,
    /// Read the services from this services.toml instead of the built-in manifest.
    #[arg(long, global = true)]
    services: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the bindings to add, and the extra bindings of the services' principals (to
    /// remove with --prune); change nothing. Exit code 2 when apply would change something.
    Plan {
        /// Show the extra bindings as bindings to remove.
        #[arg(long)]
        prune: bool,
    },
    /// Add the missing bindings; with --prune also delete the extra ones. Idempotent.
    Apply {
        /// Delete the bindings of the services' principals that the manifest does not need.
        #[arg(long)]
        prune: bool,
    },
    /// Print the bindings the manifest asks for, without contacting the cluster.
    List,
}

/// Parse the command line and plan, apply or list the ACLs of `services` on `topics`.
pub fn main(topics: &[TopicSpec<'_>], services: &[ServiceAccess]) -> ExitCode {
    let cli = Cli::parse();
    match run(cli, topics, services) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, topics: &[TopicSpec<'_>], built_in: &[ServiceAccess]) -> Result<ExitCode, String> {
    let from_file;
    let services = match &cli.services {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read the services manifest {}: {e}", path.display())
            })?;
            from_file =
                services_from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            &from_file[..]
        }
        None => built_in,
    };
    let desired = desired_acls(services, topics, &cli.namespace).map_err(|e| e.to_string())?;
    let scope = AclScope::of(services, &cli.namespace);
    let prune = match cli.command {
        Command::List => {
            for acl in &desired {
                println!("{acl}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Plan { prune } | Command::Apply { prune } => prune,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let properties = cli.cluster.properties()?;
    let admin =
        AclAdmin::connect(&cli.cluster.bootstrap, &properties).map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match cli.command {
            Command::Apply { .. } => {
                let plan = admin
                    .apply(&desired, &scope, prune)
                    .await
                    .map_err(|e| e.to_string())?;
                print!("{plan}");
                Ok(ExitCode::SUCCESS)
            }
            _ => {
                let plan = admin
                    .plan(&desired, &scope, prune)
                    .await
                    .map_err(|e| e.to_string())?;
                print!("{plan}");
                Ok(if plan.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(2)
                })
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_and_apply_take_prune_and_every_command_takes_the_namespace() {
        let cli =
            Cli::try_parse_from(["carebus-acls", "plan", "--prune", "--namespace", "t1."]).unwrap();
        assert!(matches!(cli.command, Command::Plan { prune: true }));
        assert_eq!(cli.namespace, "t1.");
        let cli = Cli::try_parse_from(["carebus-acls", "apply"]).unwrap();
        assert!(matches!(cli.command, Command::Apply { prune: false }));
        assert_eq!(cli.namespace, "");
        assert!(Cli::try_parse_from(["carebus-acls", "list", "--prune"]).is_err());
    }

    #[test]
    fn list_needs_no_cluster_and_an_unknown_event_is_an_error() {
        let services = services_from_toml(
            "[[service]]\nname = \"prm-service\"\nproduces = [\"PatientCreated\"]\n",
        )
        .unwrap();
        let list = Cli::try_parse_from(["carebus-acls", "--bootstrap", "nowhere:1", "list"]);
        let code = run(list.unwrap(), carebus_schemas::TOPICS, &services).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let bad = services_from_toml("[[service]]\nname = \"x\"\nproduces = [\"NoSuchEvent\"]\n")
            .unwrap();
        let list = Cli::try_parse_from(["carebus-acls", "list"]).unwrap();
        let err = run(list, carebus_schemas::TOPICS, &bad).unwrap_err();
        assert!(err.contains("NoSuchEvent"), "{err}");
    }
}
