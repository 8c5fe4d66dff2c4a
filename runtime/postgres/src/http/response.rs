//! Answers of the HTTP query endpoint into HTTP responses: events as JSON, and the refusals (401 with a `WWW-Authenticate` challenge, 403 for a missing scope, 400 naming the parameter, 500 pointing at the server log) with JSON bodies that never echo a token or a value.

use crate::auth::{AuthError, SCOPE_READ};
use crate::query::QueryError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

/// A quoted-string-safe text for `WWW-Authenticate`.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '\''
            } else {
                c
            }
        })
        .collect()
}

pub(super) fn unauthorized(e: &AuthError) -> Response {
    let description = e.to_string();
    let challenge = format!(
        "Bearer realm=\"carebus\", error=\"{}\", error_description=\"{}\"",
        e.code(),
        quoted(&description)
    );
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": e.code(), "error_description": description})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub(super) fn forbidden() -> Response {
    let mut response = (
        StatusCode::FORBIDDEN,
        Json(json!({
            "error": "insufficient_scope",
            "error_description": format!("the token lacks the scope {SCOPE_READ}"),
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"carebus\", error=\"insufficient_scope\", scope=\"events:read\"",
        ),
    );
    response
}

pub(super) fn error_response(e: QueryError) -> Response {
    match e {
        QueryError::Invalid { .. } => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
        QueryError::Store(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "the event store failed; see the server log"})),
        )
            .into_response(),
    }
}

/// An event as the HTTP API shows it: envelope facts plus the JSON form of the data.
pub fn event_json(e: &carebus_store::StoredEvent) -> Value {
    let c = &e.context;
    json!({
        "globalPosition": e.global_position,
        "eventId": e.event_id.to_string(),
        "streamId": e.stream_id,
        "streamVersion": e.stream_version,
        "aggregateType": e.aggregate_type,
        "aggregateId": e.aggregate_id,
        "eventType": e.event_type,
        "eventVersion": e.event_version,
        "tenantId": c.tenant_id,
        "correlationId": c.correlation_id,
        "causationId": c.causation_id,
        "eventTime": e.event_time.to_string(),
        "recordedAt": e.recorded_at.to_string(),
        "data": e.data_json,
        "dataJsonForm": e.data_json_form.as_str(),
    })
}
