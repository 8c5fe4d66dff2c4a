//! carebus's command-line tools (`carebus-topics`, `carebus-acls`, `carebus-dlq`, `carebus-store`) and the cluster options they share.

#![warn(missing_docs)]

pub mod acls;
pub mod cluster;
pub mod store;
pub mod topics;

pub use cluster::ClusterArgs;
