//! A day at the clinic as HTTP traffic against the running platform (`scripts/platform up`): patients registered through prm-service, appointments booked, confirmed, completed, cancelled or missed, vital signs and lab results POSTed to fhir-service, an SSE client per patient on realtime-service; out comes a summary of what each service handled and the end-to-end latencies.

use crate::realtime::token::{Grant, TokenError, TokenKey};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Why the scenario could not run or did not see everything it drove.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A setting is not an address or a number.
    #[error("{name}={value:?} is not valid: expected {expected}")]
    Setting {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    /// No token key to sign the real-time clients' tokens with.
    #[error(
        "no real-time token key: set CAREBUS_REALTIME_TOKEN_KEY or run `scripts/platform up`, which writes {path}"
    )]
    NoTokenKey { path: String },
    /// The key does not make a token.
    #[error("cannot sign a real-time token: {0}")]
    Token(#[from] TokenError),
    /// A service does not answer.
    #[error(
        "{service} at {addr} does not answer ({source}): start the platform with `scripts/platform up`"
    )]
    Unreachable {
        service: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A service answered a request with an unexpected status.
    #[error("{service} answered {status} to {request}: {body}")]
    Refused {
        service: &'static str,
        request: String,
        status: u16,
        body: String,
    },
    /// Something the scenario drove did not show up in time.
    #[error("{what} not seen within {timeout:?}: see the services' logs under target/platform/")]
    NotSeen { what: String, timeout: Duration },
}

/// Where the platform's services listen, and how big a day to drive.
#[derive(Clone, Debug)]
pub struct ScenarioConfig {
    /// Patients registered (each gets an appointment, vital signs and a lab result).
    pub patients: usize,
    /// Patients handled at once.
    pub concurrency: usize,
    /// prm-service's HTTP API (`CAREBUS_PRM_LISTEN`).
    pub prm: SocketAddr,
    /// fhir-service's FHIR API (`CAREBUS_FHIR_LISTEN`).
    pub fhir: SocketAddr,
    /// realtime-service's streams (`CAREBUS_REALTIME_LISTEN`).
    pub realtime: SocketAddr,
    /// Each service's observability endpoint (`/metrics`), by service name.
    pub endpoints: Vec<(&'static str, SocketAddr)>,
    /// The workflow engine's endpoint (`CAREBUS_ENGINE_ENDPOINT`): when its `/ready` answers,
    /// the scenario waits for each patient's welcome (the onboarding journey's first action)
    /// before booking, and reports the journeys; when nothing answers there, it runs without.
    pub engine: Option<SocketAddr>,
    /// The real-time service's HMAC key.
    pub token_key: Vec<u8>,
    /// Longest wait for one effect (a resource visible, a notification received).
    pub timeout: Duration,
}

impl ScenarioConfig {
    /// The addresses from the same settings `scripts/platform` and the services read, with their
    /// defaults; the token key from `CAREBUS_REALTIME_TOKEN_KEY` or `target/platform/realtime.key`.
    pub fn from_env(patients: usize) -> Result<ScenarioConfig, ScenarioError> {
        let addr = |name: &'static str, default: &str| -> Result<SocketAddr, ScenarioError> {
            let value = std::env::var(name).unwrap_or_else(|_| default.to_string());
            value.parse().map_err(|_| ScenarioError::Setting {
                name,
                value,
                expected: "an address like 127.0.0.1:8081",
            })
        };
        let token_key = match std::env::var("CAREBUS_REALTIME_TOKEN_KEY") {
            Ok(k) if !k.is_empty() => k.into_bytes(),
            _ => {
                let dir = std::env::var("CAREBUS_PLATFORM_DIR")
                    .unwrap_or_else(|_| "target/platform".to_string());
                let path = PathBuf::from(dir).join("realtime.key");
                std::fs::read_to_string(&path)
                    .map(|k| k.trim().as_bytes().to_vec())
                    .ok()
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| ScenarioError::NoTokenKey {
                        path: path.display().to_string(),
                    })?
            }
        };
        Ok(ScenarioConfig {
            patients,
            concurrency: 8,
            prm: addr("CAREBUS_PRM_LISTEN", "127.0.0.1:8081")?,
            fhir: addr("CAREBUS_FHIR_LISTEN", "127.0.0.1:8082")?,
            realtime: addr("CAREBUS_REALTIME_LISTEN", "127.0.0.1:8084")?,
            endpoints: vec![
                (
                    "prm-service",
                    addr("CAREBUS_PRM_ENDPOINT", "127.0.0.1:9464")?,
                ),
                (
                    "fhir-service",
                    addr("CAREBUS_FHIR_ENDPOINT", "127.0.0.1:9465")?,
                ),
                ("ai-service", addr("CAREBUS_AI_ENDPOINT", "127.0.0.1:9466")?),
                (
                    "realtime-service",
                    addr("CAREBUS_REALTIME_ENDPOINT", "127.0.0.1:9467")?,
                ),
            ],
            engine: Some(addr("CAREBUS_ENGINE_ENDPOINT", "127.0.0.1:9468")?),
            token_key,
            timeout: Duration::from_secs(30),
        })
    }
}

