//! The ACLs the services need and the ACLs the cluster has in, the difference out: bindings to add, and the cluster's extra bindings (reported; removed only when pruning).

use super::model::{Acl, ResourceKind, ServiceAccess};
use std::collections::BTreeSet;
use std::fmt;

/// Which of the cluster's bindings the plan manages: those of these principals, and, with a
/// namespace, only those on resources inside it (so a plan for `test-1.` never reports or
/// prunes the bindings of another namespace or of the unprefixed deployment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclScope {
    /// The managed principals (`User:<service>`).
    pub principals: BTreeSet<String>,
    /// The namespace every managed topic, group and transactional id starts with ("" = all).
    pub namespace: String,
}

impl AclScope {
    /// The scope of a manifest: its services' principals, within `namespace`.
    pub fn of(services: &[ServiceAccess], namespace: &str) -> AclScope {
        AclScope {
            principals: services.iter().map(ServiceAccess::principal).collect(),
            namespace: namespace.to_string(),
        }
    }

    /// Whether the plan manages `acl` (may report it as extra and prune it).
    pub fn manages(&self, acl: &Acl) -> bool {
        self.principals.contains(&acl.principal)
            && (self.namespace.is_empty()
                || (acl.resource != ResourceKind::Cluster && acl.name.starts_with(&self.namespace)))
    }
}

/// What to change so the cluster's ACLs match the services manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclPlan {
    /// Bindings the services need that the cluster lacks.
    pub add: Vec<Acl>,
    /// Bindings in scope that no service needs (removed by `apply` only with prune).
    pub extra: Vec<Acl>,
    /// Whether `apply` removes `extra`.
    pub prune: bool,
    /// How many of the needed bindings the cluster already has.
    pub present: usize,
}

impl AclPlan {
    /// Compare `desired` with the bindings `observed` on the cluster, within `scope`.
    pub fn compute(
        desired: &BTreeSet<Acl>,
        observed: &BTreeSet<Acl>,
        scope: &AclScope,
        prune: bool,
    ) -> AclPlan {
        AclPlan {
            add: desired.difference(observed).cloned().collect(),
            extra: observed
                .iter()
                .filter(|a| scope.manages(a) && !desired.contains(*a))
                .cloned()
                .collect(),
            prune,
            present: desired.intersection(observed).count(),
        }
    }

    /// The bindings `apply` removes: the extra ones when pruning, none otherwise.
    pub fn remove(&self) -> &[Acl] {
        if self.prune { &self.extra } else { &[] }
    }

    /// Whether `apply` would change nothing.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove().is_empty()
    }
}

impl fmt::Display for AclPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for acl in &self.add {
            writeln!(f, "+ {acl}")?;
        }
        for acl in &self.extra {
            if self.prune {
                writeln!(f, "- {acl}")?;
            } else {
                writeln!(
                    f,
                    "! {acl}  (extra: not in the manifest; --prune removes it)"
                )?;
            }
        }
        writeln!(
            f,
            "{} to add, {} to remove, {} extra, {} already present",
            self.add.len(),
            self.remove().len(),
            self.extra.len(),
            self.present
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::model::{Operation, PatternKind};

    fn acl(principal: &str, kind: ResourceKind, name: &str, op: Operation) -> Acl {
        Acl::allow(principal, kind, name, PatternKind::Literal, op)
    }

    fn scope(namespace: &str) -> AclScope {
        AclScope {
            principals: ["User:prm".to_string()].into(),
            namespace: namespace.into(),
        }
    }

    #[test]
    fn missing_bindings_are_added_and_present_ones_counted() {
        let want = acl("User:prm", ResourceKind::Topic, "t", Operation::Write);
        let have = acl("User:prm", ResourceKind::Topic, "t", Operation::Describe);
        let plan = AclPlan::compute(
            &[want.clone(), have.clone()].into(),
            &[have].into(),
            &scope(""),
            false,
        );
        assert_eq!(plan.add, [want]);
        assert_eq!(plan.present, 1);
        assert!(plan.extra.is_empty());
        assert!(!plan.is_empty());
        assert!(
            plan.to_string().contains("+ User:prm ALLOW WRITE topic:t"),
            "{plan}"
        );
    }

    #[test]
    fn extra_bindings_are_reported_and_removed_only_when_pruning() {
        let extra = acl("User:prm", ResourceKind::Topic, "other", Operation::Read);
        let observed: BTreeSet<Acl> = [extra.clone()].into();
        let kept = AclPlan::compute(&BTreeSet::new(), &observed, &scope(""), false);
        assert_eq!(kept.extra, std::slice::from_ref(&extra));
        assert!(kept.remove().is_empty());
        assert!(
            kept.is_empty(),
            "reporting an extra binding changes nothing"
        );
        assert!(kept.to_string().contains("--prune removes it"), "{kept}");
        let pruned = AclPlan::compute(&BTreeSet::new(), &observed, &scope(""), true);
        assert_eq!(pruned.remove(), [extra]);
        assert!(
            pruned
                .to_string()
                .contains("- User:prm ALLOW READ topic:other"),
            "{pruned}"
        );
    }

    #[test]
    fn bindings_outside_the_scope_are_neither_reported_nor_pruned() {
        let observed: BTreeSet<Acl> = [
            acl(
                "User:someone-else",
                ResourceKind::Topic,
                "ns.t",
                Operation::Read,
            ),
            acl(
                "User:prm",
                ResourceKind::Topic,
                "other-ns.t",
                Operation::Read,
            ),
            acl(
                "User:prm",
                ResourceKind::Cluster,
                "kafka-cluster",
                Operation::Alter,
            ),
        ]
        .into();
        let plan = AclPlan::compute(&BTreeSet::new(), &observed, &scope("ns."), true);
        assert!(plan.extra.is_empty(), "{plan}");
        let unscoped = AclPlan::compute(&BTreeSet::new(), &observed, &scope(""), true);
        assert_eq!(unscoped.extra.len(), 2, "{unscoped}");
    }
}
