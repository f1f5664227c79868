//! What the web layer keeps: sign-in sessions, the sign-in throttle (see
//! [`crate::throttle`]), one-time form
//! tokens and REST API tokens.
//!
//! Secrets are never stored as they are: session cookies, form tokens and API tokens
//! are kept as SHA-256 hashes (they are long random values, so a fast hash is enough),
//! and the caller hashes them before they reach this module.

use pinbridge_domain::audit::{Actor, AuditAction, AuditEntry};
use pinbridge_domain::{Upn, User, UserId};
use sqlx::Row;

pub use crate::throttle::ThrottlePolicy;
use crate::throttle::{Failure, Throttle, ThrottleLock};
use crate::{Result, Store, StoreError, now_ms};

/// A stored API token, without its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// A sign-in subject (account or client address) that is locked now.
pub type SignInLock = ThrottleLock;

/// What a one-time form token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPurpose {
    /// An admin resetting another user's PIN.
    AdminPinReset,
    /// A user resetting their own PIN at `/usp`.
    SelfPinReset,
}

impl FormPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::AdminPinReset => "admin-pin-reset",
            Self::SelfPinReset => "self-pin-reset",
        }
    }
}

impl Store {
    /// Stores a new session for `user`, known by the hash of its cookie.
    pub async fn create_session(
        &self,
        id_hash: &str,
        user: UserId,
        expires_at_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, user_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash)
        .bind(user.0)
        .bind(now_ms())
        .bind(expires_at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The user of an unexpired session, read fresh (a changed role applies at once).
    pub async fn session_user(&self, id_hash: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT u.upn FROM web_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at_ms > $2",
        )
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let upn: String = row.try_get("upn")?;
        let upn = Upn::parse(&upn).map_err(|e| StoreError::Corrupt(format!("upn: {e}")))?;
        self.user(&upn).await
    }

    /// Ends one session; its cookie is refused from now on.
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a user except `keep` (after a password change).
    pub async fn delete_other_sessions(&self, user: UserId, keep: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user.0)
            .bind(keep)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes expired sessions and form tokens.
    pub async fn purge_expired_web_state(&self) -> Result<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM web_sessions WHERE expires_at_ms <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM web_form_tokens WHERE expires_at_ms <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The time until which any of `subjects` is locked, if one is.
    pub async fn sign_in_locked_until(&self, subjects: &[&str]) -> Result<Option<i64>> {
        self.locked_until(Throttle::SignIn, subjects, now_ms())
            .await
    }

    /// Counts a failed sign-in against each subject and locks those that reach the limit.
    pub async fn record_sign_in_failure(
        &self,
        subjects: &[&str],
        policy: ThrottlePolicy,
    ) -> Result<Vec<Failure>> {
        self.record_failure(Throttle::SignIn, subjects, policy, now_ms())
            .await
    }

    /// Forgets the failures of a subject after a successful sign-in. Returns whether
    /// there was anything to forget. An admin clearing a lock uses
    /// [`Store::clear_sign_in_lock`], which is audited.
    pub async fn clear_sign_in_failures(&self, subject: &str) -> Result<bool> {
        self.clear_failures(Throttle::SignIn, subject).await
    }

    /// An admin clears the failures (and the lock, if any) of a subject, and the audit
    /// log records it in the same transaction. Returns whether there was anything to
    /// clear; nothing cleared is not audited.
    ///
    /// Subjects are the web layer's throttle keys: `account:NAME` (the name as typed at
    /// sign-in) or `address:IP`. The entry names a client address, and an account only
    /// as the target user when the name is a user principal name: a name that is not
    /// one is kept out of the audit log, since people type other things (passwords
    /// included) into a user-name field.
    pub async fn clear_sign_in_lock(&self, actor: &Actor, subject: &str) -> Result<bool> {
        self.clear_lock(
            Throttle::SignIn,
            actor,
            subject,
            now_ms(),
            |failures, locked| {
                let state = if locked {
                    "sign-in lock cleared"
                } else {
                    "failed sign-ins cleared (not locked)"
                };
                let (target, whom) = match subject.split_once(':') {
                    Some(("account", name)) => match Upn::parse(name) {
                        Ok(upn) => (Some(upn), "of the account".to_owned()),
                        Err(_) => (None, "of an account name that is not a UPN".to_owned()),
                    },
                    Some(("address", address)) => (None, format!("of client address {address}")),
                    _ => (None, "of an unknown subject".to_owned()),
                };
                AuditEntry::new(
                    AuditAction::SignInLockCleared,
                    target.as_ref(),
                    format!("{state} {whom} after {failures} failed sign-ins"),
                )
            },
        )
        .await
    }

