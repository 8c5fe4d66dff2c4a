//! A service's readiness in, `/ready`'s verdict out: started, and every consumer holding partitions of its group.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Whether the service is ready for traffic (`/ready` answers 200 or 503): started (see
/// [`Readiness::set`]) and every consumer that joined through [`Readiness::member`] has
/// partitions assigned.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<ReadinessState>);

#[derive(Debug, Default)]
struct ReadinessState {
    started: AtomicBool,
    members: std::sync::Mutex<Vec<Membership>>,
}

/// One consumer's membership of its group as `/ready` sees it: how many partitions the group
/// has assigned to it now. The consumer updates it on every assignment and revocation.
#[derive(Clone, Debug)]
pub struct Membership {
    group: Arc<str>,
    assigned: Arc<AtomicUsize>,
}

impl Membership {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }
    /// Record that `partitions` partitions are assigned to the consumer now.
    pub fn set_assigned(&self, partitions: usize) {
        self.assigned.store(partitions, Ordering::SeqCst);
    }
    /// Partitions assigned to the consumer now.
    pub fn assigned(&self) -> usize {
        self.assigned.load(Ordering::SeqCst)
    }
}

impl Readiness {
    /// Mark the service started (`/ready` answers 200 once every member has partitions) or
    /// stopping (503).
    pub fn set(&self, ready: bool) {
        self.0.started.store(ready, Ordering::SeqCst);
    }
    /// A consumer of `group` whose assignment `/ready` waits for: 503 while it has no
    /// partitions (before the first assignment, after a revoke).
    pub fn member(&self, group: &str) -> Membership {
        let member = Membership {
            group: group.into(),
            assigned: Arc::default(),
        };
        lock(&self.0.members).push(member.clone());
        member
    }
    /// Whether `/ready` answers 200 now.
    pub fn is_ready(&self) -> bool {
        self.0.started.load(Ordering::SeqCst)
            && lock(&self.0.members).iter().all(|m| m.assigned() > 0)
    }
    /// `/ready`'s JSON body: the verdict, whether the service runs, each group's partitions.
    pub(super) fn report(&self) -> serde_json::Value {
        let groups: serde_json::Map<String, serde_json::Value> = lock(&self.0.members)
            .iter()
            .map(|m| {
                (
                    m.group().to_string(),
                    serde_json::json!({ "assigned_partitions": m.assigned() }),
                )
            })
            .collect();
        serde_json::json!({
            "ready": self.is_ready(),
            "started": self.0.started.load(Ordering::SeqCst),
            "groups": groups,
        })
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_while_started_and_every_member_has_partitions() {
        let readiness = Readiness::default();
        let admissions = readiness.member("admissions");
        let wards = readiness.member("wards");
        assert!(!readiness.is_ready(), "not started");
        readiness.set(true);
        assert!(!readiness.is_ready(), "no partitions yet");
        admissions.set_assigned(3);
        assert!(!readiness.is_ready(), "wards has none");
        wards.set_assigned(1);
        assert!(readiness.is_ready());
        let report = readiness.report();
        assert_eq!(report["groups"]["admissions"]["assigned_partitions"], 3);
        wards.set_assigned(0);
        assert!(!readiness.is_ready(), "wards revoked");
        wards.set_assigned(2);
        readiness.set(false);
        assert!(!readiness.is_ready(), "stopping");
    }
}
