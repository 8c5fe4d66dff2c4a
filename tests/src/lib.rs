//! Shared helpers of the end-to-end tests: where Kafka and PostgreSQL are, and how to say they are missing.
//!
//! Each address helper checks the service accepts TCP connections and otherwise panics with the command
//! that starts it: a test needing a service never skips silently. The addresses come from the same
//! environment variables `scripts/services` reads, with the same defaults.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Environment variable naming an existing single Kafka broker to test against.
pub const KAFKA_BOOTSTRAP_VAR: &str = "CAREBUS_KAFKA_BOOTSTRAP";
/// Environment variable naming an existing three-broker Kafka cluster to test against.
pub const KAFKA_CLUSTER_BOOTSTRAP_VAR: &str = "CAREBUS_KAFKA_CLUSTER_BOOTSTRAP";
/// Environment variable naming an existing PostgreSQL database to test against.
pub const DATABASE_URL_VAR: &str = "CAREBUS_DATABASE_URL";
/// Environment variable naming an existing OpenSearch (or Elasticsearch) to test against.
pub const OPENSEARCH_URL_VAR: &str = "CAREBUS_OPENSEARCH_URL";

/// The single broker `scripts/services up kafka` starts.
pub const DEFAULT_KAFKA_BOOTSTRAP: &str = "127.0.0.1:19092";
/// The three-node cluster `scripts/services up cluster` starts; node N listens on the N-th address.
pub const DEFAULT_KAFKA_CLUSTER_BOOTSTRAP: &str = "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094";
/// The OpenSearch node `scripts/services up opensearch` starts.
pub const DEFAULT_OPENSEARCH_URL: &str = "http://127.0.0.1:19200";
/// The database `scripts/services up postgres` creates.
pub const DEFAULT_DATABASE_URL: &str = "postgres://carebus:carebus@127.0.0.1:15432/carebus_test";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Bootstrap servers of the single Kafka broker, after checking it is reachable.
///
/// # Panics
/// When no address of the bootstrap list accepts connections, naming the command that starts it.
pub fn kafka_bootstrap() -> String {
    let bootstrap = setting(KAFKA_BOOTSTRAP_VAR, DEFAULT_KAFKA_BOOTSTRAP);
    require(check_reachable(
        "Kafka",
        &bootstrap,
        "kafka",
        KAFKA_BOOTSTRAP_VAR,
    ));
    bootstrap
}

/// Bootstrap servers of the three-node Kafka cluster, after checking at least one node is reachable
/// (failure tests stop nodes on purpose).
///
/// # Panics
/// When no node accepts connections, naming the command that starts the cluster.
pub fn kafka_cluster_bootstrap() -> String {
    let bootstrap = setting(KAFKA_CLUSTER_BOOTSTRAP_VAR, DEFAULT_KAFKA_CLUSTER_BOOTSTRAP);
    require(check_reachable(
        "The Kafka cluster",
        &bootstrap,
        "cluster",
        KAFKA_CLUSTER_BOOTSTRAP_VAR,
    ));
    bootstrap
}

