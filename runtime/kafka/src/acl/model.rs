//! The services manifest and the topics spec in, the least-privilege ACL bindings each service needs out (a pure function).
//!
//! For each service of `schemas/services.toml` the principal `User:<service>` gets:
//!
//! | Resource | Pattern | Operations | Why |
//! |---|---|---|---|
//! | topic of each event it produces | literal | WRITE, DESCRIBE | publish |
//! | `carebus.publish.dlq` (when it produces) | literal | WRITE, DESCRIBE | events the transport refused |
//! | transactional id `<service>` (when it produces) | prefixed | WRITE, DESCRIBE | `send_transaction`, `begin` |
//! | topic of each event it consumes | literal | READ, DESCRIBE | consume |
//! | `<topic>.retry.N` of a consumed topic | literal | READ, WRITE, DESCRIBE | retry-topic delays |
//! | `<topic>.dlq` of a consumed topic | literal | WRITE, DESCRIBE | dead letters |
//! | group `<service>` (when it consumes) | prefixed | READ | its consumer group(s) |
//! | the cluster | literal | IDEMPOTENT_WRITE | the idempotent producer |
//!
//! A namespace (e.g. `staging.`) is put in front of every topic, group and transactional id.

use carebus_core::TopicSpec;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;

/// The resource name Kafka gives the cluster in ACLs.
pub const CLUSTER_RESOURCE: &str = "kafka-cluster";

/// The publisher's dead-letter topic (`PublisherConfig::dead_letter_topic`'s default).
pub const PUBLISH_DEAD_LETTER_TOPIC: &str = "carebus.publish.dlq";

/// What kind of thing an ACL is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster (name `kafka-cluster`).
    Cluster,
    /// A transactional id.
    TransactionalId,
    /// A resource type this version does not know (shown, never created).
    Unknown,
}

/// How the resource name matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PatternKind {
    /// Exactly this name (`*` = every resource of the type).
    Literal,
    /// Every name starting with it.
    Prefixed,
    /// A pattern type this version does not know.
    Unknown,
}

/// What the principal may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Operation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    /// An operation this version does not know.
    Unknown,
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// The operation is allowed.
    Allow,
    /// The operation is denied (wins over any allow).
    Deny,
    /// A permission type this version does not know.
    Unknown,
}

/// One ACL binding: `principal` may (or may not) do `operation` on a resource, from `host`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Acl {
    /// `User:<name>`.
    pub principal: String,
    /// The resource type.
    pub resource: ResourceKind,
    /// The resource name (or prefix).
    pub name: String,
    /// Literal or prefixed name.
    pub pattern: PatternKind,
    /// The operation.
    pub operation: Operation,
    /// Allow or deny.
    pub permission: Permission,
    /// The client host (`*` = any).
    pub host: String,
}

impl Acl {
    /// An ALLOW binding from any host.
    pub fn allow(
        principal: &str,
        resource: ResourceKind,
        name: &str,
        pattern: PatternKind,
        operation: Operation,
    ) -> Acl {
        Acl {
            principal: principal.to_string(),
            resource,
            name: name.to_string(),
            pattern,
            operation,
            permission: Permission::Allow,
            host: "*".to_string(),
        }
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = match self.resource {
            ResourceKind::Topic => "topic",
            ResourceKind::Group => "group",
            ResourceKind::Cluster => "cluster",
            ResourceKind::TransactionalId => "transactional-id",
            ResourceKind::Unknown => "unknown-resource",
        };
        let pattern = match self.pattern {
            PatternKind::Literal => "",
            PatternKind::Prefixed => "*",
            PatternKind::Unknown => "(?)",
        };
        let permission = match self.permission {
            Permission::Allow => "ALLOW",
            Permission::Deny => "DENY",
            Permission::Unknown => "UNKNOWN",
        };
        write!(
            f,
            "{} {permission} {} {resource}:{}{pattern}",
            self.principal,
            operation_name(self.operation),
            self.name
        )?;
        if self.host != "*" {
            write!(f, " from {}", self.host)?;
        }
        Ok(())
    }
}

/// Kafka's name of an operation (`kafka-acls.sh` spelling).
pub fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::All => "ALL",
        Operation::Read => "READ",
        Operation::Write => "WRITE",
        Operation::Create => "CREATE",
        Operation::Delete => "DELETE",
        Operation::Alter => "ALTER",
        Operation::Describe => "DESCRIBE",
        Operation::ClusterAction => "CLUSTER_ACTION",
        Operation::DescribeConfigs => "DESCRIBE_CONFIGS",
        Operation::AlterConfigs => "ALTER_CONFIGS",
        Operation::IdempotentWrite => "IDEMPOTENT_WRITE",
        Operation::Unknown => "UNKNOWN",
    }
}

