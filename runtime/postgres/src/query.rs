//! The query API: filtered, cursor-paginated pages of stored events (forward and backward, optionally including archived rows) and counts grouped by type, day or tenant, all as parameterised SQL over PostgreSQL.
//!
//! A page cursor is opaque to clients: base64url of the event's `global_position` (8 bytes,
//! big-endian). Pages are keyset pages (`global_position > cursor` forward, `< cursor`
//! backward), so events appended while a client pages never shift, duplicate or hide the
//! events of the pages it has not read yet. Every filter value is a bound parameter; the SQL
//! text never contains user input.

pub(crate) mod rows;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carebus_store::EventFilter;
use carebus_store::StoreError;
use carebus_store::StoredEvent;
use rows::{SELECT, WITH_ARCHIVE, backend, stored_event};
use sqlx::{PgExecutor, Postgres, QueryBuilder, Row};

/// Most events in one page.
pub const MAX_PAGE: usize = 1000;
/// Events per page when the caller does not say.
pub const DEFAULT_PAGE: usize = 100;

/// Why a query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is not acceptable (the caller's mistake: HTTP 400).
    #[error("invalid query parameter `{param}`: {reason}")]
    Invalid {
        /// The parameter, as the client named it (at most 64 printable characters).
        param: String,
        /// What it must be.
        reason: String,
    },
    /// The store failed (HTTP 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueryError {
    /// A refusal naming `param` (cut to 64 printable characters: names come from clients).
    pub(crate) fn invalid(param: &str, reason: impl Into<String>) -> QueryError {
        QueryError::Invalid {
            param: param.chars().filter(|c| !c.is_control()).take(64).collect(),
            reason: reason.into(),
        }
    }
}

/// Which way a page goes from its cursor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first, positions after the cursor.
    #[default]
    Forward,
    /// Newest first, positions before the cursor.
    Backward,
}

/// An opaque page cursor: an event's global position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCursor(pub i64);

impl PageCursor {
    /// The cursor as clients see it.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.to_be_bytes())
    }

    /// Read a cursor a client sent back; anything else is [`QueryError::Invalid`].
    pub fn decode(param: &str, text: &str) -> Result<PageCursor, QueryError> {
        let bad = || {
            QueryError::invalid(
                param,
                "not a cursor this API returned; pass the `next` or `prev` value of a page",
            )
        };
        if text.len() > 32 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let arr: [u8; 8] = bytes.try_into().map_err(|_| bad())?;
        let position = i64::from_be_bytes(arr);
        if position < 0 {
            return Err(bad());
        }
        Ok(PageCursor(position))
    }
}

/// One page request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventQuery {
    /// Which events (stream, aggregate type, event types, tenant, time range, correlation).
    pub filter: EventFilter,
    /// Oldest first (default) or newest first.
    pub direction: Direction,
    /// Start after (forward) or before (backward) this event; `None` = from the first
    /// (forward) or the last (backward) event.
    pub cursor: Option<PageCursor>,
    /// Events per page, 1..=[`MAX_PAGE`]; 0 = [`DEFAULT_PAGE`].
    pub limit: usize,
    /// Also return rows compaction moved to `events_archive`.
    pub include_archived: bool,
}

/// One page of events, in the query's direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The events of the page, at most the query's limit; their data may hold PHI.
    pub events: Vec<StoredEvent>,
    /// Cursor for the next page in the same direction; `None` when this was the last.
    pub next: Option<PageCursor>,
    /// Cursor for the page before this one (the opposite direction from its first event);
    /// `None` on an empty page.
    pub prev: Option<PageCursor>,
}

/// What [`stats`] counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// By event type (`PatientCreated`).
    EventType,
    /// UTC day of `recorded_at`, as `YYYY-MM-DD`.
    Day,
    /// By tenant id (`None` for events without one).
    Tenant,
}

