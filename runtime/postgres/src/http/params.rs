//! Routes and query strings of the HTTP query endpoint into checked requests ([`Ask`]): percent-decoding, length and character limits, one [`EventQuery`] (or a stats grouping, or an event id) per request, or a 400 naming the parameter and never echoing its value.

use crate::query::{Direction, EventQuery, GroupBy, PageCursor, QueryError};
use carebus_core::types::Timestamp;

/// Longest accepted parameter value (bytes, decoded).
pub const MAX_VALUE_LEN: usize = 512;

/// Percent-decode a query string into (name, value) pairs; invalid UTF-8 is an error.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    let mut out = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let name = decode_component("parameter name", k)?;
        let value = decode_component(&name, v)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(QueryError::invalid(
                &name,
                format!("longer than {MAX_VALUE_LEN} bytes"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(QueryError::invalid(&name, "contains control characters"));
        }
        out.push((name, value));
    }
    Ok(out)
}

fn decode_component(param: &str, text: &str) -> Result<String, QueryError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| QueryError::invalid(param, "has a malformed %-escape"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let name = if param == "parameter name" {
        "parameter name"
    } else {
        param
    };
    String::from_utf8(out).map_err(|_| QueryError::invalid(name, "is not valid UTF-8"))
}

/// The parsed parameters of `/events` (and the filter part of `/events/stats`).
pub(super) fn build(
    params: Vec<(String, String)>,
    allow_paging: bool,
) -> Result<(EventQuery, Option<GroupBy>), QueryError> {
    let mut q = EventQuery::default();
    let mut group_by = None;
    let mut seen = std::collections::HashSet::new();
    for (name, value) in params {
        if name != "event_type" && !seen.insert(name.clone()) {
            return Err(QueryError::invalid(&name, "given more than once"));
        }
        let f = &mut q.filter;
        let text = || non_empty(&name, &value);
        match name.as_str() {
            "stream" => f.stream_id = Some(text()?),
            "aggregate_type" => f.aggregate_type = Some(text()?),
            "event_type" => f.event_types.push(text()?),
            "tenant" => {
                return Err(QueryError::invalid(
                    &name,
                    "is taken from the bearer token, never from the request; remove it",
                ));
            }
            "correlation_id" => f.correlation_id = Some(text()?),
            "from" => f.recorded_from = Some(time(&name, &value)?),
            "until" => f.recorded_until = Some(time(&name, &value)?),
            "include_archived" => {
                q.include_archived = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(QueryError::invalid(&name, "must be true or false")),
                }
            }
            "limit" if allow_paging => {
                q.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=crate::query::MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        QueryError::invalid(&name, "must be a whole number from 1 to 1000")
                    })?;
            }
            "after" if allow_paging => {
                q.cursor = Some(PageCursor::decode(&name, &value)?);
                q.direction = Direction::Forward;
            }
            "before" if allow_paging => {
                q.cursor = Some(PageCursor::decode(&name, &value)?);
                q.direction = Direction::Backward;
            }
            "order" if allow_paging => {
                q.direction = match value.as_str() {
                    "asc" => Direction::Forward,
                    "desc" => Direction::Backward,
                    _ => return Err(QueryError::invalid(&name, "must be asc or desc")),
                }
            }
            "group_by" if !allow_paging => group_by = Some(GroupBy::parse(&value)?),
            _ => {
                return Err(QueryError::invalid(
                    &name,
                    "is not a parameter of this endpoint",
                ));
            }
        }
    }
    if seen.contains("after") && seen.contains("before") {
        return Err(QueryError::invalid(
            "before",
            "give either after or before, not both",
        ));
    }
    if seen.contains("order") && (seen.contains("after") || seen.contains("before")) {
        return Err(QueryError::invalid(
            "order",
            "a cursor already sets the direction",
        ));
    }
    Ok((q, group_by))
}

fn non_empty(name: &str, value: &str) -> Result<String, QueryError> {
    if value.is_empty() {
        Err(QueryError::invalid(name, "is empty"))
    } else {
        Ok(value.to_string())
    }
}

fn time(name: &str, value: &str) -> Result<Timestamp, QueryError> {
    Timestamp::parse_rfc3339(value).ok_or_else(|| {
        QueryError::invalid(name, "must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")
    })
}

