//! Example services (PRM, FHIR, AI) built on the generated events and the carebus runtime.
