//! Subscription requests turned into notification streams: a WebSocket endpoint, a server-sent events endpoint (each resuming after a last-seen id, each checking the client's token) and a small browser page reading the SSE stream.

use super::hub::{Audience, Hub};
use super::notification::Notification;
use super::token::{Grant, TokenKey};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// What the endpoints share.
pub struct Api {
    /// The recorded notifications.
    pub hub: Hub,
    /// The key tokens are checked with.
    pub key: TokenKey,
    /// Turns `true` when the service stops: every open stream ends.
    pub stopping: watch::Receiver<bool>,
}

/// The routes: `GET /ws`, `GET /events`, `GET /` (the browser page).
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/ws", get(websocket))
        .route("/events", get(server_sent_events))
        .route("/", get(page))
        .with_state(api)
}

/// The query of both endpoints.
#[derive(Debug, Deserialize)]
pub struct Params {
    /// Follow this patient …
    pub patient: Option<String>,
    /// … or this care team (exactly one of the two).
    pub team: Option<String>,
    /// Resume after this notification id (WebSocket; SSE also reads `Last-Event-ID`).
    pub after: Option<u64>,
    /// The access token, when it is not in `Authorization: Bearer` (browsers' EventSource
    /// cannot set headers).
    pub token: Option<String>,
}

/// A refused subscription: its status and a JSON `{"error": ...}` body.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.1 });
        (self.0, axum::Json(body)).into_response()
    }
}

/// Check the token and the audience asked for.
fn admit(api: &Api, params: &Params, headers: &HeaderMap) -> Result<(Audience, Grant), Refusal> {
    let audience = match (&params.patient, &params.team) {
        (Some(p), None) if !p.is_empty() => Audience::Patient(p.clone()),
        (None, Some(t)) if !t.is_empty() => Audience::CareTeam(t.clone()),
        _ => {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                "name exactly one of the query parameters `patient` or `team`".into(),
            ));
        }
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = bearer.or(params.token.as_deref()) else {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "an access token is required: send `Authorization: Bearer <token>` or `?token=`".into(),
        ));
    };
    let grant = api
        .key
        .check(token)
        .map_err(|e| Refusal(StatusCode::UNAUTHORIZED, e.to_string()))?;
    if !grant.allows(&audience) {
        metrics::counter!("carebus_realtime_refused_total").increment(1);
        tracing::info!(sub = %grant.sub, "subscription refused: audience not in the token");
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "the access token does not cover this patient or team".into(),
        ));
    }
    Ok((audience, grant))
}

/// Why a stream ended.
enum End {
    /// The service is stopping.
    Stopping,
    /// The client fell more than the live buffer behind: it reconnects from its last id.
    Lagged,
}

/// One client's notifications: the missed ones, then the live ones for its audience.
struct Reader {
    audience: Audience,
    missed: VecDeque<Arc<Notification>>,
    live: broadcast::Receiver<Arc<Notification>>,
    last: u64,
    stopping: watch::Receiver<bool>,
}

impl Reader {
    fn open(api: &Api, audience: Audience, after: Option<u64>) -> Reader {
        let s = api.hub.subscribe(&audience, after);
        Reader {
            audience,
            missed: s.missed.into(),
            live: s.live,
            last: after.unwrap_or(0),
            stopping: api.stopping.clone(),
        }
    }

    async fn next(&mut self) -> Result<Arc<Notification>, End> {
        if let Some(n) = self.missed.pop_front() {
            self.last = n.id;
            return Ok(n);
        }
        loop {
            let received = tokio::select! {
                r = self.live.recv() => r,
                _ = self.stopping.wait_for(|s| *s) => return Err(End::Stopping),
            };
            match received {
                Ok(n) if n.id > self.last && self.audience.wants(&n) => {
                    self.last = n.id;
                    return Ok(n);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return Err(End::Lagged),
                Err(broadcast::error::RecvError::Closed) => return Err(End::Stopping),
            }
        }
    }
}

/// Counts open connections per transport while it lives.
struct Connection(&'static str);

impl Connection {
    fn open(transport: &'static str) -> Connection {
        metrics::gauge!("carebus_realtime_connections", "transport" => transport).increment(1.0);
        Connection(transport)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        metrics::gauge!("carebus_realtime_connections", "transport" => self.0).decrement(1.0);
    }
}

fn json(n: &Notification) -> String {
    serde_json::to_string(n).unwrap_or_else(|_| "{}".into())
}

/// `GET /ws?patient=..|team=..[&after=<id>]`: each notification as one JSON text message.
async fn websocket(
    State(api): State<Arc<Api>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    match admit(&api, &params, &headers) {
        Err(refusal) => refusal.into_response(),
        Ok((audience, _)) => {
            let reader = Reader::open(&api, audience, params.after);
            upgrade.on_upgrade(move |socket| push(socket, reader))
        }
    }
}

async fn push(mut socket: WebSocket, mut reader: Reader) {
    let _open = Connection::open("websocket");
    let end = loop {
        tokio::select! {
            next = reader.next() => match next {
                Ok(n) => {
                    if socket.send(Message::Text(json(&n).into())).await.is_err() {
                        return;
                    }
                }
                Err(end) => break end,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    };
    let (code, reason) = match end {
        End::Stopping => (1001, "service stopping; reconnect with ?after=<last id>"),
        End::Lagged => (1013, "fell behind; reconnect with ?after=<last id>"),
    };
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// `GET /events?patient=..|team=..`: server-sent events, each with its notification id, so
/// a reconnecting EventSource resumes from `Last-Event-ID`.
async fn server_sent_events(
    State(api): State<Arc<Api>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let (audience, _) = match admit(&api, &params, &headers) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let last_event_id = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) if v.trim().parse::<u64>().is_ok() => v.trim().parse::<u64>().ok(),
        Some(_) => {
            return Refusal(
                StatusCode::BAD_REQUEST,
                "Last-Event-ID must be a notification id (a number)".into(),
            )
            .into_response();
        }
    };
    let reader = Reader::open(&api, audience, last_event_id.or(params.after));
    let stream = futures::stream::unfold(
        (reader, Connection::open("sse")),
        |(mut reader, open)| async move {
            let n = reader.next().await.ok()?;
            let event = Event::default()
                .id(n.id.to_string())
                .event("notification")
                .data(json(&n));
            Some((Ok::<_, Infallible>(event), (reader, open)))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `GET /?patient=..&token=..[&count=N]`: a page that follows the patient's SSE stream and
/// lists each notification (closing after `count` of them) — the browser check.
async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}
