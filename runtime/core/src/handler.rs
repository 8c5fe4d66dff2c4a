//! What a handler is given (the event's envelope and delivery facts) and what it returns.

use std::fmt;
use std::sync::Arc;

/// Envelope and delivery facts of the event being handled.
///
/// Its text (ids, types, topic...) sits in one buffer, read through the methods of the same
/// names: the consumer builds one context per record, with one allocation instead of one per
/// field. Build one yourself from [`ContextFields`] (`ContextFields { .. }.into()`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HandlerContext {
    /// The text fields one after another, in [`Text`] order.
    text: String,
    /// Where each text field ends in `text`.
    ends: [u32; Text::COUNT],
    /// Which optional text fields are present (bit `Text as u16`).
    present: u16,
    /// Schema version of the handled event.
    pub event_version: u32,
    /// Partition the record was read from.
    pub partition: i32,
    /// Offset of the record in that partition.
    pub offset: i64,
    /// 1 for the first delivery, then 2, 3, ... on retries.
    pub attempt: u32,
}

/// The text fields of a [`HandlerContext`], in buffer order.
#[derive(Clone, Copy)]
enum Text {
    EventId,
    EventType,
    AggregateId,
    AggregateType,
    Topic,
    TenantId,
    CorrelationId,
    CausationId,
    ReplyTo,
    Traceparent,
    Source,
    UserId,
}

impl Text {
    const COUNT: usize = Text::UserId as usize + 1;
}

/// The fields of a [`HandlerContext`], borrowed: what one is built from, and what
/// [`HandlerContext::fields`] gives back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContextFields<'a> {
    /// Id of the handled event (`ce_id`).
    pub event_id: &'a str,
    /// Type of the handled event (`PatientCreated`).
    pub event_type: &'a str,
    /// Schema version of the handled event.
    pub event_version: u32,
    /// Id of the aggregate the event is about (`ce_subject`).
    pub aggregate_id: &'a str,
    /// Type of that aggregate (`Patient`).
    pub aggregate_type: &'a str,
    /// Tenant of the event, if it has one.
    pub tenant_id: Option<&'a str>,
    /// Correlation id of the business flow, if set.
    pub correlation_id: Option<&'a str>,
    /// Id of the event that caused this one, if set.
    pub causation_id: Option<&'a str>,
    /// The topic the event was published to (a retried or redriven record's original topic).
    pub topic: &'a str,
    /// Partition the record was read from.
    pub partition: i32,
    /// Offset of the record in that partition.
    pub offset: i64,
    /// 1 for the first delivery, then 2, 3, ... on retries.
    pub attempt: u32,
    /// Reply topic of a request (request-reply), from the `carebus_replyto` header.
    pub reply_to: Option<&'a str>,
    /// W3C `traceparent` of the handled event.
    pub traceparent: Option<&'a str>,
    /// The producing service (envelope `metadata.source`).
    pub source: Option<&'a str>,
    /// The user on whose behalf the event was produced (envelope `metadata.userId`).
    pub user_id: Option<&'a str>,
}

impl From<ContextFields<'_>> for HandlerContext {
    fn from(f: ContextFields<'_>) -> Self {
        let mut ctx = HandlerContext::default();
        ctx.refill(f);
        ctx
    }
}

impl HandlerContext {
    /// Make this the context of `f`, keeping the text buffer's allocation (the consumer reuses
    /// one context per record while its handlers finish without keeping it).
    #[doc(hidden)]
    pub fn refill(&mut self, f: ContextFields<'_>) {
        let texts: [Option<&str>; Text::COUNT] = [
            Some(f.event_id),
            Some(f.event_type),
            Some(f.aggregate_id),
            Some(f.aggregate_type),
            Some(f.topic),
            f.tenant_id,
            f.correlation_id,
            f.causation_id,
            f.reply_to,
            f.traceparent,
            f.source,
            f.user_id,
        ];
        self.text.clear();
        self.present = 0;
        for (i, t) in texts.iter().enumerate() {
            if let Some(t) = t {
                self.text.push_str(t);
                self.present |= 1 << i;
            }
            self.ends[i] = self.text.len() as u32;
        }
        self.event_version = f.event_version;
        self.partition = f.partition;
        self.offset = f.offset;
        self.attempt = f.attempt;
    }

    fn text(&self, field: Text) -> &str {
        let i = field as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text
            .get(start as usize..self.ends[i] as usize)
            .unwrap_or_default()
    }

    fn optional(&self, field: Text) -> Option<&str> {
        (self.present & (1 << field as u16) != 0).then(|| self.text(field))
    }

