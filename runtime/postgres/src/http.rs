//! The query API over HTTP for authenticated callers: a request with a bearer JWT into an identity, then one PostgreSQL transaction as the caller's tenant (row-level security) answering JSON pages, single events and counts, PHI redacted without `phi:read`, every request (allowed or refused) written to `access_log`.
//!
//! Routes (axum on tokio):
//! - `GET /events?...`: a page of events (parameters below).
//! - `GET /events/{event_id}`: one event; 404 when there is none the caller's tenant can see.
//! - `GET /streams/{stream_id}/events?...`: a page of one stream; 404 when the caller's tenant
//!   has no such stream (another tenant's stream answers exactly like an absent one).
//! - `GET /events/stats?group_by=type|day|tenant&...`: counts.
//!
//! Every request needs `Authorization: Bearer <JWT>` ([`crate::auth`]): none, a malformed one
//! or one that fails a check (signature, expiry, issuer, audience) is a 401 with
//! `WWW-Authenticate: Bearer error="..."` and a JSON `{"error", "error_description"}`; a token
//! without the `events:read` scope is a 403 (`error="insufficient_scope"`). The tenant comes
//! from the token only: a `tenant` parameter is refused. Each request runs in one transaction
//! with `carebus.tenant` set to the token's tenant, on a pool whose login is subject to
//! row-level security ([`QueryEndpoint::new`] refuses a superuser, BYPASSRLS or owner role).
//! Without `phi:read`, every PHI path of the returned events (from the schemas'
//! classification, [`PhiPolicy`]) shows `"[redacted]"`; the binary payload is never returned.
//! Events written through [`crate::shred::ShreddingStore`] show their PHI sealed
//! (`{"$phi": "..."}`) even with `phi:read`: this endpoint never decrypts.
//!
//! Parameters of the pages (each at most once unless said): `stream` (not on
//! `/streams/..`), `aggregate_type`, `event_type` (repeatable), `correlation_id`,
//! `from` / `until` (RFC 3339, `recorded_at` in `[from, until)`), `limit` (1..=1000),
//! `after` (forward page cursor) or `before` (backward, newest first), `order=desc` (backward
//! from the newest), `include_archived=true`. Values are percent-decoded and must be UTF-8
//! without control characters and at most 512 bytes; anything else, an unknown parameter or a
//! repeated one is a 400 with a JSON `{"error": ...}` that names the parameter, never echoing
//! its value.
//!
//! The access log row (who, tenant, route, parameters, status, ids of the events returned,
//! whether PHI left) is written in the request's transaction before the answer: when it cannot
//! be written the caller gets a 500 and no data.

mod disclosure;
mod params;
mod response;

pub use disclosure::{REDACTED, carries_phi, redact, upcast_legacy};
pub use params::{MAX_VALUE_LEN, parse_query};
pub use response::event_json;

use crate::auth::{Identity, SCOPE_PHI, SCOPE_READ, TokenVerifier};
use crate::query::{Page, PageCursor, QueryError, event_by_id, query, stats};
use crate::shred::PhiPolicy;
use crate::tenancy::{begin_as_tenant, check_subject_to_rls};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use carebus_store::{StoreError, StoredEvent};
use disclosure::{Entry, names_only, record, with_values};
use params::{Ask, Route, ask};
use response::{error_response, forbidden, unauthorized};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;

/// The HTTP query endpoint: a pool subject to row-level security, a token verifier and the PHI
/// classification of the events it serves.
#[derive(Clone, Debug)]
pub struct QueryEndpoint {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    verifier: TokenVerifier,
    phi: PhiPolicy,
}

impl QueryEndpoint {
    /// An endpoint serving from `pool`, whose login must be a member of `carebus_tenant` and
    /// neither superuser, BYPASSRLS nor the tables' owner (checked here: such a pool would see
    /// every tenant). `phi` is usually `PhiPolicy::from_events(carebus_schemas::EVENTS)`.
    pub async fn new(
        pool: PgPool,
        verifier: TokenVerifier,
        phi: PhiPolicy,
    ) -> Result<QueryEndpoint, StoreError> {
        check_subject_to_rls(&pool).await?;
        Ok(QueryEndpoint {
            inner: Arc::new(Inner {
                pool,
                verifier,
                phi,
            }),
        })
    }

