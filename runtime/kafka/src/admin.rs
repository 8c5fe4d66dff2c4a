//! Topics as code: the topics spec in, the cluster observed and created topics, raised partition counts and updated configs out.
//!
//! Reads the cluster with metadata + DescribeConfigs, computes a [`Plan`], and (for `apply`)
//! runs CreateTopics, CreatePartitions and AlterConfigs. Never deletes a topic or lowers a
//! partition count.

use crate::plan::{Change, ObservedCluster, ObservedTopic, Plan, PlanRules, Refusal};
use carebus_core::TopicSpec;
use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long one admin request may take before it is reported as failed.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why reading or changing the cluster's topics failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The admin client could not be created, or the cluster's metadata could not be read.
    #[error(
        "cannot reach Kafka at {bootstrap}: {source}; is it running? (`scripts/services up kafka` starts the test broker; set CAREBUS_KAFKA_BOOTSTRAP or --bootstrap to point elsewhere)"
    )]
    Connect {
        /// The bootstrap servers tried.
        bootstrap: String,
        /// rdkafka's error.
        source: KafkaError,
    },
    /// The topic configs could not be read (after retries).
    #[error("describing configs of topic {topic} failed: {reason}")]
    Describe {
        /// The topic (`(all)` when the metadata request itself failed).
        topic: String,
        /// The last error of the retries.
        reason: String,
    },
    /// Some changes of the plan failed; the others were still made.
    #[error("applying topics failed for {count} change(s): {failures}")]
    Apply {
        /// Number of changes that failed.
        count: usize,
        /// One `topic: reason` per failed change, joined by `; `.
        failures: String,
    },
    /// The plan refuses some topics (see [`Refusal`]); nothing was changed.
    #[error("nothing applied: {}", refused.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Refused {
        /// Every topic the plan refuses, and why.
        refused: Vec<Refusal>,
    },
}

/// An admin connection to one cluster.
pub struct TopicAdmin {
    bootstrap: String,
    client: Arc<AdminClient<DefaultClientContext>>,
    rules: PlanRules,
}

/// What `apply` did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    /// The plan that was carried out (its drift is reported, not fixed).
    pub plan: Plan,
}

