//! The store's records: typed events plus their context in ([`NewEvent`]), stored rows with positions out ([`StoredEvent`]), and the cursor, expected-version and snapshot values around them.

use carebus_core::envelope::{Envelope, EventMetadata};
use carebus_core::error::ValidationError;
use carebus_core::event::{DomainEvent, PayloadFormat};
use carebus_core::handler::HandlerContext;
use carebus_core::topic::TopicEvents;
use carebus_core::transport::Record;
use carebus_core::types::Timestamp;
use carebus_core::wire::JsonForm;
use serde_json::{Map, Value, json};
use std::fmt;

/// `Patient-123`: the stream of one aggregate (category = aggregate type).
pub fn stream_name(aggregate_type: &str, aggregate_id: &str) -> String {
    format!("{aggregate_type}-{aggregate_id}")
}

/// Which stream version an append expects (optimistic concurrency).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version (creating it if needed).
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (`Exact(0)` = no stream yet).
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => {
                f.write_str("no stream (version 0)")
            }
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// A position in the store-wide order: the writing transaction, then the global position.
/// Ordered as PostgreSQL orders `(tx_id, global_position)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    /// The writing transaction's id (PostgreSQL `xid8`; a counter in memory).
    pub tx_id: u64,
    /// The global position of the event (see [`StoredEvent::global_position`]).
    pub position: i64,
}

impl Cursor {
    /// Before the first event.
    pub const START: Cursor = Cursor {
        tx_id: 0,
        position: 0,
    };
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx {} position {}", self.tx_id, self.position)
    }
}

/// The envelope facts stored with an event (everything but its data and identity).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventContext {
    /// Tenant of the event.
    pub tenant_id: Option<String>,
    /// Id of the business flow the event belongs to.
    pub correlation_id: Option<String>,
    /// Id of the event or command that caused it.
    pub causation_id: Option<String>,
    /// User who caused the event.
    pub user_id: Option<String>,
    /// The producing service, e.g. `PRM Service`.
    pub source: String,
    /// Client IP address of the request that caused it.
    pub ip_address: Option<String>,
    /// W3C `traceparent` of the producing span.
    pub traceparent: Option<String>,
    /// When the event happened; `None` = now, at `NewEvent` construction.
    pub event_time: Option<Timestamp>,
}

/// The envelope facts of a handled event: its source, tenant, correlation, causation, user and
/// trace; the event time is the time of appending.
impl From<&HandlerContext> for EventContext {
    fn from(ctx: &HandlerContext) -> EventContext {
        EventContext {
            tenant_id: ctx.tenant_id().map(str::to_owned),
            correlation_id: ctx.correlation_id().map(str::to_owned),
            causation_id: ctx.causation_id().map(str::to_owned),
            user_id: ctx.user_id().map(str::to_owned),
            source: ctx.source().unwrap_or("carebus").to_owned(),
            ip_address: None,
            traceparent: ctx.traceparent().map(str::to_owned),
            event_time: None,
        }
    }
}

impl EventContext {
    /// A context for events produced by `source`.
    pub fn new(source: impl Into<String>) -> Self {
        EventContext {
            source: source.into(),
            ..EventContext::default()
        }
    }
    /// Set the tenant.
    pub fn tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }
    /// Set the correlation id.
    pub fn correlation(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }
    /// Set the causation id.
    pub fn causation(mut self, causation_id: impl Into<String>) -> Self {
        self.causation_id = Some(causation_id.into());
        self
    }
    /// Set the user who caused the event.
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }
    /// Set when the event happened (default: when the [`NewEvent`] is built).
    pub fn at(mut self, time: Timestamp) -> Self {
        self.event_time = Some(time);
        self
    }
}

