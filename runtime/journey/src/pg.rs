//! The PostgreSQL instance store: each input applied in one transaction over the tables of migration 0120 — processed id, instance row (optimistic version check), history, timers — with the outgoing events appended to the event store's `events` table, the outbox its relay publishes.

use crate::EngineError;
use crate::store::{
    Applied, Decide, DecideTimer, DueTimer, Fired, InstanceStore, ParkedInstance, Plan, Processed,
    StateCount, StoredHistory,
};
use carebus_core::Uuid;
use carebus_core::journey::{Compensating, Deferred, Instance};
use carebus_postgres::PgEventStore;
use carebus_store::{ExpectedVersion, NewEvent, stream_name};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Row};

/// How often a decision is retried when the instance changed concurrently.
const ATTEMPTS: u32 = 8;

/// Instances, history, processed ids and timers in PostgreSQL, outgoing events in the event
/// store's outbox — all of one input in one transaction. Run [`PgEventStore::migrate`] first.
#[derive(Clone, Debug)]
pub struct PgInstanceStore {
    store: PgEventStore,
}

/// The `data` column: what an instance holds besides its state.
#[derive(Default, Serialize, Deserialize)]
struct InstanceData {
    stages_completed: u32,
    steps: Vec<usize>,
    deferred: Vec<Deferred>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compensation: Option<Compensating>,
}

fn db(operation: &'static str) -> impl Fn(sqlx::Error) -> EngineError {
    move |e| EngineError::Store {
        operation,
        source: Box::new(e),
    }
}

/// Why a transaction was abandoned.
enum Abort {
    /// The instance changed since it was read: decide again.
    Conflict,
    Error(EngineError),
}

impl From<EngineError> for Abort {
    fn from(e: EngineError) -> Self {
        Abort::Error(e)
    }
}

const INSTANCE_COLUMNS: &str = "instance_id, definition_version, state, finished, version, data, \
    (extract(epoch from started_at) * 1000000)::bigint AS started_us, \
    (extract(epoch from entered_at) * 1000000)::bigint AS entered_us";

impl PgInstanceStore {
    /// Instances in `store`'s database (and schema); outgoing events appended to `store`.
    pub fn new(store: PgEventStore) -> Self {
        PgInstanceStore { store }
    }

    /// The event store that is the outbox.
    pub fn event_store(&self) -> &PgEventStore {
        &self.store
    }