impl TopicAdmin {
    /// Connect to `bootstrap` (comma-separated host:port list); `properties` are extra
    /// librdkafka settings (security etc.), passed through.
    pub fn connect(
        bootstrap: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<TopicAdmin, AdminError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap);
        for (k, v) in properties {
            config.set(k, v);
        }
        let client = config
            .create::<AdminClient<DefaultClientContext>>()
            .map_err(|source| AdminError::Connect {
                bootstrap: bootstrap.to_string(),
                source,
            })?;
        Ok(TopicAdmin {
            bootstrap: bootstrap.to_string(),
            client: Arc::new(client),
            rules: PlanRules::default(),
        })
    }

    /// Brokers and the spec's topics as the cluster has them now.
    pub async fn observe(&self, topics: &[TopicSpec<'_>]) -> Result<ObservedCluster, AdminError> {
        let client = self.client.clone();
        let metadata = tokio::task::spawn_blocking(move || {
            client.inner().fetch_metadata(None, Duration::from_secs(10))
        })
        .await
        .map_err(|e| AdminError::Describe {
            topic: "(all)".into(),
            reason: format!("metadata task failed: {e}"),
        })?
        .map_err(|source| AdminError::Connect {
            bootstrap: self.bootstrap.clone(),
            source,
        })?;
        let mut cluster = ObservedCluster {
            brokers: metadata.brokers().len() as i32,
            topics: BTreeMap::new(),
        };
        let wanted: Vec<&str> = topics.iter().map(|t| t.name).collect();
        for topic in metadata.topics() {
            if topic.error().is_some() || !wanted.contains(&topic.name()) {
                continue;
            }
            let partitions = topic.partitions();
            cluster.topics.insert(
                topic.name().to_string(),
                ObservedTopic {
                    partitions: partitions.len() as i32,
                    replication_factor: partitions
                        .iter()
                        .map(|p| p.replicas().len() as i32)
                        .max()
                        .unwrap_or(0),
                    ..ObservedTopic::default()
                },
            );
        }
        for (name, seen) in cluster.topics.iter_mut() {
            let (configs, overrides) = self.describe(name).await?;
            seen.configs = configs;
            seen.overrides = overrides;
        }
        Ok(cluster)
    }

    /// All config values of a topic, and those set on the topic itself. Retried briefly: a
    /// topic created a moment ago may not be known to every broker yet.
    async fn describe(
        &self,
        topic: &str,
    ) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>), AdminError> {
        let opts = AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT));
        let mut last = String::new();
        for attempt in 0..10 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            let result = self
                .client
                .describe_configs(&[ResourceSpecifier::Topic(topic)], &opts)
                .await;
            match result.map(|mut v| v.pop()) {
                Ok(Some(Ok(resource))) => {
                    let mut all = BTreeMap::new();
                    let mut overrides = BTreeMap::new();
                    for e in resource.entries {
                        let Some(value) = e.value else { continue };
                        if e.source == ConfigSource::DynamicTopic {
                            overrides.insert(e.name.clone(), value.clone());
                        }
                        all.insert(e.name, value);
                    }
                    return Ok((all, overrides));
                }
                Ok(Some(Err(code))) => last = code.to_string(),
                Ok(None) => last = "no result returned".into(),
                Err(e) => last = e.to_string(),
            }
        }
        Err(AdminError::Describe {
            topic: topic.to_string(),
            reason: last,
        })
    }

    /// Create topics with fewer replicas than the spec asks for when the cluster has fewer
    /// live brokers (clamped, reported as drift) instead of refusing: development clusters only.
    pub fn allow_under_replicated(&mut self, allow: bool) -> &mut Self {
        self.rules.allow_under_replicated = allow;
        self
    }

    /// Compare the spec with the cluster without changing anything.
    pub async fn plan(&self, topics: &[TopicSpec<'_>]) -> Result<Plan, AdminError> {
        Ok(Plan::compute(
            topics,
            &self.observe(topics).await?,
            self.rules,
        ))
    }

    /// Ask the brokers to check every change of `plan` without making it (validate-only
    /// requests): unknown config names, bad values, impossible partition counts. Returns one
    /// message per rejected change; empty when all would succeed.
    pub async fn validate(&self, plan: &Plan) -> Vec<String> {
        let opts = AdminOptions::new()
            .request_timeout(Some(ADMIN_TIMEOUT))
            .validate_only(true);
        let mut problems = Vec::new();
        for change in &plan.changes {
            if let Err(reason) = self.apply_change(change, &opts).await {
                problems.push(format!("{}: {reason}", change_topic(change)));
            }
        }
        problems
    }

    /// Carry out the plan: create, raise partitions, alter configs. Drift is left in the
    /// report. Every change is attempted; failures are reported together.
    pub async fn apply(&self, topics: &[TopicSpec<'_>]) -> Result<ApplyReport, AdminError> {
        let plan = self.plan(topics).await?;
        if !plan.refused.is_empty() {
            return Err(AdminError::Refused {
                refused: plan.refused,
            });
        }
        let opts = AdminOptions::new()
            .request_timeout(Some(ADMIN_TIMEOUT))
            .operation_timeout(Some(ADMIN_TIMEOUT));
        let mut failures = Vec::new();
        for change in &plan.changes {
            if let Err(reason) = self.apply_change(change, &opts).await {
                failures.push(format!("{}: {reason}", change_topic(change)));
            }
        }
        if failures.is_empty() {
            self.settle(topics).await;
            Ok(ApplyReport { plan })
        } else {
            Err(AdminError::Apply {
                count: failures.len(),
                failures: failures.join("; "),
            })
        }
    }

    /// KRaft brokers apply new configs and partitions through the metadata log, a moment
    /// after the admin call returns: wait (up to ~10 s) until the cluster shows them, so a
    /// `plan` right after `apply` is clean.
    async fn settle(&self, topics: &[TopicSpec<'_>]) {
        for _ in 0..20 {
            match self.plan(topics).await {
                Ok(again) if again.changes.is_empty() => return,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        tracing::warn!("topic changes were applied but are not all visible yet");
    }

    async fn apply_change(&self, change: &Change, opts: &AdminOptions) -> Result<(), String> {
        match change {
            Change::Create {
                topic,
                partitions,
                replication_factor,
                configs,
            } => {
                let mut new = NewTopic::new(
                    topic,
                    *partitions,
                    TopicReplication::Fixed(*replication_factor),
                );
                for (k, v) in configs {
                    new = new.set(k, v);
                }
                let results = self
                    .client
                    .create_topics(&[new], opts)
                    .await
                    .map_err(|e| e.to_string())?;
                first_error(
                    results
                        .into_iter()
                        .map(|r| r.map(|_| ()).map_err(|(_, c)| c)),
                )
            }
            Change::RaisePartitions { topic, to, .. } => {
                let new = NewPartitions::new(topic, *to as usize);
                let results = self
                    .client
                    .create_partitions(&[new], opts)
                    .await
                    .map_err(|e| e.to_string())?;
                first_error(
                    results
                        .into_iter()
                        .map(|r| r.map(|_| ()).map_err(|(_, c)| c)),
                )
            }
            Change::AlterConfigs {
                topic, overrides, ..
            } => {
                let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
                for (k, v) in overrides {
                    alter = alter.set(k, v);
                }
                let results = self
                    .client
                    .alter_configs(&[alter], opts)
                    .await
                    .map_err(|e| e.to_string())?;
                first_error(
                    results
                        .into_iter()
                        .map(|r| r.map(|_| ()).map_err(|(_, c)| c)),
                )
            }
        }
    }
}

fn first_error<E: std::fmt::Display>(
    results: impl Iterator<Item = Result<(), E>>,
) -> Result<(), String> {
    for r in results {
        r.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn change_topic(change: &Change) -> &str {
    match change {
        Change::Create { topic, .. }
        | Change::RaisePartitions { topic, .. }
        | Change::AlterConfigs { topic, .. } => topic,
    }
}