/// An event to append: its payload in both forms plus identity and context.
#[derive(Clone, PartialEq)]
pub struct NewEvent {
    /// Unique id; appending an id already stored is a no-op.
    pub event_id: carebus_core::Uuid,
    /// Event type name (`PatientCreated`).
    pub event_type: String,
    /// Schema version of the payload.
    pub event_version: u32,
    /// Aggregate type (`Patient`).
    pub aggregate_type: String,
    /// Aggregate id; with the type it names the stream ([`stream_name`]).
    pub aggregate_id: String,
    /// The topic the event belongs to (where a relay or replay publishes it).
    pub topic: String,
    /// Encoding of `data`.
    pub format: PayloadFormat,
    /// Schema fingerprint of the payload.
    pub fingerprint: u64,
    /// Avro datum or Protobuf message (the source of truth).
    pub data: Vec<u8>,
    /// The JSON form for queries; `None` to store the binary form only.
    pub data_json: Option<Value>,
    /// Envelope facts stored with the event.
    pub context: EventContext,
    /// The context's time, or the time of construction.
    pub event_time: Timestamp,
}

impl NewEvent {
    /// A new event (new random id) from a generated event, after checking its constraints.
    pub fn from_event<E: DomainEvent>(
        event: &E,
        context: &EventContext,
    ) -> Result<Self, ValidationError> {
        event.validate()?;
        let mut data = Vec::with_capacity(64);
        event.encode_payload(&mut data);
        Ok(Self::build(
            &carebus_core::topic::event_info::<E>(),
            event.aggregate_id(),
            data,
            event.to_json(),
            context,
        ))
    }

    /// A new event (new random id) from a topic's event enum.
    pub fn from_topic_event<E: TopicEvents>(event: &E, context: &EventContext) -> Self {
        let mut data = Vec::with_capacity(64);
        event.encode_payload(&mut data);
        Self::build(
            event.info(),
            event.aggregate_id(),
            data,
            event.to_json(),
            context,
        )
    }

    fn build(
        info: &carebus_core::topic::EventInfo,
        aggregate_id: String,
        data: Vec<u8>,
        json: Value,
        context: &EventContext,
    ) -> Self {
        NewEvent {
            event_id: carebus_core::Uuid::new_v4(),
            event_type: info.event_type.to_string(),
            event_version: info.version,
            aggregate_type: info.aggregate_type.to_string(),
            aggregate_id,
            topic: info.topic.to_string(),
            format: info.format,
            fingerprint: info.fingerprint,
            data,
            data_json: Some(json),
            context: context.clone(),
            event_time: context.event_time.unwrap_or_else(Timestamp::now),
        }
    }

    /// The event a handler is handling, as it arrived: the producer's event id (so a redelivered
    /// event appends nothing twice) and its envelope facts ([`EventContext::from`]). Storing
    /// what a consumer handled is one line:
    ///
    /// ```
    /// use carebus_core::{DomainEvent, HandlerContext};
    /// use carebus_store::{EventStore, ExpectedVersion, NewEvent, StoreError, stream_name};
    ///
    /// async fn record<E: DomainEvent>(
    ///     store: &impl EventStore,
    ///     ctx: &HandlerContext,
    ///     event: &E,
    /// ) -> Result<(), StoreError> {
    ///     let stream = stream_name(E::AGGREGATE_TYPE, &event.aggregate_id());
    ///     store.append(&stream, ExpectedVersion::Any, vec![NewEvent::from_handled(ctx, event)?]).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// An event id that is not a UUID (another producer's `ce_id`) gets a new random id.
    pub fn from_handled<E: DomainEvent>(
        ctx: &HandlerContext,
        event: &E,
    ) -> Result<Self, ValidationError> {
        let new = NewEvent::from_event(event, &EventContext::from(ctx))?;
        Ok(match carebus_core::Uuid::parse(ctx.event_id()) {
            Ok(id) => new.with_event_id(id),
            Err(_) => new,
        })
    }

    /// Use a fixed event id (the producer's id, for idempotent retries).
    pub fn with_event_id(mut self, event_id: carebus_core::Uuid) -> Self {
        self.event_id = event_id;
        self
    }

    /// Keep only the binary payload (no JSON form in the store).
    pub fn without_json(mut self) -> Self {
        self.data_json = None;
        self
    }

