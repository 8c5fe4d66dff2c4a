//! The journey dashboard: HTTP requests in, server-rendered HTML out — each journey's state diagram, instances per state, SLA compliance, stuck, compensating and parked instances, and one instance's history, read from the PostgreSQL instance store. Names and opaque ids only; every value is HTML-escaped.

use crate::EngineError;
use crate::engine::Engine;
use crate::overview::{Listing, SlaFigures};
use crate::pg::PgInstanceStore;
use crate::store::{InstanceStore, StateCount};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use carebus_core::journey::{Definition, StateKind, diagram};
use carebus_core::{Timestamp, Uuid};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// The dashboard of an engine: [`Dashboard::router`] serves
/// `/journeys` (every journey: diagram and instances per state),
/// `/journeys/{journey}` (also SLA compliance, stuck, compensating and parked instances) and
/// `/journeys/{journey}/instances/{id}` (one instance and its history).
#[derive(Clone)]
pub struct Dashboard {
    engine: Engine<PgInstanceStore>,
    idle: Duration,
    limit: i64,
}

impl Dashboard {
    /// The dashboard of `engine`'s journeys and instance store. An instance with no input for
    /// 24 hours counts as stuck; lists show at most 50 instances.
    pub fn new(engine: Engine<PgInstanceStore>) -> Self {
        Dashboard {
            engine,
            idle: Duration::from_secs(24 * 3600),
            limit: 50,
        }
    }

    /// An unfinished instance with no input for `idle` counts as stuck.
    pub fn idle_after(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The routes; merge them into the engine process's HTTP server (e.g. next to `/metrics`).
    pub fn router(self) -> Router {
        Router::new()
            .route("/journeys", get(index))
            .route("/journeys/{journey}", get(journey_page))
            .route("/journeys/{journey}/instances/{id}", get(instance_page))
            .with_state(Arc::new(self))
    }

    /// Serve [`Dashboard::router`] alone on `addr` (port 0: any free port) until the task
    /// is aborted: the address it listens on and the serving task. An engine process with its
    /// own HTTP server merges the router instead.
    pub async fn serve(
        self,
        addr: std::net::SocketAddr,
    ) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the journey dashboard stopped");
            }
        });
        Ok((addr, task))
    }

    fn definition(&self, name: &str) -> Option<Arc<Definition>> {
        self.engine
            .definitions()
            .into_iter()
            .find(|d| d.name == name)
    }
}

type Shared = State<Arc<Dashboard>>;

/// `s` with `& < > " '` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment: everything but unreserved characters percent-encoded.
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn time(us: i64) -> String {
    Timestamp(us)
        .rfc3339_text()
        .unwrap_or_else(|| format!("{us} µs"))
}

fn duration(ms: u64) -> String {
    match ms {
        ms if ms.is_multiple_of(86_400_000) => format!("{}d", ms / 86_400_000),
        ms if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        ms if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        ms => format!("{}s", ms / 1000),
    }
}

const CSS: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1400px}\
table{border-collapse:collapse;margin:.5em 0 1.2em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.diagram{overflow-x:auto;border:1px solid #eee;padding:.5em;margin:.5em 0}\
.bad{color:#b71c1c;font-weight:bold}.ok{color:#2e7d32}.muted{color:#777}nav a{margin-right:1em}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · journeys</title><style>{CSS}</style></head>\
         <body><nav><a href=\"/journeys\">All journeys</a></nav>{body}</body></html>\n",
        esc(title)
    ))
}

fn failed(e: EngineError) -> Response {
    tracing::warn!(error = %e, "journey dashboard: reading the instance store failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            "Error",
            &format!(
                "<h1>The instance store could not be read</h1><p>{}</p><p>Check the engine's database connection and reload.</p>",
                esc(&e.to_string())
            ),
        ),
    )
        .into_response()
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            &format!(
                "<h1>Not found</h1><p>{}</p><p><a href=\"/journeys\">See every journey</a>.</p>",
                esc(what)
            ),
        ),
    )
        .into_response()
}

fn kind(k: StateKind) -> &'static str {
    match k {
        StateKind::Initial => "initial",
        StateKind::Intermediate => "intermediate",
        StateKind::Final => "final",
    }
}