    /// Every field, borrowed (to read several, or to build a changed copy).
    pub fn fields(&self) -> ContextFields<'_> {
        ContextFields {
            event_id: self.event_id(),
            event_type: self.event_type(),
            event_version: self.event_version,
            aggregate_id: self.aggregate_id(),
            aggregate_type: self.aggregate_type(),
            tenant_id: self.tenant_id(),
            correlation_id: self.correlation_id(),
            causation_id: self.causation_id(),
            topic: self.topic(),
            partition: self.partition,
            offset: self.offset,
            attempt: self.attempt,
            reply_to: self.reply_to(),
            traceparent: self.traceparent(),
            source: self.source(),
            user_id: self.user_id(),
        }
    }

    /// Id of the handled event (`ce_id`); publish with
    /// [`PublishOptions::caused_by`](crate::PublishOptions::caused_by) to make it the causation of
    /// new events.
    pub fn event_id(&self) -> &str {
        self.text(Text::EventId)
    }
    /// Type of the handled event (`PatientCreated`).
    pub fn event_type(&self) -> &str {
        self.text(Text::EventType)
    }
    /// Id of the aggregate the event is about (`ce_subject`).
    pub fn aggregate_id(&self) -> &str {
        self.text(Text::AggregateId)
    }
    /// Type of that aggregate (`Patient`).
    pub fn aggregate_type(&self) -> &str {
        self.text(Text::AggregateType)
    }
    /// The topic the event was published to (a retried or redriven record's original topic).
    pub fn topic(&self) -> &str {
        self.text(Text::Topic)
    }
    /// Tenant of the event, if it has one.
    pub fn tenant_id(&self) -> Option<&str> {
        self.optional(Text::TenantId)
    }
    /// Correlation id of the business flow, if set.
    pub fn correlation_id(&self) -> Option<&str> {
        self.optional(Text::CorrelationId)
    }
    /// Id of the event that caused this one, if set.
    pub fn causation_id(&self) -> Option<&str> {
        self.optional(Text::CausationId)
    }
    /// Reply topic of a request (request-reply), from the `carebus_replyto` header.
    pub fn reply_to(&self) -> Option<&str> {
        self.optional(Text::ReplyTo)
    }
    /// W3C `traceparent` of the handled event.
    pub fn traceparent(&self) -> Option<&str> {
        self.optional(Text::Traceparent)
    }
    /// The producing service (envelope `metadata.source`).
    pub fn source(&self) -> Option<&str> {
        self.optional(Text::Source)
    }
    /// The user on whose behalf the event was produced (envelope `metadata.userId`).
    pub fn user_id(&self) -> Option<&str> {
        self.optional(Text::UserId)
    }
}

impl fmt::Debug for HandlerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HandlerContext")
            .field(&self.fields())
            .finish()
    }
}

/// The outcome of handling one event.
pub type HandlerResult = Result<(), HandlerError>;

/// Why a handler failed; its kind decides between retry and dead letter.
///
/// Build one with [`HandlerError::retriable`] / [`HandlerError::permanent`], or from any error
/// with the [`HandlerResultExt`] methods so `?` works in handlers:
///
/// ```
/// use carebus_core::{HandlerResult, HandlerResultExt};
///
/// fn handle(text: &str) -> HandlerResult {
///     let n: u32 = text.parse().permanent()?; // bad data never parses: dead-letter it
///     std::fs::metadata("/tmp").retriable()?; // a dependency may come back: retry
///     let _ = n;
///     Ok(())
/// }
/// assert!(handle("x").unwrap_err().is_permanent());
/// ```
///
/// The message goes to logs and dead-letter headers: it must not hold PHI. The methods of
/// [`HandlerResultExt`] use the error's `Display` text, so use them with errors whose text
/// names no patient data (carebus's own errors never do).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{kind} handler error: {message}")]
pub struct HandlerError {
    /// Whether the consumer retries the event or dead-letters it.
    pub kind: HandlerErrorKind,
    /// A message free of PHI: it goes to logs and dead-letter headers.
    pub message: String,
    /// The error that caused it, if any.
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// Whether a failed event is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerErrorKind {
    /// Worth retrying (a dependency was down, a timeout).
    #[error("retriable")]
    Retriable,
    /// Will never succeed (bad data, a rule broken): straight to the dead-letter topic.
    #[error("permanent")]
    Permanent,
}

impl HandlerError {
    /// A failure worth retrying; `message` must not hold PHI.
    pub fn retriable(message: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Retriable,
            message: message.into(),
            source: None,
        }
    }

    /// A failure that will never succeed (the event is dead-lettered); `message` must not hold PHI.
    pub fn permanent(message: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Permanent,
            message: message.into(),
            source: None,
        }
    }

    /// Keep `source` as the cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// An error of `kind` caused by `source`, with its text as the message.
    pub fn from_error(
        kind: HandlerErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        HandlerError {
            kind,
            message: source.to_string(),
            source: Some(Arc::new(source)),
        }
    }

    /// Whether the consumer should retry the event.
    pub fn is_retriable(&self) -> bool {
        self.kind == HandlerErrorKind::Retriable
    }

    /// Whether the event goes straight to the dead-letter topic.
    pub fn is_permanent(&self) -> bool {
        self.kind == HandlerErrorKind::Permanent
    }
}

