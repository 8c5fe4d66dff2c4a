//! The loaded model turned into diagnostics for problems no single schema file shows; the compatibility gate against the committed schema history ([`compat`]) and the journeys' state graphs ([`journey`]).

pub mod compat;
pub mod journey;

pub use compat::gate;
