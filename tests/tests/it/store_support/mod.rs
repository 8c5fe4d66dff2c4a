//! Shared fixtures of the event store tests: a fresh store in its own schema, patient events, a patient aggregate and the upcasters.

#![allow(dead_code)]

use carebus::postgres::PgEventStore;
use carebus::store::{Aggregate, EventContext, Upcasters};
use carebus::{Date, Phi, Timestamp};
use carebus_schemas::{
    AdministrativeGender, PatientCreated, PatientCreatedV1, PatientUpdated, PatientsEvent,
    Reference,
};

/// A store in a new schema of the test database, migrated. Fails (with the command that
/// starts PostgreSQL) when the server is unreachable.
pub async fn fresh_store(prefix: &str) -> PgEventStore {
    let url = carebus_tests::database_url();
    let schema = carebus_tests::unique_name(prefix);
    let store = PgEventStore::connect_in_schema(&url, Some(&schema), 24)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
    // The test login is a superuser: it plays the administrator who creates carebus_tenant.
    carebus::postgres::tenancy::create_tenant_role(store.pool())
        .await
        .unwrap_or_else(|e| panic!("creating the role carebus_tenant: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating schema {schema}: {e}"));
    store
}

pub fn context() -> EventContext {
    EventContext::new("PRM Service").user("clerk-7")
}

pub fn created(id: &str) -> PatientCreated {
    PatientCreated::from(created_v1(id)).with_gender(AdministrativeGender::Female)
}

pub fn created_v1(id: &str) -> PatientCreatedV1 {
    PatientCreatedV1 {
        patient_id: id.to_string(),
        first_name: Phi::new("Jordan".to_string()),
        last_name: Phi::new("Rivera".to_string()),
        date_of_birth: Phi::new(Date::from_ymd(1980, 1, 2).unwrap()),
        email: None,
    }
}

trait WithGender {
    fn with_gender(self, gender: AdministrativeGender) -> Self;
}
impl WithGender for PatientCreated {
    fn with_gender(mut self, gender: AdministrativeGender) -> Self {
        self.gender = Phi::new(gender);
        self
    }
}

pub fn updated(id: &str, i: u32) -> PatientUpdated {
    PatientUpdated {
        patient_id: id.to_string(),
        changed_fields: vec![format!("field{i}")],
        name: None,
        date_of_birth: None,
        gender: None,
        telecom: None,
        address: None,
        preferred_language: Some("en-US".to_string()),
        updated_by: Reference {
            r#type: "Practitioner".to_string(),
            id: "dr-1".to_string(),
            display: None,
        },
        updated_at: Timestamp::now(),
    }
}

pub fn upcasters() -> Upcasters {
    let mut u = Upcasters::new();
    u.register_from::<PatientCreatedV1, PatientCreated>();
    u
}

/// What the tests fold a patient stream into.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    carebus::__private::serde::Serialize,
    carebus::__private::serde::Deserialize,
)]
#[serde(crate = "carebus::__private::serde")]
pub struct PatientFile {
    pub patient_id: String,
    pub registered: bool,
    pub registered_as_v1: bool,
    pub updates: u32,
    pub changed: Vec<String>,
}

impl Aggregate for PatientFile {
    type Event = PatientsEvent;
    const AGGREGATE_TYPE: &'static str = "Patient";
    const STATE_VERSION: u32 = 1;

    fn apply(&mut self, event: &PatientsEvent) {
        match event {
            PatientsEvent::PatientCreated(e) => {
                self.patient_id = e.patient_id.clone();
                self.registered = true;
            }
            PatientsEvent::PatientCreatedV1(e) => {
                self.patient_id = e.patient_id.clone();
                self.registered = true;
                self.registered_as_v1 = true;
            }
            PatientsEvent::PatientUpdated(e) => {
                self.updates += 1;
                self.changed.extend(e.changed_fields.iter().cloned());
            }
            _ => {}
        }
    }
}
