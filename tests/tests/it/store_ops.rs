//! Event store operations against real PostgreSQL (and Kafka for the bridges): query filters, cursor pages both ways and counts; the HTTP endpoint under hostile input, its bearer tokens, tenant isolation, PHI redaction and access log; row-level security (also against `NoStream` appends across tenants) and migrations as a non-superuser owner; crypto-shredding; archive + replay; and (in the `disruptive` binary) the outbox relay through a broker outage with the Kafka → store audit sink.
//!
//! Each test works in its own schema (`unique_name`). Needs `scripts/services up postgres`
//! (and `up kafka` for the bridge test); without them the tests fail with that command.

#[path = "store_ops/common.rs"]
mod common;
use common::*;

#[path = "store_ops/blobs.rs"]
mod blobs;
#[path = "store_ops/compaction.rs"]
mod compaction;
#[path = "store_ops/json_form.rs"]
mod json_form;
#[path = "store_ops/query.rs"]
mod query_api;
#[path = "store_ops/query_auth.rs"]
mod query_auth;
#[path = "store_ops/relay.rs"]
mod relay;
#[path = "store_ops/sink.rs"]
mod sink;
#[path = "store_ops/tenancy.rs"]
mod tenancy;
