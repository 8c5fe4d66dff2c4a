//! The handled event's context made ambient for a task, so events published while handling it inherit its correlation id (and name it as their cause) without passing it around.

use crate::handler::HandlerContext;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

tokio::task_local! {
    static CURRENT: Arc<HandlerContext>;
}

/// Run `f` with `ctx` as the current handler context. The consumer wraps every handler call in
/// this; call it yourself when handling events outside a [`Consumer`](crate::consumer::Consumer).
pub async fn within<F: Future>(ctx: HandlerContext, f: F) -> F::Output {
    CURRENT.scope(Arc::new(ctx), f).await
}

pin_project_lite::pin_project! {
    /// A handler's future run with its context as the current one and inside its span, both
    /// set for each poll. One wrapper instead of a task-local scope inside an instrumented
    /// future: the handler's future, often hundreds of bytes with its event, is moved once
    /// less into each.
    pub(crate) struct Handling<F> {
        #[pin]
        handler: F,
        ctx: Arc<HandlerContext>,
        span: tracing::Span,
    }
}

impl<F: Future> Handling<F> {
    pub(crate) fn new(ctx: Arc<HandlerContext>, span: tracing::Span, handler: F) -> Self {
        Handling { handler, ctx, span }
    }
}

impl<F: Future> Future for Handling<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = (!this.span.is_disabled()).then(|| this.span.enter());
        CURRENT.sync_scope(this.ctx.clone(), || this.handler.poll(cx))
    }
}

/// Whether anything would see a span: a tracing subscriber, or a `log` logger (tracing hands
/// spans to `log` while no subscriber is set when its `log` feature is on, as sqlx turns it
/// on). When nothing would, the publisher and consumer make no span per event: with that
/// feature, tracing works out a disabled span's fields all the same.
pub(crate) fn spans_seen() -> bool {
    tracing::dispatcher::has_been_set() || log::max_level() != log::LevelFilter::Off
}

/// The context of the event being handled by the current task, if any.
pub fn current() -> Option<HandlerContext> {
    CURRENT.try_with(|c| HandlerContext::clone(c)).ok()
}

/// [`current`] without copying the context.
pub(crate) fn current_shared() -> Option<Arc<HandlerContext>> {
    CURRENT.try_with(Arc::clone).ok()
}
