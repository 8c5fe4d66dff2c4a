//! The connections a process was given (broker, database, anything with a probe) in, `/health`'s verdict naming what failed out.

use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// What a health check future answers: `Err` says what is wrong (never a secret).
pub type CheckFuture = BoxFuture<'static, Result<(), String>>;

type Check = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// How long one health check may take before `/health` counts it as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections `/health` checks: each a name (`kafka`, `database`) and a probe. All run at
/// every request, concurrently, each for at most [`CHECK_TIMEOUT`]; `/health` answers 200 when
/// all pass and 503 naming the ones that failed.
#[derive(Clone, Default)]
pub struct Health {
    checks: Vec<(String, Check)>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|(name, _)| name))
            .finish()
    }
}

/// One check's outcome in `/health`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckOutcome {
    /// The check's name.
    pub name: String,
    /// `None` when it passed, else what failed.
    pub error: Option<String>,
}

impl Health {
    /// Add a check named `name`: `probe` is called at every `/health` request.
    pub fn check<F, Fut>(mut self, name: impl Into<String>, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push((
            name.into(),
            Arc::new(move || Box::pin(probe()) as CheckFuture),
        ));
        self
    }

    /// Check the Kafka brokers of `transport`: a metadata request must be answered.
    #[cfg(feature = "kafka")]
    pub fn kafka(self, name: impl Into<String>, transport: &carebus_kafka::KafkaTransport) -> Self {
        let producer = transport.producer().rdkafka();
        self.check(name, move || {
            let producer = producer.clone();
            async move {
                carebus_kafka::brokers_of(producer, CHECK_TIMEOUT)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// Check the PostgreSQL database at `url`: `SELECT 1` over a connection of a one-connection
    /// pool, opened on first use (so an unreachable database fails the check, not this call).
    /// Fails only when `url` is not a PostgreSQL URL.
    #[cfg(feature = "postgres")]
    pub fn postgres(self, name: impl Into<String>, url: &str) -> Result<Self, sqlx::Error> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CHECK_TIMEOUT)
            .connect_lazy(url)?;
        Ok(self.check(name, move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SELECT 1 failed: {e}"))
            }
        }))
    }

    /// Run every check now, concurrently.
    pub async fn run(&self) -> Vec<CheckOutcome> {
        futures::future::join_all(self.checks.iter().map(|(name, check)| {
            let probe = check();
            async move {
                let error = match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(_) => Some(format!("no answer within {CHECK_TIMEOUT:?}")),
                };
                CheckOutcome {
                    name: name.clone(),
                    error,
                }
            }
        }))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn health_names_the_failed_checks() {
        let health = Health::default()
            .check("kafka", || async { Ok(()) })
            .check("database", || async {
                Err("connection refused".to_string())
            });
        let outcomes = health.run().await;
        assert_eq!(
            outcomes,
            vec![
                CheckOutcome {
                    name: "kafka".into(),
                    error: None
                },
                CheckOutcome {
                    name: "database".into(),
                    error: Some("connection refused".into())
                },
            ]
        );
    }
}
