//! Test handlers for the ward topic: record what they see, fail on demand, block on demand.

use super::WardsEvent;
use carebus::{HandlerContext, HandlerError, HandlerResult, TopicHandler};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Records events in handling order and the most handlers it saw running at once; before
/// recording an event it waits as `wait` says (zero: it finishes without waiting).
#[derive(Clone)]
pub struct Overlap {
    pub running: Arc<AtomicUsize>,
    pub max_running: Arc<AtomicUsize>,
    pub order: Seen,
    pub wait: fn(&WardsEvent) -> Duration,
}

impl Overlap {
    pub fn new(wait: fn(&WardsEvent) -> Duration) -> Self {
        Overlap {
            running: Arc::default(),
            max_running: Arc::default(),
            order: Seen::default(),
            wait,
        }
    }
    pub fn max_running(&self) -> usize {
        self.max_running.load(Ordering::SeqCst)
    }
    pub fn count(&self) -> usize {
        self.order.lock().unwrap().len()
    }
}

impl TopicHandler for Overlap {
    type Events = WardsEvent;
    async fn handle(&self, ctx: &HandlerContext, event: WardsEvent) -> HandlerResult {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let wait = (self.wait)(&event);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.order.lock().unwrap().push((ctx.clone(), event));
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(())
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