/// What happens to a patient's appointment, by patient number: a day's mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visit {
    /// Confirmed, then completed.
    Completed,
    /// Cancelled by the patient.
    Cancelled,
    /// Confirmed, but the patient did not come: no event says so (left confirmed).
    Missed,
}

impl Visit {
    /// The visit of patient `n`: 3 in 5 completed, 1 cancelled, 1 missed.
    pub fn of(n: usize) -> Visit {
        match n % 5 {
            1 => Visit::Cancelled,
            2 => Visit::Missed,
            _ => Visit::Completed,
        }
    }
}

/// Whether patient `n`'s HbA1c is high (an alert to the patient follows): every third.
pub fn abnormal_lab(n: usize) -> bool {
    n.is_multiple_of(3)
}

/// What the scenario drove and saw.
#[derive(Debug, Default)]
pub struct ScenarioReport {
    /// Patients registered (201 from prm-service).
    pub registered: usize,
    /// Their FHIR Patient resources read back.
    pub fhir_patients: usize,
    /// Appointments booked.
    pub booked: usize,
    /// Their FHIR Appointment resources read back, by the status they ended in.
    pub fhir_appointments: BTreeMap<String, usize>,
    /// Visits by outcome.
    pub visits: BTreeMap<String, usize>,
    /// Vital-sign and lab Observations POSTed (202) and read back.
    pub observations_posted: usize,
    pub observations_visible: usize,
    /// Notifications the SSE clients received, by kind.
    pub notifications: BTreeMap<String, usize>,
    /// Notifications a client received about a patient it did not subscribe to (must be 0).
    pub foreign_notifications: usize,
    /// Milliseconds from the HTTP call's answer to the FHIR resource visible, by step.
    pub to_fhir: BTreeMap<&'static str, Vec<f64>>,
    /// Milliseconds from the HTTP call's answer to the SSE notification, by kind.
    pub to_notification: BTreeMap<&'static str, Vec<f64>>,
    /// Per service, the counters that moved during the run: (metric and label, delta).
    pub handled: Vec<(&'static str, Vec<(String, f64)>)>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether the workflow engine ran (its endpoint answered).
    pub engine: bool,
}

/// Notifications one patient's SSE client received: (kind, subject id, patient id, when).
type Inbox = Arc<Mutex<Vec<(String, String, String, Instant)>>>;

/// Run the day and gather the report.
pub async fn run(config: &ScenarioConfig) -> Result<ScenarioReport, ScenarioError> {
    let started = Instant::now();
    let mut config = config.clone();
    let mut engine = false;
    if let Some(addr) = config.engine
        && matches!(http(addr, "GET", "/ready", None).await, Ok((200, _, _)))
    {
        config.endpoints.push(("workflow-engine", addr));
        engine = true;
    }
    config.engine = engine.then_some(config.engine).flatten();
    let before = snapshot(&config).await?;
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        % 100_000_000;
    let key = TokenKey::new(&config.token_key)?;
    let report = Arc::new(Mutex::new(ScenarioReport::default()));
    let config = Arc::new(config);
    let results: Vec<Result<(), ScenarioError>> = futures::stream::iter(0..config.patients)
        .map(|n| {
            let config = config.clone();
            let report = report.clone();
            let key = key.clone();
            async move { patient_day(&config, &key, &report, run_id, n).await }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    // The consumers that show nothing to the scenario (ai-service, every other group) may still
    // be at it: read the counters until two readings 100 ms apart agree (at most 3 s).
    let mut after = snapshot(&config).await?;
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = snapshot(&config).await?;
        let same = deltas(&after, &again)
            .iter()
            .all(|(_, moved)| moved.is_empty());
        after = again;
        if same {
            break;
        }
    }
    let mut report = std::mem::take(&mut *report.lock().unwrap());
    report.handled = deltas(&before, &after);
    report.engine = engine;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One patient's day: registration, an appointment, vital signs and a lab result, each
/// followed to its FHIR resource and its notification.
async fn patient_day(
    config: &ScenarioConfig,
    key: &TokenKey,
    report: &Mutex<ScenarioReport>,
    run_id: u128,
    n: usize,
) -> Result<(), ScenarioError> {
    let patient = format!("day-{run_id}-{n:05}");
    let inbox = subscribe(config, key, &patient).await?;
    // Registration → FHIR Patient.
    let (_, _, _) = call(
        "prm-service",
        config.prm,
        "POST",
        "/patients",
        Some(&registration(&patient, n)),
        201,
    )
    .await?;
    let t = Instant::now();
    visible(config, &format!("/Patient/{patient}"), |_| true).await?;
    let to_fhir = ms(t);
    // With the engine, the onboarding journey welcomes the patient; booking waits for it, since
    // the appointment's events may otherwise reach the engine before the registration.
    let welcome = match config.engine {
        Some(_) => Some(notified(config, &inbox, "journey_action", "", t).await?),
        None => None,
    };
    record(report, |r| {
        r.registered += 1;
        r.fhir_patients += 1;
        r.to_fhir
            .entry("patient registered")
            .or_default()
            .push(to_fhir);
        if let Some(w) = welcome {
            r.to_notification
                .entry("journey_action")
                .or_default()
                .push(w);
        }
    });

    // An appointment → FHIR Appointment and a reminder.
    // Today's clinic: the slot began half an hour ago. The FHIR service orders an appointment's
    // events by their own times, so the visit ends when it is recorded (after the confirmation).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let start = now - 1_800;
    let (_, _, written) = call(
        "prm-service",
        config.prm,
        "POST",
        "/appointments",
        Some(&json!({
            "patientId": patient,
            "practitionerId": format!("pract-{}", n % 7),
            "locationId": "main-clinic",
            "start": rfc3339(start),
            "durationMinutes": 30,
        })),
        201,
    )
    .await?;
    let appointment = written["id"].as_str().unwrap_or_default().to_string();
    let t = Instant::now();
    let path = format!("/Appointment/{appointment}");
    visible(config, &path, |_| true).await?;
    let to_fhir = ms(t);
    let to_reminder = notified(config, &inbox, "appointment_reminder", &appointment, t).await?;
    record(report, |r| {
        r.booked += 1;
        r.to_fhir
            .entry("appointment booked")
            .or_default()
            .push(to_fhir);
        r.to_notification
            .entry("appointment_reminder")
            .or_default()
            .push(to_reminder);
    });
    let visit = Visit::of(n);
    let steps: &[&str] = match visit {
        Visit::Completed => &["confirm", "complete"],
        Visit::Cancelled => &["cancel"],
        Visit::Missed => &["confirm"],
    };
    for step in steps {
        let body = match *step {
            "confirm" if visit == Visit::Missed => json!({ "channel": "patient_portal" }),
            "confirm" => json!({ "channel": "sms" }),
            "cancel" => json!({ "reason": "patient_request" }),
            // The visit ends after the confirmation (a second from now): the FHIR service would
            // take an end older than the confirmation for a late, stale event.
            _ => {
                let end = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    + 1;
                json!({ "actualStart": rfc3339(start + 300), "actualEnd": rfc3339(end), "followUpInDays": 90 })
            }
        };
        call(
            "prm-service",
            config.prm,
            "POST",
            &format!("/appointments/{appointment}/{step}"),
            Some(&body),
            200,
        )
        .await?;
    }
    let t = Instant::now();
    let want = match visit {
        Visit::Completed => "fulfilled",
        Visit::Cancelled => "cancelled",
        Visit::Missed => "booked",
    };
    let seen = visible(config, &path, |a| {
        a["status"] == want
            && (visit != Visit::Missed || a["participant"][0]["status"] == "accepted")
    })
    .await?;
    let last = if visit == Visit::Cancelled {
        Some(notified(config, &inbox, "appointment_cancelled", &appointment, t).await?)
    } else {
        None
    };
    record(report, |r| {
        *r.visits
            .entry(format!("{visit:?}").to_lowercase())
            .or_default() += 1;
        *r.fhir_appointments
            .entry(seen["status"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
        if let Some(l) = last {
            r.to_notification
                .entry("appointment_cancelled")
                .or_default()
                .push(l);
        }
    });

    // Vital signs at the visit, then the HbA1c result from the laboratory.
    for (code, display, value, unit) in VITALS {
        let body = observation(&patient, "vital-signs", code, display, value(n), unit, None);
        let (_, head, _) = call(
            "fhir-service",
            config.fhir,
            "POST",
            "/Observation",
            Some(&body),
            202,
        )
        .await?;
        let t = Instant::now();
        let location = content_location(&head);
        visible(config, &format!("/{location}"), |_| true).await?;
        record(report, |r| {
            r.observations_posted += 1;
            r.observations_visible += 1;
            r.to_fhir
                .entry("vital sign posted")
                .or_default()
                .push(ms(t));
        });
    }
    let high = abnormal_lab(n);
    let a1c = if high { 8.4 } else { 5.2 };
    let body = observation(
        &patient,
        "laboratory",
        "4548-4",
        "Hemoglobin A1c",
        a1c,
        "%",
        Some(if high { "H" } else { "N" }),
    );
    let (_, head, _) = call(
        "fhir-service",
        config.fhir,
        "POST",
        "/Observation",
        Some(&body),
        202,
    )
    .await?;
    let t = Instant::now();
    let location = content_location(&head);
    visible(config, &format!("/{location}"), |_| true).await?;
    let to_fhir = ms(t);
    let alert = if high {
        let result = location.rsplit('/').next().unwrap_or_default().to_string();
        Some(notified(config, &inbox, "lab_result_alert", &result, t).await?)
    } else {
        None
    };
    record(report, |r| {
        r.observations_posted += 1;
        r.observations_visible += 1;
        r.to_fhir
            .entry("lab result posted")
            .or_default()
            .push(to_fhir);
        if let Some(a) = alert {
            r.to_notification
                .entry("lab_result_alert")
                .or_default()
                .push(a);
        }
    });
    // What this patient's client received: its own notifications only.
    let received = inbox.lock().unwrap().clone();
    record(report, |r| {
        for (kind, _, about, _) in &received {
            if *about == patient {
                *r.notifications.entry(kind.clone()).or_default() += 1;
            } else {
                r.foreign_notifications += 1;
            }
        }
    });
    Ok(())
}

/// The five NEWS2 vital signs: LOINC code, display, value for patient n, UCUM unit.
type Vital = (&'static str, &'static str, fn(usize) -> f64, &'static str);
const VITALS: [Vital; 5] = [
    (
        "9279-1",
        "Respiratory rate",
        |n| 14.0 + (n % 8) as f64,
        "/min",
    ),
    (
        "59408-5",
        "Oxygen saturation",
        |n| 99.0 - (n % 6) as f64,
        "%",
    ),
    (
        "8480-6",
        "Systolic blood pressure",
        |n| 105.0 + (n % 40) as f64,
        "mm[Hg]",
    ),
    ("8867-4", "Heart rate", |n| 60.0 + (n % 50) as f64, "/min"),
    (
        "8310-5",
        "Body temperature",
        |n| 36.4 + (n % 5) as f64 * 0.4,
        "Cel",
    ),
];

fn record(report: &Mutex<ScenarioReport>, f: impl FnOnce(&mut ScenarioReport)) {
    f(&mut report.lock().unwrap());
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1_000.0
}

fn registration(patient: &str, n: usize) -> Value {
    const GIVEN: [&str; 6] = ["Ana", "Bo", "Chen", "Dara", "Emeka", "Femi"];
    const FAMILY: [&str; 5] = ["Ruiz", "Okafor", "Lindqvist", "Haddad", "Nakamura"];
    json!({
        "patientId": patient,
        "firstName": GIVEN[n % GIVEN.len()],
        "lastName": FAMILY[n % FAMILY.len()],
        "dateOfBirth": format!("{}-0{}-1{}", 1940 + n % 60, 1 + n % 9, n % 10),
        "gender": if n.is_multiple_of(2) { "female" } else { "male" },
        "identifiers": [{ "system": "urn:carebus:mrn", "value": format!("MRN-{patient}"), "typeCode": "MR" }],
        "telecom": [{ "system": "phone", "value": format!("+1-555-{:04}", n % 10_000), "use": "mobile" }],
    })
}

fn observation(
    patient: &str,
    category: &str,
    code: &str,
    display: &str,
    value: f64,
    unit: &str,
    interpretation: Option<&str>,
) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut o = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category }] }],
        "code": { "coding": [{ "system": "http://loinc.org", "code": code, "display": display }] },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": rfc3339(now - 3_600),
        "valueQuantity": { "value": (value * 10.0).round() / 10.0, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit },
    });
    if category == "laboratory" {
        o["performer"] =
            json!([{ "reference": "Organization/central-lab", "display": "Central laboratory" }]);
    }
    if let Some(i) = interpretation {
        o["interpretation"] = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": i }] }]);
    }
    o
}