/// Which route a request took, with its path parameter.
pub(super) enum Route {
    Events,
    Stats,
    Event(Result<String, ()>),
    Stream(Result<String, ()>),
}

impl Route {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Route::Events => "GET /events",
            Route::Stats => "GET /events/stats",
            Route::Event(_) => "GET /events/{event_id}",
            Route::Stream(_) => "GET /streams/{stream_id}/events",
        }
    }
}

/// What a checked request asks.
pub(super) enum Ask {
    Page(EventQuery, bool),
    One(uuid::Uuid, bool),
    Stats(EventQuery, crate::query::GroupBy),
}

/// The checked request of a route.
pub(super) fn ask(route: &Route, pairs: &[(String, String)]) -> Result<Ask, QueryError> {
    let paging = !matches!(route, Route::Stats);
    let (mut q, group_by) = build(pairs.to_vec(), paging)?;
    match route {
        Route::Events => Ok(Ask::Page(q, false)),
        Route::Stats => {
            let group_by = group_by.ok_or_else(|| {
                QueryError::invalid("group_by", "is required: type, day or tenant")
            })?;
            Ok(Ask::Stats(q, group_by))
        }
        Route::Event(id) => {
            if q != (EventQuery {
                include_archived: q.include_archived,
                ..EventQuery::default()
            }) {
                return Err(QueryError::invalid(
                    "event_id",
                    "takes no parameter but include_archived",
                ));
            }
            let id = id
                .as_ref()
                .ok()
                .and_then(|id| uuid::Uuid::parse_str(id).ok())
                .ok_or_else(|| QueryError::invalid("event_id", "is not a UUID"))?;
            Ok(Ask::One(id, q.include_archived))
        }
        Route::Stream(stream) => {
            if q.filter.stream_id.is_some() {
                return Err(QueryError::invalid(
                    "stream",
                    "is already in the path (/streams/{stream_id}/events)",
                ));
            }
            let stream = stream
                .as_ref()
                .ok()
                .filter(|s| {
                    !s.is_empty() && s.len() <= MAX_VALUE_LEN && !s.chars().any(char::is_control)
                })
                .ok_or_else(|| {
                    QueryError::invalid("stream_id", "must be 1 to 512 bytes of UTF-8 text")
                })?;
            q.filter.stream_id = Some(stream.clone());
            Ok(Ask::Page(q, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_percent_decoded_and_checked() {
        let p = parse_query("stream=Patient-1&event_type=A+B&event_type=%43").unwrap();
        assert_eq!(
            p,
            vec![
                ("stream".to_string(), "Patient-1".to_string()),
                ("event_type".to_string(), "A B".to_string()),
                ("event_type".to_string(), "C".to_string()),
            ]
        );
        for bad in [
            "stream=%FF",
            "stream=%0A",
            "stream=%4",
            "stream=%G1",
            "%FF=1",
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
        assert!(parse_query(&format!("stream={}", "a".repeat(MAX_VALUE_LEN + 1))).is_err());
    }

    #[test]
    fn parameters_build_one_query_or_a_named_refusal() {
        let params = parse_query("stream=s&limit=10&before=AAAAAAAAAAU").unwrap();
        let (q, _) = build(params, true).unwrap();
        assert_eq!(q.filter.stream_id.as_deref(), Some("s"));
        assert_eq!(q.limit, 10);
        assert_eq!(q.direction, Direction::Backward);
        assert_eq!(q.cursor, Some(PageCursor(5)));
        for (bad, param) in [
            ("after=AAAAAAAAAAU&before=AAAAAAAAAAU", "before"),
            ("limit=1e3", "limit"),
            ("group_by=type", "group_by"),
            ("from=yesterday", "from"),
            ("tenant=hospital-b", "tenant"),
        ] {
            let err = build(parse_query(bad).unwrap(), true).unwrap_err();
            assert!(err.to_string().contains(param), "{bad}: {err}");
        }
        let (_, g) = build(parse_query("group_by=day").unwrap(), false).unwrap();
        assert_eq!(g, Some(GroupBy::Day));
    }
}
