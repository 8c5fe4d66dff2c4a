//! ACL bindings in, librdkafka's CreateAcls / DescribeAcls / DeleteAcls requests and their per-binding results out: a small safe wrapper over rdkafka-sys, because rust-rdkafka has no ACL admin API.
//!
//! This is the only module of carebus with `unsafe` code. Every librdkafka object it creates
//! (queue, admin options, bindings, result event) is owned by a Rust value whose `Drop`
//! destroys it, so no path — error, timeout or panic — leaks one. librdkafka copies the
//! bindings it is given, and the strings it returns live as long as the result event: they
//! are copied into Rust values before the event is dropped.

#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use super::model::{Acl, Operation, PatternKind, Permission, ResourceKind};
use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};
use rdkafka::error::RDKafkaErrorCode;
use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::time::Duration;

/// A failure librdkafka or the broker reported for a request or for one binding of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclCallError {
    /// librdkafka's error code (e.g. `ClusterAuthorizationFailed`, `SecurityDisabled`).
    pub code: RDKafkaErrorCode,
    /// librdkafka's or the broker's message.
    pub message: String,
}

impl std::fmt::Display for AclCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for AclCallError {}

impl AclCallError {
    fn new(code: RDKafkaErrorCode, message: impl Into<String>) -> Self {
        AclCallError {
            code,
            message: message.into(),
        }
    }
}

/// A string librdkafka owns, copied (empty for NULL).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid during the call.
unsafe fn copy_text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: non-NULL and NUL-terminated by the caller's contract.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// An `rd_kafka_error_t` copied into an [`AclCallError`]; `None` for NULL (no error).
///
/// # Safety
/// `e` is NULL or a valid error object that stays valid during the call.
unsafe fn copy_error(e: *const rd::rd_kafka_error_t) -> Option<AclCallError> {
    if e.is_null() {
        return None;
    }
    // SAFETY: `e` is a valid error object (caller's contract); the string it returns lives as
    // long as `e` and is copied at once.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_error_code(e),
            copy_text(rd::rd_kafka_error_string(e)),
        )
    };
    Some(AclCallError::new(RDKafkaErrorCode::from(code), message))
}

/// A reply queue of the client, destroyed on drop.
struct Queue(*mut rd::rd_kafka_queue_t);

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_queue_new and destroyed only here; librdkafka keeps a
        // reference of its own for a request still in flight.
        unsafe { rd::rd_kafka_queue_destroy(self.0) }
    }
}

/// Admin options of one request, destroyed on drop.
struct Options(*mut rd::rd_kafka_AdminOptions_t);

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_AdminOptions_new and destroyed only here.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0) }
    }
}

/// A result event, destroyed on drop (with every result object and string inside it).
struct Event(*mut rd::rd_kafka_event_t);

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: returned non-NULL by rd_kafka_queue_poll and destroyed only here.
        unsafe { rd::rd_kafka_event_destroy(self.0) }
    }
}

/// Bindings (or binding filters) handed to a request, destroyed on drop.
struct Bindings(Vec<*mut rd::rd_kafka_AclBinding_t>);

impl Drop for Bindings {
    fn drop(&mut self) {
        for &b in &self.0 {
            // SAFETY: each was returned non-NULL by rd_kafka_AclBinding(Filter)_new and is
            // destroyed only here; librdkafka copied it when the request was made.
            unsafe { rd::rd_kafka_AclBinding_destroy(b) }
        }
    }
}

/// One binding or filter to build; `None` fields match anything (filters only).
struct Spec<'a> {
    resource: rd::rd_kafka_ResourceType_t,
    name: Option<&'a str>,
    pattern: rd::rd_kafka_ResourcePatternType_t,
    principal: Option<&'a str>,
    host: Option<&'a str>,
    operation: rd::rd_kafka_AclOperation_t,
    permission: rd::rd_kafka_AclPermissionType_t,
}

