//! The real `schemas/` folder in, a model with every healthcare event out — the loader and the domain files agree.

use carebus_codegen::ir::{Classification, SchemaFormat};
use std::path::Path;

#[test]
fn the_healthcare_domain_loads_without_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let model = match carebus_codegen::load::load_dir(&dir) {
        Ok(m) => m,
        Err(d) => panic!("{}", d.render()),
    };
    let avro: Vec<&str> = model
        .latest_events()
        .iter()
        .filter(|e| e.format == SchemaFormat::Avro)
        .map(|e| e.name.as_str())
        .collect();
    for name in [
        "PatientCreated",
        "PatientUpdated",
        "PatientMerged",
        "PatientDeactivated",
        "AppointmentScheduled",
        "AppointmentConfirmed",
        "AppointmentCancelled",
        "AppointmentCompleted",
        "VitalSignsRecorded",
        "DiagnosisAdded",
        "PrescriptionCreated",
        "LabResultReceived",
        "JourneyStarted",
        "StageCompleted",
        "JourneyCompleted",
        "ActionTriggered",
    ] {
        assert!(avro.contains(&name), "{name} missing from {avro:?}");
    }
    assert_eq!(
        model.versions("PatientCreated").len(),
        2,
        "PatientCreated has v1 and v2"
    );
    assert!(model.envelope.is_some(), "the envelope schema is loaded");
    let patients = model
        .topic("healthcare.patients.events")
        .expect("patients topic");
    assert_eq!((patients.partitions, patients.replication_factor), (12, 3));
    assert_eq!(
        model
            .topic("healthcare.clinical.events")
            .unwrap()
            .retention_ms,
        Some(90 * 86_400_000)
    );
    assert!(model.topic("healthcare.journeys.events").unwrap().compacted);
    for e in &model.events {
        assert!(
            model.topic(&e.topic).is_some(),
            "{} has topic {}",
            e.name,
            e.topic
        );
        assert!(
            e.record.field(&e.aggregate_id).is_some(),
            "{} aggregate id",
            e.name
        );
    }
    let created = model.versions("PatientCreated");
    assert!(
        created[1]
            .record
            .fields
            .iter()
            .any(|f| f.classification == Classification::Phi),
        "PHI fields are classified"
    );
    assert_ne!(created[0].fingerprint, created[1].fingerprint);
    assert!(!model.services.is_empty());
}
