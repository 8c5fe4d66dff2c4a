//! The read model's rows in (patients, appointments, the AI analyses recorded for a patient), the views the API answers GETs with out; plus recording an analysis once.

use super::records::{DeskError, PrmRecords, db};
use serde::Serialize;
use sqlx::Row;

/// A patient as the API shows it (no PHI: the read model keeps none).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientView {
    /// Enterprise id.
    pub patient_id: String,
    /// `active`, `merged` or `inactive`.
    pub status: String,
    /// Stream version (send it back as `expectedVersion`).
    pub version: u64,
    /// The surviving patient when this one was merged.
    pub merged_into: Option<String>,
    /// Whether an AI analysis found something of high or critical severity.
    pub needs_review: bool,
    /// The AI analyses recorded for the patient, newest first.
    pub analyses: Vec<AnalysisView>,
}

/// An AI analysis recorded for a patient.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisView {
    /// The analysis id.
    pub analysis_id: String,
    /// Its kind, e.g. `ANALYSIS_KIND_LAB_TREND`.
    pub kind: String,
    /// The most severe finding's severity (`FINDING_SEVERITY_UNSPECIFIED` when none).
    pub highest_severity: String,
    /// How many findings it had.
    pub findings: i32,
    /// When it completed (microseconds since the epoch).
    pub completed_at_micros: i64,
}

/// An appointment as the API shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentView {
    /// Appointment id.
    pub appointment_id: String,
    /// Its patient.
    pub patient_id: String,
    /// `scheduled`, `confirmed`, `cancelled` or `completed`.
    pub status: String,
    /// Stream version (send it back as `expectedVersion`).
    pub version: u64,
    /// Start (microseconds since the epoch).
    pub start_micros: i64,
    /// The journey action that booked it, if one did.
    pub action_id: Option<String>,
}

/// An AI result to record.
pub struct Analysis {
    /// Analysis id.
    pub analysis_id: String,
    /// Patient id.
    pub patient_id: String,
    /// Kind symbol.
    pub kind: String,
    /// Highest finding severity symbol.
    pub highest_severity: String,
    /// Whether that severity asks for review (high or critical).
    pub needs_review: bool,
    /// Number of findings.
    pub findings: i32,
    /// Completion time.
    pub completed_at_micros: i64,
}

impl PrmRecords {
    /// Record an AI analysis once (by its id); a high or critical one flags the patient for
    /// review. Returns whether it was new.
    pub async fn record_analysis(&self, a: &Analysis) -> Result<bool, DeskError> {
        let mut tx = self.store().pool().begin().await.map_err(db("begin"))?;
        let inserted = sqlx::query(
            "INSERT INTO prm_analysis (analysis_id, patient_id, kind, highest_severity, findings, \
             completed_at_micros) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&a.analysis_id)
        .bind(&a.patient_id)
        .bind(&a.kind)
        .bind(&a.highest_severity)
        .bind(a.findings)
        .bind(a.completed_at_micros)
        .execute(&mut *tx)
        .await
        .map_err(db("record the analysis"))?
        .rows_affected();
        if inserted > 0 && a.needs_review {
            sqlx::query("UPDATE prm_patient SET needs_review = true WHERE patient_id = $1")
                .bind(&a.patient_id)
                .execute(&mut *tx)
                .await
                .map_err(db("flag the patient"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(inserted > 0)
    }

    /// A patient of the read model with its analyses, both from one snapshot (an analysis
    /// recorded between the two reads would otherwise show without its flag).
    pub async fn patient(&self, id: &str) -> Result<Option<PatientView>, DeskError> {
        let mut tx = self.store().pool().begin().await.map_err(db("begin"))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db("begin a snapshot"))?;
        let Some(row) = sqlx::query(
            "SELECT status, version, merged_into, needs_review FROM prm_patient WHERE patient_id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("read the patient"))?
        else {
            return Ok(None);
        };
        let analyses = sqlx::query(
            "SELECT analysis_id, kind, highest_severity, findings, completed_at_micros \
             FROM prm_analysis WHERE patient_id = $1 ORDER BY completed_at_micros DESC",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("read the analyses"))?
        .into_iter()
        .map(|r| AnalysisView {
            analysis_id: r.get(0),
            kind: r.get(1),
            highest_severity: r.get(2),
            findings: r.get(3),
            completed_at_micros: r.get(4),
        })
        .collect();
        tx.commit().await.map_err(db("end the snapshot"))?;
        Ok(Some(PatientView {
            patient_id: id.to_string(),
            status: row.get(0),
            version: u64::try_from(row.get::<i64, _>(1)).unwrap_or(0),
            merged_into: row.get(2),
            needs_review: row.get(3),
            analyses,
        }))
    }

    /// An appointment of the read model.
    pub async fn appointment(&self, id: &str) -> Result<Option<AppointmentView>, DeskError> {
        let row = sqlx::query(
            "SELECT patient_id, status, version, start_micros, action_id FROM prm_appointment \
             WHERE appointment_id = $1",
        )
        .bind(id)
        .fetch_optional(self.store().pool())
        .await
        .map_err(db("read the appointment"))?;
        Ok(row.map(|r| AppointmentView {
            appointment_id: id.to_string(),
            patient_id: r.get(0),
            status: r.get(1),
            version: u64::try_from(r.get::<i64, _>(2)).unwrap_or(0),
            start_micros: r.get(3),
            action_id: r.get(4),
        }))
    }

    /// The appointments a journey booked that are still open (scheduled or confirmed).
    pub async fn open_appointments_of_journey(
        &self,
        journey_id: &str,
    ) -> Result<Vec<String>, DeskError> {
        let rows = sqlx::query(
            "SELECT appointment_id FROM prm_appointment WHERE journey_id = $1 \
             AND status IN ('scheduled', 'confirmed') ORDER BY appointment_id",
        )
        .bind(journey_id)
        .fetch_all(self.store().pool())
        .await
        .map_err(db("read the journey's appointments"))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }
}