    async fn load(
        conn: &mut PgConnection,
        journey: &str,
        key: &str,
    ) -> Result<Option<Instance>, EngineError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INSTANCE_COLUMNS} FROM journey_instances WHERE journey = $1 AND correlation_key = $2"
        )))
        .bind(journey)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("load the instance"))?;
        let Some(row) = row else { return Ok(None) };
        let data: serde_json::Value = row.get("data");
        let data: InstanceData = serde_json::from_value(data).unwrap_or_default();
        let id: sqlx::types::Uuid = row.get("instance_id");
        Ok(Some(Instance {
            id: Uuid(id),
            journey: journey.to_owned(),
            definition_version: u32::try_from(row.get::<i32, _>("definition_version")).unwrap_or(0),
            key: key.to_owned(),
            state: row.get("state"),
            finished: row.get("finished"),
            row_version: row.get("version"),
            stages_completed: data.stages_completed,
            deferred: data.deferred,
            steps: data.steps,
            started_at: row.get("started_us"),
            entered_at: row.get("entered_us"),
            compensation: data.compensation,
        }))
    }

    /// Write one plan on `conn` (inside the caller's transaction).
    async fn write(
        &self,
        conn: &mut PgConnection,
        before: Option<&Instance>,
        plan: Plan,
    ) -> Result<(), Abort> {
        let d = plan.decision;
        let i = &d.instance;
        let data = serde_json::to_value(InstanceData {
            stages_completed: i.stages_completed,
            steps: i.steps.clone(),
            deferred: i.deferred.clone(),
            compensation: i.compensation.clone(),
        })
        .unwrap_or_default();
        let version = i32::try_from(i.definition_version).unwrap_or(i32::MAX);
        let rows = match before {
            None => sqlx::query(
                "INSERT INTO journey_instances (journey, correlation_key, instance_id, definition_version, state, finished, version, data, started_at, entered_at, parked_reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1, $7, to_timestamp(0) + $8 * interval '1 microsecond', to_timestamp(0) + $9 * interval '1 microsecond', $10) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&i.journey)
            .bind(&i.key)
            .bind(i.id.0)
            .bind(version)
            .bind(&i.state)
            .bind(i.finished)
            .bind(&data)
            .bind(i.started_at)
            .bind(i.entered_at)
            .bind(i.parked())
            .execute(&mut *conn)
            .await
            .map_err(db("insert the instance"))?,
            Some(b) => sqlx::query(
                "UPDATE journey_instances SET definition_version = $3, state = $4, finished = $5, data = $6, \
                 entered_at = to_timestamp(0) + $7 * interval '1 microsecond', version = version + 1, updated_at = now(), parked_reason = $9 \
                 WHERE journey = $1 AND correlation_key = $2 AND version = $8",
            )
            .bind(&i.journey)
            .bind(&i.key)
            .bind(version)
            .bind(&i.state)
            .bind(i.finished)
            .bind(&data)
            .bind(i.entered_at)
            .bind(b.row_version)
            .bind(i.parked())
            .execute(&mut *conn)
            .await
            .map_err(db("update the instance"))?,
        };
        if rows.rows_affected() != 1 {
            return Err(Abort::Conflict);
        }
        for h in &d.history {
            sqlx::query(
                "INSERT INTO journey_history (instance_id, kind, trigger, cause_id, from_state, to_state) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(i.id.0)
            .bind(h.kind.as_str())
            .bind(&h.trigger)
            .bind(&h.cause_id)
            .bind(&h.from)
            .bind(&h.to)
            .execute(&mut *conn)
            .await
            .map_err(db("record history"))?;
        }
        if d.cancel_all_timers {
            sqlx::query("DELETE FROM journey_timers WHERE instance_id = $1")
                .bind(i.id.0)
                .execute(&mut *conn)
                .await
                .map_err(db("cancel timers"))?;
        } else if !d.cancel_timers.is_empty() {
            sqlx::query("DELETE FROM journey_timers WHERE instance_id = $1 AND name = ANY($2)")
                .bind(i.id.0)
                .bind(&d.cancel_timers)
                .execute(&mut *conn)
                .await
                .map_err(db("cancel timers"))?;
        }
        for (name, due) in &d.start_timers {
            sqlx::query(
                "INSERT INTO journey_timers (timer_id, journey, correlation_key, instance_id, name, due_at) \
                 VALUES ($1, $2, $3, $4, $5, to_timestamp(0) + $6 * interval '1 microsecond') \
                 ON CONFLICT (instance_id, name) DO UPDATE SET timer_id = EXCLUDED.timer_id, due_at = EXCLUDED.due_at, created_at = now()",
            )
            .bind(Uuid::new_v4().0)
            .bind(&i.journey)
            .bind(&i.key)
            .bind(i.id.0)
            .bind(name)
            .bind(due)
            .execute(&mut *conn)
            .await
            .map_err(db("start a timer"))?;
        }
        let mut by_stream: Vec<(String, Vec<NewEvent>)> = Vec::new();
        for e in plan.outgoing {
            let stream = stream_name(&e.aggregate_type, &e.aggregate_id);
            match by_stream.iter_mut().find(|(s, _)| *s == stream) {
                Some((_, v)) => v.push(e),
                None => by_stream.push((stream, vec![e])),
            }
        }
        for (stream, events) in by_stream {
            self.store
                .append_in(conn, &stream, ExpectedVersion::Any, events)
                .await
                .map_err(|e| EngineError::Store {
                    operation: "append to the outbox",
                    source: Box::new(e),
                })?;
        }
        Ok(())
    }

    /// Mark `(journey, cause_id)` processed; `false` when it already was.
    async fn mark(
        conn: &mut PgConnection,
        journey: &str,
        cause_id: &str,
    ) -> Result<bool, EngineError> {
        let r = sqlx::query("INSERT INTO journey_processed (journey, cause_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(journey)
            .bind(cause_id)
            .execute(&mut *conn)
            .await
            .map_err(db("mark the input processed"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn attempt(
        &self,
        journey: &str,
        key: &str,
        cause_id: &str,
        decide: &Decide<'_>,
    ) -> Result<Processed, Abort> {
        let mut tx = self.store.pool().begin().await.map_err(db("begin"))?;
        if !Self::mark(&mut tx, journey, cause_id).await? {
            return Ok(Processed::Duplicate);
        }
        let before = Self::load(&mut tx, journey, key).await?;
        let Some(plan) = decide(before.as_ref())? else {
            // Nothing happened: the processed mark rolls back with the transaction.
            return Ok(Processed::NotConcerned);
        };
        let applied = Applied::of(journey, before.as_ref(), &plan);
        self.write(&mut tx, before.as_ref(), plan).await?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(Processed::Applied(applied))
    }
}

impl InstanceStore for PgInstanceStore {
    async fn process(
        &self,
        journey: &str,
        key: &str,
        cause_id: &str,
        decide: &Decide<'_>,
    ) -> Result<Processed, EngineError> {
        for _ in 0..ATTEMPTS {
            match self.attempt(journey, key, cause_id, decide).await {
                Ok(p) => return Ok(p),
                Err(Abort::Conflict) => continue,
                Err(Abort::Error(e)) => return Err(e),
            }
        }
        Err(EngineError::Conflict {
            journey: journey.to_owned(),
            attempts: ATTEMPTS,
        })
    }

    async fn fire_next(
        &self,
        now: i64,
        decide: &DecideTimer<'_>,
    ) -> Result<Option<Fired>, EngineError> {
        for _ in 0..ATTEMPTS {
            let mut tx = self.store.pool().begin().await.map_err(db("begin"))?;
            let row = sqlx::query(
                "SELECT timer_id, journey, correlation_key, name, (extract(epoch from due_at) * 1000000)::bigint AS due_us \
                 FROM journey_timers WHERE due_at <= to_timestamp(0) + $1 * interval '1 microsecond' \
                 ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            )
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("claim a due timer"))?;
            let Some(row) = row else { return Ok(None) };
            let id: sqlx::types::Uuid = row.get("timer_id");
            let timer = DueTimer {
                timer_id: id.to_string(),
                journey: row.get("journey"),
                key: row.get("correlation_key"),
                name: row.get("name"),
                due_at: row.get("due_us"),
            };
            sqlx::query("DELETE FROM journey_timers WHERE timer_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("delete the fired timer"))?;
            if !Self::mark(&mut tx, &timer.journey, &timer.timer_id).await? {
                tx.commit().await.map_err(db("commit"))?;
                return Ok(Some(Fired {
                    timer,
                    processed: Processed::Duplicate,
                }));
            }
            let before = Self::load(&mut tx, &timer.journey, &timer.key).await?;
            let processed = match decide(&timer, before.as_ref())? {
                None => Processed::NotConcerned,
                Some(plan) => {
                    let applied = Applied::of(&timer.journey, before.as_ref(), &plan);
                    match self.write(&mut tx, before.as_ref(), plan).await {
                        Ok(()) => Processed::Applied(applied),
                        Err(Abort::Conflict) => continue,
                        Err(Abort::Error(e)) => return Err(e),
                    }
                }
            };
            tx.commit().await.map_err(db("commit"))?;
            return Ok(Some(Fired { timer, processed }));
        }
        Err(EngineError::Conflict {
            journey: "timers".into(),
            attempts: ATTEMPTS,
        })
    }

    async fn instance(&self, journey: &str, key: &str) -> Result<Option<Instance>, EngineError> {
        let mut conn = self.store.pool().acquire().await.map_err(db("connect"))?;
        Self::load(&mut conn, journey, key).await
    }

    async fn history(&self, instance_id: Uuid) -> Result<Vec<StoredHistory>, EngineError> {
        let rows = sqlx::query(
            "SELECT kind, trigger, cause_id, from_state, to_state FROM journey_history WHERE instance_id = $1 ORDER BY entry_id",
        )
        .bind(instance_id.0)
        .fetch_all(self.store.pool())
        .await
        .map_err(db("read history"))?;
        Ok(rows
            .iter()
            .map(|r| StoredHistory {
                kind: r.get("kind"),
                trigger: r.get("trigger"),
                cause_id: r.get("cause_id"),
                from: r.get("from_state"),
                to: r.get("to_state"),
            })
            .collect())
    }

    async fn parked(&self) -> Result<Vec<ParkedInstance>, EngineError> {
        let rows = sqlx::query(
            "SELECT journey, correlation_key, instance_id, state, parked_reason FROM journey_instances \
             WHERE parked_reason IS NOT NULL ORDER BY journey, correlation_key",
        )
        .fetch_all(self.store.pool())
        .await
        .map_err(db("read parked instances"))?;
        Ok(rows
            .iter()
            .map(|r| ParkedInstance {
                journey: r.get("journey"),
                key: r.get("correlation_key"),
                instance_id: Uuid(r.get::<sqlx::types::Uuid, _>("instance_id")),
                state: r.get("state"),
                reason: r.get("parked_reason"),
            })
            .collect())
    }

    async fn state_counts(&self) -> Result<Vec<StateCount>, EngineError> {
        let rows = sqlx::query(
            "SELECT journey, state, count(*) AS n FROM journey_instances GROUP BY journey, state ORDER BY journey, state",
        )
        .fetch_all(self.store.pool())
        .await
        .map_err(db("count instances by state"))?;
        Ok(rows
            .iter()
            .map(|r| StateCount {
                journey: r.get("journey"),
                state: r.get("state"),
                count: u64::try_from(r.get::<i64, _>("n")).unwrap_or(0),
            })
            .collect())
    }

    async fn timers(&self, instance_id: Uuid) -> Result<Vec<(String, i64)>, EngineError> {
        let rows = sqlx::query(
            "SELECT name, (extract(epoch from due_at) * 1000000)::bigint AS due_us FROM journey_timers WHERE instance_id = $1 ORDER BY due_at",
        )
        .bind(instance_id.0)
        .fetch_all(self.store.pool())
        .await
        .map_err(db("read timers"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get("name"), r.get("due_us")))
            .collect())
    }
}
