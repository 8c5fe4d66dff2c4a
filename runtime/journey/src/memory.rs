//! The embedded instance store: instances, history, processed ids and timers in process memory, with the outgoing events appended to a [`MemoryEventStore`] (the outbox an [`carebus_store::OutboxRelay`] publishes) under the same lock — for the platform demo and tests without a server.

use crate::EngineError;
use crate::store::{
    Applied, Decide, DecideTimer, DueTimer, Fired, InstanceStore, ParkedInstance, Plan, Processed,
    StateCount, StoredHistory,
};
use carebus_core::Uuid;
use carebus_core::journey::Instance;
use carebus_store::{EventStore, ExpectedVersion, MemoryEventStore, stream_name};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Mutex;

/// An in-memory instance store. Clones share the data.
#[derive(Clone, Default)]
pub struct MemoryInstanceStore {
    inner: Arc<Mutex<Tables>>,
    outbox: MemoryEventStore,
}

#[derive(Default)]
struct Tables {
    instances: HashMap<(String, String), Instance>,
    history: HashMap<Uuid, Vec<StoredHistory>>,
    processed: HashSet<(String, String)>,
    /// By instance, by timer name.
    timers: HashMap<Uuid, BTreeMap<String, PendingTimer>>,
}

/// A started timer: its id, due time (µs), journey and key.
type PendingTimer = (String, i64, String, String);

impl std::fmt::Debug for MemoryInstanceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryInstanceStore")
            .finish_non_exhaustive()
    }
}

impl MemoryInstanceStore {
    /// An empty store whose outbox is `outbox`.
    pub fn new(outbox: MemoryEventStore) -> Self {
        MemoryInstanceStore {
            inner: Arc::default(),
            outbox,
        }
    }

    /// The outbox: every outgoing event, in order.
    pub fn outbox(&self) -> &MemoryEventStore {
        &self.outbox
    }

    /// Every instance (for the demo's summary): (journey, state, finished).
    pub async fn instances(&self) -> Vec<Instance> {
        self.inner
            .lock()
            .await
            .instances
            .values()
            .cloned()
            .collect()
    }

    async fn apply(
        &self,
        t: &mut Tables,
        before: Option<&Instance>,
        plan: Plan,
        cause_id: &str,
    ) -> Result<Applied, EngineError> {
        let applied = Applied::of(&plan.decision.instance.journey, before, &plan);
        // The outbox first: if it fails, nothing of the input is stored.
        let mut by_stream: Vec<(String, Vec<carebus_store::NewEvent>)> = Vec::new();
        for e in plan.outgoing {
            let stream = stream_name(&e.aggregate_type, &e.aggregate_id);
            match by_stream.iter_mut().find(|(s, _)| *s == stream) {
                Some((_, v)) => v.push(e),
                None => by_stream.push((stream, vec![e])),
            }
        }
        for (stream, events) in by_stream {
            self.outbox
                .append(&stream, ExpectedVersion::Any, events)
                .await
                .map_err(|e| EngineError::Store {
                    operation: "append to the outbox",
                    source: Box::new(e),
                })?;
        }
        let d = plan.decision;
        let mut inst = d.instance;
        inst.row_version += 1;
        let timers = t.timers.entry(inst.id).or_default();
        if d.cancel_all_timers {
            timers.clear();
        }
        for name in &d.cancel_timers {
            timers.remove(name);
        }
        for (name, due) in d.start_timers {
            timers.insert(
                name,
                (
                    Uuid::new_v4().to_string(),
                    due,
                    inst.journey.clone(),
                    inst.key.clone(),
                ),
            );
        }
        let history = t.history.entry(inst.id).or_default();
        history.extend(d.history.into_iter().map(|h| StoredHistory {
            kind: h.kind.as_str().to_owned(),
            trigger: h.trigger,
            cause_id: h.cause_id,
            from: h.from,
            to: h.to,
        }));
        t.processed
            .insert((inst.journey.clone(), cause_id.to_owned()));
        t.instances
            .insert((inst.journey.clone(), inst.key.clone()), inst);
        Ok(applied)
    }
}

