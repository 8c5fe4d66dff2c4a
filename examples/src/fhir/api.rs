//! FHIR REST requests (read, `_history`, Patient search by identifier, metadata, POST of clinical resources) turned into `application/fhir+json` responses.

use super::ingest::{self, Ingested, Issue};
use super::store::{FhirStore, Version};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carebus::transport::Transport;
use carebus::{PublishOptions, Publisher};
use serde_json::{Value, json};
use std::sync::Arc;

/// The media type of every response.
pub const FHIR_JSON: &str = "application/fhir+json";
/// The resource types the service keeps.
pub const RESOURCE_TYPES: [&str; 5] = [
    "Patient",
    "Appointment",
    "Observation",
    "Condition",
    "MedicationRequest",
];

/// What the handlers share.
pub struct Api<T: Transport> {
    /// The resources.
    pub store: FhirStore,
    /// The service's one publisher.
    pub publisher: Publisher<T>,
    /// Where clinical events from POSTs are published.
    pub clinical_topic: String,
}

/// The FHIR router over `api`.
pub fn router<T: Transport>(api: Arc<Api<T>>) -> Router {
    Router::new()
        .route("/metadata", get(metadata))
        .route(
            "/health",
            get(|| async { fhir(StatusCode::OK, json!({ "status": "up" })) }),
        )
        .route("/{kind}", get(search::<T>).post(create::<T>))
        .route("/{kind}/{id}", get(read::<T>))
        .route("/{kind}/{id}/_history", get(history::<T>))
        .fallback(|| async {
            outcome(
                StatusCode::NOT_FOUND,
                "not-found",
                "no such endpoint; see GET /metadata",
                None,
            )
        })
        .with_state(api)
}

/// A FHIR JSON response.
fn fhir(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// An OperationOutcome of one error issue.
fn outcome(status: StatusCode, code: &str, diagnostics: &str, path: Option<&str>) -> Response {
    let mut issue = json!({ "severity": "error", "code": code, "diagnostics": diagnostics });
    if let Some(p) = path {
        issue["expression"] = json!([p]);
    }
    fhir(
        status,
        json!({ "resourceType": "OperationOutcome", "issue": [issue] }),
    )
}

/// An OperationOutcome listing every wrong element (422).
fn invalid(issues: &[Issue]) -> Response {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            json!({
                "severity": "error",
                "code": "invalid",
                "diagnostics": format!("{} {}", i.path, i.message),
                "expression": [i.path],
            })
        })
        .collect();
    fhir(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "resourceType": "OperationOutcome", "issue": issues }),
    )
}

fn store_failed(e: super::store::StoreError) -> Response {
    tracing::error!(error = %e, "FHIR store request failed");
    outcome(
        StatusCode::SERVICE_UNAVAILABLE,
        "transient",
        "the resource store is unavailable; retry later",
        None,
    )
}

fn unknown_type(kind: &str) -> Option<Response> {
    (!RESOURCE_TYPES.contains(&kind)).then(|| {
        outcome(
            StatusCode::NOT_FOUND,
            "not-supported",
            &format!(
                "resource type {kind} is not served; this server serves {}",
                RESOURCE_TYPES.join(", ")
            ),
            None,
        )
    })
}

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

async fn read<T: Transport>(
    State(api): State<Arc<Api<T>>>,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    if let Some(r) = unknown_type(&kind) {
        return r;
    }
    match api.store.read(&kind, &id).await {
        Ok(Some(v)) => {
            let mut r = fhir(StatusCode::OK, v.resource);
            if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", v.version_id)) {
                r.headers_mut().insert(header::ETAG, etag);
            }
            r
        }
        Ok(None) => outcome(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("{kind} with this id is not known"),
            None,
        ),
        Err(e) => store_failed(e),
    }
}

async fn history<T: Transport>(
    State(api): State<Arc<Api<T>>>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unknown_type(&kind) {
        return r;
    }
    let versions = match api.store.history(&kind, &id).await {
        Ok(v) if v.is_empty() => {
            return outcome(
                StatusCode::NOT_FOUND,
                "not-found",
                &format!("{kind} with this id is not known"),
                None,
            );
        }
        Ok(v) => v,
        Err(e) => return store_failed(e),
    };
    let base = base(&headers);
    let entries: Vec<Value> = versions
        .iter()
        .map(
            |Version {
                 resource,
                 version_id,
             }| {
                let (method, url, status) = if *version_id == 1 {
                    ("POST", kind.clone(), "201 Created")
                } else {
                    ("PUT", format!("{kind}/{id}"), "200 OK")
                };
                json!({
                    "fullUrl": format!("{base}/{kind}/{id}/_history/{version_id}"),
                    "resource": resource,
                    "request": { "method": method, "url": url },
                    "response": { "status": status, "etag": format!("W/\"{version_id}\"") },
                })
            },
        )
        .collect();
    fhir(
        StatusCode::OK,
        json!({
            "resourceType": "Bundle",
            "type": "history",
            "total": entries.len(),
            "link": [{ "relation": "self", "url": format!("{base}/{kind}/{id}/_history") }],
            "entry": entries,
        }),
    )
}

