//! Clinical events in, the AI service's stored facts out; `AnalysisRequested` in, one `AnalysisCompleted` or `AnalysisFailed` per analysis id out (to the AI topic, and to the requester's reply topic when it asked over request-reply).

use super::hba1c;
use super::news2::{self, Vitals};
use super::store::{AiStore, LabValue, Measurement, Recorded, StoreError};
use carebus::transport::Transport;
use carebus::{
    DomainEvent, HandlerContext, HandlerError, HandlerResult, PublishError, PublishOptions,
    Publisher, Uuid,
};
use carebus_schemas::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Name of the NEWS2 analysis in `AnalysisCompleted.model_name`.
pub const NEWS2_MODEL: &str = "carebus-news2";
/// Name of the HbA1c trend analysis in `AnalysisCompleted.model_name`.
pub const HBA1C_MODEL: &str = "carebus-hba1c-trend";
/// Code system of the findings this service codes itself (NEWS2 total).
pub const FINDING_SYSTEM: &str = "urn:carebus:ai";
const LOINC: &str = "http://loinc.org";
const QUANTITY_SCALE: f64 = 10_000.0;

fn value_of(q: &Quantity) -> f64 {
    q.value.unscaled as f64 / QUANTITY_SCALE
}

fn now_micros() -> i64 {
    carebus::Timestamp::now().0
}

/// The handler of the clinical topic: keeps vital signs and numeric LOINC lab results.
#[derive(Clone)]
pub struct ClinicalRecorder {
    store: AiStore,
}

impl ClinicalRecorder {
    /// A recorder writing to `store`.
    pub fn new(store: AiStore) -> ClinicalRecorder {
        ClinicalRecorder { store }
    }
}

fn unavailable(ctx: &HandlerContext, e: StoreError) -> HandlerError {
    HandlerError::retriable(format!(
        "AI store unavailable for {} {}",
        ctx.event_type(),
        ctx.event_id()
    ))
    .with_source(e)
}

fn withdrawn(status: ObservationStatus) -> bool {
    matches!(
        status,
        ObservationStatus::EnteredInError | ObservationStatus::Cancelled
    )
}

impl ClinicalHandler for ClinicalRecorder {
    async fn on_vital_signs_recorded(
        &self,
        ctx: &HandlerContext,
        e: VitalSignsRecorded,
    ) -> HandlerResult {
        let recording = e.recording_id.to_text();
        let stored = if withdrawn(e.status) {
            self.store.forget(&recording).await
        } else {
            let measurements: Vec<Measurement> = e
                .observations
                .expose()
                .iter()
                .filter(|s| s.code.system == LOINC)
                .map(|s| Measurement {
                    loinc: s.code.code.clone(),
                    value: value_of(s.value.expose()),
                    unit: s.value.expose().unit.clone(),
                })
                .collect();
            self.store
                .record_vitals(&e.patient_id, &recording, e.effective_at.0, &measurements)
                .await
        };
        stored.map_err(|err| unavailable(ctx, err))
    }

    async fn on_lab_result_received(
        &self,
        ctx: &HandlerContext,
        e: LabResultReceived,
    ) -> HandlerResult {
        let result = e.result_id.to_text();
        let code = e.code.expose();
        let stored = match &e.value {
            _ if withdrawn(e.status) => self.store.forget(&result).await,
            Some(v) if code.system == LOINC => {
                let m = Measurement {
                    loinc: code.code.clone(),
                    value: value_of(v.expose()),
                    unit: v.expose().unit.clone(),
                };
                self.store
                    .record_lab_result(&e.patient_id, &result, e.specimen.collected_at.0, &m)
                    .await
            }
            // Text results and other code systems are not analysed.
            _ => Ok(()),
        };
        stored.map_err(|err| unavailable(ctx, err))
    }
}

/// What an analysis request came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Findings.
    Completed(AnalysisCompleted),
    /// A reason.
    Failed(AnalysisFailed),
}

