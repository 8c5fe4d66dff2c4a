//! rdkafka errors in, the transport's [`TransportError`] out, with retriable failures (broker down, timeouts, leader moves) marked so the publisher retries and its breaker counts them.

use carebus_core::transport::TransportError;
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

/// Map an rdkafka error of `operation` (e.g. "produce to healthcare.patients.events") to a
/// transport error. `size` and `max` describe the record for size errors.
pub fn transport_error(operation: &str, error: &KafkaError) -> TransportError {
    if let KafkaError::Transaction(e) = error {
        let message = format!("{operation}: {}", e.string());
        return if e.txn_requires_abort() {
            TransportError::TransactionAborted(message)
        } else {
            TransportError::Other {
                message,
                retriable: e.is_retriable() && !e.is_fatal(),
            }
        };
    }
    let Some(code) = error.rdkafka_error_code() else {
        return TransportError::Other {
            message: format!("{operation}: {error}"),
            retriable: false,
        };
    };
    code_error(operation, code)
}

/// Map a bare error code (delivery reports, admin results) to a transport error.
pub fn code_error(operation: &str, code: Code) -> TransportError {
    let message = format!("{operation}: {code}");
    match code {
        Code::QueueFull => TransportError::QueueFull,
        Code::BrokerTransportFailure
        | Code::AllBrokersDown
        | Code::Resolve
        | Code::NetworkException => TransportError::Unreachable(message),
        Code::MessageTimedOut
        | Code::OperationTimedOut
        | Code::RequestTimedOut
        | Code::TimedOutQueue => TransportError::Timeout(message),
        Code::UnknownTopic | Code::UnknownTopicOrPartition => {
            TransportError::UnknownTopic(operation.to_string())
        }
        _ => TransportError::Other {
            message,
            retriable: is_retriable_code(code),
        },
    }
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
        assert!(matches!(
            code_error("produce to t", Code::AllBrokersDown),
            TransportError::Unreachable(m) if m.contains("produce to t")
        ));
    }
}