/// URL of the OpenSearch test cluster, after checking it is reachable.
///
/// # Panics
/// When it does not accept connections, naming the command that starts it (only host and port
/// are named, never credentials in the URL).
pub fn opensearch_url() -> String {
    let url = setting(OPENSEARCH_URL_VAR, DEFAULT_OPENSEARCH_URL);
    let authority = url
        .split_once("://")
        .map_or(url.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    require(check_reachable(
        "OpenSearch",
        host_port,
        "opensearch",
        OPENSEARCH_URL_VAR,
    ));
    url
}

/// URL of the PostgreSQL test database, after checking its server is reachable.
///
/// # Panics
/// When the server does not accept connections, naming the command that starts it. The message
/// names only host and port, never the credentials in the URL.
pub fn database_url() -> String {
    let url = setting(DATABASE_URL_VAR, DEFAULT_DATABASE_URL);
    let Some(address) = database_address(&url) else {
        panic!(
            "{DATABASE_URL_VAR} is not a postgres:// URL with a host; \
             expected e.g. {DEFAULT_DATABASE_URL}"
        );
    };
    require(check_reachable(
        "PostgreSQL",
        &address,
        "postgres",
        DATABASE_URL_VAR,
    ));
    url
}

/// Environment variable naming an existing Prometheus to test against (its targets directory is
/// then `CAREBUS_PROMETHEUS_TARGETS`).
pub const PROMETHEUS_URL_VAR: &str = "CAREBUS_PROMETHEUS_URL";
/// The Prometheus `scripts/services up monitoring` starts.
pub const DEFAULT_PROMETHEUS_URL: &str = "http://127.0.0.1:19090";

/// `host:port` of the Prometheus test server, after checking it is reachable.
///
/// # Panics
/// When it does not accept connections, naming the command that starts it.
pub fn prometheus_address() -> String {
    let url = setting(PROMETHEUS_URL_VAR, DEFAULT_PROMETHEUS_URL);
    let address = url
        .strip_prefix("http://")
        .unwrap_or(&url)
        .trim_end_matches('/')
        .to_string();
    require(check_reachable(
        "Prometheus",
        &address,
        "monitoring",
        PROMETHEUS_URL_VAR,
    ));
    address
}

/// The directory of file_sd target files Prometheus scrapes (`target/services/prometheus/targets`,
/// or `CAREBUS_PROMETHEUS_TARGETS`).
///
/// # Panics
/// When it does not exist, naming the command that makes it.
pub fn prometheus_targets() -> PathBuf {
    let dir = std::env::var_os("CAREBUS_PROMETHEUS_TARGETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/services/prometheus/targets"));
    assert!(
        dir.is_dir(),
        "{} does not exist: start Prometheus with `scripts/services up monitoring` \
         (or set CAREBUS_PROMETHEUS_TARGETS to the file_sd directory of yours)",
        dir.display()
    );
    dir
}

/// The secured broker `scripts/services up secure` starts (SASL_SSL, SCRAM-SHA-512, ACLs).
pub const DEFAULT_KAFKA_SECURE_BOOTSTRAP: &str = "127.0.0.1:39092";
const KAFKA_SECURE_BOOTSTRAP_VAR: &str = "CAREBUS_KAFKA_SECURE_BOOTSTRAP";

/// The test services' CA certificate (`target/services/pki/ca.crt`, made by scripts/services).
pub fn test_ca() -> PathBuf {
    repo_root().join("target/services/pki/ca.crt")
}

/// A Kafka configuration for the secured broker as `user` (`admin` or a service of
/// services.toml): SASL_SSL, SCRAM-SHA-512, the password from the file scripts/services made,
/// brokers checked against the test CA — after checking the broker is reachable.
///
/// # Panics
/// When the broker is not reachable or the user has no credential, naming the command that
/// starts it.
pub fn kafka_secure(user: &str) -> carebus::kafka::KafkaConfig {
    use carebus::config::Settings;
    let bootstrap = setting(KAFKA_SECURE_BOOTSTRAP_VAR, DEFAULT_KAFKA_SECURE_BOOTSTRAP);
    require(check_reachable(
        "The secured Kafka broker",
        &bootstrap,
        "secure",
        KAFKA_SECURE_BOOTSTRAP_VAR,
    ));
    let password = repo_root().join(format!(
        "target/services/kafka/secure/credentials/{user}.password"
    ));
    let mut config = carebus::kafka::KafkaConfig::new(bootstrap);
    for (key, value) in [
        ("security_protocol", "SASL_SSL".to_string()),
        ("sasl_username", user.to_string()),
        ("sasl_password_file", password.display().to_string()),
        ("ssl_ca_location", test_ca().display().to_string()),
    ] {
        if let Err(e) = config.set(key, &value) {
            panic!("{e}: run `scripts/services up secure` (it makes a credential per service)");
        }
    }
    config
}