/// Who produces and consumes which events: one `[[service]]` of `services.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ServiceAccess {
    /// The service's name, also its SASL user (`User:<name>`) and its consumer group.
    pub name: String,
    /// Event names it publishes.
    #[serde(default)]
    pub produces: Vec<String>,
    /// Event names it consumes.
    #[serde(default)]
    pub consumes: Vec<String>,
}

impl ServiceAccess {
    /// The Kafka principal of the service.
    pub fn principal(&self) -> String {
        format!("User:{}", self.name)
    }
}

/// Why the ACLs could not be derived.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AclModelError {
    /// `services.toml` is not valid TOML or has a malformed entry.
    #[error("invalid services manifest: {0}; see schemas/services.toml for the expected keys")]
    Manifest(String),
    /// A service names an event that no topic of the topics spec carries.
    #[error(
        "service {service} {role} event {event}, which no topic of the topics spec carries; add it to a topic's `events` in schemas/topics.toml (and rebuild) or fix the name in services.toml"
    )]
    UnknownEvent {
        /// The service.
        service: String,
        /// `produces` or `consumes`.
        role: &'static str,
        /// The event name.
        event: String,
    },
}

#[derive(Deserialize)]
struct ServicesFile {
    #[serde(default)]
    service: Vec<ServiceAccess>,
}

/// The services of a `services.toml` text (other keys, such as `doc`, are ignored here; the
/// codegen checks them).
pub fn services_from_toml(text: &str) -> Result<Vec<ServiceAccess>, AclModelError> {
    toml::from_str::<ServicesFile>(text)
        .map(|f| f.service)
        .map_err(|e| AclModelError::Manifest(e.message().trim().to_string()))
}