impl Outcome {
    /// The result's event type.
    pub fn event_type(&self) -> &'static str {
        match self {
            Outcome::Completed(_) => AnalysisCompleted::EVENT_TYPE,
            Outcome::Failed(_) => AnalysisFailed::EVENT_TYPE,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Outcome::Completed(_) => "completed",
            Outcome::Failed(f) => match f.reason {
                FailureReason::FailureReasonInsufficientData => "insufficient_data",
                FailureReason::FailureReasonInvalidRequest => "invalid_request",
                FailureReason::FailureReasonModelUnavailable => "timeout",
                _ => "failed",
            },
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Completed(e) => e.to_json(),
            Outcome::Failed(e) => e.to_json(),
        }
    }

    fn from_recorded(r: &Recorded) -> Result<Outcome, carebus::DecodeError> {
        if r.result_type == AnalysisCompleted::EVENT_TYPE {
            AnalysisCompleted::from_json(&r.result).map(Outcome::Completed)
        } else {
            AnalysisFailed::from_json(&r.result).map(Outcome::Failed)
        }
    }
}

/// An `AnalysisFailed` for `request`.
pub fn failure(
    request: &AnalysisRequested,
    reason: FailureReason,
    message: String,
    retryable: bool,
) -> Outcome {
    Outcome::Failed(AnalysisFailed {
        analysis_id: request.analysis_id.clone(),
        patient_id: request.patient_id.clone(),
        reason,
        message,
        retryable,
        failed_at_micros: now_micros(),
    })
}

/// The symbol of an analysis kind, e.g. `ANALYSIS_KIND_LAB_TREND`, or its number.
pub fn kind_name(kind: AnalysisKind) -> String {
    kind.symbol()
        .map_or_else(|| format!("unknown kind {kind:?}"), str::to_owned)
}

/// Run the analysis `request` asks for on the facts in `store`.
pub async fn analyse(store: &AiStore, request: &AnalysisRequested) -> Result<Outcome, StoreError> {
    let started = Instant::now();
    if request.patient_id.is_empty() {
        return Ok(failure(
            request,
            FailureReason::FailureReasonInvalidRequest,
            "patient_id is empty; set the patient whose data is analysed".into(),
            false,
        ));
    }
    let outcome = match request.kind {
        AnalysisKind::AnalysisKindEarlyWarningScore => early_warning(store, request).await?,
        AnalysisKind::AnalysisKindLabTrend => lab_trend(store, request).await?,
        AnalysisKind::AnalysisKindUnspecified => failure(
            request,
            FailureReason::FailureReasonInvalidRequest,
            "kind is ANALYSIS_KIND_UNSPECIFIED; set ANALYSIS_KIND_LAB_TREND or \
             ANALYSIS_KIND_EARLY_WARNING_SCORE"
                .into(),
            false,
        ),
        other => failure(
            request,
            FailureReason::FailureReasonInvalidRequest,
            format!(
                "{} is not supported by ai-service (it runs ANALYSIS_KIND_LAB_TREND and \
                 ANALYSIS_KIND_EARLY_WARNING_SCORE)",
                kind_name(other)
            ),
            false,
        ),
    };
    Ok(match outcome {
        Outcome::Completed(mut c) => {
            c.duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
            Outcome::Completed(c)
        }
        failed => failed,
    })
}

#[allow(deprecated)] // result_text: the schema still has it, always empty
fn completed(
    request: &AnalysisRequested,
    model: &str,
    finding: Finding,
    summary: String,
) -> Outcome {
    Outcome::Completed(AnalysisCompleted {
        analysis_id: request.analysis_id.clone(),
        patient_id: request.patient_id.clone(),
        kind: request.kind,
        model_name: model.into(),
        model_version: env!("CARGO_PKG_VERSION").into(),
        // Deterministic rules over recorded values: no model uncertainty.
        confidence: 1.0,
        findings: carebus::Phi::new(vec![finding]),
        summary: Some(carebus::Phi::new(summary)),
        duration_ms: 0,
        completed_at_micros: now_micros(),
        result_text: carebus::Phi::new(String::new()),
    })
}

