//! The `subject_keys` table: per-subject data keys created on first use, wrapped by the master key, and destroyed (set to NULL) to erase a subject.

use super::crypto::{DataKey, MasterKey};
use crate::query::rows::backend;
use carebus_store::StoreError;
use sqlx::PgPool;

/// A subject's key as the table holds it.
#[derive(Clone, Debug)]
pub enum KeyState {
    /// The subject's data key, unwrapped: its PHI can be sealed and opened.
    Active(DataKey),
    /// Erased: the key was destroyed; the subject's PHI can no longer be read.
    Destroyed,
    /// No key was ever created for the subject.
    Missing,
}

/// Data keys in PostgreSQL, wrapped by a [`MasterKey`].
#[derive(Clone, Debug)]
pub struct SubjectKeys {
    pool: PgPool,
    master: MasterKey,
}

impl SubjectKeys {
    /// Keys in `pool`'s `subject_keys` table, wrapped with `master`.
    pub fn new(pool: PgPool, master: MasterKey) -> Self {
        SubjectKeys { pool, master }
    }

    fn unwrap(&self, subject: &str, wrapped: Option<Vec<u8>>) -> Result<KeyState, StoreError> {
        match wrapped {
            None => Ok(KeyState::Destroyed),
            Some(w) => self
                .master
                .unwrap_key(&w, subject)
                .map(KeyState::Active)
                .map_err(|e| StoreError::Backend {
                    operation: "unwrap subject key",
                    message: format!("{e}; is the master key the one the keys were wrapped with?"),
                    retriable: false,
                    source: None,
                }),
        }
    }

    /// The subject's key, `Missing` if it has none.
    pub async fn get(&self, subject: &str) -> Result<KeyState, StoreError> {
        let row: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT wrapped_key FROM subject_keys WHERE subject_id = $1")
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend("read subject key"))?;
        match row {
            None => Ok(KeyState::Missing),
            Some(w) => self.unwrap(subject, w),
        }
    }

    /// The subject's key, created if it has none; `Destroyed` stays destroyed (an erased
    /// subject's new events cannot be written with PHI).
    pub async fn get_or_create(
        &self,
        subject: &str,
        tenant: Option<&str>,
    ) -> Result<KeyState, StoreError> {
        let key = DataKey::generate();
        let wrapped = self.master.wrap(&key, subject);
        // Insert or keep the existing row; either way read back what is stored.
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "INSERT INTO subject_keys (subject_id, tenant_id, wrapped_key) VALUES ($1, $2, $3) \
             ON CONFLICT (subject_id) DO UPDATE SET subject_id = EXCLUDED.subject_id \
             RETURNING wrapped_key",
        )
        .bind(subject)
        .bind(tenant)
        .bind(&wrapped)
        .fetch_one(&self.pool)
        .await
        .map_err(backend("create subject key"))?;
        self.unwrap(subject, stored)
    }

    /// Destroy the subject's key (crypto-shredding). Returns whether a live key was destroyed.
    /// A subject without a key gets a destroyed marker, so no key is created for it later.
    pub async fn destroy(&self, subject: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE subject_keys SET wrapped_key = NULL, destroyed_at = now() \
             WHERE subject_id = $1 AND wrapped_key IS NOT NULL",
        )
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(backend("destroy subject key"))?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        sqlx::query(
            "INSERT INTO subject_keys (subject_id, wrapped_key, destroyed_at) \
             VALUES ($1, NULL, now()) ON CONFLICT (subject_id) DO NOTHING",
        )
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(backend("destroy subject key"))?;
        Ok(false)
    }
}