impl<'a> Spec<'a> {
    fn exact(acl: &'a Acl) -> Spec<'a> {
        Spec {
            resource: resource_to_rd(acl.resource),
            name: Some(&acl.name),
            pattern: pattern_to_rd(acl.pattern),
            principal: Some(&acl.principal),
            host: Some(&acl.host),
            operation: operation_to_rd(acl.operation),
            permission: permission_to_rd(acl.permission),
        }
    }
}

fn c_string(what: &str, text: Option<&str>) -> Result<Option<CString>, AclCallError> {
    text.map(|t| {
        CString::new(t).map_err(|_| {
            AclCallError::new(
                RDKafkaErrorCode::InvalidArgument,
                format!("the ACL's {what} `{t}` contains a NUL byte"),
            )
        })
    })
    .transpose()
}

impl Bindings {
    /// Build bindings (`filter` false) or binding filters (`filter` true) from `specs`.
    fn build(specs: &[Spec<'_>], filter: bool) -> Result<Bindings, AclCallError> {
        let mut out = Bindings(Vec::with_capacity(specs.len()));
        for spec in specs {
            let name = c_string("resource name", spec.name)?;
            let principal = c_string("principal", spec.principal)?;
            let host = c_string("host", spec.host)?;
            let as_ptr = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
            let mut errstr = [0 as c_char; 512];
            let constructor = if filter {
                rd::rd_kafka_AclBindingFilter_new
            } else {
                rd::rd_kafka_AclBinding_new
            };
            // SAFETY: the strings are NUL-terminated CStrings (or NULL, which filters accept
            // and the constructor rejects with a message for bindings) alive for the call;
            // errstr is a writable buffer of the size passed; the enums are valid values.
            let binding = unsafe {
                constructor(
                    spec.resource,
                    as_ptr(&name),
                    spec.pattern,
                    as_ptr(&principal),
                    as_ptr(&host),
                    spec.operation,
                    spec.permission,
                    errstr.as_mut_ptr(),
                    errstr.len(),
                )
            };
            if binding.is_null() {
                // SAFETY: librdkafka wrote a NUL-terminated message into errstr (zeroed, so
                // terminated even if it wrote nothing).
                let message = unsafe { copy_text(errstr.as_ptr()) };
                return Err(AclCallError::new(
                    RDKafkaErrorCode::InvalidArgument,
                    message,
                ));
            }
            out.0.push(binding);
        }
        Ok(out)
    }
}

/// Submit one admin request on `client` and wait for its result event.
fn request<C: ClientContext>(
    client: &Client<C>,
    api: rd::rd_kafka_admin_op_t,
    expected: i32,
    timeout: Duration,
    submit: impl FnOnce(
        *mut rd::rd_kafka_t,
        *const rd::rd_kafka_AdminOptions_t,
        *mut rd::rd_kafka_queue_t,
    ),
) -> Result<Event, AclCallError> {
    let rk = client.native_ptr();
    // SAFETY: rk is the live handle of `client`, borrowed for this whole call.
    let queue = Queue(unsafe { rd::rd_kafka_queue_new(rk) });
    // SAFETY: as above; `api` is a valid admin operation.
    let options = Options(unsafe { rd::rd_kafka_AdminOptions_new(rk, api) });
    if queue.0.is_null() || options.0.is_null() {
        return Err(AclCallError::new(
            RDKafkaErrorCode::Fail,
            "librdkafka could not allocate an admin request",
        ));
    }
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let mut errstr = [0 as c_char; 512];
    // SAFETY: options is valid; errstr is a writable buffer of the size passed.
    let set = unsafe {
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options.0,
            millis,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if set != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into the zeroed errstr.
        let message = unsafe { copy_text(errstr.as_ptr()) };
        return Err(AclCallError::new(RDKafkaErrorCode::from(set), message));
    }
    submit(rk, options.0, queue.0);
    // Wait a little longer than the request timeout so librdkafka reports its own timeout.
    let wait = millis.saturating_add(5_000);
    // SAFETY: queue is valid until dropped at the end of this function.
    let event = unsafe { rd::rd_kafka_queue_poll(queue.0, wait) };
    if event.is_null() {
        return Err(AclCallError::new(
            RDKafkaErrorCode::OperationTimedOut,
            format!("no answer within {} ms", wait),
        ));
    }
    let event = Event(event);
    // SAFETY: event is a valid event until dropped.
    let (kind, code) = unsafe {
        (
            rd::rd_kafka_event_type(event.0),
            rd::rd_kafka_event_error(event.0),
        )
    };
    if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: the string lives as long as the event and is copied at once.
        let message = unsafe { copy_text(rd::rd_kafka_event_error_string(event.0)) };
        return Err(AclCallError::new(RDKafkaErrorCode::from(code), message));
    }
    if kind != expected {
        return Err(AclCallError::new(
            RDKafkaErrorCode::Fail,
            format!("librdkafka answered with event type {kind}, not {expected}"),
        ));
    }
    Ok(event)
}

/// Create `acls`; one result per binding, in order.
pub fn create_acls<C: ClientContext>(
    client: &Client<C>,
    acls: &[Acl],
    timeout: Duration,
) -> Result<Vec<Result<(), AclCallError>>, AclCallError> {
    if acls.is_empty() {
        return Ok(Vec::new());
    }
    let specs: Vec<Spec<'_>> = acls.iter().map(Spec::exact).collect();
    let mut bindings = Bindings::build(&specs, false)?;
    let event = request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
        rd::RD_KAFKA_EVENT_CREATEACLS_RESULT,
        timeout,
        |rk, options, queue| {
            // SAFETY: rk, options and queue are valid (see `request`); the array holds
            // `len` valid bindings, which librdkafka copies.
            unsafe {
                rd::rd_kafka_CreateAcls(
                    rk,
                    bindings.0.as_mut_ptr(),
                    bindings.0.len(),
                    options,
                    queue,
                )
            }
        },
    )?;
    let mut count = 0usize;
    // SAFETY: the event is a CreateAcls result (its type was checked); the returned array
    // of `count` results lives as long as the event.
    let results = unsafe {
        let result = rd::rd_kafka_event_CreateAcls_result(event.0);
        rd::rd_kafka_CreateAcls_result_acls(result, &mut count)
    };
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: i < count, so the element is a valid acl_result owned by the event.
        let error = unsafe { copy_error(rd::rd_kafka_acl_result_error(*results.add(i))) };
        out.push(error.map_or(Ok(()), Err));
    }
    Ok(out)
}

