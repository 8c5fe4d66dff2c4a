//! The command-line tools run as a user runs them, against the real single Kafka broker (`scripts/services up kafka`) and, for `carebus-store`, PostgreSQL (`scripts/services up postgres`).

mod store;
mod topics;
