//! The PostgreSQL instance store read for operators: per journey, SLA figures per state, stuck instances, compensating and parked sagas, and one instance with its full history — what the dashboard shows. Names and opaque ids only, never event data.

use crate::EngineError;
use crate::pg::PgInstanceStore;
use crate::store::InstanceStore;
use carebus_core::Uuid;
use carebus_core::journey::Instance;
use sqlx::Row;
use std::collections::BTreeMap;

/// How one state with an SLA did: how often it was entered and how often its deadline passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaFigures {
    /// State name.
    pub state: String,
    /// Its SLA in milliseconds.
    pub sla_ms: u64,
    /// Times instances entered it (started in it or moved into it from another state; a
    /// transition back into the same state keeps its deadline and does not count).
    pub entered: u64,
    /// Times its deadline passed with the instance still there.
    pub breached: u64,
}

impl SlaFigures {
    /// Entries that did not breach (so far, for instances still in the state).
    pub fn on_time(&self) -> u64 {
        self.entered.saturating_sub(self.breached)
    }
}

/// An instance listed on the dashboard, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedInstance {
    /// Instance id.
    pub instance_id: Uuid,
    /// Correlation key (an opaque id such as the patient id).
    pub key: String,
    /// Current state.
    pub state: String,
    /// When it entered the state (µs since the epoch, engine clock).
    pub entered_at: i64,
    /// Why it is listed: `past SLA`, `idle`, `compensating`, or a parked saga's reason.
    pub why: String,
}

/// A page of listed instances and how many there are in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// At most the limit asked for, oldest entry first.
    pub instances: Vec<ListedInstance>,
    /// How many match.
    pub total: u64,
}

/// A history row with the time it was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    /// What happened (`started`, `transition`, `ignored`, `sla-breached`, ...).
    pub kind: String,
    /// Event type or `timer:<name>`.
    pub trigger: String,
    /// Event or timer id.
    pub cause_id: String,
    /// State before.
    pub from: Option<String>,
    /// State after.
    pub to: Option<String>,
    /// When it was recorded (µs since the epoch, database clock).
    pub recorded_at: i64,
}

/// One instance with everything the store knows about it.
#[derive(Clone, Debug)]
pub struct InstanceDetail {
    /// The instance.
    pub instance: Instance,
    /// Why it is parked, if it is.
    pub parked_reason: Option<String>,
    /// Its history, oldest first.
    pub history: Vec<HistoryRow>,
    /// Pending timers: (name, due µs), by due time.
    pub timers: Vec<(String, i64)>,
}

fn db(operation: &'static str) -> impl Fn(sqlx::Error) -> EngineError {
    move |e| EngineError::Store {
        operation,
        source: Box::new(e),
    }
}

fn listed(r: &sqlx::postgres::PgRow, why: String) -> ListedInstance {
    ListedInstance {
        instance_id: Uuid(r.get::<sqlx::types::Uuid, _>("instance_id")),
        key: r.get("correlation_key"),
        state: r.get("state"),
        entered_at: r.get("entered_us"),
        why,
    }
}

const LISTED_COLUMNS: &str = "i.instance_id, i.correlation_key, i.state, \
    (extract(epoch from i.entered_at) * 1000000)::bigint AS entered_us, count(*) OVER () AS total";

impl PgInstanceStore {
    /// For each state of `slas` (name, SLA ms): entries and breaches over all instances of
    /// `journey`, in the order given.
    pub async fn sla_figures(
        &self,
        journey: &str,
        slas: &[(String, u64)],
    ) -> Result<Vec<SlaFigures>, EngineError> {
        let rows = sqlx::query(
            "SELECT CASE WHEN h.kind = 'sla-breached' THEN h.from_state ELSE h.to_state END AS state, \
                    h.kind = 'sla-breached' AS breach, count(*) AS n \
             FROM journey_history h JOIN journey_instances i ON i.instance_id = h.instance_id \
             WHERE i.journey = $1 AND h.kind IN ('started', 'transition', 'migrated', 'sla-breached') \
               AND (h.kind = 'sla-breached' OR h.from_state IS DISTINCT FROM h.to_state) \
             GROUP BY 1, 2",
        )
        .bind(journey)
        .fetch_all(self.event_store().pool())
        .await
        .map_err(db("count SLA entries and breaches"))?;
        let mut counts: BTreeMap<(String, bool), u64> = BTreeMap::new();
        for r in &rows {
            if let Some(state) = r.get::<Option<String>, _>("state") {
                let n = u64::try_from(r.get::<i64, _>("n")).unwrap_or(0);
                *counts.entry((state, r.get("breach"))).or_default() += n;
            }
        }
        Ok(slas
            .iter()
            .map(|(state, sla_ms)| SlaFigures {
                state: state.clone(),
                sla_ms: *sla_ms,
                entered: counts.get(&(state.clone(), false)).copied().unwrap_or(0),
                breached: counts.get(&(state.clone(), true)).copied().unwrap_or(0),
            })
            .collect())
    }

