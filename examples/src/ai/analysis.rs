//! An `AnalysisRequested` and the facts in the store turned into its `AnalysisCompleted` (NEWS2, HbA1c trend) or `AnalysisFailed` with the reason.

use super::hba1c;
use super::news2::{self, Vitals};
use super::store::{AiStore, LabValue, Recorded, StoreError};
use carebus::DomainEvent;
use carebus_schemas::*;
use std::time::Instant;

/// Name of the NEWS2 analysis in `AnalysisCompleted.model_name`.
pub const NEWS2_MODEL: &str = "carebus-news2";
/// Name of the HbA1c trend analysis in `AnalysisCompleted.model_name`.
pub const HBA1C_MODEL: &str = "carebus-hba1c-trend";
/// Code system of the findings this service codes itself (NEWS2 total).
pub const FINDING_SYSTEM: &str = "urn:carebus:ai";
/// LOINC's code system URI.
pub const LOINC: &str = "http://loinc.org";

fn now_micros() -> i64 {
    carebus::Timestamp::now().0
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

    /// The outcome as counted: completed, insufficient_data, invalid_request, timeout, failed.
    pub fn label(&self) -> &'static str {
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

    /// The result event's JSON form (as recorded).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Completed(e) => e.to_json(),
            Outcome::Failed(e) => e.to_json(),
        }
    }

    /// The result recorded in `r`.
    pub fn from_recorded(r: &Recorded) -> Result<Outcome, carebus::DecodeError> {
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
