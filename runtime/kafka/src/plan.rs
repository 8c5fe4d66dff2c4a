//! The topics spec and the cluster's observed topics in, the changes that would align them (and the drift that cannot be fixed safely) out.
//!
//! Pure: no Kafka calls, so the rules (never lower partitions, never delete, never create a
//! topic with fewer replicas than the spec asks for unless told to) are unit-tested here and
//! applied by `admin`.

use carebus_core::TopicSpec;
use std::collections::BTreeMap;
use std::fmt;

/// What the cluster has for one topic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedTopic {
    /// Number of partitions.
    pub partitions: i32,
    /// Replicas of the first partition.
    pub replication_factor: i32,
    /// Every config value the broker reports for the topic (defaults included).
    pub configs: BTreeMap<String, String>,
    /// Configs set on the topic itself (source DynamicTopic); alter_configs replaces this set
    /// wholesale, so it is carried over when one value changes.
    pub overrides: BTreeMap<String, String>,
}

/// The cluster as far as the plan needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedCluster {
    /// Live brokers in the metadata (a spec asking for more replicas is refused, or clamped
    /// when allowed).
    pub brokers: i32,
    /// The spec's topics that exist, by name (a topic missing here is created).
    pub topics: BTreeMap<String, ObservedTopic>,
}

/// One change `apply` makes.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Create a missing topic.
    Create {
        /// The topic's name.
        topic: String,
        /// Partitions to create it with.
        partitions: i32,
        /// Replication factor, clamped to the broker count.
        replication_factor: i32,
        /// Topic configs to create it with ([`desired_configs`]).
        configs: BTreeMap<String, String>,
    },
    /// Add partitions to an existing topic; some keys then hash to a new partition, so per-key
    /// order holds only among records written after the change.
    RaisePartitions {
        /// The topic's name.
        topic: String,
        /// Partitions it has now.
        from: i32,
        /// Partitions the spec asks for.
        to: i32,
    },
    /// Set topic configs that differ from the spec.
    AlterConfigs {
        /// The topic's name.
        topic: String,
        /// (config, current value if any, desired value)
        changed: Vec<(String, Option<String>, String)>,
        /// The full override set to send: current overrides with the changes merged in.
        overrides: BTreeMap<String, String>,
    },
}

/// A topic `apply` refuses to create or change, and why; any of them makes `apply` change
/// nothing at all.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// The spec asks for more replicas than the cluster has live brokers: a topic created now
    /// would keep that lower replication factor for good (raising it needs a reassignment).
    UnderReplicated {
        /// The topic's name.
        topic: String,
        /// The spec's replication factor.
        spec: i32,
        /// Live brokers in the cluster.
        brokers: i32,
    },
}

/// How strict a plan is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanRules {
    /// Create topics with the replication factor (and `min.insync.replicas`) clamped to the
    /// live broker count instead of refusing: for a development cluster of one broker.
    pub allow_under_replicated: bool,
}

/// Something `apply` reports but leaves alone.
#[derive(Clone, Debug, PartialEq)]
pub enum Drift {
    /// The spec asks for fewer partitions than exist; lowering would break key ordering and
    /// lose data, so it is never done.
    PartitionsAboveSpec {
        /// The topic's name.
        topic: String,
        /// Partitions it has.
        actual: i32,
        /// Partitions the spec asks for.
        spec: i32,
    },
    /// Changing the replication factor of an existing topic needs a partition reassignment.
    ReplicationFactorDiffers {
        /// The topic's name.
        topic: String,
        /// Its replication factor now.
        actual: i32,
        /// The spec's, clamped to the broker count.
        spec: i32,
    },
    /// The cluster has fewer brokers than the spec's replication factor, and the plan was
    /// allowed to clamp it ([`PlanRules::allow_under_replicated`]).
    ReplicationFactorClamped {
        /// The topic's name.
        topic: String,
        /// The spec's replication factor.
        spec: i32,
        /// Brokers in the cluster (the factor used instead).
        brokers: i32,
    },
}

/// Changes and drift for a whole spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// What `apply` would do, in order.
    pub changes: Vec<Change>,
    /// Differences `apply` reports but never fixes.
    pub drift: Vec<Drift>,
    /// Topics the plan refuses to create or change; `apply` changes nothing while any is left.
    pub refused: Vec<Refusal>,
}

