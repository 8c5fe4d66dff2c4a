//! Recorded notifications turned into live streams per patient and care team: a bounded replay buffer per subscription key, numbered by a monotonically increasing id, and a broadcast of new ones.

use super::notification::Notification;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Whose notifications a client follows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Everything about one patient.
    Patient(String),
    /// Everything for one care team.
    CareTeam(String),
}

impl Audience {
    /// Whether `n` is for this audience.
    pub fn wants(&self, n: &Notification) -> bool {
        match self {
            Audience::Patient(p) => *p == n.patient_id,
            Audience::CareTeam(t) => n.care_team.as_deref() == Some(t),
        }
    }
}

/// A subscription: what was missed since the client's last id, then the live feed.
pub struct Subscription {
    /// Recorded notifications after the client's last id, oldest first.
    pub missed: Vec<Arc<Notification>>,
    /// New notifications for every audience; the reader keeps those its audience wants and
    /// those with an id above the last one it sent.
    pub live: broadcast::Receiver<Arc<Notification>>,
}

struct Buffers {
    by_audience: HashMap<Audience, VecDeque<Arc<Notification>>>,
}

/// The notifications the service has recorded, shared by the consumers and the API.
#[derive(Clone)]
pub struct Hub {
    buffers: Arc<Mutex<Buffers>>,
    next_id: Arc<AtomicU64>,
    live: broadcast::Sender<Arc<Notification>>,
    replay: usize,
}

impl Hub {
    /// A hub keeping the newest `replay` notifications of each audience, numbering from
    /// `first_id` (the service starts from the clock in microseconds, so ids keep growing
    /// across restarts).
    pub fn new(replay: usize, first_id: u64) -> Hub {
        let (live, _) = broadcast::channel(4096);
        Hub {
            buffers: Arc::new(Mutex::new(Buffers {
                by_audience: HashMap::new(),
            })),
            next_id: Arc::new(AtomicU64::new(first_id.max(1))),
            live,
            replay: replay.max(1),
        }
    }

    /// Record `n` (from event `event_id`) for its patient and care team and send it to live
    /// subscribers; `None` when that event was already recorded (a redelivery).
    pub fn record(&self, event_id: &str, mut n: Notification) -> Option<Arc<Notification>> {
        let mut buffers = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        let patient = Audience::Patient(n.patient_id.clone());
        if buffers
            .by_audience
            .get(&patient)
            .is_some_and(|b| b.iter().any(|old| old.event_id == event_id))
        {
            return None;
        }
        n.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        n.event_id = event_id.to_string();
        let n = Arc::new(n);
        let team = n.care_team.clone().map(Audience::CareTeam);
        for audience in std::iter::once(patient).chain(team) {
            let buffer = buffers.by_audience.entry(audience).or_default();
            if buffer.len() == self.replay {
                buffer.pop_front();
            }
            buffer.push_back(n.clone());
        }
        // Sent under the lock, so a subscriber sees each notification either in its missed
        // list or live, never both and never neither.
        let _ = self.live.send(n.clone());
        Some(n)
    }

    /// Subscribe `audience`, with what it missed after `after` (all that is kept when `None`).
    pub fn subscribe(&self, audience: &Audience, after: Option<u64>) -> Subscription {
        let buffers = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.live.subscribe();
        let missed = buffers
            .by_audience
            .get(audience)
            .map(|b| {
                b.iter()
                    .filter(|n| after.is_none_or(|a| n.id > a))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Subscription { missed, live }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::notification::Kind;

    fn note(patient: &str, team: Option<&str>) -> Notification {
        Notification {
            id: 0,
            kind: Kind::AppointmentConfirmed,
            patient_id: patient.into(),
            care_team: team.map(Into::into),
            event_id: String::new(),
            message: "appointment confirmed".into(),
            subject_id: "a-1".into(),
            at: None,
            action_type: None,
        }
    }

    #[test]
    fn replays_only_the_audiences_own_notifications_after_the_last_id() {
        let hub = Hub::new(10, 100);
        let a1 = hub.record("e1", note("A", Some("team-1"))).unwrap();
        hub.record("e2", note("B", None)).unwrap();
        let a2 = hub.record("e3", note("A", None)).unwrap();
        assert!(hub.record("e3", note("A", None)).is_none(), "redelivery");
        let ids = |s: Subscription| s.missed.iter().map(|n| n.id).collect::<Vec<_>>();
        let a = Audience::Patient("A".into());
        assert_eq!(ids(hub.subscribe(&a, None)), vec![a1.id, a2.id]);
        assert_eq!(ids(hub.subscribe(&a, Some(a1.id))), vec![a2.id]);
        let team = Audience::CareTeam("team-1".into());
        assert_eq!(ids(hub.subscribe(&team, None)), vec![a1.id]);
        assert!(a2.id > a1.id);
    }

    #[test]
    fn keeps_the_newest_of_each_audience() {
        let hub = Hub::new(2, 1);
        for i in 0..5 {
            hub.record(&format!("e{i}"), note("A", None));
        }
        let s = hub.subscribe(&Audience::Patient("A".into()), None);
        assert_eq!(
            s.missed
                .iter()
                .map(|n| n.event_id.as_str())
                .collect::<Vec<_>>(),
            ["e3", "e4"]
        );
    }
}
