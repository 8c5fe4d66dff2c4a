//! Vital signs, lab results and handled analyses in, rows of the AI service's PostgreSQL schema out (and back: a patient's latest vitals, HbA1c series, an analysis's recorded result).

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};
use std::collections::HashMap;
use std::str::FromStr;

/// The AI service's migrations (`examples/migrations/ai/*.sql`), embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/ai");

/// Why the store failed; names the operation, keeps the driver error (never a clinical value).
#[derive(Debug, thiserror::Error)]
#[error("AI store: {operation} failed: {source}")]
pub struct StoreError {
    /// What was being done, e.g. `record vital signs`.
    pub operation: String,
    /// The driver's error.
    #[source]
    pub source: sqlx::Error,
}

fn failed(operation: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let operation = operation.into();
    move |source| StoreError { operation, source }
}

/// One measurement: LOINC code, value, UCUM unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// LOINC code.
    pub loinc: String,
    /// The value.
    pub value: f64,
    /// UCUM unit.
    pub unit: String,
}

/// The latest measurement of one vital sign.
#[derive(Clone, Debug, PartialEq)]
pub struct LatestVital {
    /// The value.
    pub value: f64,
    /// UCUM unit.
    pub unit: String,
    /// The recording it came from (the evidence of a finding).
    pub recording_id: String,
}

/// One numeric lab result as the trend reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct LabValue {
    /// Its id (the evidence of a finding).
    pub result_id: String,
    /// Specimen collection, µs since the epoch.
    pub collected_at: i64,
    /// The value.
    pub value: f64,
    /// UCUM unit.
    pub unit: String,
}

/// The result recorded for an analysis id.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `AnalysisCompleted` or `AnalysisFailed`.
    pub result_type: String,
    /// The event id the result is published under.
    pub event_id: String,
    /// The result event's JSON form.
    pub result: Value,
    /// Whether the transport has it.
    pub published: bool,
}

/// The AI service's tables; clones share the pool.
#[derive(Clone)]
pub struct AiStore {
    pool: PgPool,
}

