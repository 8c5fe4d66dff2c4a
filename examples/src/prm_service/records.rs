//! PRM commands' events in, one PostgreSQL transaction out: the events appended to the event store (the outbox the relay publishes) together with the patients' and appointments' read model, checked against the aggregate's stream version.

use super::request::Issue;
use carebus::postgres::{PgEventStore, PgStoreOptions};
use carebus::store::{ExpectedVersion, NewEvent, StoreError, stream_name};
use serde::Serialize;
use sqlx::{PgConnection, Row};

/// The read model's tables, created when missing (in the event store's schema).
const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS prm_patient (patient_id text PRIMARY KEY, status text NOT NULL, \
     version bigint NOT NULL, merged_into text, needs_review boolean NOT NULL DEFAULT false)",
    "CREATE TABLE IF NOT EXISTS prm_appointment (appointment_id text PRIMARY KEY, \
     patient_id text NOT NULL, status text NOT NULL, version bigint NOT NULL, \
     practitioner_id text NOT NULL, start_micros bigint NOT NULL, action_id text UNIQUE, \
     journey_id text)",
    "CREATE TABLE IF NOT EXISTS prm_analysis (analysis_id text PRIMARY KEY, patient_id text NOT NULL, \
     kind text NOT NULL, highest_severity text NOT NULL, findings integer NOT NULL, \
     completed_at_micros bigint NOT NULL)",
    "CREATE INDEX IF NOT EXISTS prm_analysis_patient ON prm_analysis (patient_id)",
    "CREATE INDEX IF NOT EXISTS prm_appointment_journey ON prm_appointment (journey_id)",
];

/// Why a command was not carried out; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The request is not valid (400): the fields that are wrong.
    #[error("the request is not valid: {}", .0.iter().map(|i| format!("{} {}", i.field, i.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Issue>),
    /// The patient or appointment does not exist (404).
    #[error("{kind} {id} does not exist")]
    NotFound {
        /// `patient` or `appointment`.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The change does not fit the aggregate's state or version (409).
    #[error("{0}")]
    Conflict(String),
    /// The event store failed (503 when retriable, else 500).
    #[error("prm-service: the event store failed: {0}")]
    Store(#[from] StoreError),
    /// The read model failed (503).
    #[error(
        "prm-service: {operation} failed: {source}; is PostgreSQL up (`scripts/services up postgres`)?"
    )]
    Database {
        /// What was being done.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

pub(super) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> DeskError {
    move |source| DeskError::Database { operation, source }
}

/// What a command wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    /// The aggregate's id (patient id or appointment id).
    pub id: String,
    /// The aggregate's stream version after the event.
    pub version: u64,
    /// The id of the appended event (its CloudEvents `id` on Kafka).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
}

/// The state of one aggregate as the read model keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    /// `active`, `merged`, `inactive`; `scheduled`, `confirmed`, `cancelled`, `completed`.
    pub status: String,
    /// Stream version.
    pub version: u64,
    /// The appointment's patient (empty for a patient).
    pub patient_id: String,
    /// The appointment's practitioner (empty for a patient).
    pub practitioner_id: String,
}

/// The change a command decided on: the event and the aggregate's new status.
pub struct Decision {
    /// The event to append.
    pub event: NewEvent,
    /// The status after it.
    pub status: &'static str,
}

/// The event store and read model; clones share the pool.
#[derive(Clone, Debug)]
pub struct PrmRecords {
    store: PgEventStore,
    patients_topic: String,
    appointments_topic: String,
}

impl PrmRecords {
    /// Connect to `url` in `schema`, migrate the event store and create the read model.
    pub async fn connect(
        url: &str,
        schema: &str,
        patients_topic: &str,
        appointments_topic: &str,
    ) -> Result<PrmRecords, DeskError> {
        let options = PgStoreOptions {
            schema: Some(schema.to_string()),
            max_connections: 8,
            ..PgStoreOptions::default()
        };
        let store = PgEventStore::connect_with(url, &options).await?;
        store.migrate().await?;
        for table in TABLES {
            sqlx::query(*table)
                .execute(store.pool())
                .await
                .map_err(db("create the read model"))?;
        }
        Ok(PrmRecords {
            store,
            patients_topic: patients_topic.into(),
            appointments_topic: appointments_topic.into(),
        })
    }

