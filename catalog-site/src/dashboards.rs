//! The IR's topics and services in, Grafana dashboards (JSON Grafana imports, Prometheus queries over carebus's and the brokers' metrics) out: cluster health, topic rates and bytes, group lag, error trend, SLA.

use carebus_codegen::ir::Model;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The dashboard JSON model version the dashboards are written in (Grafana 10.x/11.x import it).
pub const SCHEMA_VERSION: u32 = 39;

/// One generated dashboard: its file name (`<uid>.json`) and its JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Dashboard {
    /// Grafana's uid (at most 40 characters) and the file's stem.
    pub uid: String,
    /// The dashboard JSON.
    pub json: Value,
}

/// Every dashboard for `model`, in a fixed order.
pub fn dashboards(model: &Model) -> Vec<Dashboard> {
    let topics: Vec<&str> = model.topics.iter().map(|t| t.name.as_str()).collect();
    let dlq: Vec<String> = model
        .topics
        .iter()
        .filter(|t| t.dead_letter)
        .map(|t| format!("{}.dlq", t.name))
        .collect();
    vec![
        cluster_health(&dlq),
        topic_rates(&topics),
        group_lag(model),
        error_trend(&topics),
        sla(&topics),
    ]
}

/// A dashboard with a Prometheus data source variable, a `topic` variable over `topics` (when
/// any) and `panels` laid out two per row.
fn dashboard(uid: &str, title: &str, topics: &[&str], panels: Vec<Value>) -> Dashboard {
    let mut variables = vec![json!({
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
    })];
    if !topics.is_empty() {
        let options: Vec<Value> = topics
            .iter()
            .map(|t| json!({ "text": t, "value": t, "selected": false }))
            .collect();
        variables.push(json!({
            "name": "topic",
            "label": "Topic",
            "type": "custom",
            "query": topics.join(","),
            "multi": true,
            "includeAll": true,
            "allValue": ".*",
            "current": { "text": "All", "value": "$__all" },
            "options": options,
            "hide": 0,
        }));
    }
    let panels: Vec<Value> = panels
        .into_iter()
        .enumerate()
        .map(|(i, mut panel)| {
            panel["id"] = json!(i + 1);
            panel["gridPos"] = json!({ "h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8 });
            panel["datasource"] = json!({ "type": "prometheus", "uid": "${datasource}" });
            panel
        })
        .collect();
    Dashboard {
        uid: uid.to_string(),
        json: json!({
            "uid": uid,
            "title": title,
            "tags": ["carebus"],
            "timezone": "browser",
            "editable": true,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "refresh": "10s",
            "time": { "from": "now-1h", "to": "now" },
            "templating": { "list": variables },
            "annotations": { "list": [] },
            "panels": panels,
        }),
    }
}

/// A time series panel: `queries` are (PromQL, legend) pairs; `unit` is a Grafana unit id.
fn timeseries(title: &str, unit: &str, queries: &[(String, &str)]) -> Value {
    json!({
        "type": "timeseries",
        "title": title,
        "fieldConfig": { "defaults": { "unit": unit }, "overrides": [] },
        "options": { "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true } },
        "targets": targets(queries),
    })
}

/// A single-number panel, red from `threshold` on.
fn stat(title: &str, unit: &str, query: String, threshold: f64) -> Value {
    json!({
        "type": "stat",
        "title": title,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": { "mode": "absolute", "steps": [
                    { "color": "green", "value": null },
                    { "color": "red", "value": threshold },
                ] },
            },
            "overrides": [],
        },
        "options": { "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false } },
        "targets": targets(&[(query, "")]),
    })
}

fn targets(queries: &[(String, &str)]) -> Value {
    queries
        .iter()
        .enumerate()
        .map(|(i, (expr, legend))| {
            json!({
                "refId": char::from(b'A' + u8::try_from(i % 26).unwrap_or(0)).to_string(),
                "expr": expr,
                "legendFormat": legend,
                "datasource": { "type": "prometheus", "uid": "${datasource}" },
            })
        })
        .collect()
}

