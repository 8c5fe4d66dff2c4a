//! The handled event's context made ambient while its handler is polled, so events published while handling it inherit its correlation id (and name it as their cause) without passing it around.

use crate::handler::HandlerContext;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

thread_local! {
    /// The context of the handler being polled on this thread: moved in by [`Handling::poll`]
    /// for the length of one poll and moved back out after it (no reference count touched per
    /// poll: the consumer polls one handler per record).
    static CURRENT: Cell<Option<Arc<HandlerContext>>> = const { Cell::new(None) };
}

/// Run `f` with `ctx` as the current handler context. The consumer wraps every handler call in
/// this; call it yourself when handling events outside a [`Consumer`](crate::consumer::Consumer).
pub async fn within<F: Future>(ctx: HandlerContext, f: F) -> F::Output {
    Handling::new(Arc::new(ctx), tracing::Span::none(), f).await
}

/// Lends a handler's context to [`CURRENT`] for one poll; on drop (also when the poll
/// panics) moves it back and restores the context that was current before. While the thread
/// is being torn down (its locals gone) nothing is lent.
struct Lent<'a> {
    home: &'a mut Option<Arc<HandlerContext>>,
    before: Option<Option<Arc<HandlerContext>>>,
}

impl<'a> Lent<'a> {
    fn new(home: &'a mut Option<Arc<HandlerContext>>) -> Lent<'a> {
        let before = CURRENT
            .try_with(|current| current.replace(home.take()))
            .ok();
        Lent { home, before }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(before) = self.before.take() {
            let _ = CURRENT.try_with(|current| *self.home = current.replace(before));
        }
    }
}

/// [`current`] without copying the context.
pub(crate) fn current_shared() -> Option<Arc<HandlerContext>> {
    CURRENT
        .try_with(|current| {
            let ctx = current.take();
            let shared = ctx.clone();
            current.set(ctx);
            shared
        })
        .ok()
        .flatten()
}

pin_project_lite::pin_project! {
    /// A handler's future run with its context as the current one and inside its span, both
    /// set for each poll. One wrapper instead of a scope inside an instrumented future: the
    /// handler's future, often hundreds of bytes with its event, is moved once less into each.
    pub(crate) struct Handling<F> {
        #[pin]
        handler: F,
        // `None` only while lent to `CURRENT` during a poll.
        ctx: Option<Arc<HandlerContext>>,
        span: tracing::Span,
    }
}

impl<F: Future> Handling<F> {
    pub(crate) fn new(ctx: Arc<HandlerContext>, span: tracing::Span, handler: F) -> Self {
        Handling {
            handler,
            ctx: Some(ctx),
            span,
        }
    }
}

impl<F: Future> Future for Handling<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = (!this.span.is_disabled()).then(|| this.span.enter());
        let _lent = Lent::new(this.ctx);
        this.handler.poll(cx)
    }
}

/// Whether anything would see a span: a tracing subscriber, or a `log` logger (tracing hands
/// spans to `log` while no subscriber is set when its `log` feature is on, as sqlx turns it
/// on). When nothing would, the publisher and consumer make no span per event: with that
/// feature, tracing works out a disabled span's fields all the same.
pub(crate) fn spans_seen() -> bool {
    tracing::dispatcher::has_been_set() || log::max_level() != log::LevelFilter::Off
}

/// The context of the event whose handler is running (being polled) here, if any.
pub fn current() -> Option<HandlerContext> {
    current_shared().map(|c| HandlerContext::clone(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::ContextFields;

    fn context(event_id: &str) -> HandlerContext {
        ContextFields {
            event_id,
            ..ContextFields::default()
        }
        .into()
    }

    fn current_id() -> Option<String> {
        current().map(|c| c.event_id().to_owned())
    }

    #[tokio::test]
    async fn the_context_is_current_only_while_its_handler_runs_and_nests() {
        assert_eq!(current_id(), None);
        let seen = within(context("outer"), async {
            let before = current_id();
            let inner = within(context("inner"), async {
                tokio::task::yield_now().await;
                current_id()
            })
            .await;
            // Across an await the context is set again on the next poll.
            tokio::task::yield_now().await;
            (before, inner, current_id())
        })
        .await;
        assert_eq!(
            seen,
            (
                Some("outer".into()),
                Some("inner".into()),
                Some("outer".into())
            )
        );
        assert_eq!(current_id(), None);
    }

    #[tokio::test]
    async fn a_panicking_handler_leaves_no_context_behind() {
        let handler = std::panic::AssertUnwindSafe(within(context("boom"), async {
            panic!("handler failed");
        }));
        let caught = futures::FutureExt::catch_unwind(handler).await;
        assert!(caught.is_err());
        assert_eq!(current_id(), None);
    }
}