fn parked_of(i: &Instance) -> Option<ParkedInstance> {
    Some(ParkedInstance {
        journey: i.journey.clone(),
        key: i.key.clone(),
        instance_id: i.id,
        state: i.state.clone(),
        reason: i.parked()?.to_owned(),
    })
}

impl InstanceStore for MemoryInstanceStore {
    async fn process(
        &self,
        journey: &str,
        key: &str,
        cause_id: &str,
        decide: &Decide<'_>,
    ) -> Result<Processed, EngineError> {
        let mut t = self.inner.lock().await;
        if t.processed
            .contains(&(journey.to_owned(), cause_id.to_owned()))
        {
            return Ok(Processed::Duplicate);
        }
        let before = t
            .instances
            .get(&(journey.to_owned(), key.to_owned()))
            .cloned();
        let Some(plan) = decide(before.as_ref())? else {
            return Ok(Processed::NotConcerned);
        };
        let applied = self.apply(&mut t, before.as_ref(), plan, cause_id).await?;
        Ok(Processed::Applied(applied))
    }

    async fn fire_next(
        &self,
        now: i64,
        decide: &DecideTimer<'_>,
    ) -> Result<Option<Fired>, EngineError> {
        let mut t = self.inner.lock().await;
        let due = t
            .timers
            .iter()
            .flat_map(|(instance, timers)| {
                timers.iter().map(move |(name, (id, due, journey, key))| {
                    (
                        *due,
                        *instance,
                        name.clone(),
                        id.clone(),
                        journey.clone(),
                        key.clone(),
                    )
                })
            })
            .filter(|(due, ..)| *due <= now)
            .min_by_key(|(due, ..)| *due);
        let Some((due_at, instance, name, timer_id, journey, key)) = due else {
            return Ok(None);
        };
        if let Some(timers) = t.timers.get_mut(&instance) {
            timers.remove(&name);
        }
        let timer = DueTimer {
            timer_id: timer_id.clone(),
            journey: journey.clone(),
            key: key.clone(),
            name,
            due_at,
        };
        let before = t.instances.get(&(journey, key)).cloned();
        let processed = match decide(&timer, before.as_ref())? {
            None => Processed::NotConcerned,
            Some(plan) => {
                Processed::Applied(self.apply(&mut t, before.as_ref(), plan, &timer_id).await?)
            }
        };
        Ok(Some(Fired { timer, processed }))
    }

    async fn instance(&self, journey: &str, key: &str) -> Result<Option<Instance>, EngineError> {
        Ok(self
            .inner
            .lock()
            .await
            .instances
            .get(&(journey.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn history(&self, instance_id: Uuid) -> Result<Vec<StoredHistory>, EngineError> {
        Ok(self
            .inner
            .lock()
            .await
            .history
            .get(&instance_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn parked(&self) -> Result<Vec<ParkedInstance>, EngineError> {
        let t = self.inner.lock().await;
        let mut out: Vec<ParkedInstance> = t.instances.values().filter_map(parked_of).collect();
        out.sort_by(|a, b| (&a.journey, &a.key).cmp(&(&b.journey, &b.key)));
        Ok(out)
    }

    async fn state_counts(&self) -> Result<Vec<StateCount>, EngineError> {
        let t = self.inner.lock().await;
        let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for i in t.instances.values() {
            *counts
                .entry((i.journey.as_str(), i.state.as_str()))
                .or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((journey, state), count)| StateCount {
                journey: journey.to_owned(),
                state: state.to_owned(),
                count,
            })
            .collect())
    }

    async fn timers(&self, instance_id: Uuid) -> Result<Vec<(String, i64)>, EngineError> {
        let t = self.inner.lock().await;
        let mut out: Vec<(String, i64)> = t
            .timers
            .get(&instance_id)
            .map(|m| {
                m.iter()
                    .map(|(n, (_, due, _, _))| (n.clone(), *due))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|(_, due)| *due);
        Ok(out)
    }
}