    /// The `metadata` JSON stored with the event (envelope facts without a column).
    pub fn metadata_json(&self) -> Value {
        let c = &self.context;
        let mut m = Map::new();
        m.insert("aggregateId".into(), json!(self.aggregate_id));
        m.insert("topic".into(), json!(self.topic));
        m.insert(
            "schemaFingerprint".into(),
            json!(format!("{:016x}", self.fingerprint)),
        );
        m.insert("source".into(), json!(c.source));
        for (k, v) in [
            ("userId", &c.user_id),
            ("ipAddress", &c.ip_address),
            ("traceparent", &c.traceparent),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }
}

/// Event data may be PHI: Debug shows identity and sizes only.
impl fmt::Debug for NewEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEvent")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("event_version", &self.event_version)
            .field("aggregate_type", &self.aggregate_type)
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// An event as stored, with its positions.
#[derive(Clone, PartialEq)]
pub struct StoredEvent {
    /// Store-wide position: unique, assigned when written (not in commit order; see [`Cursor`]).
    pub global_position: i64,
    /// The writing transaction; with `global_position` the safe [`Cursor`].
    pub tx_id: u64,
    /// The event's unique id.
    pub event_id: carebus_core::Uuid,
    /// The stream the event belongs to.
    pub stream_id: String,
    /// 1-based position in the stream.
    pub stream_version: u64,
    /// Aggregate type (`Patient`).
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Event type name (`PatientCreated`).
    pub event_type: String,
    /// Schema version as written (before upcasting).
    pub event_version: u32,
    /// The topic the event belongs to.
    pub topic: String,
    /// Encoding of `data`.
    pub format: PayloadFormat,
    /// Schema fingerprint of the payload, when recorded.
    pub fingerprint: Option<u64>,
    /// Avro datum or Protobuf message as written (before upcasting); holds PHI.
    pub data: Vec<u8>,
    /// The JSON form, if it was stored; holds PHI.
    pub data_json: Option<Value>,
    /// Which JSON form `data_json` is in: Avro's JSON encoding, or (a row written before it)
    /// carebus's older form, which `carebus_core::json_legacy::upcast` turns into it.
    pub data_json_form: JsonForm,
    /// Envelope facts stored with the event.
    pub context: EventContext,
    /// When the event happened.
    pub event_time: Timestamp,
    /// When the store committed it.
    pub recorded_at: Timestamp,
}

/// An event a relay could not deliver for good (the transport refused it: too large, unknown
/// topic, not authorised), set aside so the relay goes on; the event itself stays in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedEvent {
    /// The relay (its checkpoint name) that parked it.
    pub relay: String,
    /// The parked event's id.
    pub event_id: carebus_core::Uuid,
    /// Where the event is in the store-wide order.
    pub cursor: Cursor,
    /// The parked event's type.
    pub event_type: String,
    /// The topic the relay could not publish it to.
    pub topic: String,
    /// Why the transport refused it (names the topic and the failure, never event data).
    pub reason: String,
    /// When the relay parked it.
    pub parked_at: Timestamp,
}

impl StoredEvent {
    /// This event's place in the store-wide order (what a checkpoint records).
    pub fn cursor(&self) -> Cursor {
        Cursor {
            tx_id: self.tx_id,
            position: self.global_position,
        }
    }

    /// A stored row from what an append wrote.
    #[doc(hidden)]
    pub fn from_new(
        e: NewEvent,
        stream_id: &str,
        stream_version: u64,
        cursor: Cursor,
        recorded_at: Timestamp,
    ) -> StoredEvent {
        StoredEvent {
            global_position: cursor.position,
            tx_id: cursor.tx_id,
            event_id: e.event_id,
            stream_id: stream_id.to_string(),
            stream_version,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            event_type: e.event_type,
            event_version: e.event_version,
            topic: e.topic,
            format: e.format,
            fingerprint: Some(e.fingerprint),
            data: e.data,
            data_json: e.data_json,
            data_json_form: JsonForm::Avro,
            context: EventContext {
                event_time: Some(e.event_time),
                ..e.context
            },
            event_time: e.event_time,
            recorded_at,
        }
    }

