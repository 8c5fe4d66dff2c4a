//! The protected HTTP query endpoint against real PostgreSQL, served by a login role that is neither superuser nor BYPASSRLS (made per test with the administrator's SQL): bearer tokens (none, wrong signature, expired, wrong issuer, no scope) into 401/403, tenants isolated by row-level security (another tenant's events and streams answer like absent ones), PHI redacted without `phi:read`, each request in the access log; and the two tenancy leaks: `NoStream` appends to another tenant's stream id, migrations as a non-superuser owner.

use super::*;
use carebus::postgres::auth::{AuthConfig, Secret, TokenVerifier};
use carebus::postgres::http::{QueryEndpoint, REDACTED};
use carebus::postgres::tenancy::{AdminSetup, admin_setup_sql};
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

pub const SECRET: &str = "query-endpoint-test-secret-32-bytes-or-more";
pub const ISSUER: &str = "https://idp.carebus.test";
pub const AUDIENCE: &str = "carebus-query";

/// The verifier the test endpoints use (HS256).
pub fn verifier() -> TokenVerifier {
    TokenVerifier::from_config(&AuthConfig {
        key: Some(Secret::new(SECRET)),
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        ..AuthConfig::default()
    })
    .unwrap()
}

/// A token for `sub` of `tenant` with `scope`, signed with `secret`.
pub fn token_with(secret: &str, sub: &str, tenant: &str, scope: &str, extra: Value) -> String {
    let now = get_current_timestamp();
    let mut claims = json!({
        "sub": sub, "tenant": tenant, "scope": scope,
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300,
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        claims[k] = v.clone();
    }
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

pub fn token(sub: &str, tenant: &str, scope: &str) -> String {
    token_with(SECRET, sub, tenant, scope, json!({}))
}

/// `url` with another login.
pub fn url_as(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}:{password}@{host}")
}

/// Run the administrator's setup for `setup` as the (superuser) test login, and give each
/// login role it created `password`.
pub async fn admin_setup(admin: &PgEventStore, setup: AdminSetup<'_>, password: &str) {
    let sql = admin_setup_sql(&setup).unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(admin.pool())
        .await
        .unwrap_or_else(|e| panic!("administrator setup: {e}"));
    for role in [setup.owner, setup.reader].into_iter().flatten() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE {role} PASSWORD '{password}'"
        )))
        .execute(admin.pool())
        .await
        .unwrap();
    }
}

/// A pool of a fresh reader login (member of carebus_tenant, no superuser, no BYPASSRLS) on
/// `schema`; returns the role's name too.
pub async fn reader_pool(admin: &PgEventStore, schema: &str) -> (sqlx::PgPool, String) {
    let reader = carebus_tests::unique_name("reader");
    admin_setup(
        admin,
        AdminSetup {
            reader: Some(&reader),
            ..AdminSetup::default()
        },
        "reader-pw",
    )
    .await;
    let url = url_as(&carebus_tests::database_url(), &reader, "reader-pw");
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("connecting as the reader role: {e}"));
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!superuser && !bypass, "the reader is subject to RLS");
    (pool, reader)
}

/// Drop the login roles a test created (best effort: roles are cluster-wide, schemas are not).
pub async fn drop_roles(admin: &PgEventStore, roles: &[&str]) {
    for role in roles {
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
            .execute(admin.pool())
            .await
        {
            eprintln!("test role {role} left behind: {e}");
        }
    }
}