/// `Observation/<id>` from a POST's `Content-Location` header.
fn content_location(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-location")
                .then(|| value.trim().trim_start_matches('/').to_string())
        })
        .unwrap_or_default()
}

/// Seconds since the epoch as RFC 3339 UTC.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Poll the FHIR API until `path` answers 200 with a resource `ready` accepts.
async fn visible(
    config: &ScenarioConfig,
    path: &str,
    ready: impl Fn(&Value) -> bool,
) -> Result<Value, ScenarioError> {
    let deadline = Instant::now() + config.timeout;
    loop {
        let (status, _, body) = http(config.fhir, "GET", path, None)
            .await
            .map_err(|source| ScenarioError::Unreachable {
                service: "fhir-service",
                addr: config.fhir,
                source,
            })?;
        if status == 200 {
            let resource: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if ready(&resource) {
                return Ok(resource);
            }
        }
        if Instant::now() > deadline {
            return Err(ScenarioError::NotSeen {
                what: format!("FHIR {path}"),
                timeout: config.timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Wait until the patient's SSE client has received a `kind` notification about `subject`
/// (any subject when empty); milliseconds from `since`.
async fn notified(
    config: &ScenarioConfig,
    inbox: &Inbox,
    kind: &str,
    subject: &str,
    since: Instant,
) -> Result<f64, ScenarioError> {
    let deadline = Instant::now() + config.timeout;
    loop {
        let at = inbox
            .lock()
            .unwrap()
            .iter()
            .find(|(k, s, _, _)| k == kind && (subject.is_empty() || s == subject))
            .map(|(_, _, _, at)| *at);
        if let Some(at) = at {
            return Ok(at.saturating_duration_since(since).as_secs_f64() * 1_000.0);
        }
        if Instant::now() > deadline {
            return Err(ScenarioError::NotSeen {
                what: format!("a {kind} notification"),
                timeout: config.timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Open the patient's SSE stream on realtime-service (a token for that patient only); a task
/// appends each notification to the returned inbox until the stream ends.
async fn subscribe(
    config: &ScenarioConfig,
    key: &TokenKey,
    patient: &str,
) -> Result<Inbox, ScenarioError> {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3_600;
    let token = key.issue(&Grant {
        sub: "platform-scenario".into(),
        patients: vec![patient.to_string()],
        teams: vec![],
        exp,
    })?;
    let unreachable = |source| ScenarioError::Unreachable {
        service: "realtime-service",
        addr: config.realtime,
        source,
    };
    let mut stream = TcpStream::connect(config.realtime)
        .await
        .map_err(unreachable)?;
    let request = format!(
        "GET /events?patient={patient} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n",
        config.realtime
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(unreachable)?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).await.map_err(unreachable)?;
    if !status.contains(" 200 ") {
        return Err(ScenarioError::Refused {
            service: "realtime-service",
            request: "GET /events".into(),
            status: status
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            body: status.trim().to_string(),
        });
    }
    let inbox: Inbox = Arc::default();
    let sink = inbox.clone();
    tokio::spawn(async move {
        // The body is chunked; every `data:` line is one whole notification (the service writes
        // each event in one chunk), so reading lines is enough.
        let mut line = String::new();
        while reader.read_line(&mut line).await.is_ok_and(|n| n > 0) {
            if let Some(data) = line.trim_end().strip_prefix("data:")
                && let Ok(n) = serde_json::from_str::<Value>(data.trim())
            {
                let field = |k: &str| n[k].as_str().unwrap_or_default().to_string();
                sink.lock().unwrap().push((
                    field("kind"),
                    field("subject_id"),
                    field("patient_id"),
                    Instant::now(),
                ));
            }
            line.clear();
        }
    });
    Ok(inbox)
}

/// One HTTP request that must answer `expected`: its head and JSON body.
async fn call(
    service: &'static str,
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: Option<&Value>,
    expected: u16,
) -> Result<(u16, String, Value), ScenarioError> {
    let text = body.map(Value::to_string);
    let (status, head, body) =
        http(addr, method, target, text.as_deref())
            .await
            .map_err(|source| ScenarioError::Unreachable {
                service,
                addr,
                source,
            })?;
    if status != expected {
        return Err(ScenarioError::Refused {
            service,
            request: format!("{method} {target}"),
            status,
            body,
        });
    }
    Ok((
        status,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    ))
}

/// One HTTP/1.1 request on a fresh connection: status, head and body (de-chunked).
async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).await?;
    let body = body.unwrap_or_default();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Tenant-Id: clinic-scenario\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, head.to_string(), body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// The counters of each service's `/metrics`, summed per name and label set.
type Snapshot = Vec<(&'static str, HashMap<String, f64>)>;

/// The metrics each service's summary line shows: (metric, the label it is broken down by).
const SHOWN: [(&str, &str); 8] = [
    ("carebus_store_outbox_relayed_total", ""),
    ("carebus_consumed_total", "topic"),
    ("carebus_fhir_events_total", "event_type"),
    ("carebus_ai_requests_total", "outcome"),
    ("carebus_realtime_notifications_total", "kind"),
    ("carebus_dead_lettered_total", "topic"),
    ("carebus_journey_started_total", "journey"),
    ("carebus_journey_finished_total", "journey"),
];

async fn snapshot(config: &ScenarioConfig) -> Result<Snapshot, ScenarioError> {
    let mut all = Vec::new();
    for (service, addr) in &config.endpoints {
        let (status, _, text) = http(*addr, "GET", "/metrics", None)
            .await
            .map_err(|source| ScenarioError::Unreachable {
                service,
                addr: *addr,
                source,
            })?;
        if status != 200 {
            return Err(ScenarioError::Refused {
                service,
                request: "GET /metrics".into(),
                status,
                body: text,
            });
        }
        let mut counters = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let name = series.split('{').next().unwrap_or_default();
            let Some((_, label)) = SHOWN.iter().find(|(m, _)| *m == name) else {
                continue;
            };
            let by = label_value(series, label);
            let key = if by.is_empty() {
                name.to_string()
            } else {
                format!("{name}{{{label}={by}}}")
            };
            *counters.entry(key).or_default() += value.parse::<f64>().unwrap_or(0.0);
        }
        all.push((*service, counters));
    }
    Ok(all)
}

fn label_value(series: &str, label: &str) -> String {
    if label.is_empty() {
        return String::new();
    }
    let pattern = format!("{label}=\"");
    series
        .split_once(&pattern)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| v.to_string())
        .unwrap_or_default()
}

fn deltas(before: &Snapshot, after: &Snapshot) -> Vec<(&'static str, Vec<(String, f64)>)> {
    after
        .iter()
        .map(|(service, counters)| {
            let was = before
                .iter()
                .find(|(s, _)| s == service)
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            let mut moved: Vec<(String, f64)> = counters
                .iter()
                .map(|(k, v)| (k.clone(), v - was.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, d)| *d > 0.0)
                .collect();
            moved.sort_by(|a, b| a.0.cmp(&b.0));
            (*service, moved)
        })
        .collect()
}

/// The p50, p99 and max of `values`.
fn percentiles(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.50), at(0.99), v[v.len() - 1])
}

impl ScenarioReport {
    /// The summary the scenario command prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "scenario: {} patients in {:.1} s",
            self.registered,
            self.elapsed.as_secs_f64()
        ));
        line(format!(
            "  patients registered {}   FHIR Patient visible {}",
            self.registered, self.fhir_patients
        ));
        line(format!(
            "  appointments booked {}   visits {:?}   FHIR Appointment status {:?}",
            self.booked, self.visits, self.fhir_appointments
        ));
        line(format!(
            "  observations posted {}   FHIR Observation visible {}",
            self.observations_posted, self.observations_visible
        ));
        line(format!(
            "  notifications received {:?}   about another patient {}",
            self.notifications, self.foreign_notifications
        ));
        line("handled per service (counter deltas during the run):".into());
        for (service, moved) in &self.handled {
            let shown: Vec<String> = moved.iter().map(|(k, v)| format!("{k} {v}")).collect();
            line(format!(
                "  {service:<17} {}",
                if shown.is_empty() {
                    "nothing".to_string()
                } else {
                    shown.join(", ")
                }
            ));
        }
        line("end-to-end latency, ms (HTTP answer -> effect; FHIR polled every 5 ms):".into());
        line(format!(
            "  {:<42} {:>6} {:>8} {:>8} {:>8}",
            "path", "n", "p50", "p99", "max"
        ));
        let rows = self
            .to_fhir
            .iter()
            .map(|(k, v)| (format!("{k} -> FHIR resource"), v))
            .chain(
                self.to_notification
                    .iter()
                    .map(|(k, v)| (format!("{k} -> SSE notification"), v)),
            );
        for (path, values) in rows {
            if values.is_empty() {
                continue;
            }
            let (p50, p99, max) = percentiles(values);
            line(format!(
                "  {path:<42} {:>6} {p50:>8.1} {p99:>8.1} {max:>8.1}",
                values.len()
            ));
        }
        if self.engine {
            let count = |metric: &str| -> f64 {
                self.handled
                    .iter()
                    .filter(|(s, _)| *s == "workflow-engine")
                    .flat_map(|(_, moved)| moved.iter())
                    .filter(|(k, _)| k.starts_with(metric))
                    .map(|(_, v)| v)
                    .sum()
            };
            line(format!(
                "journeys: {} started, {} finished (workflow-engine counters)",
                count("carebus_journey_started_total"),
                count("carebus_journey_finished_total")
            ));
        } else {
            line(
                "journeys: no workflow engine answered (`scripts/platform up engine` starts it)"
                    .into(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_680_182), "2026-12-07T21:49:42Z");
    }

    #[test]
    fn a_chunked_body_is_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }

    #[test]
    fn the_day_mixes_visits() {
        let visits: Vec<Visit> = (0..5).map(Visit::of).collect();
        assert_eq!(
            visits,
            [
                Visit::Completed,
                Visit::Cancelled,
                Visit::Missed,
                Visit::Completed,
                Visit::Completed
            ]
        );
    }

    #[test]
    fn labels_are_read_from_a_series() {
        assert_eq!(
            label_value(r#"carebus_consumed_total{group="x",topic="t.a"}"#, "topic"),
            "t.a"
        );
        assert_eq!(label_value("carebus_x_total", ""), "");
    }
}
