//! Which events a read, replay or subscription wants: by stream, aggregate type, event type, tenant, time range or correlation id.

use super::event::StoredEvent;
use carebus_core::types::Timestamp;

/// A conjunction of optional conditions; the default matches every event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this stream (`Patient-123`).
    pub stream_id: Option<String>,
    /// Only events of this aggregate type (`Patient`).
    pub aggregate_type: Option<String>,
    /// Any of these event types (empty = every type).
    pub event_types: Vec<String>,
    /// Only events of this tenant.
    pub tenant_id: Option<String>,
    /// `recorded_at >= from`.
    pub recorded_from: Option<Timestamp>,
    /// `recorded_at < until`.
    pub recorded_until: Option<Timestamp>,
    /// Only events of this business flow.
    pub correlation_id: Option<String>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        EventFilter::default()
    }
    /// Only events of the stream `stream_id`.
    pub fn stream(mut self, stream_id: impl Into<String>) -> Self {
        self.stream_id = Some(stream_id.into());
        self
    }
    /// Only events of aggregates of this type.
    pub fn aggregate_type(mut self, aggregate_type: impl Into<String>) -> Self {
        self.aggregate_type = Some(aggregate_type.into());
        self
    }
    /// Also match events of this type (call again for more types).
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }
    /// Only events of this tenant.
    pub fn tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }
    /// Recorded in `[from, until)`; either end may be open.
    pub fn recorded_between(mut self, from: Option<Timestamp>, until: Option<Timestamp>) -> Self {
        self.recorded_from = from;
        self.recorded_until = until;
        self
    }
    /// Only events with this correlation id.
    pub fn correlation(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// Whether a stored event matches (the in-memory backend's implementation; PostgreSQL
    /// turns the same conditions into parameterised SQL).
    pub fn matches(&self, e: &StoredEvent) -> bool {
        self.stream_id.as_ref().is_none_or(|s| *s == e.stream_id)
            && self
                .aggregate_type
                .as_ref()
                .is_none_or(|a| *a == e.aggregate_type)
            && (self.event_types.is_empty() || self.event_types.contains(&e.event_type))
            && self
                .tenant_id
                .as_ref()
                .is_none_or(|t| e.context.tenant_id.as_ref() == Some(t))
            && self.recorded_from.is_none_or(|f| e.recorded_at >= f)
            && self.recorded_until.is_none_or(|u| e.recorded_at < u)
            && self
                .correlation_id
                .as_ref()
                .is_none_or(|c| e.context.correlation_id.as_ref() == Some(c))
    }
}