/// The table of instances per state of `def`, in definition order.
fn counts_table(def: &Definition, counts: &[StateCount]) -> String {
    let mut out = format!(
        "<table class=\"counts\" data-journey=\"{}\"><tr><th>State</th><th>Kind</th><th>SLA</th><th>Instances</th></tr>",
        esc(&def.name)
    );
    for s in &def.states {
        let n = counts
            .iter()
            .find(|c| c.journey == def.name && c.state == s.name)
            .map_or(0, |c| c.count);
        let _ = write!(
            out,
            "<tr data-state=\"{name}\"><td>{name}</td><td>{kind}</td><td>{sla}</td><td class=\"n\">{n}</td></tr>",
            name = esc(&s.name),
            kind = kind(s.kind),
            sla = s.sla_ms.map(duration).unwrap_or_default(),
        );
    }
    out.push_str("</table>");
    out
}

fn heading(def: &Definition, link: bool) -> String {
    let name = if link {
        format!(
            "<a href=\"/journeys/{}\">{}</a>",
            seg(&def.name),
            esc(&def.title)
        )
    } else {
        esc(&def.title)
    };
    let mut out = format!(
        "<h2>{name}</h2><p class=\"muted\">{} · version {}{}</p>",
        esc(&def.name),
        def.version,
        if def.saga { " · saga" } else { "" }
    );
    if let Some(doc) = &def.doc {
        let _ = write!(out, "<p>{}</p>", esc(doc));
    }
    let _ = write!(out, "<div class=\"diagram\">{}</div>", diagram::svg(def));
    out
}

async fn index(State(d): Shared) -> Response {
    let counts = match d.engine.store().state_counts().await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let mut body = String::from("<h1>Patient journeys</h1>");
    for def in d.engine.definitions() {
        body.push_str(&heading(&def, true));
        body.push_str(&counts_table(&def, &counts));
    }
    page("Patient journeys", &body).into_response()
}

fn slas(def: &Definition) -> Vec<(String, u64)> {
    def.states
        .iter()
        .filter_map(|s| s.sla_ms.map(|ms| (s.name.clone(), ms)))
        .collect()
}

fn sla_table(figures: &[SlaFigures]) -> String {
    if figures.is_empty() {
        return "<p class=\"muted\">No state of this journey has an SLA.</p>".into();
    }
    let mut out = String::from(
        "<table class=\"sla\"><tr><th>State</th><th>SLA</th><th>Entered</th><th>On time (so far)</th><th>Breached</th><th>Compliance</th></tr>",
    );
    for f in figures {
        let compliance = if f.entered == 0 {
            "–".to_owned()
        } else {
            format!("{:.1} %", 100.0 * f.on_time() as f64 / f.entered as f64)
        };
        let _ = write!(
            out,
            "<tr data-state=\"{s}\"><td>{s}</td><td>{sla}</td><td class=\"n\">{e}</td><td class=\"n ok\">{o}</td><td class=\"n{bad}\">{b}</td><td class=\"n\">{compliance}</td></tr>",
            s = esc(&f.state),
            sla = duration(f.sla_ms),
            e = f.entered,
            o = f.on_time(),
            b = f.breached,
            bad = if f.breached > 0 { " bad" } else { "" },
        );
    }
    out.push_str("</table>");
    out
}

fn listing_table(journey: &str, list: &Listing, empty: &str) -> String {
    if list.instances.is_empty() {
        return format!("<p class=\"muted\">{}</p>", esc(empty));
    }
    let mut out = format!(
        "<p>{} in all{}.</p><table class=\"instances\"><tr><th>Instance</th><th>Key</th><th>State</th><th>In it since</th><th>Why</th></tr>",
        list.total,
        if list.total as usize > list.instances.len() {
            format!(", the {} waiting longest shown", list.instances.len())
        } else {
            String::new()
        }
    );
    for i in &list.instances {
        let _ = write!(
            out,
            "<tr><td><a href=\"/journeys/{j}/instances/{id}\">{id}</a></td><td>{key}</td><td>{state}</td><td>{since}</td><td>{why}</td></tr>",
            j = seg(journey),
            id = i.instance_id,
            key = esc(&i.key),
            state = esc(&i.state),
            since = esc(&time(i.entered_at)),
            why = esc(&i.why),
        );
    }
    out.push_str("</table>");
    out
}

