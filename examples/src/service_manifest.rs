//! The routes each service's router declares (read from its source) checked against the endpoints `schemas/services.toml` lists for the catalog.

use std::collections::BTreeSet;

/// (method, path) of every `.route("path", method(..).method(..))` in `source`.
fn declared_routes(source: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let rest_trimmed = rest.trim_start();
        let path_start = rest_trimmed
            .strip_prefix('"')
            .expect("a route's path is a string literal");
        let path_end = path_start.find('"').expect("the path literal closes");
        let path = &path_start[..path_end];
        // The method router: the call's second argument, up to its closing parenthesis.
        let mut depth = 0usize;
        let mut word = String::new();
        for c in path_start[path_end + 1..].chars() {
            match c {
                '(' => {
                    if depth == 0
                        && ["get", "post", "put", "patch", "delete"].contains(&word.as_str())
                    {
                        routes.insert((word.to_ascii_uppercase(), path.to_string()));
                    }
                    depth += 1;
                    word.clear();
                }
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                c if c.is_ascii_alphanumeric() || c == '_' => word.push(c),
                _ => word.clear(),
            }
        }
    }
    routes
}

/// (method, path) of every `[[service.endpoint]]` of `service` in the manifest.
fn manifest_endpoints(service: &str) -> BTreeSet<(String, String)> {
    let manifest: toml::Table = include_str!("../../schemas/services.toml")
        .parse()
        .expect("services.toml is TOML");
    let services = manifest["service"].as_array().expect("[[service]] tables");
    let entry = services
        .iter()
        .find(|s| s["name"].as_str() == Some(service))
        .unwrap_or_else(|| panic!("services.toml lists no `{service}`"));
    entry
        .get("endpoint")
        .and_then(|e| e.as_array())
        .map(|endpoints| {
            endpoints
                .iter()
                .map(|e| {
                    (
                        e["method"].as_str().expect("method").to_string(),
                        e["path"].as_str().expect("path").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_routers_declare_exactly_the_manifests_endpoints() {
    for (service, router_source) in [
        ("prm-service", include_str!("prm_service/api.rs")),
        ("fhir-service", include_str!("fhir/api.rs")),
        ("realtime-service", include_str!("realtime/api.rs")),
    ] {
        let declared = declared_routes(router_source);
        assert!(
            !declared.is_empty(),
            "no routes found in {service}'s router"
        );
        assert_eq!(
            declared,
            manifest_endpoints(service),
            "{service}: the router's routes (left) differ from services.toml's [[service.endpoint]] (right); update services.toml"
        );
    }
    assert!(
        manifest_endpoints("ai-service").is_empty(),
        "ai-service has no HTTP router besides /metrics, /health and /ready"
    );
}

#[test]
fn route_reading_sees_every_method_of_a_chained_method_router() {
    let source = r#"Router::new()
        .route("/a/{id}", get(read).patch(update))
        .route("/health", get(|| async { fhir(StatusCode::OK, json!({ "status": "up" })) }))"#;
    let routes: Vec<(String, String)> = declared_routes(source).into_iter().collect();
    let expected = [("GET", "/a/{id}"), ("GET", "/health"), ("PATCH", "/a/{id}")];
    assert_eq!(
        routes,
        expected.map(|(m, p)| (m.to_string(), p.to_string()))
    );
}
