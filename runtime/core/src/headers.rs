//! Header names in, CloudEvents (Kafka protocol binding) and carebus header constants and their allocation-free lookup out.

pub const SPECVERSION: &str = "ce_specversion";
pub const ID: &str = "ce_id";
pub const SOURCE: &str = "ce_source";
pub const TYPE: &str = "ce_type";
pub const TIME: &str = "ce_time";
pub const SUBJECT: &str = "ce_subject";
pub const DATASCHEMA: &str = "ce_dataschema";
pub const CONTENT_TYPE: &str = "content-type";
pub const TENANT_ID: &str = "ce_tenantid";
pub const CORRELATION_ID: &str = "ce_correlationid";
pub const CAUSATION_ID: &str = "ce_causationid";
pub const AGGREGATE_TYPE: &str = "ce_aggregatetype";
pub const EVENT_VERSION: &str = "ce_eventversion";
pub const SCHEMA_FINGERPRINT: &str = "ce_schemafingerprint";
pub const USER_ID: &str = "ce_userid";
pub const IP_ADDRESS: &str = "ce_ipaddress";
pub const TRACEPARENT: &str = "traceparent";

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