    /// The envelope of this event as published (CloudEvents headers).
    pub fn envelope(&self) -> Envelope {
        let c = &self.context;
        Envelope {
            event_id: self.event_id.to_string(),
            event_type: self.event_type.clone(),
            event_version: self.event_version,
            event_time: self.event_time,
            aggregate_id: self.aggregate_id.clone(),
            aggregate_type: self.aggregate_type.clone(),
            tenant_id: c.tenant_id.clone(),
            correlation_id: c.correlation_id.clone(),
            causation_id: c.causation_id.clone(),
            metadata: EventMetadata {
                user_id: c.user_id.clone(),
                source: c.source.clone(),
                ip_address: c.ip_address.clone(),
            },
            schema_fingerprint: self.fingerprint,
            data_schema: None,
            traceparent: c.traceparent.clone(),
        }
    }

    /// The Kafka record this event was (or would be) published as: binary-mode headers, value
    /// in single-object framing (Avro) or the bare message (Protobuf), keyed by aggregate id.
    pub fn to_record(&self) -> Record {
        let mut headers = self.envelope().to_headers();
        headers.push((
            carebus_core::envelope::headers::CONTENT_TYPE.into(),
            self.format.content_type().as_bytes().to_vec(),
        ));
        let mut value = Vec::with_capacity(self.data.len() + 10);
        if let (PayloadFormat::Avro, Some(fp)) = (self.format, self.fingerprint) {
            value.extend_from_slice(&carebus_core::wire::SINGLE_OBJECT_MAGIC);
            value.extend_from_slice(&fp.to_le_bytes());
        }
        value.extend_from_slice(&self.data);
        Record {
            topic: self.topic.clone(),
            key: Some(self.aggregate_id.clone().into_bytes()),
            value: Some(value),
            headers,
            partition: None,
        }
    }
}

/// Event data may be PHI: Debug shows identity and positions only.
impl fmt::Debug for StoredEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredEvent")
            .field("global_position", &self.global_position)
            .field("tx_id", &self.tx_id)
            .field("event_id", &self.event_id)
            .field("stream_id", &self.stream_id)
            .field("stream_version", &self.stream_version)
            .field("event_type", &self.event_type)
            .field("event_version", &self.event_version)
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// Where one appended (or already stored) event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendedEvent {
    /// The event's id.
    pub event_id: carebus_core::Uuid,
    /// Its 1-based version in the stream.
    pub stream_version: u64,
    /// Its place in the store-wide order.
    pub cursor: Cursor,
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream appended to.
    pub stream_id: String,
    /// Every event of the batch, in batch order, with its stored position (for ids that were
    /// already stored: where they were stored the first time).
    pub events: Vec<AppendedEvent>,
    /// The stream's version after the append: the expected version for the next one.
    pub stream_version: u64,
    /// How many events of the batch were already stored (and so not appended again).
    pub duplicates: usize,
}

/// A serialized aggregate state at a stream version.
#[derive(Clone, PartialEq)]
pub struct Snapshot {
    /// The aggregate's stream.
    pub stream_id: String,
    /// Stream version the state includes.
    pub version: u64,
    /// Shape version of the state (the aggregate's `STATE_VERSION`).
    pub state_version: u32,
    /// Aggregate type (`Patient`).
    pub aggregate_type: String,
    /// Tenant of the aggregate.
    pub tenant_id: Option<String>,
    /// The state as serde_json wrote it (may hold PHI).
    pub data: Value,
    /// When the snapshot was written.
    pub created_at: Timestamp,
}

/// Snapshot data may be PHI: Debug shows identity and versions only.
impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("stream_id", &self.stream_id)
            .field("version", &self.version)
            .field("state_version", &self.state_version)
            .finish_non_exhaustive()
    }
}