/// NEWS2 from the latest measurement of each of its five vital signs.
async fn early_warning(
    store: &AiStore,
    request: &AnalysisRequested,
) -> Result<Outcome, StoreError> {
    let latest = store.latest_vitals(&request.patient_id).await?;
    let spo2 = latest
        .get(news2::SPO2)
        .or_else(|| latest.get(news2::SPO2_ARTERIAL));
    let needed = [
        (news2::RESPIRATORY_RATE, latest.get(news2::RESPIRATORY_RATE)),
        (news2::SPO2, spo2),
        (news2::SYSTOLIC_BP, latest.get(news2::SYSTOLIC_BP)),
        (news2::PULSE, latest.get(news2::PULSE)),
        (news2::TEMPERATURE, latest.get(news2::TEMPERATURE)),
    ];
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(code, _)| *code)
        .collect();
    let [Some(rr), Some(sat), Some(sbp), Some(pulse), Some(temp)] = needed.map(|(_, v)| v) else {
        return Ok(failure(
            request,
            FailureReason::FailureReasonInsufficientData,
            format!(
                "NEWS2 needs respiratory rate, SpO2, systolic BP, pulse and temperature \
                 (LOINC 9279-1, 59408-5, 8480-6, 8867-4, 8310-5); none recorded for LOINC {}",
                missing.join(", ")
            ),
            false,
        ));
    };
    let Some(temperature) = news2::celsius(temp.value, &temp.unit) else {
        return Ok(failure(
            request,
            FailureReason::FailureReasonInsufficientData,
            format!(
                "NEWS2 needs the temperature (LOINC 8310-5) in Cel or [degF]; the latest is in {:?}",
                temp.unit
            ),
            false,
        ));
    };
    let score = news2::score(&Vitals {
        respiratory_rate: rr.value,
        spo2: sat.value,
        systolic_bp: sbp.value,
        pulse: pulse.value,
        temperature,
        on_oxygen: false,
        not_alert: false,
    });
    let severity = match score.risk {
        news2::Risk::Low if score.total == 0 => FindingSeverity::FindingSeverityInfo,
        news2::Risk::Low => FindingSeverity::FindingSeverityLow,
        news2::Risk::LowMedium => FindingSeverity::FindingSeverityModerate,
        news2::Risk::Medium => FindingSeverity::FindingSeverityHigh,
        news2::Risk::High => FindingSeverity::FindingSeverityCritical,
    };
    let response = match score.risk {
        news2::Risk::Low if score.total == 0 => "routine monitoring",
        news2::Risk::Low => "ward-based response",
        news2::Risk::LowMedium => "urgent ward-based response",
        news2::Risk::Medium => "urgent response",
        news2::Risk::High => "emergency response",
    };
    let p = score.parameters;
    let mut recordings: Vec<&str> = needed
        .iter()
        .filter_map(|(_, v)| v.map(|v| v.recording_id.as_str()))
        .collect();
    recordings.sort_unstable();
    recordings.dedup();
    let finding = Finding {
        code: carebus::Phi::new(FindingCode {
            system: FINDING_SYSTEM.into(),
            code: "news2-total".into(),
            display: Some("NEWS2 total score".into()),
        }),
        description: carebus::Phi::new(format!(
            "NEWS2 {total} ({risk} clinical risk): respiration {}, SpO2 {}, air/oxygen {}, \
             systolic BP {}, pulse {}, consciousness {}, temperature {}. Consciousness and \
             supplemental oxygen are not recorded and scored as alert and air.",
            p[0],
            p[1],
            p[2],
            p[3],
            p[4],
            p[5],
            p[6],
            total = score.total,
            risk = score.risk.label(),
        )),
        confidence: 1.0,
        severity,
        evidence: recordings
            .into_iter()
            .map(|id| InputReference {
                r#type: "Observation".into(),
                id: id.into(),
            })
            .collect(),
    };
    let summary = format!(
        "NEWS2 {} ({} clinical risk): {response}.",
        score.total,
        score.risk.label()
    );
    Ok(completed(request, NEWS2_MODEL, finding, summary))
}

/// HbA1c in % from its UCUM unit (`%`, or IFCC `mmol/mol` converted by the NGSP master
/// equation); `None` for another unit.
pub fn hba1c_percent(value: f64, unit: &str) -> Option<f64> {
    match unit {
        "%" => Some(value),
        "mmol/mol" => Some(value / 10.929 + 2.15),
        _ => None,
    }
}