    /// The event store (the relay reads it).
    pub fn store(&self) -> &PgEventStore {
        &self.store
    }

    /// Append `event` to its stream inside `conn`'s transaction at `expected`, on the
    /// configured topic.
    async fn append(
        &self,
        conn: &mut PgConnection,
        expected: ExpectedVersion,
        mut event: NewEvent,
    ) -> Result<Written, DeskError> {
        event.topic = if event.aggregate_type == "Patient" {
            self.patients_topic.clone()
        } else {
            self.appointments_topic.clone()
        };
        let stream = stream_name(&event.aggregate_type, &event.aggregate_id);
        let written = Written {
            id: event.aggregate_id.clone(),
            version: 0,
            event_id: event.event_id.to_text(),
            event_type: event.event_type.clone(),
        };
        let result = self
            .store
            .append_in(conn, &stream, expected, vec![event])
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => DeskError::Conflict(e.to_string()),
                StoreError::Validation(v) => DeskError::Invalid(vec![Issue {
                    field: v.field.clone(),
                    message: v.rule.clone(),
                }]),
                e => DeskError::Store(e),
            })?;
        Ok(Written {
            version: result.stream_version,
            ..written
        })
    }

    /// Register a patient: a new read-model row and the first event of its stream.
    pub async fn register(&self, event: NewEvent) -> Result<Written, DeskError> {
        let mut tx = self.store.pool().begin().await.map_err(db("begin"))?;
        let inserted = sqlx::query(
            "INSERT INTO prm_patient (patient_id, status, version) VALUES ($1, 'active', 1) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&event.aggregate_id)
        .execute(&mut *tx)
        .await
        .map_err(db("register the patient"))?
        .rows_affected();
        if inserted == 0 {
            return Err(DeskError::Conflict(format!(
                "patient {} is already registered",
                event.aggregate_id
            )));
        }
        let written = self
            .append(&mut tx, ExpectedVersion::NoStream, event)
            .await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(written)
    }

    /// Lock the read-model row of a patient or appointment.
    async fn lock(
        conn: &mut PgConnection,
        kind: &'static str,
        id: &str,
    ) -> Result<Current, DeskError> {
        let sql = if kind == "patient" {
            "SELECT status, version, '' AS patient_id, '' AS practitioner_id FROM prm_patient \
             WHERE patient_id = $1 FOR UPDATE"
        } else {
            "SELECT status, version, patient_id, practitioner_id FROM prm_appointment \
             WHERE appointment_id = $1 FOR UPDATE"
        };
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("read the current state"))?
            .ok_or_else(|| DeskError::NotFound {
                kind,
                id: id.to_string(),
            })?;
        Ok(Current {
            status: row.get(0),
            version: u64::try_from(row.get::<i64, _>(1)).unwrap_or(0),
            patient_id: row.get(2),
            practitioner_id: row.get(3),
        })
    }

    /// Change a patient or appointment: lock its row, check `expected` (the caller's version),
    /// let `decide` turn the current state into an event, append it at the row's version and
    /// store the new status, all in one transaction.
    pub async fn change(
        &self,
        kind: &'static str,
        id: &str,
        expected: Option<u64>,
        decide: impl FnOnce(&Current) -> Result<Decision, DeskError>,
    ) -> Result<Written, DeskError> {
        let mut tx = self.store.pool().begin().await.map_err(db("begin"))?;
        let current = Self::lock(&mut tx, kind, id).await?;
        check_version(kind, id, expected, current.version)?;
        let decision = decide(&current)?;
        let written = self
            .append(
                &mut tx,
                ExpectedVersion::Exact(current.version),
                decision.event,
            )
            .await?;
        let sql = if kind == "patient" {
            "UPDATE prm_patient SET status = $2, version = $3 WHERE patient_id = $1"
        } else {
            "UPDATE prm_appointment SET status = $2, version = $3 WHERE appointment_id = $1"
        };
        sqlx::query(sql)
            .bind(id)
            .bind(decision.status)
            .bind(i64::try_from(written.version).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(db("update the read model"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(written)
    }

    /// Merge `merged` into `survivor`: the event on the survivor's stream, the merged patient
    /// marked `merged` in the same transaction.
    pub async fn merge(
        &self,
        survivor: &str,
        merged: &str,
        expected: Option<u64>,
        event: NewEvent,
    ) -> Result<Written, DeskError> {
        let mut tx = self.store.pool().begin().await.map_err(db("begin"))?;
        // Lock in id order so two opposite merges cannot deadlock.
        let (first, second) = if survivor < merged {
            (survivor, merged)
        } else {
            (merged, survivor)
        };
        let a = Self::lock(&mut tx, "patient", first).await?;
        let b = Self::lock(&mut tx, "patient", second).await?;
        let (keep, gone) = if survivor < merged { (a, b) } else { (b, a) };
        check_version("patient", survivor, expected, keep.version)?;
        for (id, state) in [(survivor, &keep), (merged, &gone)] {
            if state.status != "active" {
                return Err(DeskError::Conflict(format!(
                    "patient {id} is {}; only active patients can be merged",
                    state.status
                )));
            }
        }
        let written = self
            .append(&mut tx, ExpectedVersion::Exact(keep.version), event)
            .await?;
        sqlx::query("UPDATE prm_patient SET version = $2 WHERE patient_id = $1")
            .bind(survivor)
            .bind(i64::try_from(written.version).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(db("update the read model"))?;
        sqlx::query(
            "UPDATE prm_patient SET status = 'merged', merged_into = $2 WHERE patient_id = $1",
        )
        .bind(merged)
        .bind(survivor)
        .execute(&mut *tx)
        .await
        .map_err(db("update the read model"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(written)
    }

    /// Schedule an appointment for an active patient: a new row and the first event of its
    /// stream. With `action` (a journey's action id and the journey's id) a second booking for
    /// the same action is `Ok(None)`: nothing written.
    pub async fn schedule(
        &self,
        event: NewEvent,
        patient_id: &str,
        practitioner_id: &str,
        start_micros: i64,
        action: Option<(&str, &str)>,
    ) -> Result<Option<Written>, DeskError> {
        let (action_id, journey_id) = action.unzip();
        let mut tx = self.store.pool().begin().await.map_err(db("begin"))?;
        let patient = sqlx::query("SELECT status FROM prm_patient WHERE patient_id = $1 FOR SHARE")
            .bind(patient_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("read the patient"))?
            .ok_or_else(|| DeskError::NotFound {
                kind: "patient",
                id: patient_id.to_string(),
            })?;
        let status: String = patient.get(0);
        if status != "active" {
            return Err(DeskError::Conflict(format!(
                "patient {patient_id} is {status}; appointments are booked for active patients only"
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO prm_appointment (appointment_id, patient_id, status, version, \
             practitioner_id, start_micros, action_id, journey_id) \
             VALUES ($1, $2, 'scheduled', 1, $3, $4, $5, $6) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&event.aggregate_id)
        .bind(patient_id)
        .bind(practitioner_id)
        .bind(start_micros)
        .bind(action_id)
        .bind(journey_id)
        .execute(&mut *tx)
        .await
        .map_err(db("record the appointment"))?
        .rows_affected();
        if inserted == 0 {
            if action_id.is_some() {
                return Ok(None);
            }
            return Err(DeskError::Conflict(format!(
                "appointment {} already exists",
                event.aggregate_id
            )));
        }
        let written = self
            .append(&mut tx, ExpectedVersion::NoStream, event)
            .await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Some(written))
    }
}

/// The caller's `expectedVersion` must be the aggregate's version.
fn check_version(
    kind: &str,
    id: &str,
    expected: Option<u64>,
    actual: u64,
) -> Result<(), DeskError> {
    match expected {
        Some(v) if v != actual => Err(DeskError::Conflict(format!(
            "{kind} {id} is at version {actual}, not the expected version {v}; read it again and retry"
        ))),
        _ => Ok(()),
    }
}
