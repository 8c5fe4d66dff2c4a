//! The loaded model turned into diagnostics for problems no single schema file shows; today the compatibility gate against the committed schema history ([`compat`]).

pub mod compat;

pub use compat::gate;