/// Every binding of `principal` on the cluster (every principal's when `None`).
pub fn describe_acls<C: ClientContext>(
    client: &Client<C>,
    principal: Option<&str>,
    timeout: Duration,
) -> Result<Vec<Acl>, AclCallError> {
    let spec = Spec {
        resource: rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY,
        name: None,
        pattern: rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_ANY,
        principal,
        host: None,
        operation: rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY,
        permission: rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
    };
    let filter = Bindings::build(&[spec], true)?;
    let event = request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
        rd::RD_KAFKA_EVENT_DESCRIBEACLS_RESULT,
        timeout,
        |rk, options, queue| {
            // SAFETY: rk, options and queue are valid (see `request`); the filter is a valid
            // binding filter, which librdkafka copies.
            unsafe { rd::rd_kafka_DescribeAcls(rk, filter.0[0], options, queue) }
        },
    )?;
    let mut count = 0usize;
    // SAFETY: the event is a DescribeAcls result (its type was checked); the array of
    // `count` bindings lives as long as the event.
    let found = unsafe {
        let result = rd::rd_kafka_event_DescribeAcls_result(event.0);
        rd::rd_kafka_DescribeAcls_result_acls(result, &mut count)
    };
    Ok((0..count)
        // SAFETY: i < count, so the element is a valid binding owned by the event.
        .map(|i| unsafe { read_binding(*found.add(i)) })
        .collect())
}

