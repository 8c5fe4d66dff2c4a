//! ACLs as code: the services manifest and the topics spec in, each service's least-privilege ACL bindings planned against (or applied to) the cluster out.
//!
//! [`desired_acls`] derives the bindings (a pure function, see [`model`]); [`AclAdmin`] reads
//! the cluster's bindings of the managed principals, computes an [`AclPlan`] (bindings to
//! add; extra ones, reported and removed only when pruning) and applies it through
//! librdkafka's ACL admin API ([`ffi`], the one module with `unsafe` code). `carebus-acls`
//! is the command on top.

mod ffi;
pub mod model;
pub mod plan;

pub use ffi::AclCallError;
pub use model::{
    Acl, AclModelError, Operation, PatternKind, Permission, ResourceKind, ServiceAccess,
    desired_acls, services_from_toml,
};
pub use plan::{AclPlan, AclScope};

use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How long one ACL request may take before it is reported as failed.
const ACL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why reading or changing the cluster's ACLs failed.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// The admin client could not be created.
    #[error(
        "cannot create a Kafka admin client for {bootstrap}: {source}; check the bootstrap address and the security settings"
    )]
    Connect {
        /// The bootstrap servers.
        bootstrap: String,
        /// rdkafka's error.
        source: KafkaError,
    },
    /// A whole request failed (broker unreachable, not authorized, no authorizer, ...).
    #[error("{operation} on {bootstrap} failed: {source}{}", advice(source.code))]
    Request {
        /// What was asked, e.g. `describe the ACLs of User:prm-service`.
        operation: String,
        /// The bootstrap servers.
        bootstrap: String,
        /// librdkafka's error.
        source: AclCallError,
    },
    /// Some bindings could not be created or deleted; the others were.
    #[error("{count} ACL change(s) failed: {failures}")]
    Bindings {
        /// How many failed.
        count: usize,
        /// One `binding: reason` per failure, joined by `; `.
        failures: String,
    },
    /// The request task panicked or was cancelled.
    #[error("{operation}: the Kafka client call panicked or was cancelled: {reason}")]
    Task {
        /// What was asked.
        operation: String,
        /// tokio's message.
        reason: String,
    },
}

fn advice(code: RDKafkaErrorCode) -> &'static str {
    match code {
        RDKafkaErrorCode::ClusterAuthorizationFailed => {
            "; managing ACLs needs ALTER / DESCRIBE on the cluster: connect as a super user (the secured test broker's `admin`)"
        }
        RDKafkaErrorCode::SecurityDisabled => {
            "; the broker has no authorizer (`authorizer.class.name`), so it keeps no ACLs: use the secured broker (`scripts/services up secure`)"
        }
        RDKafkaErrorCode::AllBrokersDown
        | RDKafkaErrorCode::BrokerTransportFailure
        | RDKafkaErrorCode::OperationTimedOut
        | RDKafkaErrorCode::RequestTimedOut => {
            "; is the broker running and are the security settings right? (`scripts/services up secure` starts the secured test broker)"
        }
        _ => "",
    }
}

/// An admin connection to one cluster, for its ACLs.
pub struct AclAdmin {
    bootstrap: String,
    client: Arc<AdminClient<DefaultClientContext>>,
}

