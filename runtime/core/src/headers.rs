//! Header names in, CloudEvents (Kafka protocol binding) and carebus header constants and their allocation-free lookup out.

/// CloudEvents spec version (`1.0`).
pub const SPECVERSION: &str = "ce_specversion";
/// CloudEvents `id`: the envelope's `event_id`.
pub const ID: &str = "ce_id";
/// CloudEvents `source`: the producing service, as configured (UTF-8, not percent-encoded).
pub const SOURCE: &str = "ce_source";
/// CloudEvents `type`: the plain event type name (`PatientCreated`), or a reverse-DNS one
/// with the publisher's `type_prefix`; the version is in [`EVENT_VERSION`].
pub const TYPE: &str = "ce_type";
/// CloudEvents `time`: when the event happened, RFC 3339 UTC.
pub const TIME: &str = "ce_time";
/// CloudEvents `subject`: the aggregate id.
pub const SUBJECT: &str = "ce_subject";
/// CloudEvents `dataschema`: a URI of the event's schema, when configured.
pub const DATASCHEMA: &str = "ce_dataschema";
/// Encoding of the record value (`application/avro`, `application/json`, ...).
pub const CONTENT_TYPE: &str = "content-type";
/// carebus extension: the tenant the event belongs to.
pub const TENANT_ID: &str = "ce_tenantid";
/// carebus extension: the id shared by every event of one business flow.
pub const CORRELATION_ID: &str = "ce_correlationid";
/// carebus extension: the id of the event (or command) that caused this one.
pub const CAUSATION_ID: &str = "ce_causationid";
/// carebus extension: the aggregate's type (`Patient`).
pub const AGGREGATE_TYPE: &str = "ce_aggregatetype";
/// carebus extension: the event's schema version, a decimal integer (optional when reading).
pub const EVENT_VERSION: &str = "ce_eventversion";
/// carebus extension: CRC-64-AVRO fingerprint of the event's schema, 16 lowercase hex digits.
pub const SCHEMA_FINGERPRINT: &str = "ce_schemafingerprint";
/// carebus extension: the user who caused the event.
pub const USER_ID: &str = "ce_userid";
/// carebus extension: the IP address the request came from.
pub const IP_ADDRESS: &str = "ce_ipaddress";
/// W3C trace context of the publishing span.
pub const TRACEPARENT: &str = "traceparent";

/// carebus header: which JSON form the data of a JSON-framed or structured-mode record is in,
/// `avro` (Avro's JSON encoding). A record carebus wrote without it (carebus's
/// `ce_aggregatetype`/`aggregatetype` present) predates it and carries carebus's older JSON
/// form, read through [`crate::json_legacy`]. Not in [`ALL`]: it is one of carebus's own
/// (`carebus_…`) headers.
pub const JSON_FORM: &str = "carebus_jsonform";

/// Every header name above: a received record's headers are looked up here so the usual
/// ones cost no allocation ([`crate::transport::header_name`]).
pub const ALL: [&str; 17] = [
    SPECVERSION,
    ID,
    SOURCE,
    TYPE,
    TIME,
    SUBJECT,
    DATASCHEMA,
    CONTENT_TYPE,
    TENANT_ID,
    CORRELATION_ID,
    CAUSATION_ID,
    AGGREGATE_TYPE,
    EVENT_VERSION,
    SCHEMA_FINGERPRINT,
    USER_ID,
    IP_ADDRESS,
    TRACEPARENT,
];

/// The position of a CloudEvents or carebus header name in [`ALL`]. Every record
/// header is looked up here, so the names are told apart by length first.
pub fn known_index(name: &str) -> Option<usize> {
    macro_rules! one_of {
        ($($known:ident),+) => {{
            $(if name == $known {
                return Some(const { at($known) });
            })+
        }};
    }
    match name.len() {
        5 => one_of!(ID),
        7 => one_of!(TYPE, TIME),
        9 => one_of!(SOURCE, USER_ID),
        10 => one_of!(SUBJECT),
        11 => one_of!(TENANT_ID, TRACEPARENT),
        12 => one_of!(CONTENT_TYPE, IP_ADDRESS),
        13 => one_of!(DATASCHEMA),
        14 => one_of!(SPECVERSION, CAUSATION_ID),
        15 => one_of!(EVENT_VERSION),
        16 => one_of!(CORRELATION_ID, AGGREGATE_TYPE),
        20 => one_of!(SCHEMA_FINGERPRINT),
        _ => {}
    }
    None
}

/// The position of a known header name in [`ALL`], at compile time where the name is
/// a constant (the lookups of [`Envelope::from_headers`](crate::envelope::Envelope::from_headers)).
pub(crate) const fn at(name: &str) -> usize {
    let mut i = 0;
    while i < ALL.len() {
        let known = ALL[i].as_bytes();
        let wanted = name.as_bytes();
        if known.len() == wanted.len() {
            let mut j = 0;
            while j < known.len() && known[j] == wanted[j] {
                j += 1;
            }
            if j == known.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a known header name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_index_finds_every_known_header_name_and_nothing_else() {
        for (i, name) in ALL.iter().enumerate() {
            assert_eq!(known_index(name), Some(i), "{name}");
        }
        for other in ["", "ce_", "ce_ID", "ce_id ", "x-custom", "carebus_attempts"] {
            assert_eq!(known_index(other), None, "{other}");
        }
    }
}