/// Delete exactly `acls`; per binding, how many bindings the broker deleted, in order.
pub fn delete_acls<C: ClientContext>(
    client: &Client<C>,
    acls: &[Acl],
    timeout: Duration,
) -> Result<Vec<Result<usize, AclCallError>>, AclCallError> {
    if acls.is_empty() {
        return Ok(Vec::new());
    }
    let specs: Vec<Spec<'_>> = acls.iter().map(Spec::exact).collect();
    let mut filters = Bindings::build(&specs, true)?;
    let event = request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
        rd::RD_KAFKA_EVENT_DELETEACLS_RESULT,
        timeout,
        |rk, options, queue| {
            // SAFETY: rk, options and queue are valid (see `request`); the array holds `len`
            // valid binding filters, which librdkafka copies.
            unsafe {
                rd::rd_kafka_DeleteAcls(rk, filters.0.as_mut_ptr(), filters.0.len(), options, queue)
            }
        },
    )?;
    let mut count = 0usize;
    // SAFETY: the event is a DeleteAcls result (its type was checked); the array of `count`
    // responses lives as long as the event.
    let responses = unsafe {
        let result = rd::rd_kafka_event_DeleteAcls_result(event.0);
        rd::rd_kafka_DeleteAcls_result_responses(result, &mut count)
    };
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: i < count, so the element is a valid response owned by the event; its
        // error and matching-bindings array live as long as the event.
        let (error, matched) = unsafe {
            let response = *responses.add(i);
            let mut matched = 0usize;
            rd::rd_kafka_DeleteAcls_result_response_matching_acls(response, &mut matched);
            (
                copy_error(rd::rd_kafka_DeleteAcls_result_response_error(response)),
                matched,
            )
        };
        out.push(error.map_or(Ok(matched), Err));
    }
    Ok(out)
}

/// A binding librdkafka returned, copied.
///
/// # Safety
/// `b` is a valid binding that stays valid during the call.
unsafe fn read_binding(b: *const rd::rd_kafka_AclBinding_t) -> Acl {
    // SAFETY: `b` is valid (caller's contract); the strings live as long as `b` and are
    // copied at once.
    unsafe {
        Acl {
            principal: copy_text(rd::rd_kafka_AclBinding_principal(b)),
            resource: resource_from_rd(rd::rd_kafka_AclBinding_restype(b)),
            name: copy_text(rd::rd_kafka_AclBinding_name(b)),
            pattern: pattern_from_rd(rd::rd_kafka_AclBinding_resource_pattern_type(b)),
            operation: operation_from_rd(rd::rd_kafka_AclBinding_operation(b)),
            permission: permission_from_rd(rd::rd_kafka_AclBinding_permission_type(b)),
            host: copy_text(rd::rd_kafka_AclBinding_host(b)),
        }
    }
}

fn resource_to_rd(kind: ResourceKind) -> rd::rd_kafka_ResourceType_t {
    use rd::rd_kafka_ResourceType_t::*;
    match kind {
        ResourceKind::Topic => RD_KAFKA_RESOURCE_TOPIC,
        ResourceKind::Group => RD_KAFKA_RESOURCE_GROUP,
        ResourceKind::Cluster => RD_KAFKA_RESOURCE_BROKER,
        ResourceKind::TransactionalId => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        ResourceKind::Unknown => RD_KAFKA_RESOURCE_UNKNOWN,
    }
}

fn resource_from_rd(kind: rd::rd_kafka_ResourceType_t) -> ResourceKind {
    use rd::rd_kafka_ResourceType_t::*;
    match kind {
        RD_KAFKA_RESOURCE_TOPIC => ResourceKind::Topic,
        RD_KAFKA_RESOURCE_GROUP => ResourceKind::Group,
        RD_KAFKA_RESOURCE_BROKER => ResourceKind::Cluster,
        RD_KAFKA_RESOURCE_TRANSACTIONAL_ID => ResourceKind::TransactionalId,
        _ => ResourceKind::Unknown,
    }
}

fn pattern_to_rd(kind: PatternKind) -> rd::rd_kafka_ResourcePatternType_t {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match kind {
        PatternKind::Literal => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        PatternKind::Prefixed => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
        PatternKind::Unknown => RD_KAFKA_RESOURCE_PATTERN_UNKNOWN,
    }
}

