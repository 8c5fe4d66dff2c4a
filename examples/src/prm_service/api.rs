//! HTTP requests of the PRM API in (JSON), patient and appointment commands carried out through [`PrmRecords`] out, with 201/200 on success and 400/404/409 naming the field or the conflict.

use super::SERVICE;
use super::appointments::{self, appointment_transition};
use super::patients;
use super::records::{Decision, DeskError, PrmRecords, Written};
use super::request::Issue;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use carebus::store::{EventContext, NewEvent};
use carebus::{DomainEvent, Uuid};
use serde_json::{Value, json};
use std::sync::Arc;

/// What the handlers share.
pub struct Api {
    /// The event store and read model.
    pub records: PrmRecords,
}

type Shared = State<Arc<Api>>;

/// The API's routes.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/patients", post(register))
        .route("/patients/{id}", get(read_patient).patch(update))
        .route("/patients/{id}/merge", post(merge))
        .route("/patients/{id}/deactivate", post(deactivate))
        .route("/appointments", post(schedule))
        .route("/appointments/{id}", get(read_appointment))
        .route("/appointments/{id}/{change}", post(change_appointment))
        .route("/health", get(|| async { "ok" }))
        .with_state(api)
}

impl IntoResponse for DeskError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            DeskError::Invalid(issues) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": "the request is not valid", "issues": issues }),
            ),
            DeskError::NotFound { .. } => {
                (StatusCode::NOT_FOUND, json!({ "error": self.to_string() }))
            }
            DeskError::Conflict(_) => (StatusCode::CONFLICT, json!({ "error": self.to_string() })),
            DeskError::Store(e) => {
                tracing::error!(error = %e, "event store failed");
                let status = if e.is_retriable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                (status, json!({ "error": self.to_string() }))
            }
            DeskError::Database { .. } => {
                tracing::error!(error = %self, "read model failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "error": self.to_string() }),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

/// The body as JSON; a syntax error is one issue naming where (never what) it is.
fn json_body(bytes: &Bytes) -> Result<Value, DeskError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        DeskError::Invalid(vec![Issue {
            field: "body".into(),
            message: format!(
                "is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        }])
    })
}

/// The event's context from the request: tenant, correlation id and user headers.
fn context(headers: &HeaderMap) -> EventContext {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 200)
            .map(str::to_owned)
    };
    EventContext {
        tenant_id: header("x-tenant-id"),
        correlation_id: header("x-correlation-id"),
        user_id: header("x-user-id"),
        ..EventContext::new(SERVICE)
    }
}

/// The event to append, after its schema's constraints.
fn new_event<E: DomainEvent>(event: &E, headers: &HeaderMap) -> Result<NewEvent, DeskError> {
    NewEvent::from_event(event, &context(headers)).map_err(|e| {
        DeskError::Invalid(vec![Issue {
            field: e.field,
            message: e.rule,
        }])
    })
}

fn created(written: Written) -> Response {
    (StatusCode::CREATED, axum::Json(written)).into_response()
}

fn ok(written: Written) -> Response {
    (StatusCode::OK, axum::Json(written)).into_response()
}

async fn register(
    State(api): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DeskError> {
    let event = patients::register(&json_body(&body)?).map_err(DeskError::Invalid)?;
    let new = new_event(&event, &headers)?;
    Ok(created(api.records.register(new).await?))
}

async fn read_patient(State(api): Shared, Path(id): Path<String>) -> Result<Response, DeskError> {
    match api.records.patient(&id).await? {
        Some(p) => Ok(axum::Json(p).into_response()),
        None => Err(DeskError::NotFound {
            kind: "patient",
            id,
        }),
    }
}

/// A patient change allowed only while the patient is active.
fn active_only(id: &str, status: &str, what: &str) -> Result<(), DeskError> {
    if status == "active" {
        Ok(())
    } else {
        Err(DeskError::Conflict(format!(
            "patient {id} is {status}; an {status} patient cannot be {what}"
        )))
    }
}

async fn update(
    State(api): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DeskError> {
    let (event, expected) =
        patients::update(&id, &json_body(&body)?).map_err(DeskError::Invalid)?;
    let new = new_event(&event, &headers)?;
    let written = api
        .records
        .change("patient", &id, expected, |current| {
            active_only(&id, &current.status, "updated")?;
            Ok(Decision {
                event: new,
                status: "active",
            })
        })
        .await?;
    Ok(ok(written))
}

async fn merge(
    State(api): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DeskError> {
    let (event, expected) = patients::merge(&id, &json_body(&body)?).map_err(DeskError::Invalid)?;
    let merged = event.merged_patient_id.clone();
    let new = new_event(&event, &headers)?;
    Ok(ok(api.records.merge(&id, &merged, expected, new).await?))
}

async fn deactivate(
    State(api): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DeskError> {
    let (event, expected) =
        patients::deactivate(&id, &json_body(&body)?).map_err(DeskError::Invalid)?;
    let new = new_event(&event, &headers)?;
    let written = api
        .records
        .change("patient", &id, expected, |current| {
            active_only(&id, &current.status, "deactivated")?;
            Ok(Decision {
                event: new,
                status: "inactive",
            })
        })
        .await?;
    Ok(ok(written))
}

async fn schedule(
    State(api): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DeskError> {
    let event = appointments::schedule(&json_body(&body)?).map_err(DeskError::Invalid)?;
    let new = new_event(&event, &headers)?;
    let written = api
        .records
        .schedule(
            new,
            &event.patient_id,
            &event.practitioner.id,
            event.start.0,
            None,
        )
        .await?
        .ok_or_else(|| DeskError::Conflict("the appointment already exists".into()))?;
    Ok(created(written))
}

async fn read_appointment(
    State(api): Shared,
    Path(id): Path<String>,
) -> Result<Response, DeskError> {
    match api.records.appointment(&id).await? {
        Some(a) => Ok(axum::Json(a).into_response()),
        None => Err(DeskError::NotFound {
            kind: "appointment",
            id,
        }),
    }
}

async fn change_appointment(
    State(api): Shared,
    Path((id, change)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DeskError> {
    if !matches!(change.as_str(), "confirm" | "cancel" | "complete") {
        return Err(DeskError::NotFound {
            kind: "appointment operation",
            id: change,
        });
    }
    let Ok(uuid) = Uuid::parse(&id) else {
        return Err(DeskError::NotFound {
            kind: "appointment",
            id,
        });
    };
    let body = json_body(&body)?;
    // The body is checked before the row is locked, so a wrong body is a 400 whatever the
    // state; the event is built again from the row's patient and practitioner.
    let expected = match change.as_str() {
        "confirm" => appointments::confirm(uuid, "", &body).map(|c| c.1),
        "cancel" => appointments::cancel(uuid, "", &body).map(|c| c.1),
        _ => appointments::complete(uuid, "", "", &body).map(|c| c.1),
    }
    .map_err(DeskError::Invalid)?;
    let written = api
        .records
        .change("appointment", &id, expected, |current| {
            let next =
                appointment_transition(&current.status, &change).map_err(DeskError::Conflict)?;
            let patient = current.patient_id.as_str();
            let event = match change.as_str() {
                "confirm" => new_event(
                    &appointments::confirm(uuid, patient, &body)
                        .map_err(DeskError::Invalid)?
                        .0,
                    &headers,
                ),
                "cancel" => new_event(
                    &appointments::cancel(uuid, patient, &body)
                        .map_err(DeskError::Invalid)?
                        .0,
                    &headers,
                ),
                _ => new_event(
                    &appointments::complete(uuid, patient, &current.practitioner_id, &body)
                        .map_err(DeskError::Invalid)?
                        .0,
                    &headers,
                ),
            }?;
            Ok(Decision {
                event,
                status: next,
            })
        })
        .await?;
    Ok(ok(written))
}