/// Runs `scripts/services` with `args` (e.g. `["stop-node", "2"]`) and returns what it printed.
///
/// # Errors
/// When the script cannot be run or exits unsuccessfully, with its output.
pub fn services(args: &[&str]) -> Result<String, ServicesError> {
    let script = repo_root().join("scripts").join("services");
    let command = format!("scripts/services {}", args.join(" "));
    let output = Command::new(&script)
        .args(args)
        .output()
        .map_err(|error| ServicesError {
            command: command.clone(),
            output: format!("could not run {}: {error}", script.display()),
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(ServicesError {
            command: format!("{command} ({})", output.status),
            output: text,
        })
    }
}

/// `scripts/services` failed; carries the command and everything it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicesError {
    /// The command line that failed, with its exit status.
    pub command: String,
    /// Its standard output and standard error.
    pub output: String,
}

impl fmt::Display for ServicesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed:\n{}", self.command, self.output.trim_end())
    }
}

impl std::error::Error for ServicesError {}

/// A name no other test or run uses, for topics, consumer groups and databases: `prefix` in lower
/// case with anything but ASCII letters and digits turned into `_`, then process id, a counter and
/// random bits. Valid as a Kafka topic and as an unquoted PostgreSQL identifier.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut clean: String = prefix
        .chars()
        .take(30)
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !clean.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        clean.insert(0, 't');
    }
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{clean}_{}_{n}_{:08x}",
        std::process::id(),
        hasher.finish() & 0xffff_ffff
    )
}

/// The repository root (parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn setting(var: &str, default: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => default.to_owned(),
    }
}

fn require(check: Result<(), String>) {
    if let Err(message) = check {
        panic!("{message}");
    }
}

/// Checks that at least one `host:port` of the comma-separated `addresses` accepts a TCP connection.
/// The error names `scripts/services up <target>` and the environment variable that overrides it.
pub fn check_reachable(
    service: &str,
    addresses: &str,
    target: &str,
    var: &str,
) -> Result<(), String> {
    let reachable = addresses
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .any(accepts_connections);
    if reachable {
        Ok(())
    } else {
        Err(format!(
            "{service} is not reachable at {addresses}: start it with \
             `scripts/services up {target}` (or set {var})"
        ))
    }
}

fn accepts_connections(address: &str) -> bool {
    let Ok(candidates) = address.to_socket_addrs() else {
        return false;
    };
    candidates
        .into_iter()
        .any(|socket| TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT).is_ok())
}

/// `host:port` of a `postgres://user:password@host:port/db?options` URL (port 5432 when absent).
pub fn database_address(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return None;
    }
    let has_port = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..].contains(':'),
        None => host_port.contains(':'),
    };
    Some(if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    })
}

/// How many events a benchmark measures: `full` under `cargo bench`, which passes `--bench`, and
/// `smoke` when the README's test command runs the bench target without arguments (debug build)
/// only to check that it still works. `CAREBUS_BENCH_EVENTS`, where a benchmark reads it, wins
/// over both.
pub fn bench_size(full: usize, smoke: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        full
    } else {
        smoke
    }
}

/// The event the benchmarks send: a patient deactivation of one of a thousand patients
/// (about 400 bytes on the wire with its CloudEvents headers).
pub fn bench_event(i: usize) -> carebus_schemas::PatientDeactivated {
    use carebus_schemas::{DeactivationReason, PatientDeactivated, Reference};
    PatientDeactivated {
        patient_id: format!("patient-{}", i % 1000),
        reason: DeactivationReason::PatientRequest,
        deceased_at: None,
        note: None,
        deactivated_by: Reference {
            r#type: "Practitioner".into(),
            id: format!("pr-{}", i % 50),
            display: Some("Dr. Example".into()),
        },
        deactivated_at: carebus::Timestamp::now(),
    }
}

/// The envelope a hand-written consumer reads to know what it received: the CloudEvents
/// headers carebus sets, in one pass over them. The benchmarks' raw baselines read it.
#[derive(Default)]
pub struct RawEnvelope {
    pub id: String,
    pub event_type: String,
    pub time: Option<carebus::Timestamp>,
    pub subject: String,
    pub source: String,
    pub version: u32,
    pub aggregate_type: String,
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
}

