//! The command-line tools run as a user runs them, against the real single Kafka broker (`scripts/services up kafka`).

mod topics;