/// The trend of the patient's HbA1c results.
async fn lab_trend(store: &AiStore, request: &AnalysisRequested) -> Result<Outcome, StoreError> {
    let values: Vec<LabValue> = store
        .lab_values(&request.patient_id, &[hba1c::HBA1C, hba1c::HBA1C_HPLC])
        .await?;
    let series: Vec<hba1c::Result> = values
        .iter()
        .filter_map(|v| {
            hba1c_percent(v.value, &v.unit).map(|percent| hba1c::Result {
                collected_at: v.collected_at,
                percent,
            })
        })
        .collect();
    let Some(trend) = hba1c::trend(&series) else {
        return Ok(failure(
            request,
            FailureReason::FailureReasonInsufficientData,
            format!(
                "HbA1c trend needs at least {} results of LOINC 4548-4 or 17856-6 in % or \
                 mmol/mol, collected at different times; found {}",
                hba1c::MIN_RESULTS,
                series.len()
            ),
            false,
        ));
    };
    let severity = match trend.risk {
        hba1c::Risk::Normal => FindingSeverity::FindingSeverityInfo,
        hba1c::Risk::Prediabetes => FindingSeverity::FindingSeverityModerate,
        hba1c::Risk::Diabetes => FindingSeverity::FindingSeverityHigh,
    };
    let finding = Finding {
        code: carebus::Phi::new(FindingCode {
            system: LOINC.into(),
            code: hba1c::HBA1C.into(),
            display: Some("Hemoglobin A1c/Hemoglobin.total in Blood".into()),
        }),
        description: carebus::Phi::new(format!(
            "HbA1c {} over the last {} results ({:.1}% to {:.1}%, {:+.2} percentage points \
             per year); the latest is in the ADA {} range.",
            trend.direction(),
            trend.results,
            trend.first,
            trend.latest,
            trend.slope_per_year,
            trend.risk.label()
        )),
        confidence: 1.0,
        severity,
        evidence: values
            .iter()
            .map(|v| InputReference {
                r#type: "Observation".into(),
                id: v.result_id.clone(),
            })
            .collect(),
    };
    let summary = format!(
        "HbA1c {:.1}% ({} range), {} {:+.2} %/year over {} results.",
        trend.latest,
        trend.risk.label(),
        trend.direction(),
        trend.slope_per_year,
        trend.results
    );
    Ok(completed(request, HBA1C_MODEL, finding, summary))
}

/// The handler of the AI topic: answers each `AnalysisRequested` once.
pub struct Analyst<T: Transport> {
    store: AiStore,
    publisher: Publisher<T>,
    topic: String,
    limit: Arc<Semaphore>,
    timeout: Duration,
}

impl<T: Transport> Clone for Analyst<T> {
    fn clone(&self) -> Self {
        Analyst {
            store: self.store.clone(),
            publisher: self.publisher.clone(),
            topic: self.topic.clone(),
            limit: self.limit.clone(),
            timeout: self.timeout,
        }
    }
}

impl<T: Transport> Analyst<T> {
    /// An analyst reading `store`, publishing results to `topic`, running at most
    /// `concurrency` analyses at once, each within `timeout`.
    pub fn new(
        store: AiStore,
        publisher: Publisher<T>,
        topic: String,
        concurrency: usize,
        timeout: Duration,
    ) -> Analyst<T> {
        Analyst {
            store,
            publisher,
            topic,
            limit: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
        }
    }

    /// Run the analysis within the concurrency limit and the timeout.
    async fn run(&self, request: &AnalysisRequested) -> Result<Outcome, StoreError> {
        let _permit = self.limit.acquire().await;
        match tokio::time::timeout(self.timeout, analyse(&self.store, request)).await {
            Ok(outcome) => outcome,
            Err(_) => Ok(failure(
                request,
                FailureReason::FailureReasonModelUnavailable,
                format!(
                    "{} did not finish within the {} ms timeout (CAREBUS_AI_TIMEOUT_MS); \
                     retry with a new analysis id",
                    kind_name(request.kind),
                    self.timeout.as_millis()
                ),
                true,
            )),
        }
    }

    async fn send<E: DomainEvent + Clone>(
        &self,
        ctx: &HandlerContext,
        event: &E,
        event_id: &str,
    ) -> Result<(), PublishError> {
        let mut options = PublishOptions::caused_by(ctx);
        options.event_id = Some(event_id.to_owned());
        let mut record = self.publisher.prepare(event, options)?;
        record.topic = self.topic.clone();
        self.publisher.send_prepared(record).await?;
        if ctx.reply_to().is_some() {
            self.publisher.reply(ctx, event.clone()).await?;
        }
        Ok(())
    }

