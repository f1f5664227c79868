//! The delivery worker: claims due emails from the outbox with a lease, renders and
//! sends them (several at once), and records each outcome: delivered (content erased),
//! retried later with exponential back-off and jitter, or failed (content erased).
//!
//! Delivery is at least once. An email is marked sent right after the server accepted
//! it; if the process dies between the two, the email is sent again after its lease
//! runs out, with the same Message-ID, so the repeat is recognisable. Only emails in
//! flight at that moment can repeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pinbridge_store::outbox::ClaimedMail;
use pinbridge_store::{Store, now_ms};
use rand_core::RngCore;
use serde::Serialize;
use tokio::sync::watch;

use crate::MailError;
use crate::template::{MessageSettings, build_message};
use crate::transport::Transport;

/// When a temporarily failed email is tried again, and when the worker gives up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The delay before the first retry; each further retry doubles it.
    pub first_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// How long after it was queued an email is retried before it is marked failed.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RetryPolicy {
    /// The time of the next attempt after attempt number `attempts` failed, or `None`
    /// when the retry period is over. `jitter` is a random value in `0.0..1.0`; the
    /// delay is between half and all of the exponential step.
    pub fn next_attempt_ms(
        &self,
        attempts: i64,
        queued_at_ms: i64,
        now_ms: i64,
        jitter: f64,
    ) -> Option<i64> {
        let give_up_at = queued_at_ms.saturating_add(millis(self.give_up_after));
        if now_ms >= give_up_at {
            return None;
        }
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let step = millis(self.first_delay)
            .max(100)
            .saturating_mul(1i64 << exponent)
            .min(millis(self.max_delay).max(100));
        let delay = (step as f64 * (0.5 + 0.5 * jitter.clamp(0.0, 1.0))) as i64;
        // The last attempt falls on the end of the retry period.
        Some(now_ms.saturating_add(delay.max(100)).min(give_up_at))
    }
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub message: MessageSettings,
    pub retry: RetryPolicy,
    /// How long a claim holds an email; an email whose worker died is sent again after it.
    pub lease: Duration,
    /// Emails sent at once.
    pub concurrency: usize,
    /// Emails claimed at once.
    pub batch_size: u32,
    /// How often an idle worker looks for new emails.
    pub poll_interval: Duration,
}

