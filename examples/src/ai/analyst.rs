//! Clinical events in, the AI service's stored facts out; `AnalysisRequested` in, one `AnalysisCompleted` or `AnalysisFailed` per analysis id out (to the AI topic, and to the requester's reply topic when it asked over request-reply).

use super::analysis::{LOINC, Outcome, analyse, failure, kind_name};
use super::store::{AiStore, Measurement, Recorded, StoreError};
use carebus::transport::Transport;
use carebus::{
    DomainEvent, HandlerContext, HandlerError, HandlerResult, PublishError, PublishOptions,
    Publisher, Uuid,
};
use carebus_schemas::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const QUANTITY_SCALE: f64 = 10_000.0;

fn value_of(q: &Quantity) -> f64 {
    q.value.unscaled as f64 / QUANTITY_SCALE
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
