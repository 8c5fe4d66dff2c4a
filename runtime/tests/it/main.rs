//! The facade crate's integration tests in one binary: the in-process bus, publisher, consumer (in place and on the polling thread), wire format, observability, signals, spans and the embedded event store.

mod bus;
mod common;
mod consumer;
mod observe;
mod outbox;
mod outbox_crash;
mod polling_thread;
mod publisher;
mod service;
mod signals;
mod spans;
mod store_embedded;
mod wire;
