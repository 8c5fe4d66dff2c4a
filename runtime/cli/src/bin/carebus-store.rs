//! `carebus-store`: an event store's database (and a Kafka cluster) in, the store migrated, verified, replayed onto Kafka, or a consumer group's offsets mapped onto a rebuilt topic out.
//!
//! `carebus-store migrate | verify | replay --to-kafka [--from …] [--until …] | offsets save|restore`;
//! see `carebus_cli::store` and docs/operations.md.

fn main() -> std::process::ExitCode {
    carebus_cli::store::main()
}
