//! Throttles: failures counted per subject within a window, and the temporary lock they
//! lead to. Two throttles share this code, each in a table of its own:
//!
//! - [`Throttle::SignIn`]: web sign-ins, per account (`account:NAME`) and per client
//!   address (`address:IP`);
//! - [`Throttle::PhonePin`]: organiser PINs entered by phone, per organiser
//!   (`organiser:UPN`) and per calling number (`caller:NUMBER`).
//!
//! A lock lasts [`ThrottlePolicy::lock_ms`] the first time and twice as long each time the
//! subject is locked again, up to [`ThrottlePolicy::longest_lock_ms`]; a subject that has
//! not been locked for that longest time starts again from the first length. A success
//! (the subject's failures cleared) or an admin clearing the lock forgets it all.

use pinbridge_domain::audit::{Actor, AuditEntry};
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::{Result, Store};

/// Which throttle a subject belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Web sign-ins.
    SignIn,
    /// Organiser PINs entered by phone.
    PhonePin,
}

impl Throttle {
    fn table(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in_throttle",
            Self::PhonePin => "phone_pin_throttle",
        }
    }
}

/// How many failures lock a subject, within which window, for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: i64,
    pub window_ms: i64,
    /// The length of the first lock.
    pub lock_ms: i64,
    /// The longest a lock grows to; equal to `lock_ms` for locks that do not grow.
    pub longest_lock_ms: i64,
}

impl ThrottlePolicy {
    /// How long a lock lasts after `earlier` locks: `lock_ms` doubled for each, at most
    /// `longest_lock_ms`.
    pub fn lock_length(&self, earlier: i64) -> i64 {
        let doublings = earlier.clamp(0, 40) as u32;
        self.lock_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.longest_lock_ms.max(self.lock_ms))
    }
}

/// A subject that is locked now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ThrottleLock {
    pub subject: String,
    /// Failures in the window that led to the lock.
    pub failures: i64,
    pub locked_until_ms: i64,
    /// How many times the subject has been locked in a row, this lock included.
    pub locks: i64,
}

/// What one failure did to a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub subject: String,
    /// Failures in the current window, this one included.
    pub failures: i64,
    /// Set when this failure locked the subject: until when.
    pub locked_until_ms: Option<i64>,
    /// Locks in a row, this one included when this failure locked the subject.
    pub locks: i64,
}