impl WorkerConfig {
    pub fn new(message: MessageSettings) -> Self {
        Self {
            message,
            retry: RetryPolicy::default(),
            lease: Duration::from_secs(300),
            concurrency: 16,
            batch_size: 64,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// What a delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub delivered: u64,
    pub retry_later: u64,
    pub failed: u64,
}

impl DeliveryReport {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::RetryLater => self.retry_later += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Released | Outcome::LeaseLost => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    RetryLater,
    Failed,
    /// Handed back unsent (stopping, or the lease was about to run out).
    Released,
    /// Another worker took the email over; nothing recorded here.
    LeaseLost,
}

/// Takes emails from the outbox and delivers them.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    transport: Arc<Transport>,
    config: Arc<WorkerConfig>,
    /// Serialises this process's outcome writes on SQLite: concurrent writers would
    /// otherwise wait in SQLite's busy handler, which sleeps in steps of milliseconds.
    sqlite_writes: Arc<tokio::sync::Mutex<()>>,
}

fn jitter() -> f64 {
    f64::from(rand_core::OsRng.next_u32()) / f64::from(u32::MAX)
}

impl Worker {
    pub fn new(store: Store, transport: Transport, config: WorkerConfig) -> Self {
        Self {
            store,
            transport: Arc::new(transport),
            config: Arc::new(config),
            sqlite_writes: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Delivers every email that is due now, batch after batch, and returns when none
    /// is left (emails waiting for a later retry stay queued), or when `stop` is set.
    pub async fn deliver_due(
        &self,
        stop: &watch::Receiver<bool>,
    ) -> Result<DeliveryReport, MailError> {
        let mut report = DeliveryReport::default();
        while !*stop.borrow() {
            let batch = self
                .store
                .claim_due_mail(self.config.lease, self.config.batch_size)
                .await?;
            if batch.is_empty() {
                break;
            }
            let claimed_at = Instant::now();
            let outcomes: Vec<Outcome> = futures_util::stream::iter(batch)
                .map(|mail| self.deliver_one(mail, claimed_at, stop))
                .buffer_unordered(self.config.concurrency.max(1))
                .collect()
                .await;
            for outcome in outcomes {
                report.add(outcome);
            }
        }
        Ok(report)
    }

    async fn deliver_one(
        &self,
        mail: ClaimedMail,
        claimed_at: Instant,
        stop: &watch::Receiver<bool>,
    ) -> Outcome {
        match self.try_deliver(&mail, claimed_at, stop).await {
            Ok(outcome) => outcome,
            Err(e) => {
                // The store did not answer: the lease runs out and the email is tried again.
                tracing::error!(id = mail.id, error = %e, "cannot record an email's delivery outcome");
                Outcome::LeaseLost
            }
        }
    }

    async fn try_deliver(
        &self,
        mail: &ClaimedMail,
        claimed_at: Instant,
        stop: &watch::Receiver<bool>,
    ) -> Result<Outcome, MailError> {
        let store = &self.store;
        let token = &mail.lease_token;
        // Never start a send the lease may not cover: hand the email back instead.
        if *stop.borrow() || claimed_at.elapsed() > self.config.lease / 2 {
            store.release_mail(mail.id, token).await?;
            return Ok(Outcome::Released);
        }
        let message = match build_message(
            mail.kind,
            &mail.message_id,
            &mail.recipient,
            &mail.content,
            &self.config.message,
        ) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(id = mail.id, error = %e, "an email cannot be built; marking it failed");
                return Ok(if store.mark_mail_failed(mail.id, token, &e).await? {
                    Outcome::Failed
                } else {
                    Outcome::LeaseLost
                });
            }
        };
        let result = self.transport.send(&message, &mail.message_id).await;
        drop(message);
        let _write_turn = match store.backend() {
            pinbridge_store::Backend::Sqlite => Some(self.sqlite_writes.lock().await),
            pinbridge_store::Backend::Postgres => None,
        };
        let recorded = match result {
            Ok(()) => {
                tracing::debug!(id = mail.id, kind = mail.kind.as_str(), message_id = %mail.message_id, "email delivered");
                return Ok(if store.mark_mail_sent(mail.id, token).await? {
                    Outcome::Delivered
                } else {
                    tracing::warn!(
                        id = mail.id,
                        "an email was delivered after its lease ran out"
                    );
                    Outcome::LeaseLost
                });
            }
            Err(e) if e.permanent => {
                tracing::warn!(id = mail.id, kind = mail.kind.as_str(), error = %e.message, "the server refused an email; marked failed");
                (
                    Outcome::Failed,
                    store.mark_mail_failed(mail.id, token, &e.message).await?,
                )
            }
            Err(e) => {
                let now = now_ms();
                match self.config.retry.next_attempt_ms(
                    mail.attempts,
                    mail.queued_at_ms,
                    now,
                    jitter(),
                ) {
                    Some(at) => {
                        tracing::info!(
                            id = mail.id,
                            attempts = mail.attempts,
                            retry_in_ms = at - now,
                            error = %e.message,
                            "an email could not be sent; it will be retried"
                        );
                        (
                            Outcome::RetryLater,
                            store
                                .schedule_mail_retry(mail.id, token, at, &e.message)
                                .await?,
                        )
                    }
                    None => {
                        let text = format!(
                            "gave up after {} attempts over the retry period: {}",
                            mail.attempts, e.message
                        );
                        tracing::warn!(id = mail.id, error = %text, "an email is marked failed");
                        (
                            Outcome::Failed,
                            store.mark_mail_failed(mail.id, token, &text).await?,
                        )
                    }
                }
            }
        };
        Ok(match recorded {
            (outcome, true) => outcome,
            (_, false) => Outcome::LeaseLost,
        })
    }

    /// Runs until `stop` is set: delivers what is due, then waits for the next due
    /// email or the poll interval, whichever comes first. Sends in flight when `stop`
    /// is set are finished; claimed emails not yet started are handed back.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        tracing::info!(to = %self.transport.describe(), "mail worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            match self.deliver_due(&stop).await {
                Ok(report) if report != DeliveryReport::default() => {
                    tracing::info!(
                        delivered = report.delivered,
                        retry_later = report.retry_later,
                        failed = report.failed,
                        "mail delivery pass"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "mail delivery pass failed; trying again"),
            }
            let mut wait = self.config.poll_interval;
            if let Ok(Some(due)) = self.store.next_mail_due_ms().await {
                let until_due = Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0));
                wait = wait.min(until_due.max(Duration::from_millis(20)));
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!("mail worker stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_with_jitter_and_ends_with_the_retry_period() {
        let policy = RetryPolicy {
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        };
        let queued = 1_000_000;
        let now = queued + 1000;
        // Full jitter range of the first retry: 15 s to 30 s.
        assert_eq!(
            policy.next_attempt_ms(1, queued, now, 0.0),
            Some(now + 15_000)
        );
        assert_eq!(
            policy.next_attempt_ms(1, queued, now, 1.0),
            Some(now + 30_000)
        );
        assert_eq!(
            policy.next_attempt_ms(3, queued, now, 1.0),
            Some(now + 120_000)
        );
        // Capped at the longest delay.
        assert_eq!(
            policy.next_attempt_ms(40, queued, now, 1.0),
            Some(now + 3_600_000)
        );
        // The last attempt lands on the end of the period, then it gives up.
        let end = queued + 24 * 3_600_000;
        assert_eq!(policy.next_attempt_ms(20, queued, end - 10, 1.0), Some(end));
        assert_eq!(policy.next_attempt_ms(21, queued, end, 0.5), None);
    }
}
