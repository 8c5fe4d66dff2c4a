//! The query API over HTTP: `GET /events?...` and `GET /events/stats?group_by=type|day|tenant` into JSON pages and counts (axum on tokio), refusing malformed or hostile parameters with 400.
//!
//! Parameters (each at most once unless said):
//! `stream`, `aggregate_type`, `event_type` (repeatable), `tenant`, `correlation_id`,
//! `from` / `until` (RFC 3339, `recorded_at` in `[from, until)`), `limit` (1..=1000),
//! `after` (forward page cursor) or `before` (backward, newest first), `order=desc` (backward
//! from the newest), `include_archived=true`. Values are percent-decoded by this module and
//! must be UTF-8 without control characters and at most 512 bytes; anything else, an unknown
//! parameter or a repeated one is a 400 with a JSON `{"error": ...}` that names the parameter,
//! never echoing its value. Give a tenant-scoped pool ([`super::tenancy`]) to serve one tenant.
//! Events written through [`super::shred::ShreddingStore`] show their PHI paths sealed
//! (`{"$phi": "..."}`): this endpoint never decrypts.

use super::query::{Direction, EventQuery, GroupBy, Page, PageCursor, QueryError, query, stats};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use carebus_core::types::Timestamp;
use carebus_store::EventFilter;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Longest accepted parameter value (bytes, decoded).
pub const MAX_VALUE_LEN: usize = 512;

/// The routes, serving from `pool`.
pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/events", get(list_events))
        .route("/events/stats", get(event_stats))
        .with_state(pool)
}

/// Serve the routes on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    pool: PgPool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(pool))
        .with_graceful_shutdown(shutdown)
        .await
}

fn error_response(e: QueryError) -> Response {
    match e {
        QueryError::Invalid { .. } => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
        QueryError::Store(store) => {
            tracing::warn!(error = %store, "event query failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "the event store failed; see the server log"})),
            )
                .into_response()
        }
    }
}

/// Percent-decode a query string into (name, value) pairs; invalid UTF-8 is an error.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    let mut out = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let name = decode_component("parameter name", k)?;
        let value = decode_component(&name, v)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(QueryError::invalid(
                &name,
                format!("longer than {MAX_VALUE_LEN} bytes"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(QueryError::invalid(&name, "contains control characters"));
        }
        out.push((name, value));
    }
    Ok(out)
}

fn decode_component(param: &str, text: &str) -> Result<String, QueryError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| QueryError::invalid(param, "has a malformed %-escape"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let name = if param == "parameter name" {
        "parameter name"
    } else {
        param
    };
    String::from_utf8(out).map_err(|_| QueryError::invalid(name, "is not valid UTF-8"))
}

/// The parsed parameters of `/events` (and the filter part of `/events/stats`).
fn build(
    params: Vec<(String, String)>,
    allow_paging: bool,
) -> Result<(EventQuery, Option<GroupBy>), QueryError> {
    let mut q = EventQuery::default();
    let mut group_by = None;
    let mut seen = std::collections::HashSet::new();
    for (name, value) in params {
        if name != "event_type" && !seen.insert(name.clone()) {
            return Err(QueryError::invalid(&name, "given more than once"));
        }
        let f = &mut q.filter;
        let text = || non_empty(&name, &value);
        match name.as_str() {
            "stream" => f.stream_id = Some(text()?),
            "aggregate_type" => f.aggregate_type = Some(text()?),
            "event_type" => f.event_types.push(text()?),
            "tenant" => f.tenant_id = Some(text()?),
            "correlation_id" => f.correlation_id = Some(text()?),
            "from" => f.recorded_from = Some(time(&name, &value)?),
            "until" => f.recorded_until = Some(time(&name, &value)?),
            "include_archived" => {
                q.include_archived = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(QueryError::invalid(&name, "must be true or false")),
                }
            }
            "limit" if allow_paging => {
                q.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=super::query::MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        QueryError::invalid(&name, "must be a whole number from 1 to 1000")
                    })?;
            }
            "after" if allow_paging => {
                q.cursor = Some(PageCursor::decode(&name, &value)?);
                q.direction = Direction::Forward;
            }
            "before" if allow_paging => {
                q.cursor = Some(PageCursor::decode(&name, &value)?);
                q.direction = Direction::Backward;
            }
            "order" if allow_paging => {
                q.direction = match value.as_str() {
                    "asc" => Direction::Forward,
                    "desc" => Direction::Backward,
                    _ => return Err(QueryError::invalid(&name, "must be asc or desc")),
                }
            }
            "group_by" if !allow_paging => group_by = Some(GroupBy::parse(&value)?),
            _ => {
                return Err(QueryError::invalid(
                    &name,
                    "is not a parameter of this endpoint",
                ));
            }
        }
    }
    if seen.contains("after") && seen.contains("before") {
        return Err(QueryError::invalid(
            "before",
            "give either after or before, not both",
        ));
    }
    if seen.contains("order") && (seen.contains("after") || seen.contains("before")) {
        return Err(QueryError::invalid(
            "order",
            "a cursor already sets the direction",
        ));
    }
    Ok((q, group_by))
}

