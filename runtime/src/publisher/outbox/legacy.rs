//! The line-based outbox of earlier carebus versions (`outbox.log` + `outbox.delivered`, plaintext) turned into the records still pending in it, for an upgraded outbox to import before the files are removed.
//!
//! That format lost records in two ways, and reading it here undoes what it can:
//! - a torn last line had the next record appended to it, so the line does not parse: the
//!   last `{"id":` of such a line starts the record appended to it, which is read from there;
//! - emptying truncated the log before the delivered-ids file, so after a crash between the
//!   two the delivered ids (from the emptied log) named new records with restarted ids: when
//!   the delivered file names an id that is not in the log, none of it is trusted and every
//!   record of the log is pending again (sent twice rather than lost).

use crate::transport::{Record, header_name};
use serde_json::Value;
use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::Path;

/// The old log.
pub(crate) const LOG: &str = "outbox.log";
/// The old delivered-ids file.
const DELIVERED: &str = "outbox.delivered";

/// What an old outbox still holds.
pub(super) struct Legacy {
    /// Pending records, in queue order.
    pub records: Vec<Record>,
    /// Lines of the log that hold no record (torn writes).
    pub unreadable: usize,
    /// Whether the delivered-ids file was ignored (it names ids the log does not hold).
    pub distrusted: bool,
    /// Length of the log, to recognise one already imported.
    pub log_len: u64,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn from_line(line: &str) -> Option<(u64, Record)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let headers = v["headers"]
        .as_array()?
        .iter()
        .map(|h| Some((header_name(h[0].as_str()?), unhex(h[1].as_str()?)?)))
        .collect::<Option<Vec<_>>>()?;
    Some((
        v["id"].as_u64()?,
        Record {
            topic: v["topic"].as_str()?.to_string(),
            key: match &v["key"] {
                Value::Null => None,
                k => Some(unhex(k.as_str()?)?),
            },
            value: Some(unhex(v["value"].as_str()?)?),
            headers,
            partition: v["partition"].as_i64().and_then(|p| i32::try_from(p).ok()),
        },
    ))
}

/// The old outbox in `dir`; `None` when it has no log or an empty one.
pub(super) fn read(dir: &Path) -> std::io::Result<Option<Legacy>> {
    let log = match std::fs::read(dir.join(LOG)) {
        Ok(bytes) if bytes.is_empty() => return Ok(None),
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let delivered: HashSet<u64> = match std::fs::read_to_string(dir.join(DELIVERED)) {
        Ok(text) => text.lines().filter_map(|l| l.trim().parse().ok()).collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => HashSet::new(),
        Err(e) => return Err(e),
    };
    let mut lines = Vec::new();
    let mut unreadable = 0;
    for line in String::from_utf8_lossy(&log).lines() {
        if line.trim().is_empty() {
            continue;
        }
        let record = from_line(line).or_else(|| {
            // A record appended to a torn line.
            unreadable += 1;
            from_line(&line[line.rfind("{\"id\":")?..])
        });
        lines.extend(record);
    }
    let in_log: HashSet<u64> = lines.iter().map(|(id, _)| *id).collect();
    let distrusted = delivered.iter().any(|id| !in_log.contains(id));
    let records = lines
        .into_iter()
        .filter(|(id, _)| distrusted || !delivered.contains(id))
        .map(|(_, r)| r)
        .collect();
    Ok(Some(Legacy {
        records,
        unreadable,
        distrusted,
        log_len: log.len() as u64,
    }))
}

/// Remove the old files (they hold payloads in plaintext).
pub(super) fn remove(dir: &Path) -> std::io::Result<()> {
    for name in [LOG, DELIVERED] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
