//! A topic's generated event enum in, engine input out: the [`carebus::TopicHandler`] the engine's consumers run (group [`crate::ENGINE_GROUP`]), and the timer loop that fires due timers until shutdown.

use crate::engine::Engine;
use crate::store::InstanceStore;
use carebus::consumer::Shutdown;
use carebus::{HandlerContext, HandlerError, HandlerResult, TopicEvents, TopicHandler};
use carebus_store::EventContext;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// How often [`Engine::run_timers`] counts the instances per state for the gauge.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(15);

/// Feeds one topic's events to the engine. Build with [`Engine::handler`].
pub struct JourneyHandler<E, S> {
    engine: Engine<S>,
    _events: PhantomData<fn() -> E>,
}

impl<S: InstanceStore> Engine<S> {
    /// The handler of topic `E` (run it with `Service::consume` in group [`crate::ENGINE_GROUP`]).
    pub fn handler<E: TopicEvents>(&self) -> JourneyHandler<E, S> {
        JourneyHandler {
            engine: self.clone(),
            _events: PhantomData,
        }
    }

    /// Fire due timers every `poll` until `shutdown`; a store failure is logged and retried
    /// at the next poll. Every [`GAUGE_REFRESH`] it also refreshes the instances-per-state
    /// gauge ([`Engine::refresh_instance_gauges`]). Returns how many timers fired.
    pub async fn run_timers(&self, poll: Duration, mut shutdown: Shutdown) -> u64 {
        let mut fired = 0u64;
        let mut gauges_at: Option<Instant> = None;
        loop {
            if shutdown.is_triggered() {
                return fired;
            }
            if gauges_at.is_none_or(|at| at.elapsed() >= GAUGE_REFRESH) {
                gauges_at = Some(Instant::now());
                if let Err(e) = self.refresh_instance_gauges().await {
                    tracing::warn!(error = %e, "journey gauges: counting instances failed; retrying later");
                }
            }
            let idle = match self.fire_due_timers(100).await {
                Ok(f) => {
                    fired += f.len() as u64;
                    f.is_empty()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "journey timers: firing failed; retrying at the next poll");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.wait() => return fired,
                }
            }
        }
    }
}

impl<E: TopicEvents, S: InstanceStore> TopicHandler for JourneyHandler<E, S> {
    type Events = E;

    async fn handle(&self, ctx: &HandlerContext, event: E) -> HandlerResult {
        let data = match carebus_core::topic::readable_json(&event) {
            Ok(data) => data,
            Err(e) => return Err(HandlerError::permanent(e.to_string())),
        };
        let context = EventContext::from(ctx);
        match self
            .engine
            .handle(ctx.event_id(), event.info().event_type, &data, &context)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_retriable() => {
                Err(HandlerError::retriable(e.to_string()).with_source(e))
            }
            Err(e) => Err(HandlerError::permanent(e.to_string()).with_source(e)),
        }
    }
}