/// Equal when kind and message are (the source is not compared).
impl PartialEq for HandlerError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for HandlerError {}

/// `?` for any error in a handler: say whether retrying may help.
pub trait HandlerResultExt<T> {
    /// A failure worth retrying (a dependency down, a timeout).
    fn retriable(self) -> Result<T, HandlerError>;
    /// A failure that will never succeed: the event goes to the dead-letter topic.
    fn permanent(self) -> Result<T, HandlerError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> HandlerResultExt<T> for Result<T, E> {
    fn retriable(self) -> Result<T, HandlerError> {
        self.map_err(|e| HandlerError::from_error(HandlerErrorKind::Retriable, e))
    }

    fn permanent(self) -> Result<T, HandlerError> {
        self.map_err(|e| HandlerError::from_error(HandlerErrorKind::Permanent, e))
    }
}

/// An event that breaks its schema's constraints will never pass: permanent.
impl From<crate::error::ValidationError> for HandlerError {
    fn from(e: crate::error::ValidationError) -> Self {
        HandlerError::from_error(HandlerErrorKind::Permanent, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{TransportError, TransportErrorKind};

    #[test]
    fn handler_errors_keep_their_cause_and_say_whether_to_retry() {
        let parsed: Result<u32, _> = "x".parse::<u32>();
        let e = parsed.permanent().unwrap_err();
        assert!(e.is_permanent());
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            e.to_string(),
            format!("permanent handler error: {}", e.message)
        );

        let down = |kind| crate::publish::PublishError::Transport {
            topic: "t".into(),
            source: TransportError::new(kind, "produce to t"),
        };
        assert!(HandlerError::from(down(TransportErrorKind::Timeout)).is_retriable());
        assert!(HandlerError::from(down(TransportErrorKind::Other)).is_permanent());
        let invalid = crate::error::ValidationError {
            event_type: "PatientCreated",
            field: "patientId".into(),
            rule: "must not be empty".into(),
        };
        assert!(HandlerError::from(invalid).is_permanent());
        assert_eq!(
            HandlerError::retriable("a"),
            HandlerError::retriable("a").with_source(std::fmt::Error)
        );
    }

    #[test]
    fn a_context_gives_back_the_fields_it_was_built_from() {
        let fields = ContextFields {
            event_id: "evt-1",
            event_type: "PatientCreated",
            event_version: 2,
            aggregate_id: "patient-123",
            aggregate_type: "Patient",
            tenant_id: Some("hospital-456"),
            correlation_id: None,
            causation_id: Some(""),
            topic: "prm.patients",
            partition: 3,
            offset: 42,
            attempt: 1,
            reply_to: None,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            source: Some("PRM Service"),
            user_id: Some("nurse-7"),
        };
        let ctx = HandlerContext::from(fields);
        assert_eq!(ctx.fields(), fields);
        // An empty optional field stays present; an absent one stays absent.
        assert_eq!(ctx.causation_id(), Some(""));
        assert_eq!(ctx.correlation_id(), None);
        assert_eq!(ctx.clone(), ctx);
        assert_eq!(HandlerContext::default().fields(), ContextFields::default());
        assert!(format!("{ctx:?}").contains("event_type: \"PatientCreated\""));
    }

    #[test]
    fn a_refilled_context_keeps_nothing_of_the_record_before() {
        let before = ContextFields {
            event_id: "evt-1-with-a-longer-id",
            event_type: "PatientCreated",
            event_version: 2,
            aggregate_id: "patient-123",
            aggregate_type: "Patient",
            tenant_id: Some("hospital-456"),
            correlation_id: Some("request-789"),
            causation_id: Some("evt-0"),
            topic: "prm.patients",
            partition: 3,
            offset: 42,
            attempt: 2,
            reply_to: Some("prm.replies"),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            source: Some("PRM Service"),
            user_id: Some("nurse-7"),
        };
        // Shorter text and every optional field absent: stale bytes or presence bits of the
        // record before would show.
        let after = ContextFields {
            event_id: "e2",
            event_type: "PatientMerged",
            event_version: 1,
            aggregate_id: "p9",
            aggregate_type: "Patient",
            topic: "prm.patients",
            partition: 0,
            offset: 7,
            attempt: 1,
            ..ContextFields::default()
        };
        let mut ctx = HandlerContext::from(before);
        ctx.refill(after);
        assert_eq!(ctx.fields(), after);
        assert_eq!(ctx, HandlerContext::from(after));
        ctx.refill(before);
        assert_eq!(ctx.fields(), before);
    }
}
