//! librdkafka's error callbacks in, the last authentication or TLS failure of a client out, so that a send or poll which would otherwise only time out (or wait forever) reports why, as a non-retriable error naming the principal.
//!
//! librdkafka does not fail a record or a poll when the brokers reject the client's SASL
//! credentials or its TLS handshake: it reports the failure to the error callback and keeps
//! reconnecting, so records time out (`MessageTimedOut`, which looks like a broker outage)
//! and consumers see nothing. [`SecurityContext`] keeps the failure; the producer and the
//! consumer turn it into [`TransportErrorKind::NotAuthenticated`].

use carebus_core::transport::{TransportError, TransportErrorKind};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode as Code};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The last authentication or TLS failure a client reported (cleared by a success). Cheap to
/// ask when there is none: one atomic load, no lock (every delivery clears it).
#[derive(Clone, Debug, Default)]
pub struct SecurityWatch(Arc<Watched>);

#[derive(Debug, Default)]
struct Watched {
    failed: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl SecurityWatch {
    /// Keep `error` when it is an authentication or TLS failure; whether it was one.
    pub fn record(&self, error: &KafkaError, reason: &str) -> bool {
        let Some(advice) = error.rdkafka_error_code().and_then(advice) else {
            return false;
        };
        *self.0.reason.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(format!("{}; {advice}", reason.trim()));
        self.0.failed.store(true, Ordering::Release);
        true
    }

    /// The failure kept, if any.
    pub fn failure(&self) -> Option<String> {
        if !self.0.failed.load(Ordering::Acquire) {
            return None;
        }
        self.0
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forget the failure (the client got through since).
    pub fn clear(&self) {
        if self.0.failed.swap(false, Ordering::AcqRel) {
            *self.0.reason.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// The kept failure as a non-retriable error of `operation` by `principal`.
    pub fn error(&self, principal: &str, operation: &str) -> Option<TransportError> {
        self.failure()
            .map(|reason| not_authenticated(principal, operation, reason))
    }
}

/// What to check after an authentication (`Authentication`, `SaslAuthenticationFailed`) or
/// TLS (`SSL`) failure; `None` for other codes.
pub fn advice(code: Code) -> Option<&'static str> {
    match code {
        Code::Authentication | Code::SaslAuthenticationFailed => Some(
            "check the SASL username and password (the broker does not say which one is wrong)",
        ),
        Code::SSL => Some(
            "check ssl.ca.location (`ssl_ca_location`): it must be the CA that signed the brokers' certificates",
        ),
        _ => None,
    }
}

/// A non-retriable [`TransportErrorKind::NotAuthenticated`].
pub fn not_authenticated(principal: &str, operation: &str, reason: String) -> TransportError {
    TransportError::new(
        TransportErrorKind::NotAuthenticated {
            principal: principal.to_string(),
            reason,
        },
        operation,
    )
    .with_retriable(false)
}

/// A non-retriable [`TransportErrorKind::NotAuthorized`] for an authorization error `code`
/// of `principal`.
pub fn not_authorized(
    principal: &str,
    operation: &str,
    kafka_operation: &str,
    resource: String,
    code: Code,
) -> TransportError {
    TransportError::new(
        TransportErrorKind::NotAuthorized {
            principal: principal.to_string(),
            operation: kafka_operation.to_string(),
            resource,
        },
        operation,
    )
    .with_code(crate::error::error_code(code))
    .with_retriable(false)
}

/// The client context of carebus's producers: logs librdkafka's errors as the default one
/// does and keeps authentication and TLS failures in a [`SecurityWatch`].
pub struct SecurityContext {
    /// Where failures are kept.
    pub watch: SecurityWatch,
}

impl ClientContext for SecurityContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.watch.record(&error, reason);
        tracing::error!(error = %error, "librdkafka: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_and_tls_failures_are_kept_other_errors_are_not() {
        let watch = SecurityWatch::default();
        assert!(!watch.record(&KafkaError::Global(Code::AllBrokersDown), "down"));
        assert!(watch.failure().is_none());
        assert!(watch.record(
            &KafkaError::Global(Code::Authentication),
            "SASL authentication error: invalid credentials"
        ));
        let e = watch
            .error("User:prm-service", "produce to t")
            .expect("kept");
        assert!(!e.is_retriable());
        let text = e.to_string();
        assert!(text.contains("User:prm-service"), "{text}");
        assert!(text.contains("invalid credentials"), "{text}");
        assert!(text.contains("password"), "{text}");
        watch.clear();
        assert!(watch.failure().is_none());
        assert!(watch.record(&KafkaError::Global(Code::SSL), "certificate verify failed"));
        assert!(watch.failure().unwrap().contains("ssl.ca.location"));
    }

    #[test]
    fn an_authorization_failure_names_principal_operation_and_resource() {
        let e = not_authorized(
            "User:prm-service",
            "produce to healthcare.clinical.events",
            "WRITE",
            "topic healthcare.clinical.events".into(),
            Code::TopicAuthorizationFailed,
        );
        assert!(!e.is_retriable());
        let text = e.to_string();
        for part in [
            "User:prm-service",
            "WRITE",
            "topic healthcare.clinical.events",
            "carebus-acls apply",
            "TopicAuthorizationFailed",
        ] {
            assert!(text.contains(part), "{part} missing: {text}");
        }
    }
}
