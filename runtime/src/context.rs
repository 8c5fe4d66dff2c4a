//! The handled event's context made ambient for a task, so events published while handling it inherit its correlation id (and name it as their cause) without passing it around.

use crate::handler::HandlerContext;
use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CURRENT: Arc<HandlerContext>;
}

/// Run `f` with `ctx` as the current handler context. The consumer wraps every handler call in
/// this; call it yourself when handling events outside a [`Consumer`](crate::consumer::Consumer).
pub async fn within<F: Future>(ctx: HandlerContext, f: F) -> F::Output {
    CURRENT.scope(Arc::new(ctx), f).await
}

/// [`within`] for a context the caller keeps too (the consumer hands the same one to the
/// handler), without copying it.
pub(crate) async fn within_shared<F: Future>(ctx: Arc<HandlerContext>, f: F) -> F::Output {
    CURRENT.scope(ctx, f).await
}

/// The context of the event being handled by the current task, if any.
pub fn current() -> Option<HandlerContext> {
    CURRENT.try_with(|c| HandlerContext::clone(c)).ok()
}

/// [`current`] without copying the context.
pub(crate) fn current_shared() -> Option<Arc<HandlerContext>> {
    CURRENT.try_with(Arc::clone).ok()
}
