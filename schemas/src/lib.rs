//! The healthcare domain events, generated at build time from `schemas/**/*.avsc` and `*.proto`.