fn pattern_from_rd(kind: rd::rd_kafka_ResourcePatternType_t) -> PatternKind {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match kind {
        RD_KAFKA_RESOURCE_PATTERN_LITERAL => PatternKind::Literal,
        RD_KAFKA_RESOURCE_PATTERN_PREFIXED => PatternKind::Prefixed,
        _ => PatternKind::Unknown,
    }
}

fn permission_to_rd(kind: Permission) -> rd::rd_kafka_AclPermissionType_t {
    use rd::rd_kafka_AclPermissionType_t::*;
    match kind {
        Permission::Allow => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        Permission::Deny => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
        Permission::Unknown => RD_KAFKA_ACL_PERMISSION_TYPE_UNKNOWN,
    }
}

fn permission_from_rd(kind: rd::rd_kafka_AclPermissionType_t) -> Permission {
    use rd::rd_kafka_AclPermissionType_t::*;
    match kind {
        RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW => Permission::Allow,
        RD_KAFKA_ACL_PERMISSION_TYPE_DENY => Permission::Deny,
        _ => Permission::Unknown,
    }
}

const OPERATIONS: [(Operation, rd::rd_kafka_AclOperation_t); 12] = {
    use rd::rd_kafka_AclOperation_t::*;
    [
        (Operation::All, RD_KAFKA_ACL_OPERATION_ALL),
        (Operation::Read, RD_KAFKA_ACL_OPERATION_READ),
        (Operation::Write, RD_KAFKA_ACL_OPERATION_WRITE),
        (Operation::Create, RD_KAFKA_ACL_OPERATION_CREATE),
        (Operation::Delete, RD_KAFKA_ACL_OPERATION_DELETE),
        (Operation::Alter, RD_KAFKA_ACL_OPERATION_ALTER),
        (Operation::Describe, RD_KAFKA_ACL_OPERATION_DESCRIBE),
        (
            Operation::ClusterAction,
            RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        ),
        (
            Operation::DescribeConfigs,
            RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        ),
        (
            Operation::AlterConfigs,
            RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        ),
        (
            Operation::IdempotentWrite,
            RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        ),
        (Operation::Unknown, RD_KAFKA_ACL_OPERATION_UNKNOWN),
    ]
};

fn operation_to_rd(op: Operation) -> rd::rd_kafka_AclOperation_t {
    OPERATIONS.iter().find(|(o, _)| *o == op).map_or(
        rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_UNKNOWN,
        |(_, r)| *r,
    )
}

fn operation_from_rd(op: rd::rd_kafka_AclOperation_t) -> Operation {
    OPERATIONS
        .iter()
        .find(|(_, r)| *r == op)
        .map_or(Operation::Unknown, |(o, _)| *o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_survives_the_round_trip_through_librdkafka_values() {
        for (op, _) in OPERATIONS {
            assert_eq!(operation_from_rd(operation_to_rd(op)), op);
        }
        for kind in [
            ResourceKind::Topic,
            ResourceKind::Group,
            ResourceKind::Cluster,
            ResourceKind::TransactionalId,
        ] {
            assert_eq!(resource_from_rd(resource_to_rd(kind)), kind);
        }
    }

    #[test]
    fn bindings_are_built_and_freed_and_a_nul_byte_is_refused() {
        let acl = Acl::allow(
            "User:a",
            ResourceKind::Topic,
            "t",
            PatternKind::Literal,
            Operation::Write,
        );
        let built = Bindings::build(&[Spec::exact(&acl)], false).unwrap();
        assert_eq!(built.0.len(), 1);
        // SAFETY: built.0[0] is a valid binding owned by `built`.
        assert_eq!(unsafe { read_binding(built.0[0]) }, acl);
        let mut bad = acl.clone();
        bad.name = "t\0u".into();
        let err = Bindings::build(&[Spec::exact(&bad)], false).err().unwrap();
        assert!(err.message.contains("NUL"), "{err}");
        let mut unknown = acl;
        unknown.operation = Operation::Unknown;
        let err = Bindings::build(&[Spec::exact(&unknown)], false)
            .err()
            .unwrap();
        assert_eq!(err.code, RDKafkaErrorCode::InvalidArgument, "{err}");
    }
}