/// A running endpoint on a reader pool of `schema`.
pub struct Endpoint {
    pub addr: std::net::SocketAddr,
    admin: PgEventStore,
    reader: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Endpoint {
    pub async fn start(admin: &PgEventStore, schema: &str) -> Endpoint {
        let (pool, reader) = reader_pool(admin, schema).await;
        let policy = PhiPolicy::from_events(carebus_schemas::EVENTS);
        let endpoint = QueryEndpoint::new(pool, verifier(), policy)
            .await
            .unwrap_or_else(|e| panic!("query endpoint: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(endpoint.serve(listener, async move {
            let _ = stop_rx.await;
        }));
        Endpoint {
            addr,
            admin: admin.clone(),
            reader,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// GET `target` with `token` (if any); status, the response head and the JSON body.
    pub async fn get(&self, target: &[u8], token: Option<&str>) -> (u16, String, Value) {
        http_get(self.addr, target, token).await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        drop_roles(&self.admin, &[&self.reader]).await;
    }
}

/// GET `target` (raw bytes after the method), with a bearer token when given.
pub async fn http_get(
    addr: std::net::SocketAddr,
    target: &[u8],
    token: Option<&str>,
) -> (u16, String, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.extend_from_slice(format!("Authorization: Bearer {t}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    s.write_all(&req).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        status,
        head.to_string(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// The access log rows, oldest first: (subject, tenant, route, status, event ids, phi).
pub async fn access_log(
    admin: &PgEventStore,
) -> Vec<(
    Option<String>,
    Option<String>,
    String,
    i16,
    Vec<uuid::Uuid>,
    bool,
)> {
    sqlx::query_as(
        "SELECT subject, tenant_id, route, status, event_ids, phi_disclosed FROM access_log \
         ORDER BY id",
    )
    .fetch_all(admin.pool())
    .await
    .unwrap()
}

fn header_line<'h>(head: &'h str, name: &str) -> &'h str {
    head.lines()
        .find(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        })
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_refused_and_logged() {
    let (admin, schema) = fresh("auth_401").await;
    append_patient(&admin, "p1", 1, &ctx("hospital-a", "c")).await;
    let ep = Endpoint::start(&admin, &schema).await;

    let (status, head, body) = ep.get(b"/events", None).await;
    assert_eq!(status, 401, "{body}");
    let challenge = header_line(&head, "www-authenticate");
    assert!(
        challenge.contains("Bearer") && challenge.contains("error=\"invalid_request\""),
        "{head}"
    );
    assert_eq!(body["error"], "invalid_request");

    let now = get_current_timestamp();
    let forged = token_with(
        "another-secret-that-is-32-bytes-long!!",
        "mallory",
        "hospital-a",
        "events:read phi:read",
        json!({}),
    );
    let expired = token_with(
        SECRET,
        "dr-1",
        "hospital-a",
        "events:read",
        json!({"exp": now - 3600, "iat": now - 7200}),
    );
    let wrong_issuer = token_with(
        SECRET,
        "dr-1",
        "hospital-a",
        "events:read",
        json!({"iss": "https://evil.test"}),
    );
    for (tok, why) in [
        (&forged, "signature"),
        (&expired, "expired"),
        (&wrong_issuer, "issuer"),
        (&"not-a-jwt".to_string(), "well-formed"),
    ] {
        let (status, head, body) = ep.get(b"/events", Some(tok)).await;
        assert_eq!(status, 401, "{why}: {body}");
        assert!(
            header_line(&head, "www-authenticate").contains("error=\"invalid_token\""),
            "{why}: {head}"
        );
        assert_eq!(body["error"], "invalid_token");
        let text = body["error_description"].as_str().unwrap();
        assert!(text.contains(why), "{why}: {text}");
        assert!(!body.to_string().contains(tok.as_str()), "token not echoed");
        assert!(body.get("events").is_none());
    }
    // A valid token without events:read: 403.
    let no_scope = token("dr-2", "hospital-a", "profile");
    let (status, head, body) = ep.get(b"/events", Some(&no_scope)).await;
    assert_eq!(status, 403, "{body}");
    assert!(header_line(&head, "www-authenticate").contains("insufficient_scope"));
    // The tenant is the token's: a tenant parameter is refused.
    let reader = token("dr-3", "hospital-a", "events:read");
    let (status, _, body) = ep.get(b"/events?tenant=hospital-b", Some(&reader)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("tenant"));

    let log = access_log(&admin).await;
    let statuses: Vec<i16> = log.iter().map(|r| r.3).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 403, 400]);
    assert!(log[..5].iter().all(|r| r.0.is_none() && r.1.is_none()));
    assert_eq!(log[5].0.as_deref(), Some("dr-2"));
    assert_eq!(log[6].0.as_deref(), Some("dr-3"));
    assert!(
        log.iter()
            .all(|r| r.2 == "GET /events" && r.4.is_empty() && !r.5)
    );
    ep.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_events_and_streams_answer_like_absent_ones() {
    let (admin, schema) = fresh("auth_tenant").await;
    append_patient(&admin, "a1", 2, &ctx("hospital-a", "c")).await;
    append_patient(&admin, "b1", 1, &ctx("hospital-b", "c")).await;
    let all = settled(&admin, 5).await;
    let a_event = all
        .iter()
        .find(|e| e.context.tenant_id.as_deref() == Some("hospital-a"))
        .unwrap()
        .event_id
        .to_string();
    let ep = Endpoint::start(&admin, &schema).await;
    let b = token("nurse-b", "hospital-b", "events:read phi:read");
    let a = token("nurse-a", "hospital-a", "events:read");

    let (status, _, body) = ep.get(b"/events?limit=100", Some(&b)).await;
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["tenantId"] == "hospital-b"));
    // Filters cannot reach across either.
    let (_, _, body) = ep.get(b"/events?stream=Patient-a1", Some(&b)).await;
    assert_eq!(body["events"], json!([]));
    let (_, _, body) = ep.get(b"/events/stats?group_by=tenant", Some(&b)).await;
    assert_eq!(body["groups"], json!([{"key": "hospital-b", "count": 2}]));

    // By id and by stream: another tenant's answers exactly like an absent one.
    let (status, _, mine) = ep
        .get(format!("/events/{a_event}").as_bytes(), Some(&a))
        .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["eventId"], a_event.as_str());
    let theirs = ep
        .get(format!("/events/{a_event}").as_bytes(), Some(&b))
        .await;
    let absent = ep
        .get(
            format!("/events/{}", uuid::Uuid::new_v4()).as_bytes(),
            Some(&b),
        )
        .await;
    assert_eq!(theirs.0, 404);
    assert_eq!((theirs.0, &theirs.2), (absent.0, &absent.2));
    let (status, _, body) = ep.get(b"/streams/Patient-a1/events", Some(&a)).await;
    assert_eq!(status, 200);
    assert_eq!(body["events"].as_array().unwrap().len(), 3);
    let theirs = ep.get(b"/streams/Patient-a1/events", Some(&b)).await;
    let absent = ep.get(b"/streams/Patient-none/events", Some(&b)).await;
    assert_eq!(theirs.0, 404);
    assert_eq!((theirs.0, &theirs.2), (absent.0, &absent.2));
    let (status, _, body) = ep.get(b"/events/not-a-uuid", Some(&b)).await;
    assert_eq!(status, 400, "{body}");
    ep.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phi_is_redacted_without_the_phi_scope_and_every_access_is_logged() {
    let (admin, schema) = fresh("auth_phi").await;
    append_patient(&admin, "p1", 1, &ctx("hospital-a", "c")).await;
    let all = settled(&admin, 2).await;
    let ids: Vec<uuid::Uuid> = all.iter().map(|e| e.event_id.0).collect();
    let ep = Endpoint::start(&admin, &schema).await;

    let plain = token("clerk-1", "hospital-a", "events:read");
    let (status, _, body) = ep.get(b"/events", Some(&plain)).await;
    assert_eq!(status, 200, "{body}");
    let created = &body["events"][0]["data"];
    assert_eq!(created["patientId"], "p1", "identifiers stay: {created}");
    for field in ["firstName", "lastName", "dateOfBirth", "gender"] {
        assert_eq!(created[field], REDACTED, "{field}: {created}");
    }
    assert!(!body.to_string().contains("Jordan") && !body.to_string().contains("Rivera"));

    let doctor = token("dr-9", "hospital-a", "events:read phi:read");
    let (status, _, body) = ep.get(b"/events", Some(&doctor)).await;
    assert_eq!(status, 200);
    assert_eq!(body["events"][0]["data"]["firstName"], "Jordan");
    assert_eq!(body["events"][0]["data"]["lastName"], "Rivera");
    let one = ids[1].to_string();
    let (status, _, _) = ep
        .get(format!("/events/{one}").as_bytes(), Some(&plain))
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = ep.get(b"/events/stats?group_by=type", Some(&doctor)).await;
    assert_eq!(status, 200);

    let log = access_log(&admin).await;
    assert_eq!(log.len(), 4, "{log:?}");
    let expect = |i: usize, sub: &str, route: &str, events: &[uuid::Uuid], phi: bool| {
        let r = &log[i];
        assert_eq!(r.0.as_deref(), Some(sub), "row {i}");
        assert_eq!(r.1.as_deref(), Some("hospital-a"), "row {i}");
        assert_eq!(r.2, route, "row {i}");
        assert_eq!(r.3, 200, "row {i}");
        assert_eq!(r.4, events, "row {i}");
        assert_eq!(r.5, phi, "row {i}");
    };
    expect(0, "clerk-1", "GET /events", &ids, false);
    expect(1, "dr-9", "GET /events", &ids, true);
    expect(2, "clerk-1", "GET /events/{event_id}", &ids[1..], false);
    expect(3, "dr-9", "GET /events/stats", &[], false);
    // No PHI value in the log; the parameters are kept.
    let text: String =
        sqlx::query_scalar("SELECT string_agg(access_log::text, ' ') FROM access_log")
            .fetch_one(admin.pool())
            .await
            .unwrap();
    assert!(
        !text.contains("Jordan") && !text.contains("Rivera"),
        "{text}"
    );
    assert!(text.contains(&one), "the by-id parameter is logged");
    // Append-only, even for the owner; the reader cannot read it.
    assert!(
        sqlx::query("UPDATE access_log SET status = 200")
            .execute(admin.pool())
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM access_log")
            .execute(admin.pool())
            .await
            .is_err()
    );
    assert!(
        sqlx::query("TRUNCATE access_log")
            .execute(admin.pool())
            .await
            .is_err()
    );
    let (reader, name) = reader_pool(&admin, &schema).await;
    assert!(
        sqlx::query("SELECT * FROM access_log")
            .fetch_all(&reader)
            .await
            .is_err()
    );
    reader.close().await;
    drop_roles(&admin, &[&name]).await;
    ep.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_refuses_a_pool_that_bypasses_row_level_security() {
    let (admin, _) = fresh("auth_superuser").await;
    let policy = PhiPolicy::from_events(carebus_schemas::EVENTS);
    let err = QueryEndpoint::new(admin.pool().clone(), verifier(), policy)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("superuser") && err.contains("roles.sql"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_with_no_stream_cannot_tell_another_tenants_stream_from_an_absent_one() {
    let (admin, schema) = fresh("auth_nostream").await;
    let (_, reader) = reader_pool(&admin, &schema).await;
    let url = url_as(&carebus_tests::database_url(), &reader, "reader-pw");
    let store_a = tenant_store(&url, Some(&schema), "hospital-a", 2)
        .await
        .unwrap();
    let store_b = tenant_store(&url, Some(&schema), "hospital-b", 2)
        .await
        .unwrap();
    let first = store_a
        .append(
            "Patient-shared",
            ExpectedVersion::NoStream,
            patient_events("shared", 2, &ctx("hospital-a", "c")),
        )
        .await
        .unwrap();
    assert_eq!(first.stream_version, 3);
    // hospital-b's NoStream append to the same id is an append to its own, absent stream.
    let theirs = store_b
        .append(
            "Patient-shared",
            ExpectedVersion::NoStream,
            patient_events("shared", 0, &ctx("hospital-b", "c")),
        )
        .await
        .unwrap_or_else(|e| panic!("another tenant's stream id must look absent: {e}"));
    assert_eq!(theirs.stream_version, 1);
    assert_eq!(
        store_b.stream_version("Patient-shared").await.unwrap(),
        Some(1)
    );
    assert_eq!(
        store_a.stream_version("Patient-shared").await.unwrap(),
        Some(3)
    );
    // An expected version of the other tenant's stream is a conflict with its own (absent
    // before) stream, never the other's version.
    let err = store_b
        .append(
            "Patient-shared",
            ExpectedVersion::Exact(3),
            patient_events("shared", 0, &ctx("hospital-b", "c")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            carebus::store::StoreError::Conflict {
                actual: Some(1),
                ..
            }
        ),
        "{err}"
    );
    // And a second NoStream is refused by hospital-b's own stream.
    let again = store_b
        .append(
            "Patient-shared",
            ExpectedVersion::NoStream,
            patient_events("shared", 0, &ctx("hospital-b", "c")),
        )
        .await;
    assert!(again.is_err());
    // Each tenant reads its own stream only.
    let a_events = store_a.read_stream("Patient-shared", 1, 100).await.unwrap();
    assert_eq!(a_events.len(), 3);
    assert!(
        a_events
            .iter()
            .all(|e| e.context.tenant_id.as_deref() == Some("hospital-a"))
    );
    let b_events = store_b.read_stream("Patient-shared", 1, 100).await.unwrap();
    assert_eq!(b_events.len(), 1);
    // A batch mixing tenants is refused before it reaches the database.
    let mut mixed = patient_events("mixed", 0, &ctx("hospital-a", "c"));
    mixed.extend(patient_events("mixed2", 0, &ctx("hospital-b", "c")));
    assert!(matches!(
        admin
            .append("Patient-mixed", ExpectedVersion::Any, mixed)
            .await,
        Err(carebus::store::StoreError::InvalidAppend { .. })
    ));
    drop_roles(&admin, &[&reader]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_as_a_non_superuser_owner() {
    let (admin, _) = fresh("auth_owner_admin").await;
    let owner = carebus_tests::unique_name("owner");
    let schema = carebus_tests::unique_name("owned");
    admin_setup(
        &admin,
        AdminSetup {
            schema: Some(&schema),
            owner: Some(&owner),
            reader: None,
        },
        "owner-pw",
    )
    .await;
    let url = url_as(&carebus_tests::database_url(), &owner, "owner-pw");
    let store = PgEventStore::connect_in_schema(&url, Some(&schema), 2)
        .await
        .unwrap_or_else(|e| panic!("connecting as the owner: {e}"));
    let (superuser, createrole): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(!superuser && !createrole);
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating as a non-superuser owner: {e}"));
    append_patient(&store, "o1", 1, &ctx("hospital-a", "c")).await;
    assert_eq!(settled(&store, 2).await.len(), 2);
    // Migrating again is a no-op.
    store.migrate().await.unwrap();
    store.pool().close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(admin.pool())
        .await
        .unwrap();
    drop_roles(&admin, &[&owner]).await;
}