    /// Unfinished instances of `journey` that are stuck at `now` (µs, the engine's clock): in
    /// a state of `slas` (name, SLA ms) past its deadline, or unchanged for `idle_us`. At most
    /// `limit`, the longest waiting first.
    pub async fn stuck(
        &self,
        journey: &str,
        slas: &[(String, u64)],
        now: i64,
        idle_us: i64,
        limit: i64,
    ) -> Result<Listing, EngineError> {
        let (states, sla_us): (Vec<String>, Vec<i64>) = slas
            .iter()
            .map(|(s, ms)| {
                (
                    s.clone(),
                    i64::try_from(*ms).unwrap_or(i64::MAX / 1000) * 1000,
                )
            })
            .unzip();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LISTED_COLUMNS}, \
                    coalesce(i.entered_at + s.sla_us * interval '1 microsecond' < to_timestamp(0) + $3 * interval '1 microsecond', false) AS past_sla \
             FROM journey_instances i LEFT JOIN unnest($2::text[], $4::bigint[]) AS s(state, sla_us) ON s.state = i.state \
             WHERE i.journey = $1 AND NOT i.finished AND i.parked_reason IS NULL AND NOT (i.data ? 'compensation') AND ( \
                 i.entered_at + s.sla_us * interval '1 microsecond' < to_timestamp(0) + $3 * interval '1 microsecond' \
                 OR i.updated_at < to_timestamp(0) + ($3 - $5) * interval '1 microsecond') \
             ORDER BY i.entered_at, i.instance_id LIMIT $6"
        )))
        .bind(journey)
        .bind(&states)
        .bind(now)
        .bind(&sla_us)
        .bind(idle_us)
        .bind(limit)
        .fetch_all(self.event_store().pool())
        .await
        .map_err(db("list stuck instances"))?;
        Ok(listing(&rows, |r| {
            if r.get::<bool, _>("past_sla") {
                "past SLA".to_owned()
            } else {
                "idle".to_owned()
            }
        }))
    }

    /// Instances of `journey` undoing saga steps or parked for a person, at most `limit`, the
    /// longest waiting first.
    pub async fn compensating(&self, journey: &str, limit: i64) -> Result<Listing, EngineError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LISTED_COLUMNS}, parked_reason FROM journey_instances i \
             WHERE journey = $1 AND (parked_reason IS NOT NULL OR data ? 'compensation') \
             ORDER BY entered_at, instance_id LIMIT $2"
        )))
        .bind(journey)
        .bind(limit)
        .fetch_all(self.event_store().pool())
        .await
        .map_err(db("list compensating instances"))?;
        Ok(listing(&rows, |r| {
            match r.get::<Option<String>, _>("parked_reason") {
                Some(reason) => format!("parked: {reason}"),
                None => "compensating".to_owned(),
            }
        }))
    }

    /// Instance `id` of `journey` with its history and timers; `None` when there is none.
    pub async fn instance_detail(
        &self,
        journey: &str,
        id: Uuid,
    ) -> Result<Option<InstanceDetail>, EngineError> {
        let pool = self.event_store().pool();
        let row = sqlx::query(
            "SELECT correlation_key, parked_reason FROM journey_instances WHERE journey = $1 AND instance_id = $2",
        )
        .bind(journey)
        .bind(id.0)
        .fetch_optional(pool)
        .await
        .map_err(db("find the instance"))?;
        let Some(row) = row else { return Ok(None) };
        let key: String = row.get("correlation_key");
        let Some(instance) = self.instance(journey, &key).await? else {
            return Ok(None);
        };
        let history = sqlx::query(
            "SELECT kind, trigger, cause_id, from_state, to_state, \
                    (extract(epoch from recorded_at) * 1000000)::bigint AS recorded_us \
             FROM journey_history WHERE instance_id = $1 ORDER BY entry_id",
        )
        .bind(id.0)
        .fetch_all(pool)
        .await
        .map_err(db("read history"))?
        .iter()
        .map(|r| HistoryRow {
            kind: r.get("kind"),
            trigger: r.get("trigger"),
            cause_id: r.get("cause_id"),
            from: r.get("from_state"),
            to: r.get("to_state"),
            recorded_at: r.get("recorded_us"),
        })
        .collect();
        Ok(Some(InstanceDetail {
            instance,
            parked_reason: row.get("parked_reason"),
            history,
            timers: self.timers(id).await?,
        }))
    }
}

fn listing(
    rows: &[sqlx::postgres::PgRow],
    why: impl Fn(&sqlx::postgres::PgRow) -> String,
) -> Listing {
    Listing {
        total: rows
            .first()
            .map(|r| u64::try_from(r.get::<i64, _>("total")).unwrap_or(0))
            .unwrap_or(0),
        instances: rows.iter().map(|r| listed(r, why(r))).collect(),
    }
}