impl RawEnvelope {
    /// Read the envelope from a record's headers (name, value).
    pub fn read<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> RawEnvelope {
        let mut env = RawEnvelope::default();
        for (name, value) in headers {
            let text = || std::str::from_utf8(value).unwrap_or_default();
            match name {
                "ce_id" => env.id = text().to_owned(),
                "ce_type" => env.event_type = text().to_owned(),
                "ce_time" => env.time = carebus::Timestamp::parse_rfc3339(text()),
                "ce_subject" => env.subject = text().to_owned(),
                "ce_source" => env.source = text().to_owned(),
                "ce_eventversion" => env.version = text().parse().unwrap_or_default(),
                "ce_aggregatetype" => env.aggregate_type = text().to_owned(),
                "ce_correlationid" => env.correlation_id = Some(text().to_owned()),
                "traceparent" => env.traceparent = Some(text().to_owned()),
                _ => {}
            }
        }
        env
    }

    /// What a hand-written consumer does with a record once it read the envelope: decode the
    /// single-object-framed payload by the envelope's type and version with the generated
    /// codec, and hand a deactivation to the benchmarks' handler work.
    pub fn handle(
        &self,
        framed: &[u8],
        probe: &DeactivationProbe,
    ) -> carebus_schemas::PatientsEvent {
        use carebus::topic::TopicEvents;
        use carebus_schemas::PatientsEvent;
        let payload = &framed[carebus::wire::SINGLE_OBJECT_MAGIC.len() + 8..];
        let event =
            PatientsEvent::decode(&self.event_type, self.version, payload).expect("decodes");
        if let PatientsEvent::PatientDeactivated(e) = &event {
            probe.record(e);
        }
        event
    }
}

/// The benchmarks' handler of patient events: counts handled deactivations, notes when the
/// first and the last were handled, and how long after its creation (`deactivatedAt`) each
/// one reached it. Clones share their records.
#[derive(Clone, Default)]
pub struct DeactivationProbe {
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    times: std::sync::Arc<std::sync::Mutex<ProbeTimes>>,
}

#[derive(Default)]
struct ProbeTimes {
    first: Option<std::time::Instant>,
    last: Option<std::time::Instant>,
    /// When the `target`-th deactivation was handled (see [`DeactivationProbe::until`]).
    target: usize,
    at_target: Option<std::time::Instant>,
    handled: usize,
    /// Microseconds from each event's creation to its handler, in handling order.
    lags: Vec<i64>,
}

impl DeactivationProbe {
    /// Deactivations handled so far.
    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::Relaxed)
    }

    /// A probe whose [`span`](Self::span) ends at the `n`-th handled deactivation, however
    /// many more the consumer handles before it sees the stop signal.
    pub fn until(n: usize) -> Self {
        let probe = Self::default();
        probe.times.lock().unwrap_or_else(|p| p.into_inner()).target = n;
        probe
    }

    /// Time from the first handled deactivation to the target one (see
    /// [`until`](Self::until)), else to the last.
    pub fn span(&self) -> Option<Duration> {
        let t = self.times.lock().unwrap_or_else(|p| p.into_inner());
        Some(t.at_target.or(t.last)? - t.first?)
    }

    /// Take the creation-to-handler times recorded so far.
    pub fn take_lags(&self) -> Vec<Duration> {
        let mut t = self.times.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut t.lags)
            .into_iter()
            .map(|us| Duration::from_micros(us.max(0) as u64))
            .collect()
    }

    /// What the handler does with each deactivation (raw baselines call it too).
    pub fn record(&self, e: &carebus_schemas::PatientDeactivated) {
        let lag = carebus::Timestamp::now().0 - e.deactivated_at.0;
        let now = std::time::Instant::now();
        let mut t = self.times.lock().unwrap_or_else(|p| p.into_inner());
        t.first.get_or_insert(now);
        t.last = Some(now);
        t.handled += 1;
        if t.handled == t.target {
            t.at_target = Some(now);
        }
        t.lags.push(lag);
        drop(t);
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
}