    /// Publish `outcome` under `event_id` (and reply), then mark it published.
    async fn publish(
        &self,
        ctx: &HandlerContext,
        analysis_id: &str,
        outcome: &Outcome,
        event_id: &str,
    ) -> HandlerResult {
        let sent = match outcome {
            Outcome::Completed(e) => self.send(ctx, e, event_id).await,
            Outcome::Failed(e) => self.send(ctx, e, event_id).await,
        };
        sent.map_err(|e| {
            HandlerError::retriable(format!(
                "publishing the {} of analysis request {} failed",
                outcome.event_type(),
                ctx.event_id()
            ))
            .with_source(e)
        })?;
        self.store
            .published(analysis_id)
            .await
            .map_err(|e| unavailable(ctx, e))
    }

    /// A request handled before: publish its recorded result again only if it never was.
    async fn redelivered(
        &self,
        ctx: &HandlerContext,
        analysis_id: &str,
        recorded: Recorded,
    ) -> HandlerResult {
        if recorded.published {
            count("duplicate");
            tracing::debug!(event_id = ctx.event_id(), "analysis request handled before");
            return Ok(());
        }
        let outcome = Outcome::from_recorded(&recorded).map_err(|e| {
            HandlerError::permanent(format!(
                "the recorded {} of analysis request {} does not decode",
                recorded.result_type,
                ctx.event_id()
            ))
            .with_source(e)
        })?;
        count("republished");
        self.publish(ctx, analysis_id, &outcome, &recorded.event_id)
            .await
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("carebus_ai_requests_total", "outcome" => outcome).increment(1);
}

impl<T: Transport> AiHandler for Analyst<T> {
    async fn on_analysis_requested(
        &self,
        ctx: &HandlerContext,
        request: AnalysisRequested,
    ) -> HandlerResult {
        let id = request.analysis_id.clone();
        if let Some(recorded) = self
            .store
            .recorded(&id)
            .await
            .map_err(|e| unavailable(ctx, e))?
        {
            return self.redelivered(ctx, &id, recorded).await;
        }
        let started = Instant::now();
        let outcome = self.run(&request).await.map_err(|e| unavailable(ctx, e))?;
        metrics::histogram!("carebus_ai_analysis_seconds", "kind" => kind_label(request.kind))
            .record(started.elapsed().as_secs_f64());
        let event_id = Uuid::new_v4().to_text();
        let fresh = self
            .store
            .record(
                &id,
                ctx.event_id(),
                &kind_name(request.kind),
                outcome.event_type(),
                &event_id,
                &outcome.to_json(),
            )
            .await
            .map_err(|e| unavailable(ctx, e))?;
        if !fresh {
            // Another delivery recorded its result first; that one stands.
            let recorded = self
                .store
                .recorded(&id)
                .await
                .map_err(|e| unavailable(ctx, e))?;
            return match recorded {
                Some(r) => self.redelivered(ctx, &id, r).await,
                None => Err(HandlerError::retriable(format!(
                    "analysis request {} was recorded and then not found",
                    ctx.event_id()
                ))),
            };
        }
        count(outcome.label());
        tracing::info!(event_id = ctx.event_id(), kind = %kind_name(request.kind),
            outcome = outcome.label(), "analysis request answered");
        self.publish(ctx, &id, &outcome, &event_id).await
    }
}

/// A bounded metric label for `kind`.
fn kind_label(kind: AnalysisKind) -> &'static str {
    kind.symbol().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hba1c_in_mmol_per_mol_is_converted_to_ngsp_percent() {
        // 53 mmol/mol is 7.0 % (NGSP/IFCC master equation).
        let p = super::hba1c_percent(53.0, "mmol/mol").unwrap();
        assert!((p - 7.0).abs() < 0.01, "{p}");
        assert_eq!(super::hba1c_percent(7.1, "%"), Some(7.1));
        assert_eq!(super::hba1c_percent(7.1, "mg/dL"), None);
    }
}