impl GroupBy {
    /// `type`, `day` or `tenant`.
    pub fn parse(text: &str) -> Result<GroupBy, QueryError> {
        match text {
            "type" => Ok(GroupBy::EventType),
            "day" => Ok(GroupBy::Day),
            "tenant" => Ok(GroupBy::Tenant),
            _ => Err(QueryError::invalid(
                "group_by",
                "must be one of type, day, tenant",
            )),
        }
    }
    fn sql(self) -> &'static str {
        match self {
            GroupBy::EventType => "event_type",
            GroupBy::Day => "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            GroupBy::Tenant => "tenant_id",
        }
    }
}

/// One group of [`stats`]: its key (`None` for events without a tenant) and its count.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GroupCount {
    /// The event type, day or tenant; `None` for events without a tenant.
    pub key: Option<String>,
    /// Number of matching events in the group.
    pub count: u64,
}

// The filter's SQL is the core store's, so every read path filters alike.
pub(crate) use crate::push_filter;

fn source(include_archived: bool) -> &'static str {
    if include_archived {
        WITH_ARCHIVE
    } else {
        "events e"
    }
}

/// One page of events matching the query, on `db` (a pool, a connection or a transaction:
/// the HTTP endpoint runs it in its tenant's transaction).
pub async fn query<'c>(db: impl PgExecutor<'c>, request: &EventQuery) -> Result<Page, QueryError> {
    let limit = match request.limit {
        0 => DEFAULT_PAGE,
        n if n > MAX_PAGE => {
            return Err(QueryError::invalid(
                "limit",
                format!("at most {MAX_PAGE} events per page"),
            ));
        }
        n => n,
    };
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "SELECT {SELECT} FROM {} WHERE true",
        source(request.include_archived)
    ));
    push_filter(&mut q, &request.filter);
    let forward = request.direction == Direction::Forward;
    if let Some(c) = request.cursor {
        q.push(if forward {
            " AND global_position > "
        } else {
            " AND global_position < "
        })
        .push_bind(c.0);
    }
    q.push(if forward {
        " ORDER BY global_position ASC LIMIT "
    } else {
        " ORDER BY global_position DESC LIMIT "
    })
    .push_bind(limit as i64 + 1);
    let rows = q
        .build()
        .fetch_all(db)
        .await
        .map_err(backend("query events"))?;
    let more = rows.len() > limit;
    let events = rows
        .iter()
        .take(limit)
        .map(stored_event)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if more {
        events.last().map(|e| PageCursor(e.global_position))
    } else {
        None
    };
    let prev = events.first().map(|e| PageCursor(e.global_position));
    Ok(Page { events, next, prev })
}

/// Counts of the events matching `filter`, grouped, largest key order (by key ascending).
pub async fn stats<'c>(
    db: impl PgExecutor<'c>,
    filter: &EventFilter,
    group_by: GroupBy,
    include_archived: bool,
) -> Result<Vec<GroupCount>, QueryError> {
    let key = group_by.sql();
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "SELECT {key} AS key, count(*) AS n FROM {} WHERE true",
        source(include_archived)
    ));
    push_filter(&mut q, filter);
    q.push(format!(" GROUP BY {key} ORDER BY {key} NULLS FIRST"));
    let rows = q
        .build()
        .fetch_all(db)
        .await
        .map_err(backend("query stats"))?;
    rows.iter()
        .map(|r| {
            Ok(GroupCount {
                key: r.try_get("key").map_err(backend("query stats"))?,
                count: r.try_get::<i64, _>("n").map_err(backend("query stats"))? as u64,
            })
        })
        .collect()
}

/// The event with `event_id` (also among archived rows when `include_archived`), `None` when
/// there is none visible on `db`.
pub async fn event_by_id<'c>(
    db: impl PgExecutor<'c>,
    event_id: uuid::Uuid,
    include_archived: bool,
) -> Result<Option<StoredEvent>, QueryError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SELECT} FROM {} WHERE event_id = $1 LIMIT 1",
        source(include_archived)
    )))
    .bind(event_id)
    .fetch_optional(db)
    .await
    .map_err(backend("query event"))?;
    Ok(row.as_ref().map(stored_event).transpose()?)
}