fn non_empty(name: &str, value: &str) -> Result<String, QueryError> {
    if value.is_empty() {
        Err(QueryError::invalid(name, "is empty"))
    } else {
        Ok(value.to_string())
    }
}

fn time(name: &str, value: &str) -> Result<Timestamp, QueryError> {
    Timestamp::parse_rfc3339(value).ok_or_else(|| {
        QueryError::invalid(name, "must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")
    })
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
    })
}

fn page_json(page: &Page) -> Value {
    json!({
        "events": page.events.iter().map(event_json).collect::<Vec<_>>(),
        "next": page.next.map(PageCursor::encode),
        "prev": page.prev.map(PageCursor::encode),
    })
}

async fn list_events(State(pool): State<PgPool>, RawQuery(raw): RawQuery) -> Response {
    let run = async {
        let params = parse_query(raw.as_deref().unwrap_or(""))?;
        let (q, _) = build(params, true)?;
        query(&pool, &q).await
    };
    match run.await {
        Ok(page) => Json(page_json(&page)).into_response(),
        Err(e) => error_response(e),
    }
}

async fn event_stats(State(pool): State<PgPool>, RawQuery(raw): RawQuery) -> Response {
    let run = async {
        let params = parse_query(raw.as_deref().unwrap_or(""))?;
        let (q, group_by) = build(params, false)?;
        let group_by = group_by
            .ok_or_else(|| QueryError::invalid("group_by", "is required: type, day or tenant"))?;
        let filter: EventFilter = q.filter;
        stats(&pool, &filter, group_by, q.include_archived).await
    };
    match run.await {
        Ok(groups) => Json(json!({ "groups": groups })).into_response(),
        Err(e) => error_response(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_percent_decoded_and_checked() {
        let p = parse_query("stream=Patient-1&event_type=A+B&event_type=%43").unwrap();
        assert_eq!(
            p,
            vec![
                ("stream".to_string(), "Patient-1".to_string()),
                ("event_type".to_string(), "A B".to_string()),
                ("event_type".to_string(), "C".to_string()),
            ]
        );
        for bad in [
            "stream=%FF",
            "stream=%0A",
            "stream=%4",
            "stream=%G1",
            "%FF=1",
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
        assert!(parse_query(&format!("stream={}", "a".repeat(MAX_VALUE_LEN + 1))).is_err());
    }

    #[test]
    fn parameters_build_one_query_or_a_named_refusal() {
        let params = parse_query("tenant=t&limit=10&before=AAAAAAAAAAU").unwrap();
        let (q, _) = build(params, true).unwrap();
        assert_eq!(q.filter.tenant_id.as_deref(), Some("t"));
        assert_eq!(q.limit, 10);
        assert_eq!(q.direction, Direction::Backward);
        assert_eq!(q.cursor, Some(PageCursor(5)));
        for (bad, param) in [
            ("after=AAAAAAAAAAU&before=AAAAAAAAAAU", "before"),
            ("limit=1e3", "limit"),
            ("group_by=type", "group_by"),
            ("from=yesterday", "from"),
        ] {
            let err = build(parse_query(bad).unwrap(), true).unwrap_err();
            assert!(err.to_string().contains(param), "{bad}: {err}");
        }
        let (_, g) = build(parse_query("group_by=day").unwrap(), false).unwrap();
        assert_eq!(g, Some(GroupBy::Day));
    }
}