    /// The subjects locked now.
    pub async fn sign_in_locks(&self) -> Result<Vec<SignInLock>> {
        self.locks(Throttle::SignIn, now_ms()).await
    }

    /// Stores a one-time form token bound to a session, a purpose and a target user.
    pub async fn issue_form_token(
        &self,
        token_hash: &str,
        session_hash: &str,
        purpose: FormPurpose,
        target: &Upn,
        expires_at_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_form_tokens (token_hash, session_hash, purpose, target_upn, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(session_hash)
        .bind(purpose.as_str())
        .bind(target.as_str())
        .bind(expires_at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks a form token used. True only for the one call that used an unused,
    /// unexpired token issued to this session for this purpose and target; a token
    /// posted again (reload, back) gives false.
    pub async fn use_form_token(
        &self,
        token_hash: &str,
        session_hash: &str,
        purpose: FormPurpose,
        target: &Upn,
    ) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE web_form_tokens SET used_at_ms = $1 WHERE token_hash = $2 AND session_hash = $3 \
             AND purpose = $4 AND target_upn = $5 AND used_at_ms IS NULL AND expires_at_ms > $1",
        )
        .bind(now)
        .bind(token_hash)
        .bind(session_hash)
        .bind(purpose.as_str())
        .bind(target.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a used form token back when the action it was used for failed, so the
    /// admin may try again with the same form.
    pub async fn release_form_token(&self, token_hash: &str) -> Result<()> {
        sqlx::query("UPDATE web_form_tokens SET used_at_ms = NULL WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stores a new API token by its hash, and audits its creation (by name; the
    /// token and its hash are never in the entry).
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        token_hash: &str,
    ) -> Result<ApiToken> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM api_tokens WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Invalid(format!(
                "a token named {name:?} already exists"
            )));
        }
        sqlx::query("INSERT INTO api_tokens (name, token_hash, created_at_ms) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(token_hash)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT id, name, created_at_ms, last_used_at_ms, revoked_at_ms FROM api_tokens WHERE name = $1",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        let token = token_from_row(&row)?;
        let entry = AuditEntry::new(
            AuditAction::ApiTokenCreated,
            None,
            format!("API token {name:?} created"),
        );
        Self::append_audit(&mut tx, actor, &[entry]).await?;
        tx.commit().await?;
        Ok(token)
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at_ms, last_used_at_ms, revoked_at_ms FROM api_tokens ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes a token by name, and audits it; false (and nothing audited) if there is
    /// no such unrevoked token.
    pub async fn revoke_api_token(&self, actor: &Actor, name: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at_ms = $1 WHERE name = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let entry = AuditEntry::new(
            AuditAction::ApiTokenRevoked,
            None,
            format!("API token {name:?} revoked"),
        );
        Self::append_audit(&mut tx, actor, &[entry]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The unrevoked token with this hash, noting its use.
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query(
            "SELECT id, name, created_at_ms, last_used_at_ms, revoked_at_ms FROM api_tokens \
             WHERE token_hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row)?;
        sqlx::query("UPDATE api_tokens SET last_used_at_ms = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(token.id)
            .execute(self.pool())
            .await?;
        Ok(Some(token))
    }
}

fn token_from_row(row: &sqlx::any::AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at_ms")?,
        last_used_at_ms: row.try_get("last_used_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}
