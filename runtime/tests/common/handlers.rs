//! Test handlers for the ward topic: record what they see, fail on demand, block on demand.

use super::WardsEvent;
use carebus::{HandlerContext, HandlerError, HandlerResult, TopicHandler};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a handler saw: (context, event) in handling order.
pub type Seen = Arc<Mutex<Vec<(HandlerContext, WardsEvent)>>>;

/// How a [`Recorder`] treats an event.
pub type Behaviour = Arc<dyn Fn(&HandlerContext, &WardsEvent) -> HandlerResult + Send + Sync>;

/// Records every event; `behaviour` decides success or failure.
#[derive(Clone)]
pub struct Recorder {
    pub seen: Seen,
    pub behaviour: Behaviour,
    pub delay: Duration,
}

impl Recorder {
    pub fn ok() -> Self {
        Recorder {
            seen: Seen::default(),
            behaviour: Arc::new(|_, _| Ok(())),
            delay: Duration::ZERO,
        }
    }
    pub fn failing(
        f: impl Fn(&HandlerContext, &WardsEvent) -> HandlerResult + Send + Sync + 'static,
    ) -> Self {
        Recorder {
            behaviour: Arc::new(f),
            ..Recorder::ok()
        }
    }
    pub fn seen(&self) -> Vec<(HandlerContext, WardsEvent)> {
        self.seen.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl TopicHandler for Recorder {
    type Events = WardsEvent;
    async fn handle(&self, ctx: &HandlerContext, event: WardsEvent) -> HandlerResult {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.seen.lock().unwrap().push((ctx.clone(), event.clone()));
        (self.behaviour)(ctx, &event)
    }
}

pub fn retriable(msg: &str) -> HandlerResult {
    Err(HandlerError::retriable(msg))
}

/// Poll `cond` every 10 ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}