async fn search<T: Transport>(
    State(api): State<Arc<Api<T>>>,
    Path(kind): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unknown_type(&kind) {
        return r;
    }
    if kind != "Patient" {
        return outcome(
            StatusCode::BAD_REQUEST,
            "not-supported",
            &format!("{kind} cannot be searched; read it by id (GET /{kind}/<id>)"),
            None,
        );
    }
    let mut identifier = None;
    for (name, value) in &params {
        match name.as_str() {
            "identifier" if identifier.is_none() => identifier = Some(value.as_str()),
            "_format" => {}
            other => {
                return outcome(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    &format!(
                        "search parameter {other:?} is not supported (once: identifier=system|value)"
                    ),
                    None,
                );
            }
        }
    }
    let Some(identifier) = identifier else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "required",
            "search parameter identifier=system|value is required",
            None,
        );
    };
    let (system, value) = match identifier.split_once('|') {
        Some((s, v)) => (Some(s).filter(|s| !s.is_empty()), v),
        None => (None, identifier),
    };
    if value.is_empty() {
        return outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "search parameter identifier needs a value: identifier=system|value",
            None,
        );
    }
    let found = match api.store.patients_by_identifier(system, value).await {
        Ok(f) => f,
        Err(e) => return store_failed(e),
    };
    let base = base(&headers);
    let entries: Vec<Value> = found
        .into_iter()
        .map(|p| {
            json!({
                "fullUrl": format!("{base}/Patient/{}", p["id"].as_str().unwrap_or_default()),
                "resource": p,
                "search": { "mode": "match" },
            })
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "link": [{ "relation": "self", "url": format!("{base}/Patient") }],
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    fhir(StatusCode::OK, bundle)
}

async fn create<T: Transport>(
    State(api): State<Arc<Api<T>>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parse: fn(&Value) -> Result<Ingested, Vec<Issue>> = match kind.as_str() {
        "Observation" => ingest::observation,
        "Condition" => ingest::condition,
        "MedicationRequest" => ingest::medication_request,
        other => {
            return outcome(
                StatusCode::METHOD_NOT_ALLOWED,
                "not-supported",
                &format!(
                    "{other} cannot be created here; POST Observation, Condition or MedicationRequest"
                ),
                None,
            );
        }
    };
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or(FHIR_JSON);
    if !(media.starts_with(FHIR_JSON) || media.starts_with("application/json")) {
        return outcome(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "send the resource as application/fhir+json",
            None,
        );
    }
    let json: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            // serde's message names line and column, never the content.
            return outcome(
                StatusCode::BAD_REQUEST,
                "structure",
                &format!("the body is not JSON: {e}"),
                Some(&kind),
            );
        }
    };
    let ingested = match parse(&json) {
        Ok(i) => i,
        Err(issues) => return invalid(&issues),
    };
    let location = ingested.location();
    let options = PublishOptions {
        source: Some("fhir-service".into()),
        ..PublishOptions::default()
    };
    let prepared = match &ingested {
        Ingested::VitalSigns(e) => api.publisher.prepare(e, options),
        Ingested::LabResult(e) => api.publisher.prepare(e, options),
        Ingested::Diagnosis(e) => api.publisher.prepare(e, options),
        Ingested::Prescription(e) => api.publisher.prepare(e, options),
    };
    let mut prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(resource = %kind, error = %e, "posted resource does not make a valid event");
            return outcome(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                &format!("the {kind} does not make a valid clinical event: {e}"),
                Some(&kind),
            );
        }
    };
    prepared.topic = api.clinical_topic.clone();
    let event_type = carebus::transport::header_str(&prepared.headers, "ce_type")
        .unwrap_or_default()
        .to_string();
    match api.publisher.send_prepared(prepared).await {
        Ok(delivery) => {
            let event_id = delivery.event_id().to_string();
            tracing::info!(resource = %kind, event_type = %event_type, event_id = %event_id,
                "posted resource published as a clinical event");
            let mut r = fhir(
                StatusCode::ACCEPTED,
                json!({
                    "resourceType": "OperationOutcome",
                    "issue": [{
                        "severity": "information",
                        "code": "informational",
                        "diagnostics": format!("accepted as {event_type} event {event_id}; {location} appears once the event is consumed"),
                    }],
                }),
            );
            for (name, value) in [("x-event-id", event_id), ("content-location", location)] {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    r.headers_mut().insert(name, v);
                }
            }
            r
        }
        Err(e) => {
            tracing::error!(resource = %kind, error = %e, "publishing a posted resource failed");
            outcome(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "the event could not be published; retry later",
                None,
            )
        }
    }
}

/// `GET /metadata`: a small CapabilityStatement.
async fn metadata() -> Response {
    let read = |kind: &str, search: bool| {
        let mut interaction = vec![
            json!({ "code": "read" }),
            json!({ "code": "history-instance" }),
        ];
        if search {
            interaction.push(json!({ "code": "search-type" }));
        }
        if matches!(kind, "Observation" | "Condition" | "MedicationRequest") {
            interaction.push(json!({ "code": "create" }));
        }
        let mut r = json!({ "type": kind, "interaction": interaction });
        if search {
            r["searchParam"] = json!([{ "name": "identifier", "type": "token" }]);
        }
        r
    };
    fhir(
        StatusCode::OK,
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-01-01",
            "kind": "instance",
            "software": { "name": "carebus fhir-service" },
            "implementation": { "description": "FHIR resources kept in sync from carebus events" },
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [{
                "mode": "server",
                "resource": RESOURCE_TYPES.iter().map(|k| read(k, *k == "Patient")).collect::<Vec<_>>(),
            }],
        }),
    )
}