impl Plan {
    /// Compare the spec's topics with the cluster.
    pub fn compute(topics: &[TopicSpec<'_>], cluster: &ObservedCluster, rules: PlanRules) -> Plan {
        let mut plan = Plan::default();
        for topic in topics {
            plan.add_topic(topic, cluster, rules);
        }
        plan
    }

    fn add_topic(&mut self, topic: &TopicSpec<'_>, cluster: &ObservedCluster, rules: PlanRules) {
        let brokers = cluster.brokers.max(1);
        let rf = topic.replication_factor.min(brokers);
        if rf < topic.replication_factor {
            if !rules.allow_under_replicated {
                self.refused.push(Refusal::UnderReplicated {
                    topic: topic.name.to_string(),
                    spec: topic.replication_factor,
                    brokers: cluster.brokers,
                });
                return;
            }
            self.drift.push(Drift::ReplicationFactorClamped {
                topic: topic.name.to_string(),
                spec: topic.replication_factor,
                brokers,
            });
        }
        let Some(seen) = cluster.topics.get(topic.name) else {
            self.changes.push(Change::Create {
                topic: topic.name.to_string(),
                partitions: topic.partitions,
                replication_factor: rf,
                configs: desired_configs(topic, rf),
            });
            return;
        };
        if seen.partitions < topic.partitions {
            self.changes.push(Change::RaisePartitions {
                topic: topic.name.to_string(),
                from: seen.partitions,
                to: topic.partitions,
            });
        } else if seen.partitions > topic.partitions {
            self.drift.push(Drift::PartitionsAboveSpec {
                topic: topic.name.to_string(),
                actual: seen.partitions,
                spec: topic.partitions,
            });
        }
        if seen.replication_factor != rf {
            self.drift.push(Drift::ReplicationFactorDiffers {
                topic: topic.name.to_string(),
                actual: seen.replication_factor,
                spec: rf,
            });
        }
        let mut changed = Vec::new();
        let mut overrides = seen.overrides.clone();
        for (key, want) in desired_configs(topic, seen.replication_factor.max(1)) {
            let current = seen.configs.get(&key).or_else(|| seen.overrides.get(&key));
            if current != Some(&want) {
                changed.push((key.clone(), current.cloned(), want.clone()));
            }
            overrides.insert(key, want);
        }
        if !changed.is_empty() {
            self.changes.push(Change::AlterConfigs {
                topic: topic.name.to_string(),
                changed,
                overrides,
            });
        }
    }

    /// Nothing to change, nothing drifted, nothing refused.
    pub fn is_clean(&self) -> bool {
        self.changes.is_empty() && self.drift.is_empty() && self.refused.is_empty()
    }
}

/// The broker topic configs a topic's spec asks for, given the replication factor actually
/// used (min.insync.replicas is clamped to it so acks=all writes stay possible).
pub fn desired_configs(topic: &TopicSpec<'_>, effective_rf: i32) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = topic
        .configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.insert(
        "cleanup.policy".into(),
        topic.cleanup_policy.as_config().into(),
    );
    if let Some(ms) = topic.retention_ms {
        out.insert("retention.ms".into(), ms.to_string());
    }
    if let Some(m) = topic.min_insync_replicas {
        out.insert(
            "min.insync.replicas".into(),
            m.min(effective_rf).to_string(),
        );
    }
    out
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Create {
                topic,
                partitions,
                replication_factor,
                configs,
            } => {
                write!(
                    f,
                    "+ create {topic}: {partitions} partitions, replication factor {replication_factor}"
                )?;
                for (k, v) in configs {
                    write!(f, "\n    {k} = {v}")?;
                }
                Ok(())
            }
            Change::RaisePartitions { topic, from, to } => {
                write!(f, "~ {topic}: partitions {from} -> {to}")
            }
            Change::AlterConfigs { topic, changed, .. } => {
                write!(f, "~ {topic}: configs")?;
                for (k, old, new) in changed {
                    let old = old.as_deref().unwrap_or("(unset)");
                    write!(f, "\n    {k}: {old} -> {new}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::PartitionsAboveSpec {
                topic,
                actual,
                spec,
            } => write!(
                f,
                "! {topic}: has {actual} partitions, spec says {spec}; partitions are never lowered (it would reorder keys) — raise the spec to {actual} or recreate the topic by hand"
            ),
            Drift::ReplicationFactorDiffers {
                topic,
                actual,
                spec,
            } => write!(
                f,
                "! {topic}: replication factor is {actual}, spec wants {spec}; change it with kafka-reassign-partitions, carebus-topics does not move replicas"
            ),
            Drift::ReplicationFactorClamped {
                topic,
                spec,
                brokers,
            } => write!(
                f,
                "! {topic}: replication factor {spec} clamped to {brokers} because the cluster has only {brokers} broker(s); fine for development, not for production"
            ),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnderReplicated {
                topic,
                spec,
                brokers,
            } => write!(
                f,
                "x {topic}: the spec asks for replication factor {spec} but the cluster has {brokers} live broker(s); \
                 refusing to create or change it with fewer replicas, which could not be raised later \
                 (bring the brokers back, or pass --allow-under-replicated on a development cluster)"
            ),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return writeln!(f, "topics match the spec; nothing to do");
        }
        for r in &self.refused {
            writeln!(f, "{r}")?;
        }
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        for d in &self.drift {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> [TopicSpec<'static>; 1] {
        [TopicSpec {
            retention_ms: Some(30 * 86_400_000),
            min_insync_replicas: Some(2),
            configs: &[("compression.type", "zstd")],
            ..TopicSpec::new("p", 12, 3)
        }]
    }

    fn observed(partitions: i32, rf: i32, configs: &[(&str, &str)]) -> ObservedTopic {
        let configs: BTreeMap<String, String> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ObservedTopic {
            partitions,
            replication_factor: rf,
            overrides: configs.clone(),
            configs,
        }
    }

    #[test]
    fn too_few_brokers_for_the_replication_factor_is_refused_unless_allowed() {
        let cluster = ObservedCluster {
            brokers: 2,
            topics: BTreeMap::new(),
        };
        let plan = Plan::compute(&spec(), &cluster, PlanRules::default());
        assert!(plan.changes.is_empty(), "nothing is created: {plan:?}");
        assert_eq!(
            plan.refused,
            [Refusal::UnderReplicated {
                topic: "p".into(),
                spec: 3,
                brokers: 2
            }]
        );
        assert!(!plan.is_clean());
        let text = plan.to_string();
        assert!(
            text.contains("2 live broker(s)") && text.contains("--allow-under-replicated"),
            "{text}"
        );
    }

    #[test]
    fn missing_topic_is_created_with_rf_and_min_isr_clamped_on_one_broker_when_allowed() {
        let cluster = ObservedCluster {
            brokers: 1,
            topics: BTreeMap::new(),
        };
        let rules = PlanRules {
            allow_under_replicated: true,
        };
        let plan = Plan::compute(&spec(), &cluster, rules);
        let Change::Create {
            replication_factor,
            configs,
            partitions,
            ..
        } = &plan.changes[0]
        else {
            panic!("expected a create, got {plan:?}");
        };
        assert_eq!((*partitions, *replication_factor), (12, 1));
        assert_eq!(configs["min.insync.replicas"], "1");
        assert_eq!(configs["retention.ms"], "2592000000");
        assert!(matches!(
            plan.drift[0],
            Drift::ReplicationFactorClamped {
                spec: 3,
                brokers: 1,
                ..
            }
        ));
    }

    #[test]
    fn partitions_are_raised_never_lowered_and_configs_updated_keeping_other_overrides() {
        let mut cluster = ObservedCluster {
            brokers: 3,
            topics: BTreeMap::new(),
        };
        let mut t = observed(
            6,
            3,
            &[
                ("retention.ms", "1000"),
                ("cleanup.policy", "delete"),
                ("min.insync.replicas", "2"),
                ("segment.bytes", "1000000"),
            ],
        );
        t.configs
            .insert("compression.type".into(), "producer".into());
        cluster.topics.insert("p".into(), t);
        let plan = Plan::compute(&spec(), &cluster, PlanRules::default());
        assert!(plan.drift.is_empty(), "{plan:?}");
        assert_eq!(
            plan.changes[0],
            Change::RaisePartitions {
                topic: "p".into(),
                from: 6,
                to: 12
            }
        );
        let Change::AlterConfigs {
            changed, overrides, ..
        } = &plan.changes[1]
        else {
            panic!("expected alter configs: {plan:?}");
        };
        let keys: Vec<&str> = changed.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(keys, ["compression.type", "retention.ms"]);
        assert_eq!(
            overrides["segment.bytes"], "1000000",
            "unrelated override kept"
        );
        assert_eq!(overrides["retention.ms"], "2592000000");

        cluster.topics.get_mut("p").unwrap().partitions = 24;
        let plan = Plan::compute(&spec(), &cluster, PlanRules::default());
        assert!(
            !plan
                .changes
                .iter()
                .any(|c| matches!(c, Change::RaisePartitions { .. }))
        );
        assert!(plan.drift.contains(&Drift::PartitionsAboveSpec {
            topic: "p".into(),
            actual: 24,
            spec: 12
        }));
        assert!(plan.to_string().contains("never lowered"));
    }

    #[test]
    fn matching_topic_gives_a_clean_plan() {
        let cluster = ObservedCluster {
            brokers: 3,
            topics: [(
                "p".to_string(),
                observed(
                    12,
                    3,
                    &[
                        ("retention.ms", "2592000000"),
                        ("cleanup.policy", "delete"),
                        ("min.insync.replicas", "2"),
                        ("compression.type", "zstd"),
                    ],
                ),
            )]
            .into(),
        };
        let plan = Plan::compute(&spec(), &cluster, PlanRules::default());
        assert!(plan.is_clean(), "{plan}");
        assert!(plan.to_string().contains("nothing to do"));
    }
}