impl Store {
    /// The time until which any of `subjects` is locked at `now`, if one is.
    pub async fn locked_until(
        &self,
        throttle: Throttle,
        subjects: &[&str],
        now: i64,
    ) -> Result<Option<i64>> {
        let mut until = None;
        for subject in subjects {
            let locked: Option<Option<i64>> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT locked_until_ms FROM {} WHERE subject = $1",
                throttle.table()
            )))
            .bind(*subject)
            .fetch_optional(self.pool())
            .await?;
            if let Some(Some(t)) = locked
                && t > now
            {
                until = Some(until.map_or(t, |u: i64| u.max(t)));
            }
        }
        Ok(until)
    }

    /// Counts a failure against each subject and locks those that reach the limit.
    pub async fn record_failure(
        &self,
        throttle: Throttle,
        subjects: &[&str],
        policy: ThrottlePolicy,
        now: i64,
    ) -> Result<Vec<Failure>> {
        self.record_failure_audited(throttle, subjects, policy, now, &Actor::system(), |_| {
            Vec::new()
        })
        .await
    }

    /// [`Store::record_failure`], with the audit lines `audit` makes of what the failure
    /// did, written by `actor` in the same transaction.
    pub async fn record_failure_audited(
        &self,
        throttle: Throttle,
        subjects: &[&str],
        policy: ThrottlePolicy,
        now: i64,
        actor: &Actor,
        audit: impl FnOnce(&[Failure]) -> Vec<AuditEntry>,
    ) -> Result<Vec<Failure>> {
        let mut tx = self.begin_write().await?;
        let mut failures = Vec::with_capacity(subjects.len());
        for subject in subjects {
            failures.push(
                self.record_failure_in(&mut tx, throttle, subject, policy, now)
                    .await?,
            );
        }
        let entries = audit(&failures);
        if !entries.is_empty() {
            Self::append_audit(&mut tx, actor, &entries).await?;
        }
        tx.commit().await?;
        Ok(failures)
    }

    /// [`Store::record_failure`] for one subject, inside the caller's transaction.
    async fn record_failure_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        throttle: Throttle,
        subject: &str,
        policy: ThrottlePolicy,
        now: i64,
    ) -> Result<Failure> {
        let table = throttle.table();
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT failures, window_started_ms, locked_until_ms, locks FROM {table} \
             WHERE subject = $1{}",
            self.for_update()
        )))
        .bind(subject)
        .fetch_optional(&mut **tx)
        .await?;
        let (mut failures, mut started, mut locks) = (1, now, 0_i64);
        // The end of the subject's last lock, kept after it ends: the back-off needs it.
        let mut last_lock_end = None;
        if let Some(row) = row {
            let previous: i64 = row.try_get("failures")?;
            let previous_start: i64 = row.try_get("window_started_ms")?;
            let locked_until: Option<i64> = row.try_get("locked_until_ms")?;
            last_lock_end = locked_until;
            locks = row.try_get("locks")?;
            if now - previous_start <= policy.window_ms {
                failures = previous + 1;
                started = previous_start;
            }
            // Long enough without a lock: the back-off starts again.
            if locked_until.is_none_or(|t| now - t > policy.longest_lock_ms) {
                locks = 0;
            }
        }
        let locked_until = (failures >= policy.max_failures).then(|| {
            let until = now.saturating_add(policy.lock_length(locks));
            locks += 1;
            until
        });
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE subject = $1"
        )))
        .bind(subject)
        .execute(&mut **tx)
        .await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (subject, failures, window_started_ms, locked_until_ms, locks) \
             VALUES ($1, $2, $3, $4, $5)"
        )))
        .bind(subject)
        .bind(failures)
        .bind(started)
        .bind(locked_until.or(last_lock_end))
        .bind(locks)
        .execute(&mut **tx)
        .await?;
        Ok(Failure {
            subject: subject.to_owned(),
            failures,
            locked_until_ms: locked_until,
            locks,
        })
    }

    /// Forgets the failures (and the back-off) of a subject after a success. Returns
    /// whether there was anything to forget. An admin clearing a lock uses
    /// [`Store::clear_lock`], which is audited.
    pub async fn clear_failures(&self, throttle: Throttle, subject: &str) -> Result<bool> {
        let done = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE subject = $1",
            throttle.table()
        )))
        .bind(subject)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// An admin clears the failures (and the lock, if any) of a subject; `audit` gives the
    /// audit line from the failures counted and whether the subject was locked at `now`,
    /// and it is written in the same transaction. Returns whether there was anything to
    /// clear; nothing cleared is not audited.
    pub async fn clear_lock(
        &self,
        throttle: Throttle,
        actor: &Actor,
        subject: &str,
        now: i64,
        audit: impl FnOnce(i64, bool) -> AuditEntry,
    ) -> Result<bool> {
        let table = throttle.table();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT failures, locked_until_ms FROM {table} WHERE subject = $1{}",
            self.for_update()
        )))
        .bind(subject)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let failures: i64 = row.try_get("failures")?;
        let locked_until: Option<i64> = row.try_get("locked_until_ms")?;
        let locked = locked_until.is_some_and(|t| t > now);
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE subject = $1"
        )))
        .bind(subject)
        .execute(&mut *tx)
        .await?;
        Self::append_audit(&mut tx, actor, &[audit(failures, locked)]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The subjects locked at `now`, in subject order.
    pub async fn locks(&self, throttle: Throttle, now: i64) -> Result<Vec<ThrottleLock>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT subject, failures, locked_until_ms, locks FROM {} \
             WHERE locked_until_ms > $1 ORDER BY subject",
            throttle.table()
        )))
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ThrottleLock {
                    subject: row.try_get("subject")?,
                    failures: row.try_get("failures")?,
                    locked_until_ms: row.try_get("locked_until_ms")?,
                    locks: row.try_get("locks")?,
                })
            })
            .collect()
    }
}
