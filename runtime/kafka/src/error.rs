//! rdkafka errors in, the transport's [`TransportError`] out, with retriable failures (broker down, timeouts, leader moves) marked so the publisher retries and its breaker counts them.

use carebus_core::transport::{ErrorCode, TransportError, TransportErrorKind};
use rdkafka::error::{KafkaError, RDKafkaErrorCode as Code};

/// Whether a failure with this code may succeed when retried.
pub fn is_retriable_code(code: Code) -> bool {
    matches!(
        code,
        Code::BrokerTransportFailure
            | Code::AllBrokersDown
            | Code::Resolve
            | Code::NetworkException
            | Code::BrokerDestroy
            | Code::DestroyBroker
            | Code::MessageTimedOut
            | Code::OperationTimedOut
            | Code::RequestTimedOut
            | Code::TimedOutQueue
            | Code::QueueFull
            | Code::NotEnoughReplicas
            | Code::NotEnoughReplicasAfterAppend
            | Code::ISRInsufficient
            | Code::LeaderNotAvailable
            | Code::NotLeaderForPartition
            | Code::ReplicaNotAvailable
            | Code::PreferredLeaderNotAvailable
            | Code::EligibleLeadersNotAvailable
            | Code::FencedLeaderEpoch
            | Code::UnknownLeaderEpoch
            | Code::KafkaStorageError
            | Code::CoordinatorLoadInProgress
            | Code::CoordinatorNotAvailable
            | Code::NotCoordinator
            | Code::WaitingForCoordinator
            | Code::RebalanceInProgress
            | Code::ConcurrentTransactions
    )
}

/// librdkafka's error code as the transport error keeps it: its number and name.
pub fn error_code(code: Code) -> ErrorCode {
    ErrorCode::new(code as i32, format!("{code:?}"))
}

/// Map an rdkafka error of `operation` (e.g. "produce to healthcare.patients.events") to a
/// transport error keeping librdkafka's code and text.
pub fn transport_error(operation: &str, error: &KafkaError) -> TransportError {
    if let KafkaError::Transaction(e) = error {
        let kind = if e.txn_requires_abort() {
            TransportErrorKind::TransactionAborted
        } else {
            TransportErrorKind::Other
        };
        return TransportError::new(kind, operation)
            .with_code(error_code(e.code()))
            .with_detail(e.string())
            .with_retriable(e.is_retriable() && !e.is_fatal());
    }
    match error.rdkafka_error_code() {
        Some(code) => code_error(operation, code).with_detail(error.to_string()),
        None => TransportError::other(operation, error.to_string(), false),
    }
}

/// Map a bare error code (delivery reports, admin results) to a transport error.
pub fn code_error(operation: &str, code: Code) -> TransportError {
    let kind = match code {
        Code::QueueFull => TransportErrorKind::QueueFull,
        Code::BrokerTransportFailure
        | Code::AllBrokersDown
        | Code::Resolve
        | Code::NetworkException => TransportErrorKind::Unreachable,
        Code::MessageTimedOut
        | Code::OperationTimedOut
        | Code::RequestTimedOut
        | Code::TimedOutQueue => TransportErrorKind::Timeout,
        _ => TransportErrorKind::Other,
    };
    TransportError::new(kind, operation)
        .with_code(error_code(code))
        .with_retriable(is_retriable_code(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_outages_and_leader_moves_are_retriable_bad_input_is_not() {
        for code in [
            Code::BrokerTransportFailure,
            Code::AllBrokersDown,
            Code::MessageTimedOut,
            Code::NotEnoughReplicas,
            Code::NotLeaderForPartition,
            Code::QueueFull,
        ] {
            let e = transport_error("produce to t", &KafkaError::MessageProduction(code));
            assert!(e.is_retriable(), "{code:?} → {e:?}");
        }
        for code in [
            Code::MessageSizeTooLarge,
            Code::TopicAuthorizationFailed,
            Code::InvalidArgument,
            Code::UnknownTopicOrPartition,
        ] {
            let e = transport_error("produce to t", &KafkaError::MessageProduction(code));
            assert!(!e.is_retriable(), "{code:?} → {e:?}");
        }
        let e = code_error("produce to t", Code::AllBrokersDown);
        assert_eq!(e.kind(), &TransportErrorKind::Unreachable);
        assert_eq!(e.operation(), "produce to t");
        assert_eq!(e.code().map(|c| c.code), Some(Code::AllBrokersDown as i32));
        assert!(e.to_string().contains("AllBrokersDown"), "{e}");
        let e = transport_error(
            "produce to t",
            &KafkaError::MessageProduction(Code::TopicAuthorizationFailed),
        );
        assert_eq!(e.kind(), &TransportErrorKind::Other);
        assert_eq!(
            e.code().map(|c| c.name.as_str()),
            Some("TopicAuthorizationFailed")
        );
    }
}