fn cluster_health(dlq: &[String]) -> Dashboard {
    let dlq_regex = if dlq.is_empty() {
        r".+\\.dlq".to_string()
    } else {
        dlq.iter()
            .map(|t| t.replace('.', r"\\."))
            .collect::<Vec<_>>()
            .join("|")
    };
    dashboard(
        "carebus-cluster-health",
        "carebus · cluster health",
        &[],
        vec![
            stat("Brokers up", "none", r#"sum(up{job="kafka"})"#.into(), 0.0),
            stat(
                "Active controllers",
                "none",
                "sum by (kafka_cluster) (kafka_controller_kafkacontroller_activecontrollercount)".into(),
                2.0,
            ),
            stat(
                "Under-replicated partitions",
                "none",
                "sum(kafka_server_replicamanager_underreplicatedpartitions)".into(),
                1.0,
            ),
            stat(
                "Offline partitions",
                "none",
                "sum(kafka_controller_kafkacontroller_offlinepartitionscount)".into(),
                1.0,
            ),
            timeseries(
                "Produce request latency p99 per broker",
                "ms",
                &[(
                    r#"kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.99"}"#.into(),
                    "{{instance}}",
                )],
            ),
            timeseries(
                "Dead-letter topic size (records)",
                "none",
                &[(
                    format!(
                        r#"sum by (topic) (max by (topic, partition) (kafka_log_log_logendoffset{{topic=~"{dlq_regex}"}}) - max by (topic, partition) (kafka_log_log_logstartoffset{{topic=~"{dlq_regex}"}}))"#
                    ),
                    "{{topic}}",
                )],
            ),
        ],
    )
}

fn topic_rates(topics: &[&str]) -> Dashboard {
    dashboard(
        "carebus-topic-rates",
        "carebus · topic rates and bytes",
        topics,
        vec![
            timeseries(
                "Events published per second",
                "ops",
                &[(
                    r#"sum by (topic) (rate(carebus_published_total{topic=~"$topic"}[1m]))"#.into(),
                    "{{topic}}",
                )],
            ),
            timeseries(
                "Events consumed per second",
                "ops",
                &[(
                    r#"sum by (topic) (rate(carebus_consumed_total{topic=~"$topic"}[1m]))"#.into(),
                    "{{topic}}",
                )],
            ),
            timeseries(
                "Messages in per second (brokers)",
                "ops",
                &[(
                    r#"sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesinpersec_total{topic=~"$topic"}[1m]))"#.into(),
                    "{{topic}}",
                )],
            ),
            timeseries(
                "Bytes in and out per second (brokers)",
                "Bps",
                &[
                    (
                        r#"sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesinpersec_total{topic=~"$topic"}[1m]))"#.into(),
                        "in {{topic}}",
                    ),
                    (
                        r#"sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesoutpersec_total{topic=~"$topic"}[1m]))"#.into(),
                        "out {{topic}}",
                    ),
                ],
            ),
        ],
    )
}

/// One lag panel per consuming service of the manifest, over the topics of the events it consumes.
fn group_lag(model: &Model) -> Dashboard {
    let topics: Vec<&str> = model.topics.iter().map(|t| t.name.as_str()).collect();
    let mut panels = vec![timeseries(
        "Lag in records per topic (all consumers)",
        "none",
        &[(
            r#"sum by (topic) (carebus_consumer_lag{topic=~"$topic"})"#.into(),
            "{{topic}}",
        )],
    )];
    panels.push(timeseries(
        "Lag in time per topic (records waiting ÷ handled per second)",
        "s",
        &[(
            r#"sum by (topic) (carebus_consumer_lag{topic=~"$topic"}) / clamp_min(sum by (topic) (rate(carebus_consumed_total{topic=~"$topic"}[1m])), 1e-9)"#.into(),
            "{{topic}}",
        )],
    ));
    for service in &model.services {
        let consumed: BTreeSet<&str> = model
            .events
            .iter()
            .filter(|e| service.consumes.contains(&e.name))
            .map(|e| e.topic.as_str())
            .collect();
        if consumed.is_empty() {
            continue;
        }
        let regex = consumed
            .iter()
            .map(|t| t.replace('.', r"\\."))
            .collect::<Vec<_>>()
            .join("|");
        panels.push(timeseries(
            &format!("{}: lag per partition", service.name),
            "none",
            &[(
                format!(r#"carebus_consumer_lag{{topic=~"{regex}"}}"#),
                "{{instance}} {{topic}}/{{partition}}",
            )],
        ));
    }
    dashboard(
        "carebus-group-lag",
        "carebus · consumer group lag",
        &topics,
        panels,
    )
}

fn error_trend(topics: &[&str]) -> Dashboard {
    dashboard(
        "carebus-error-trend",
        "carebus · errors",
        topics,
        vec![
            timeseries(
                "Error rate (publish + handler errors ÷ events)",
                "percentunit",
                &[(
                    "((sum(rate(carebus_publish_errors_total[5m])) or vector(0)) + (sum(rate(carebus_handler_errors_total[5m])) or vector(0))) / ((sum(rate(carebus_published_total[5m])) or vector(0)) + (sum(rate(carebus_consumed_total[5m])) or vector(0)))".into(),
                    "error rate",
                )],
            ),
            timeseries(
                "Publish errors per second by reason",
                "ops",
                &[(
                    "sum by (reason) (rate(carebus_publish_errors_total[5m]))".into(),
                    "{{reason}}",
                )],
            ),
            timeseries(
                "Handler errors, retries and dead letters per second",
                "ops",
                &[
                    (
                        r#"sum by (topic) (rate(carebus_handler_errors_total{topic=~"$topic"}[5m]))"#.into(),
                        "errors {{topic}}",
                    ),
                    (
                        r#"sum by (topic) (rate(carebus_retry_topic_forwards_total{topic=~"$topic"}[5m]))"#.into(),
                        "retry topic {{topic}}",
                    ),
                    (
                        r#"sum by (topic) (rate(carebus_dead_lettered_total{topic=~"$topic"}[5m]))"#.into(),
                        "dead-lettered {{topic}}",
                    ),
                ],
            ),
            timeseries(
                "Poison pills per second",
                "ops",
                &[(
                    r#"sum by (topic) (rate(carebus_poison_pills_total{topic=~"$topic"}[5m]))"#.into(),
                    "{{topic}}",
                )],
            ),
        ],
    )
}

fn sla(topics: &[&str]) -> Dashboard {
    dashboard(
        "carebus-sla",
        "carebus · SLA",
        topics,
        vec![
            stat(
                "Publish p99 (goal < 10 ms)",
                "s",
                r#"max(carebus_publish_duration_seconds{quantile="0.99",topic=~"$topic"})"#.into(),
                0.010,
            ),
            stat(
                "Worst lag in time (goal < 1 s)",
                "s",
                r#"max(sum by (topic) (carebus_consumer_lag{topic=~"$topic"}) / clamp_min(sum by (topic) (rate(carebus_consumed_total{topic=~"$topic"}[1m])), 1e-9))"#.into(),
                1.0,
            ),
            timeseries(
                "Publish latency p99 per topic",
                "s",
                &[(
                    r#"max by (topic) (carebus_publish_duration_seconds{quantile="0.99",topic=~"$topic"})"#.into(),
                    "{{topic}}",
                )],
            ),
            timeseries(
                "Handler latency p99 per topic",
                "s",
                &[(
                    r#"max by (topic) (carebus_handle_duration_seconds{quantile="0.99",topic=~"$topic"})"#.into(),
                    "{{topic}}",
                )],
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Grafana's dashboard import needs of each dashboard and panel.
    #[test]
    fn dashboards_have_what_grafana_imports() {
        let model = carebus_codegen::load::load_dir(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../schemas"
        )))
        .unwrap_or_else(|d| panic!("{d}"));
        let all = dashboards(&model);
        assert_eq!(all.len(), 5);
        for d in &all {
            let j = &d.json;
            assert!(d.uid.len() <= 40, "{}", d.uid);
            assert_eq!(j["uid"], d.uid.as_str());
            assert_eq!(j["schemaVersion"], SCHEMA_VERSION);
            let panels = j["panels"].as_array().unwrap();
            assert!(!panels.is_empty());
            for (i, p) in panels.iter().enumerate() {
                assert_eq!(p["id"], i + 1);
                assert!(["timeseries", "stat"].contains(&p["type"].as_str().unwrap()));
                assert!(p["gridPos"]["w"].as_u64().unwrap() <= 24);
                let targets = p["targets"].as_array().unwrap();
                assert!(!targets.is_empty(), "{p}");
                for t in targets {
                    assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()));
                }
            }
        }
        let lag = &all[2].json;
        let titles: Vec<&str> = lag["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["title"].as_str().unwrap())
            .collect();
        assert!(
            titles.len() > 2,
            "a lag panel per consuming service of services.toml: {titles:?}"
        );
    }
}