async fn journey_page(State(d): Shared, Path(journey): Path<String>) -> Response {
    let Some(def) = d.definition(&journey) else {
        return not_found(&format!("No journey is named `{journey}`."));
    };
    let store = d.engine.store();
    let slas = slas(&def);
    let now = d.engine.clock().now().0;
    let idle = i64::try_from(d.idle.as_micros()).unwrap_or(i64::MAX);
    let read = async {
        Ok::<_, EngineError>((
            store.state_counts().await?,
            store.sla_figures(&def.name, &slas).await?,
            store.stuck(&def.name, &slas, now, idle, d.limit).await?,
            store.compensating(&def.name, d.limit).await?,
        ))
    };
    let (counts, figures, stuck, compensating) = match read.await {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let mut body = heading(&def, false);
    body.push_str("<h3>Instances per state</h3>");
    body.push_str(&counts_table(&def, &counts));
    body.push_str("<h3>SLA compliance</h3>");
    body.push_str(&sla_table(&figures));
    let _ = write!(
        body,
        "<h3>Stuck</h3><p class=\"muted\">Unfinished, and past the SLA of their state or without input for {}.</p>",
        esc(&duration(
            u64::try_from(d.idle.as_millis()).unwrap_or(u64::MAX)
        ))
    );
    body.push_str(&listing_table(&def.name, &stuck, "No stuck instances."));
    body.push_str("<h3>Compensating and parked</h3>");
    body.push_str(&listing_table(
        &def.name,
        &compensating,
        "No instance is undoing saga steps or parked.",
    ));
    page(&def.title, &body).into_response()
}

async fn instance_page(State(d): Shared, Path((journey, id)): Path<(String, String)>) -> Response {
    let Some(def) = d.definition(&journey) else {
        return not_found(&format!("No journey is named `{journey}`."));
    };
    let Ok(uuid) = Uuid::parse(&id) else {
        return not_found(&format!("`{id}` is not an instance id (a UUID)."));
    };
    let detail = match d.engine.store().instance_detail(&def.name, uuid).await {
        Ok(Some(detail)) => detail,
        Ok(None) => {
            return not_found(&format!("Journey `{journey}` has no instance {uuid}."));
        }
        Err(e) => return failed(e),
    };
    let i = &detail.instance;
    let mut body = format!(
        "<h1>{title}: instance {id}</h1><table class=\"instance\">\
         <tr><th>Journey</th><td><a href=\"/journeys/{j}\">{name}</a> (version {v})</td></tr>\
         <tr><th>Key</th><td>{key}</td></tr><tr><th>State</th><td class=\"state\">{state}{finished}</td></tr>\
         <tr><th>Started</th><td>{started}</td></tr><tr><th>In this state since</th><td>{entered}</td></tr>",
        title = esc(&def.title),
        id = i.id,
        j = seg(&def.name),
        name = esc(&def.name),
        v = i.definition_version,
        key = esc(&i.key),
        state = esc(&i.state),
        finished = if i.finished { " (finished)" } else { "" },
        started = esc(&time(i.started_at)),
        entered = esc(&time(i.entered_at)),
    );
    if let Some(reason) = &detail.parked_reason {
        let _ = write!(
            body,
            "<tr><th>Parked</th><td class=\"bad\">{}</td></tr>",
            esc(reason)
        );
    }
    if let Some(c) = &i.compensation {
        let _ = write!(
            body,
            "<tr><th>Compensating</th><td>{} step(s) left to undo</td></tr>",
            c.pending.len()
        );
    }
    body.push_str("</table><h3>Timers</h3>");
    if detail.timers.is_empty() {
        body.push_str("<p class=\"muted\">No pending timers.</p>");
    } else {
        body.push_str("<table class=\"timers\"><tr><th>Timer</th><th>Due</th></tr>");
        for (name, due) in &detail.timers {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(name),
                esc(&time(*due))
            );
        }
        body.push_str("</table>");
    }
    body.push_str(
        "<h3>History</h3><table class=\"history\"><tr><th>#</th><th>Recorded</th><th>What</th><th>Input</th><th>From</th><th>To</th><th>Cause id</th></tr>",
    );
    for (n, h) in detail.history.iter().enumerate() {
        let _ = write!(
            body,
            "<tr class=\"{kind}\"><td class=\"n\">{n}</td><td>{at}</td><td>{kind}</td><td>{trigger}</td><td>{from}</td><td>{to}</td><td>{cause}</td></tr>",
            n = n + 1,
            at = esc(&time(h.recorded_at)),
            kind = esc(&h.kind),
            trigger = esc(&h.trigger),
            from = esc(h.from.as_deref().unwrap_or("")),
            to = esc(h.to.as_deref().unwrap_or("")),
            cause = esc(&h.cause_id),
        );
    }
    body.push_str("</table>");
    page(&format!("{} {}", def.title, i.id), &body).into_response()
}