    /// The routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/events", get(list_events).fallback(not_allowed))
            .route("/events/stats", get(event_stats).fallback(not_allowed))
            .route("/events/{event_id}", get(one_event).fallback(not_allowed))
            .route(
                "/streams/{stream_id}/events",
                get(stream_events).fallback(not_allowed),
            )
            .fallback(unknown_route)
            .with_state(self.inner.clone())
    }

    /// Serve the routes on `listener` until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn list_events(
    State(ep): State<Arc<Inner>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    ep.handle(&headers, Route::Events, raw.as_deref()).await
}

async fn event_stats(
    State(ep): State<Arc<Inner>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    ep.handle(&headers, Route::Stats, raw.as_deref()).await
}

async fn one_event(
    State(ep): State<Arc<Inner>>,
    headers: HeaderMap,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    RawQuery(raw): RawQuery,
) -> Response {
    let id = id.map(|Path(p)| p).map_err(|_| ());
    ep.handle(&headers, Route::Event(id), raw.as_deref()).await
}

async fn stream_events(
    State(ep): State<Arc<Inner>>,
    headers: HeaderMap,
    stream: Result<Path<String>, axum::extract::rejection::PathRejection>,
    RawQuery(raw): RawQuery,
) -> Response {
    let stream = stream.map(|Path(p)| p).map_err(|_| ());
    ep.handle(&headers, Route::Stream(stream), raw.as_deref())
        .await
}

/// Any other path: 401 without a valid token, else 404; logged either way (without the path,
/// which is unchecked input).
async fn unknown_route(State(ep): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    ep.unrouted(&headers, "unknown route", StatusCode::NOT_FOUND)
        .await
}