impl AiStore {
    /// Connect to `url`, in `schema` (created when missing), and apply the migrations.
    pub async fn connect(url: &str, schema: &str) -> Result<AiStore, StoreError> {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError {
                operation: format!(
                    "use schema {schema:?} (expected letters, digits and _ only; set CAREBUS_AI_DB_SCHEMA)"
                ),
                source: sqlx::Error::Configuration("not a plain identifier".into()),
            });
        }
        let options = PgConnectOptions::from_str(url).map_err(failed(
            "parse the database URL (expected postgres://user:password@host:port/database)",
        ))?;
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(failed("connect to PostgreSQL"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut conn)
        .await
        .map_err(failed(format!("create schema {schema}")))?;
        conn.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.options([("search_path", schema)]))
            .await
            .map_err(failed("connect to PostgreSQL"))?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError {
            operation: format!("migrate schema {schema}"),
            source: e.into(),
        })?;
        Ok(AiStore { pool })
    }

    /// Keep the measurements of recording `recording_id` (replacing an earlier version of it).
    pub async fn record_vitals(
        &self,
        patient_id: &str,
        recording_id: &str,
        effective_at: i64,
        measurements: &[Measurement],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(failed("begin"))?;
        sqlx::query("DELETE FROM ai_vital_sign WHERE recording_id = $1")
            .bind(recording_id)
            .execute(&mut *tx)
            .await
            .map_err(failed("replace a vital-signs recording"))?;
        for m in measurements {
            sqlx::query(
                "INSERT INTO ai_vital_sign (recording_id, loinc, patient_id, value, unit, effective_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (recording_id, loinc) DO UPDATE SET value = EXCLUDED.value, \
                 unit = EXCLUDED.unit, effective_at = EXCLUDED.effective_at",
            )
            .bind(recording_id)
            .bind(&m.loinc)
            .bind(patient_id)
            .bind(m.value)
            .bind(&m.unit)
            .bind(effective_at)
            .execute(&mut *tx)
            .await
            .map_err(failed("record vital signs"))?;
        }
        tx.commit().await.map_err(failed("commit vital signs"))
    }

    /// Keep (or replace) lab result `result_id`.
    pub async fn record_lab_result(
        &self,
        patient_id: &str,
        result_id: &str,
        collected_at: i64,
        m: &Measurement,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ai_lab_result (result_id, patient_id, loinc, value, unit, collected_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (result_id) DO UPDATE SET loinc = EXCLUDED.loinc, value = EXCLUDED.value, \
             unit = EXCLUDED.unit, collected_at = EXCLUDED.collected_at",
        )
        .bind(result_id)
        .bind(patient_id)
        .bind(&m.loinc)
        .bind(m.value)
        .bind(&m.unit)
        .bind(collected_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(failed("record a lab result"))
    }

    /// Forget a recording or lab result entered in error.
    pub async fn forget(&self, id: &str) -> Result<(), StoreError> {
        for table in [
            "ai_vital_sign WHERE recording_id",
            "ai_lab_result WHERE result_id",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} = $1")))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(failed("forget a result entered in error"))?;
        }
        Ok(())
    }

    /// The latest measurement of each vital sign of `patient_id`, by LOINC code.
    pub async fn latest_vitals(
        &self,
        patient_id: &str,
    ) -> Result<HashMap<String, LatestVital>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (loinc) loinc, value, unit, recording_id FROM ai_vital_sign \
             WHERE patient_id = $1 ORDER BY loinc, effective_at DESC, recording_id",
        )
        .bind(patient_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read the latest vital signs"))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.get::<String, _>("loinc"),
                    LatestVital {
                        value: r.get("value"),
                        unit: r.get("unit"),
                        recording_id: r.get("recording_id"),
                    },
                )
            })
            .collect())
    }

    /// The numeric results of `patient_id` with one of `codes`, oldest first.
    pub async fn lab_values(
        &self,
        patient_id: &str,
        codes: &[&str],
    ) -> Result<Vec<LabValue>, StoreError> {
        let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
        let rows = sqlx::query(
            "SELECT result_id, collected_at, value, unit FROM ai_lab_result \
             WHERE patient_id = $1 AND loinc = ANY($2) ORDER BY collected_at, result_id",
        )
        .bind(patient_id)
        .bind(&codes)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("read lab results"))?;
        Ok(rows
            .into_iter()
            .map(|r| LabValue {
                result_id: r.get("result_id"),
                collected_at: r.get("collected_at"),
                value: r.get("value"),
                unit: r.get("unit"),
            })
            .collect())
    }

    /// The result recorded for `analysis_id`, if it was handled before.
    pub async fn recorded(&self, analysis_id: &str) -> Result<Option<Recorded>, StoreError> {
        let row = sqlx::query(
            "SELECT result_type, event_id, result, published_at IS NOT NULL AS published \
             FROM ai_analysis WHERE analysis_id = $1",
        )
        .bind(analysis_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("read a handled analysis"))?;
        Ok(row.map(|r| Recorded {
            result_type: r.get("result_type"),
            event_id: r.get("event_id"),
            result: r.get("result"),
            published: r.get("published"),
        }))
    }

    /// Record the result of `analysis_id` before it is published; `false` when another
    /// delivery of the request recorded one first (that one stands).
    pub async fn record(
        &self,
        analysis_id: &str,
        request_id: &str,
        kind: &str,
        result_type: &str,
        event_id: &str,
        result: &Value,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO ai_analysis (analysis_id, request_id, kind, result_type, event_id, result) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (analysis_id) DO NOTHING",
        )
        .bind(analysis_id)
        .bind(request_id)
        .bind(kind)
        .bind(result_type)
        .bind(event_id)
        .bind(result)
        .execute(&self.pool)
        .await
        .map_err(failed("record an analysis result"))?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Mark the result of `analysis_id` as published.
    pub async fn published(&self, analysis_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE ai_analysis SET published_at = now() WHERE analysis_id = $1 AND published_at IS NULL",
        )
        .bind(analysis_id)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(failed("mark an analysis published"))
    }

    /// How many analyses were handled (recorded), by result type.
    pub async fn handled(&self) -> Result<HashMap<String, i64>, StoreError> {
        let rows = sqlx::query("SELECT result_type, count(*) AS n FROM ai_analysis GROUP BY 1")
            .fetch_all(&self.pool)
            .await
            .map_err(failed("count handled analyses"))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("result_type"), r.get("n")))
            .collect())
    }
}
