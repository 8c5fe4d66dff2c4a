//! Projections on PostgreSQL: stored events into read-model tables, each batch and its checkpoint in one transaction (exactly-once effects), inline in the append's transaction or asynchronously through [`CatchUp`](carebus_store::CatchUp), and rebuilt from zero.

use super::PgEventStore;
use super::rows::{backend, load_checkpoint, save_checkpoint};
use carebus_store::EventSink;
use carebus_store::StoreError;
use carebus_store::{Cursor, StoredEvent};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use std::sync::Arc;

/// A read model kept in PostgreSQL tables.
///
/// `apply` gets the transaction the checkpoint (asynchronous) or the append (inline) is
/// written in; write the read model through it, and ignore events you do not need. An
/// error rolls the whole batch back (and, inline, the append).
pub trait Projection: Send + Sync + 'static {
    /// The projection's name: its checkpoint key.
    fn name(&self) -> &str;
    /// Apply one event.
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Empty the read model, before a rebuild from the first event.
    fn reset<'a>(&'a self, tx: &'a mut PgConnection) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Feeds a [`Projection`] from a [`CatchUp`](carebus_store::CatchUp): per batch, one
/// transaction holding the projection's writes and the checkpoint, which is only moved from
/// the cursor this sink last saw (two runners of one projection cannot both apply a batch:
/// the loser's transaction rolls back with [`StoreError::Projection`]).
pub struct ProjectionSink {
    store: PgEventStore,
    projection: Arc<dyn Projection>,
    last: Option<Cursor>,
}

impl ProjectionSink {
    /// A sink applying `projection` with transactions on `store`'s pool.
    pub fn new(store: PgEventStore, projection: Arc<dyn Projection>) -> Self {
        ProjectionSink {
            store,
            projection,
            last: None,
        }
    }
}

impl EventSink for ProjectionSink {
    fn name(&self) -> &str {
        self.projection.name()
    }

    async fn load_checkpoint(&mut self) -> Result<Option<Cursor>, StoreError> {
        let stored = load_checkpoint(&self.store.pool, self.projection.name()).await?;
        self.last = Some(stored.unwrap_or(Cursor::START));
        Ok(stored)
    }

    async fn apply_batch(
        &mut self,
        events: &[StoredEvent],
        checkpoint: Cursor,
    ) -> Result<(), StoreError> {
        let name = self.projection.name().to_string();
        let mut tx = self
            .store
            .pool
            .begin()
            .await
            .map_err(backend("projection"))?;
        for event in events {
            self.projection.apply(&mut tx, event).await?;
        }
        let expected = self.last.unwrap_or(Cursor::START);
        if !save_checkpoint(&mut tx, &name, checkpoint, Some(expected)).await? {
            tx.rollback().await.map_err(backend("projection"))?;
            return Err(StoreError::projection(
                name,
                format!(
                    "its checkpoint is no longer at {expected}: another runner of the same \
                     projection moved it; run one runner per projection"
                ),
            ));
        }
        tx.commit().await.map_err(backend("projection commit"))?;
        self.last = Some(checkpoint);
        Ok(())
    }
}

/// Empty the projection's read model and delete its checkpoint in one transaction; the next
/// [`CatchUp`](carebus_store::CatchUp) run rebuilds it from the first event.
pub async fn rebuild(store: &PgEventStore, projection: &dyn Projection) -> Result<(), StoreError> {
    let mut tx = store.pool.begin().await.map_err(backend("rebuild"))?;
    projection.reset(&mut tx).await?;
    sqlx::query("DELETE FROM checkpoints WHERE subscription = $1")
        .bind(projection.name())
        .execute(&mut *tx)
        .await
        .map_err(backend("rebuild"))?;
    tx.commit().await.map_err(backend("rebuild commit"))
}