impl carebus_schemas::PatientsHandler for DeactivationProbe {
    async fn on_patient_created(
        &self,
        _: &carebus::HandlerContext,
        _: carebus_schemas::PatientCreated,
    ) -> carebus::HandlerResult {
        Ok(())
    }
    async fn on_patient_deactivated(
        &self,
        _: &carebus::HandlerContext,
        e: carebus_schemas::PatientDeactivated,
    ) -> carebus::HandlerResult {
        self.record(&e);
        Ok(())
    }
    async fn on_patient_merged(
        &self,
        _: &carebus::HandlerContext,
        _: carebus_schemas::PatientMerged,
    ) -> carebus::HandlerResult {
        Ok(())
    }
    async fn on_patient_updated(
        &self,
        _: &carebus::HandlerContext,
        _: carebus_schemas::PatientUpdated,
    ) -> carebus::HandlerResult {
        Ok(())
    }
}

/// The Python of the venv `scripts/pyenv` creates (`target/pyenv`, with the pinned CloudEvents
/// SDK, confluent-kafka and fastavro) that runs the interoperability scripts in `tests/python/`.
///
/// # Panics
/// When the venv is missing, naming the command that creates it: the tests never skip.
pub fn python() -> PathBuf {
    let python = repo_root().join("target/pyenv/bin/python");
    if !python.is_file() {
        panic!(
            "{} is missing: run scripts/pyenv (./scripts/test runs it) to create the Python venv the CloudEvents interoperability tests use",
            python.display()
        );
    }
    python
}

/// Run `tests/python/<script>` with [`python()`] and `args`; its standard output.
///
/// # Panics
/// When the script cannot start or exits with an error, with its standard error.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let path = repo_root().join("tests/python").join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
    if !out.status.success() {
        panic!(
            "{script} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn unreachable_service_error_names_the_command_and_variable() {
        // Bind then release a port: nothing listens on it afterwards.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let error = check_reachable("Kafka", &address, "kafka", KAFKA_BOOTSTRAP_VAR).unwrap_err();
        assert_eq!(
            error,
            format!(
                "Kafka is not reachable at {address}: start it with `scripts/services up kafka` \
                 (or set CAREBUS_KAFKA_BOOTSTRAP)"
            )
        );
    }

    #[test]
    fn listening_address_is_reachable_even_when_another_in_the_list_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let list = format!("{closed},{open}");
        assert_eq!(check_reachable("Kafka", &list, "cluster", "X"), Ok(()));
    }

    #[test]
    fn database_address_drops_credentials_and_defaults_the_port() {
        assert_eq!(
            database_address("postgres://carebus:secret@127.0.0.1:15432/carebus_test").as_deref(),
            Some("127.0.0.1:15432")
        );
        assert_eq!(
            database_address("postgresql://u@db.example/x?sslmode=disable").as_deref(),
            Some("db.example:5432")
        );
        assert_eq!(
            database_address("postgres://[::1]/x").as_deref(),
            Some("[::1]:5432")
        );
        assert_eq!(database_address("mysql://h/x"), None);
    }

    #[test]
    fn unique_names_differ_and_are_valid_identifiers() {
        let a = unique_name("Smoke test.Topic");
        let b = unique_name("Smoke test.Topic");
        assert_ne!(a, b);
        assert!(a.starts_with("smoke_test_topic_"), "{a}");
        assert!(a.len() <= 63, "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        assert!(unique_name("9lives").starts_with("t9lives_"));
    }

    #[test]
    fn failing_services_command_reports_its_output() {
        let error = services(&["no-such-command"]).unwrap_err();
        assert!(
            error
                .command
                .starts_with("scripts/services no-such-command"),
            "{error}"
        );
        assert!(error.output.contains("Usage"), "{error}");
    }
}
