//! `carebus-topics`: the topics of this repository's schemas (the generated `TOPICS` table) and a cluster address in, the topics planned against (or applied to) the cluster out.
//!
//! `carebus-topics plan` prints the changes and drift without touching the cluster;
//! `carebus-topics apply` makes the changes; `carebus-topics list` shows the table. Topics are
//! never deleted, partitions never lowered. After editing `schemas/topics.toml`, rebuild.

fn main() -> std::process::ExitCode {
    carebus_cli::topics::main(carebus_schemas::TOPICS)
}