/// The ACL bindings `services` need on the topics of `topics` (the generated `TOPICS` table:
/// spec topics and their derived `.dlq` / `.retry.N` topics), every topic, group and
/// transactional id prefixed with `namespace` (empty for none). Sorted, without duplicates.
pub fn desired_acls(
    services: &[ServiceAccess],
    topics: &[TopicSpec<'_>],
    namespace: &str,
) -> Result<BTreeSet<Acl>, AclModelError> {
    let topic_of = |service: &ServiceAccess, role: &'static str, event: &str| {
        topics
            .iter()
            .find(|t| t.derived_from.is_none() && t.events.contains(&event))
            .map(|t| t.name)
            .ok_or_else(|| AclModelError::UnknownEvent {
                service: service.name.clone(),
                role,
                event: event.to_string(),
            })
    };
    let mut out = BTreeSet::new();
    for service in services {
        let principal = service.principal();
        let mut grant = |kind, name: &str, pattern, ops: &[Operation]| {
            for op in ops {
                out.insert(Acl::allow(&principal, kind, name, pattern, *op));
            }
        };
        use Operation::{Describe, IdempotentWrite, Read, Write};
        use PatternKind::{Literal, Prefixed};
        use ResourceKind::{Cluster, Group, Topic, TransactionalId};
        for event in &service.produces {
            let topic = topic_of(service, "produces", event)?;
            grant(
                Topic,
                &format!("{namespace}{topic}"),
                Literal,
                &[Write, Describe],
            );
        }
        if !service.produces.is_empty() {
            let dlq = format!("{namespace}{PUBLISH_DEAD_LETTER_TOPIC}");
            grant(Topic, &dlq, Literal, &[Write, Describe]);
            let txn = format!("{namespace}{}", service.name);
            grant(TransactionalId, &txn, Prefixed, &[Write, Describe]);
        }
        for event in &service.consumes {
            let topic = topic_of(service, "consumes", event)?;
            grant(
                Topic,
                &format!("{namespace}{topic}"),
                Literal,
                &[Read, Describe],
            );
            for derived in topics.iter().filter(|t| t.derived_from == Some(topic)) {
                let name = format!("{namespace}{}", derived.name);
                if derived.name.ends_with(".dlq") {
                    grant(Topic, &name, Literal, &[Write, Describe]);
                } else {
                    grant(Topic, &name, Literal, &[Read, Write, Describe]);
                }
            }
        }
        if !service.consumes.is_empty() {
            let group = format!("{namespace}{}", service.name);
            grant(Group, &group, Prefixed, &[Read]);
        }
        if !service.produces.is_empty() || !service.consumes.is_empty() {
            grant(Cluster, CLUSTER_RESOURCE, Literal, &[IdempotentWrite]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use carebus_core::CleanupPolicy;

    fn topic<'a>(
        name: &'a str,
        events: &'a [&'a str],
        derived_from: Option<&'a str>,
    ) -> TopicSpec<'a> {
        TopicSpec {
            name,
            doc: None,
            partitions: 1,
            replication_factor: 1,
            retention_ms: None,
            cleanup_policy: CleanupPolicy::Delete,
            min_insync_replicas: None,
            key: "",
            events,
            configs: &[],
            derived_from,
        }
    }

    fn table() -> Vec<TopicSpec<'static>> {
        vec![
            topic("p.events", &["PatientCreated"], None),
            topic("p.events.dlq", &[], Some("p.events")),
            topic("a.events", &["AppointmentScheduled"], None),
            topic("a.events.retry.1", &[], Some("a.events")),
            topic("a.events.dlq", &[], Some("a.events")),
            topic("carebus.publish.dlq", &[], None),
        ]
    }

    fn service(name: &str, produces: &[&str], consumes: &[&str]) -> ServiceAccess {
        ServiceAccess {
            name: name.into(),
            produces: produces.iter().map(|s| s.to_string()).collect(),
            consumes: consumes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn shown(acls: &BTreeSet<Acl>) -> Vec<String> {
        acls.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_producer_writes_its_topics_and_the_publish_dead_letters_with_a_transactional_prefix() {
        let acls = desired_acls(&[service("prm", &["PatientCreated"], &[])], &table(), "").unwrap();
        let mut want = vec![
            "User:prm ALLOW WRITE topic:p.events",
            "User:prm ALLOW DESCRIBE topic:p.events",
            "User:prm ALLOW WRITE topic:carebus.publish.dlq",
            "User:prm ALLOW DESCRIBE topic:carebus.publish.dlq",
            "User:prm ALLOW IDEMPOTENT_WRITE cluster:kafka-cluster",
            "User:prm ALLOW WRITE transactional-id:prm*",
            "User:prm ALLOW DESCRIBE transactional-id:prm*",
        ];
        want.sort();
        let mut got = shown(&acls);
        got.sort();
        assert_eq!(got, want);
        let text = got.join("\n");
        assert!(
            !text.contains("READ"),
            "a pure producer reads nothing:\n{text}"
        );
        assert!(
            !text.contains("group:"),
            "a pure producer has no group:\n{text}"
        );
    }

    #[test]
    fn a_consumer_reads_its_topics_in_its_group_and_writes_their_retry_and_dead_letter_topics() {
        let acls = desired_acls(
            &[service("rt", &[], &["AppointmentScheduled"])],
            &table(),
            "",
        )
        .unwrap();
        let text = shown(&acls);
        let expected = [
            "User:rt ALLOW READ topic:a.events",
            "User:rt ALLOW DESCRIBE topic:a.events",
            "User:rt ALLOW READ topic:a.events.retry.1",
            "User:rt ALLOW WRITE topic:a.events.retry.1",
            "User:rt ALLOW DESCRIBE topic:a.events.retry.1",
            "User:rt ALLOW WRITE topic:a.events.dlq",
            "User:rt ALLOW DESCRIBE topic:a.events.dlq",
            "User:rt ALLOW READ group:rt*",
            "User:rt ALLOW IDEMPOTENT_WRITE cluster:kafka-cluster",
        ];
        let mut want: Vec<&str> = expected.to_vec();
        want.sort();
        let mut got: Vec<&str> = text.iter().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn the_namespace_prefixes_topics_groups_and_transactional_ids_but_not_the_cluster() {
        let acls = desired_acls(
            &[service(
                "prm",
                &["PatientCreated"],
                &["AppointmentScheduled"],
            )],
            &table(),
            "ns1.",
        )
        .unwrap();
        for acl in &acls {
            match acl.resource {
                ResourceKind::Cluster => assert_eq!(acl.name, CLUSTER_RESOURCE),
                _ => assert!(acl.name.starts_with("ns1."), "{acl}"),
            }
        }
        assert!(
            acls.iter()
                .any(|a| a.name == "ns1.prm" && a.resource == ResourceKind::Group)
        );
    }

    #[test]
    fn an_event_no_topic_carries_is_named_in_the_error() {
        let err =
            desired_acls(&[service("prm", &["PatientDeleted"], &[])], &table(), "").unwrap_err();
        assert_eq!(
            err,
            AclModelError::UnknownEvent {
                service: "prm".into(),
                role: "produces",
                event: "PatientDeleted".into()
            }
        );
        assert!(err.to_string().contains("schemas/topics.toml"), "{err}");
    }

    #[test]
    fn a_service_that_neither_produces_nor_consumes_gets_nothing() {
        assert!(
            desired_acls(&[service("idle", &[], &[])], &table(), "")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_manifest_is_read_with_its_doc_ignored_and_bad_entries_reported() {
        let services = services_from_toml(
            "[[service]]\nname = \"a\"\ndoc = \"x\"\nproduces = [\"E\"]\n\n[[service]]\nname = \"b\"\n",
        )
        .unwrap();
        assert_eq!(services.len(), 2);
        assert_eq!(services[0].produces, ["E"]);
        assert!(services[1].consumes.is_empty());
        let err = services_from_toml("[[service]]\nproduces = [\"E\"]\n").unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
    }
}
