//! A blocking librdkafka call in, a future that runs it off the async threads out.

use carebus_core::transport::TransportError;

/// Run a blocking librdkafka call (commits, transactions, metadata) on tokio's blocking
/// threads; `operation` names it in the error if the call panicked.
pub(crate) async fn blocking<T: Send + 'static>(
    operation: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TransportError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        TransportError::other(
            operation,
            format!("the Kafka client call panicked or was cancelled: {e}"),
            false,
        )
    })
}