impl AclAdmin {
    /// Connect to `bootstrap` (host:port,...); `properties` are extra librdkafka settings
    /// (security: the caller must be allowed to manage ACLs, e.g. a super user).
    pub fn connect(
        bootstrap: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<AclAdmin, AclError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap);
        for (k, v) in properties {
            config.set(k, v);
        }
        let client = config
            .create::<AdminClient<DefaultClientContext>>()
            .map_err(|source| AclError::Connect {
                bootstrap: bootstrap.to_string(),
                source,
            })?;
        Ok(AclAdmin {
            bootstrap: bootstrap.to_string(),
            client: Arc::new(client),
        })
    }

    async fn call<T: Send + 'static>(
        &self,
        operation: String,
        f: impl FnOnce(&AdminClient<DefaultClientContext>) -> Result<T, AclCallError> + Send + 'static,
    ) -> Result<T, AclError> {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || f(&client))
            .await
            .map_err(|e| AclError::Task {
                operation: operation.clone(),
                reason: e.to_string(),
            })?
            .map_err(|source| AclError::Request {
                operation,
                bootstrap: self.bootstrap.clone(),
                source,
            })
    }

    /// Every binding of these principals on the cluster.
    pub async fn observe(&self, principals: &BTreeSet<String>) -> Result<BTreeSet<Acl>, AclError> {
        let mut out = BTreeSet::new();
        for principal in principals {
            let p = principal.clone();
            let found = self
                .call(format!("describe the ACLs of {principal}"), move |c| {
                    ffi::describe_acls(c.inner(), Some(&p), ACL_TIMEOUT)
                })
                .await?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Compare `desired` with the cluster's bindings in `scope`, changing nothing.
    pub async fn plan(
        &self,
        desired: &BTreeSet<Acl>,
        scope: &AclScope,
        prune: bool,
    ) -> Result<AclPlan, AclError> {
        let mut principals = scope.principals.clone();
        principals.extend(desired.iter().map(|a| a.principal.clone()));
        let observed = self.observe(&principals).await?;
        Ok(AclPlan::compute(desired, &observed, scope, prune))
    }

    /// Add the missing bindings and (when `prune`) delete the extra ones; returns the plan
    /// that was carried out. Idempotent: planning again right after shows nothing to do.
    pub async fn apply(
        &self,
        desired: &BTreeSet<Acl>,
        scope: &AclScope,
        prune: bool,
    ) -> Result<AclPlan, AclError> {
        let plan = self.plan(desired, scope, prune).await?;
        self.create(&plan.add).await?;
        self.delete(plan.remove()).await?;
        if !plan.is_empty() {
            self.settle(desired, scope, prune).await;
        }
        Ok(plan)
    }

    /// Create exactly these bindings.
    pub async fn create(&self, acls: &[Acl]) -> Result<(), AclError> {
        if acls.is_empty() {
            return Ok(());
        }
        let owned = acls.to_vec();
        let results = self
            .call(format!("create {} ACL(s)", acls.len()), move |c| {
                ffi::create_acls(c.inner(), &owned, ACL_TIMEOUT)
            })
            .await?;
        collect_failures(acls, results.into_iter().map(|r| r.map(|_| ())))
    }

    /// Delete exactly these bindings.
    pub async fn delete(&self, acls: &[Acl]) -> Result<(), AclError> {
        if acls.is_empty() {
            return Ok(());
        }
        let owned = acls.to_vec();
        let results = self
            .call(format!("delete {} ACL(s)", acls.len()), move |c| {
                ffi::delete_acls(c.inner(), &owned, ACL_TIMEOUT)
            })
            .await?;
        collect_failures(acls, results.into_iter().map(|r| r.map(|_| ())))
    }

    /// KRaft brokers apply ACL changes through the metadata log a moment after the admin
    /// call returns: wait (up to ~10 s) until a new plan is empty.
    async fn settle(&self, desired: &BTreeSet<Acl>, scope: &AclScope, prune: bool) {
        for _ in 0..20 {
            match self.plan(desired, scope, prune).await {
                Ok(again) if again.is_empty() => return,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        tracing::warn!("ACL changes were applied but are not all visible yet");
    }
}

fn collect_failures(
    acls: &[Acl],
    results: impl Iterator<Item = Result<(), AclCallError>>,
) -> Result<(), AclError> {
    let failures: Vec<String> = acls
        .iter()
        .zip(results)
        .filter_map(|(acl, r)| r.err().map(|e| format!("{acl}: {e}")))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(AclError::Bindings {
            count: failures.len(),
            failures: failures.join("; "),
        })
    }
}
