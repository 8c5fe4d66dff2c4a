//! Example services (PRM front desk, FHIR sync, reminders, journey engine) built on the generated healthcare events and the carebus runtime.

pub mod ai;
pub mod chart;
pub mod clinic;
pub mod engine;
pub mod fhir;
pub mod prm;
pub mod prm_service;
pub mod process;
pub mod realtime;
pub mod scenario;
#[cfg(test)]
mod service_manifest;
pub mod summary;