/// Another method on a known path: 401 without a valid token, else 405; logged either way.
async fn not_allowed(State(ep): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    ep.unrouted(
        &headers,
        "unsupported method",
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await
}

impl Inner {
    async fn handle(&self, headers: &HeaderMap, route: Route, raw: Option<&str>) -> Response {
        let pairs = parse_query(raw.unwrap_or(""));
        let names = names_only(pairs.as_deref().unwrap_or(&[]));
        let refused = |identity: Option<&Identity>, status: StatusCode| Entry {
            subject: identity.map(|i| i.subject.clone()),
            tenant: identity.map(|i| i.tenant.clone()),
            route: route.name(),
            parameters: names.clone(),
            status: status.as_u16(),
            event_ids: Vec::new(),
            phi_disclosed: false,
        };
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let identity = match self.verifier.verify_header(authorization) {
            Ok(identity) => identity,
            Err(e) => {
                let entry = refused(None, StatusCode::UNAUTHORIZED);
                return self.logged(entry, unauthorized(&e)).await;
            }
        };
        if !identity.has(SCOPE_READ) {
            let entry = refused(Some(&identity), StatusCode::FORBIDDEN);
            return self.logged(entry, forbidden()).await;
        }
        let ask = match pairs.and_then(|pairs| ask(&route, &pairs).map(|a| (a, pairs))) {
            Ok(ask) => ask,
            Err(e) => {
                let entry = refused(Some(&identity), StatusCode::BAD_REQUEST);
                return self.logged(entry, error_response(e)).await;
            }
        };
        let (ask, pairs) = ask;
        let mut parameters = with_values(&pairs);
        match &route {
            Route::Event(Ok(id)) => parameters["event_id"] = json!(id),
            Route::Stream(Ok(stream)) => parameters["stream_id"] = json!(stream),
            _ => {}
        }
        match self.answer(&identity, &route, parameters, ask).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(error = %e, route = route.name(), "event query failed");
                let entry = refused(Some(&identity), StatusCode::INTERNAL_SERVER_ERROR);
                if let Err(e) = record(&self.pool, &entry).await {
                    tracing::warn!(error = %e, "the access log entry of a failed query was not written");
                }
                error_response(QueryError::Store(e))
            }
        }
    }

    /// A request no route answers: authenticated like the others, then refused with `status`.
    async fn unrouted(
        &self,
        headers: &HeaderMap,
        route: &'static str,
        status: StatusCode,
    ) -> Response {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let (identity, response) = match self.verifier.verify_header(authorization) {
            Ok(identity) => {
                let body = json!({"error": "this endpoint serves only GET /events, \
                                  /events/{event_id}, /streams/{stream_id}/events and /events/stats"});
                (Some(identity), (status, Json(body)).into_response())
            }
            Err(e) => (None, unauthorized(&e)),
        };
        let entry = Entry {
            subject: identity.as_ref().map(|i| i.subject.clone()),
            tenant: identity.as_ref().map(|i| i.tenant.clone()),
            route,
            parameters: json!({}),
            status: response.status().as_u16(),
            event_ids: Vec::new(),
            phi_disclosed: false,
        };
        self.logged(entry, response).await
    }

    /// Write `entry`, then answer `response`; a 500 when the entry cannot be written.
    async fn logged(&self, entry: Entry, response: Response) -> Response {
        match record(&self.pool, &entry).await {
            Ok(()) => response,
            Err(e) => {
                tracing::warn!(error = %e, route = entry.route, "access log not written; refusing");
                error_response(QueryError::Store(e))
            }
        }
    }

    /// Run the request in the tenant's transaction, write its access log row there, commit.
    async fn answer(
        &self,
        identity: &Identity,
        route: &Route,
        parameters: Value,
        ask: Ask,
    ) -> Result<Response, StoreError> {
        let mut tx = begin_as_tenant(&self.pool, &identity.tenant).await?;
        let phi = identity.has(SCOPE_PHI);
        let mut shown: Vec<StoredEvent> = Vec::new();
        let (status, body) = match ask {
            Ask::Page(q, must_exist) => {
                let page = query(&mut *tx, &q).await.map_err(store_error)?;
                if must_exist && page.events.is_empty() && q.cursor.is_none() {
                    let body = json!({"error": "no stream with this id"});
                    (StatusCode::NOT_FOUND, body)
                } else {
                    let Page { events, next, prev } = page;
                    shown = events;
                    let body = json!({
                        "events": self.shown(&shown, phi),
                        "next": next.map(PageCursor::encode),
                        "prev": prev.map(PageCursor::encode),
                    });
                    (StatusCode::OK, body)
                }
            }
            Ask::One(id, include_archived) => {
                match event_by_id(&mut *tx, id, include_archived)
                    .await
                    .map_err(store_error)?
                {
                    None => (
                        StatusCode::NOT_FOUND,
                        json!({"error": "no event with this id"}),
                    ),
                    Some(e) => {
                        shown.push(e);
                        let body = self.shown(&shown, phi).pop().unwrap_or(Value::Null);
                        (StatusCode::OK, body)
                    }
                }
            }
            Ask::Stats(q, group_by) => {
                let groups = stats(&mut *tx, &q.filter, group_by, q.include_archived)
                    .await
                    .map_err(store_error)?;
                (StatusCode::OK, json!({ "groups": groups }))
            }
        };
        let entry = Entry {
            subject: Some(identity.subject.clone()),
            tenant: Some(identity.tenant.clone()),
            route: route.name(),
            parameters,
            status: status.as_u16(),
            event_ids: shown.iter().map(|e| e.event_id.0).collect(),
            phi_disclosed: phi && shown.iter().any(|e| self.phi_of(e)),
        };
        record(&mut *tx, &entry).await?;
        tx.commit()
            .await
            .map_err(crate::query::rows::backend("commit query"))?;
        Ok((status, Json(body)).into_response())
    }

    fn phi_of(&self, e: &StoredEvent) -> bool {
        carries_phi(e, &self.phi)
    }

    /// The events as JSON, redacted unless `phi`.
    fn shown(&self, events: &[StoredEvent], phi: bool) -> Vec<Value> {
        events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                upcast_legacy(&mut e, &self.phi);
                if !phi {
                    redact(&mut e, &self.phi);
                }
                event_json(&e)
            })
            .collect()
    }
}

fn store_error(e: QueryError) -> StoreError {
    match e {
        QueryError::Store(s) => s,
        QueryError::Invalid { param, reason } => StoreError::Backend {
            operation: "query events",
            message: format!("invalid query parameter `{param}`: {reason}"),
            retriable: false,
            source: None,
        },
    }
}
