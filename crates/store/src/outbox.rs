//! The email outbox: conferencing emails queued in the same transaction as the change
//! that caused them, delivered later by the mail worker.
//!
//! A row holds the metadata an admin sees (kind, recipient, user, status, attempts,
//! times, the last error) and, in `content`, what the email says: tenant and user names,
//! conference ID, dial-in numbers and, where the kind carries it, the PIN. The content
//! is serialised and encrypted here with ChaCha20-Poly1305 under the outbox key derived
//! from the server key, with a random nonce per row and the Message-ID, kind and
//! recipient as associated data; the plaintext never reaches the database. Once an
//! email is delivered or has failed for good, `content` is set to NULL.
//!
//! Workers claim due rows with a lease (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's
//! `BEGIN IMMEDIATE` serialises claims), so several workers never hold the same email.
//! A worker that dies while sending leaves its rows `sending`; they are claimed again
//! once the lease has run out, with the same Message-ID.
//!
//! A failed email's content is erased with it. `retry_failed_mail` therefore writes the
//! content again from the user's current data: the conference details and the current
//! recipient, but never a PIN, because the store no longer has it. The retried email
//! says so, and the admin who wants the user to have a PIN by email resets it again.

use std::time::Duration;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use pinbridge_domain::audit::{Actor, AuditAction, AuditEntry};
use pinbridge_domain::email::EmailKind;
use pinbridge_domain::{EmailAddress, Pin, ServiceNumber, TenantSettings, Upn, User};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};
use zeroize::{Zeroize, Zeroizing};

use crate::{Backend, Result, Store, StoreError, now_ms, rows};

/// Everything needed to write one email: who it is for, what happened, and, for the
/// emails that carry it, the new PIN.
pub struct EmailRequest<'a> {
    pub kind: EmailKind,
    pub to: &'a EmailAddress,
    pub user: &'a User,
    pub settings: &'a TenantSettings,
    pub numbers: &'a [ServiceNumber],
    pub pin: Option<&'a Pin>,
}

/// One dial-in number as an email lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialInNumber {
    /// E.164, e.g. `+14255550100`.
    pub number: String,
    /// `toll` or `toll-free`.
    pub kind: String,
    /// The primary language first, then the alternates (BCP 47 tags).
    pub languages: Vec<String>,
}

/// What a queued email says. It exists in plaintext only in memory: encrypted in the
/// row, rendered by the mail crate, and its PIN is wiped from memory when dropped.
#[derive(Clone, Serialize, Deserialize)]
pub struct MailContent {
    pub tenant_name: String,
    pub user_display_name: String,
    pub user_upn: String,
    pub conference_id: Option<String>,
    pub numbers: Vec<DialInNumber>,
    /// The new PIN, for the kinds that carry one.
    pub pin: Option<String>,
    /// The kind carries a PIN but this email does not (a retried failed email).
    pub pin_withheld: bool,
}

impl std::fmt::Debug for MailContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailContent")
            .field("tenant_name", &self.tenant_name)
            .field("user_upn", &self.user_upn)
            .field("conference_id", &self.conference_id)
            .field("numbers", &self.numbers.len())
            .field("pin", &self.pin.as_ref().map(|_| "(hidden)"))
            .field("pin_withheld", &self.pin_withheld)
            .finish()
    }
}

impl Drop for MailContent {
    fn drop(&mut self) {
        if let Some(pin) = &mut self.pin {
            pin.zeroize();
        }
    }
}

impl MailContent {
    fn from_request(request: &EmailRequest<'_>) -> Self {
        let user = request.user;
        let c = &user.conferencing;
        let wanted = [
            c.service_number.as_ref(),
            c.toll_free_service_number.as_ref(),
        ];
        let numbers = wanted
            .into_iter()
            .flatten()
            .filter_map(|n| request.numbers.iter().find(|s| &s.number == n))
            .map(|s| DialInNumber {
                number: s.number.as_str().to_owned(),
                kind: s.kind.as_str().to_owned(),
                languages: std::iter::once(&s.primary_language)
                    .chain(&s.alternate_languages)
                    .map(|l| l.as_str().to_owned())
                    .collect(),
            })
            .collect();
        let pin = if request.kind.carries_pin() {
            request.pin.map(|p| p.reveal().to_owned())
        } else {
            None
        };
        Self {
            tenant_name: request.settings.display_name.as_str().to_owned(),
            user_display_name: user.display_name.as_str().to_owned(),
            user_upn: user.upn.as_str().to_owned(),
            conference_id: c.conference_id.as_ref().map(|id| id.as_str().to_owned()),
            numbers,
            pin_withheld: request.kind.carries_pin() && pin.is_none(),
            pin,
        }
    }
}

/// Where a queued email stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailStatus {
    Queued,
    Sending,
    Sent,
    Failed,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Queued, Self::Sending, Self::Sent, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A row of the outbox as an admin sees it: metadata only, never the content.
#[derive(Debug, Clone, Serialize)]
pub struct MailRecord {
    pub id: i64,
    pub message_id: String,
    pub kind: EmailKind,
    pub recipient: String,
    pub user_upn: String,
    pub status: MailStatus,
    pub created_at_ms: i64,
    pub queued_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub lease_until_ms: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at_ms: Option<i64>,
    pub failed_at_ms: Option<i64>,
    /// Whether the stored content includes a PIN.
    pub carries_pin: bool,
    /// Whether the encrypted content is still stored (false once sent or failed).
    pub has_content: bool,
}

/// A message a worker claimed: it holds the lease until it records the outcome.
#[derive(Debug)]
pub struct ClaimedMail {
    pub id: i64,
    pub message_id: String,
    pub kind: EmailKind,
    pub recipient: EmailAddress,
    /// Counts this attempt.
    pub attempts: i64,
    /// When the message was queued (or re-queued by an admin): retries stop a retry
    /// period after this.
    pub queued_at_ms: i64,
    pub lease_token: String,
    pub content: MailContent,
}

/// Which outbox rows to list.
#[derive(Debug, Clone, Copy)]
pub struct MailQuery {
    pub failed_only: bool,
    pub limit: u32,
}

/// The result of `retry_failed_mail`.
#[derive(Debug)]
pub struct MailRetry {
    pub record: MailRecord,
    /// The original email carried a PIN that was erased with it: the new one does not.
    pub pin_withheld: bool,
}

const RECORD_COLUMNS: &str = "id, message_id, kind, recipient, user_upn, status, created_at_ms, \
     queued_at_ms, next_attempt_at_ms, lease_until_ms, attempts, last_error, sent_at_ms, \
     failed_at_ms, carries_pin, CASE WHEN content IS NULL THEN 0 ELSE 1 END AS has_content";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("outbox: {what}"))
}

fn record_from_row(row: &AnyRow) -> Result<MailRecord> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(MailRecord {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        kind: EmailKind::parse(&kind).ok_or_else(|| corrupt("unknown email kind"))?,
        recipient: row.try_get("recipient")?,
        user_upn: row.try_get("user_upn")?,
        status: MailStatus::parse(&status).ok_or_else(|| corrupt("unknown status"))?,
        created_at_ms: row.try_get("created_at_ms")?,
        queued_at_ms: row.try_get("queued_at_ms")?,
        next_attempt_at_ms: row.try_get("next_attempt_at_ms")?,
        lease_until_ms: row.try_get("lease_until_ms")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        sent_at_ms: row.try_get("sent_at_ms")?,
        failed_at_ms: row.try_get("failed_at_ms")?,
        carries_pin: row.try_get::<i64, _>("carries_pin")? != 0,
        has_content: row.try_get::<i64, _>("has_content")? != 0,
    })
}

/// A random token in hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A globally unique Message-ID, `<random@tenant-domain>`, fixed when the email is
/// queued so that every attempt carries the same one.
fn new_message_id(upn: &Upn) -> String {
    let domain = upn
        .as_str()
        .rsplit_once('@')
        .map_or("pinbridge.invalid", |(_, d)| d);
    format!("<{}.pinbridge@{domain}>", random_hex(16))
}

/// Binds the ciphertext to its row: moving content to another row or recipient makes
/// it fail to decrypt.
fn associated_data(message_id: &str, kind: EmailKind, recipient: &str) -> Vec<u8> {
    format!(
        "pinbridge outbox v1\n{message_id}\n{}\n{recipient}",
        kind.as_str()
    )
    .into_bytes()
}

const CONTENT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// `version || nonce || ChaCha20-Poly1305(content as JSON)`.
fn seal(key: &[u8; 32], aad: &[u8], content: &MailContent) -> Result<Vec<u8>> {
    let plaintext = Zeroizing::new(
        serde_json::to_vec(content).map_err(|e| StoreError::Invalid(e.to_string()))?,
    );
    let cipher = ChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand_core::OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad,
            },
        )
        .map_err(|_| StoreError::Invalid("the email content could not be encrypted".into()))?;
    let mut blob = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    blob.push(CONTENT_VERSION);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// Why stored content could not be read back; nothing in it reveals the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the queued content is missing")]
    Missing,
    #[error("the queued content is in an unknown format")]
    Format,
    #[error("the queued content does not decrypt with this server key")]
    Decrypt,
}

fn open(key: &[u8; 32], aad: &[u8], blob: Option<&[u8]>) -> Result<MailContent, OpenError> {
    let blob = blob.ok_or(OpenError::Missing)?;
    if blob.len() < 1 + NONCE_LEN || blob[0] != CONTENT_VERSION {
        return Err(OpenError::Format);
    }
    let cipher = ChaCha20Poly1305::new(key.into());
    let plaintext = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(&blob[1..1 + NONCE_LEN]),
                Payload {
                    msg: &blob[1 + NONCE_LEN..],
                    aad,
                },
            )
            .map_err(|_| OpenError::Decrypt)?,
    );
    serde_json::from_slice(&plaintext).map_err(|_| OpenError::Format)
}

/// Queues an email inside the caller's transaction.
pub(crate) async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    mail_key: &[u8; 32],
    request: &EmailRequest<'_>,
) -> Result<()> {
    let content = MailContent::from_request(request);
    let message_id = new_message_id(&request.user.upn);
    let recipient = request.to.as_str();
    let blob = seal(
        mail_key,
        &associated_data(&message_id, request.kind, recipient),
        &content,
    )?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (message_id, kind, recipient, user_upn, status, created_at_ms, \
         queued_at_ms, next_attempt_at_ms, attempts, carries_pin, content) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $5, $5, 0, $6, $7)",
    )
    .bind(&message_id)
    .bind(request.kind.as_str())
    .bind(recipient)
    .bind(request.user.upn.as_str())
    .bind(now)
    .bind(i64::from(content.pin.is_some()))
    .bind(blob)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Claims up to `limit` emails that are due (queued and past their next attempt, or
    /// left `sending` by a worker whose lease ran out) and leases them for `lease`.
    /// Content that cannot be decrypted marks its email failed; it is not returned.
    pub async fn claim_due_mail(&self, lease: Duration, limit: u32) -> Result<Vec<ClaimedMail>> {
        let now = now_ms();
        let lease_until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let token = random_hex(16);
        let skip_locked = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET status = 'sending', lease_until_ms = $1, lease_token = $2, \
             attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox \
               WHERE (status = 'queued' AND next_attempt_at_ms <= $3) \
                  OR (status = 'sending' AND lease_until_ms <= $3) \
               ORDER BY next_attempt_at_ms, id LIMIT $4{skip_locked}) \
             RETURNING id, message_id, kind, recipient, attempts, queued_at_ms, content"
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(&token)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;

        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let message_id: String = row.try_get("message_id")?;
            let kind_text: String = row.try_get("kind")?;
            let recipient_text: String = row.try_get("recipient")?;
            let blob: Option<Vec<u8>> = row.try_get("content")?;
            let parsed = EmailKind::parse(&kind_text)
                .zip(EmailAddress::parse(&recipient_text).ok())
                .ok_or(OpenError::Format)
                .and_then(|(kind, recipient)| {
                    let aad = associated_data(&message_id, kind, &recipient_text);
                    open(&self.mail_key, &aad, blob.as_deref()).map(|c| (kind, recipient, c))
                });
            match parsed {
                Ok((kind, recipient, content)) => claimed.push(ClaimedMail {
                    id,
                    message_id,
                    kind,
                    recipient,
                    attempts: row.try_get("attempts")?,
                    queued_at_ms: row.try_get("queued_at_ms")?,
                    lease_token: token.clone(),
                    content,
                }),
                Err(e) => {
                    tracing::error!(id, error = %e, "an outbox email cannot be read; marking it failed");
                    self.mark_mail_failed(id, &token, &e.to_string()).await?;
                }
            }
        }
        Ok(claimed)
    }

    /// Records a delivery: the content is erased. False if the lease was lost (another
    /// worker took the email over after the lease ran out).
    pub async fn mark_mail_sent(&self, id: i64, lease_token: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'sent', content = NULL, sent_at_ms = $1, \
             lease_until_ms = NULL, lease_token = NULL, last_error = NULL \
             WHERE id = $2 AND lease_token = $3 AND status = 'sending'",
        )
        .bind(now_ms())
        .bind(id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts a claimed email back in the queue for another attempt at `next_attempt_at_ms`.
    pub async fn schedule_mail_retry(
        &self,
        id: i64,
        lease_token: &str,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'queued', next_attempt_at_ms = $1, last_error = $2, \
             lease_until_ms = NULL, lease_token = NULL \
             WHERE id = $3 AND lease_token = $4 AND status = 'sending'",
        )
        .bind(next_attempt_at_ms)
        .bind(error)
        .bind(id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up on a claimed email: marked failed, content erased.
    pub async fn mark_mail_failed(&self, id: i64, lease_token: &str, error: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'failed', content = NULL, failed_at_ms = $1, \
             last_error = $2, lease_until_ms = NULL, lease_token = NULL \
             WHERE id = $3 AND lease_token = $4 AND status = 'sending'",
        )
        .bind(now_ms())
        .bind(error)
        .bind(id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands a claimed email back unsent (a worker stopping), without counting the attempt.
    pub async fn release_mail(&self, id: i64, lease_token: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'queued', attempts = attempts - 1, \
             lease_until_ms = NULL, lease_token = NULL \
             WHERE id = $1 AND lease_token = $2 AND status = 'sending'",
        )
        .bind(id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// When the next email falls due (Unix milliseconds), if any is waiting.
    pub async fn next_mail_due_ms(&self) -> Result<Option<i64>> {
        let queued: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at_ms) FROM outbox WHERE status = 'queued'",
        )
        .fetch_one(&self.pool)
        .await?;
        let leased: Option<i64> =
            sqlx::query_scalar("SELECT MIN(lease_until_ms) FROM outbox WHERE status = 'sending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(match (queued, leased) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Outbox rows, newest first.
    pub async fn mail_messages(&self, query: &MailQuery) -> Result<Vec<MailRecord>> {
        let filter = if query.failed_only {
            " WHERE status = 'failed'"
        } else {
            ""
        };
        let sql = format!("SELECT {RECORD_COLUMNS} FROM outbox{filter} ORDER BY id DESC LIMIT $1");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// One outbox row.
    pub async fn mail_message(&self, id: i64) -> Result<Option<MailRecord>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM outbox WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Queues a failed email again, with the same Message-ID. Its content was erased
    /// when it failed, so it is written anew from the user's current data, to the
    /// user's current recipient, and without a PIN (see the module documentation).
    pub async fn retry_failed_mail(&self, actor: &Actor, id: i64) -> Result<MailRetry> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM outbox WHERE id = $1{}",
            self.for_update()
        );
        let record = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(record_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::Invalid(format!("there is no email with ID {id}")))?;
        if record.status != MailStatus::Failed {
            return Err(StoreError::Invalid(format!(
                "email {id} is {}, not failed: only failed emails can be retried",
                record.status.as_str()
            )));
        }
        let upn = Upn::parse(&record.user_upn).map_err(|_| corrupt("bad user name"))?;
        let user = rows::read_user_for_update(self, &mut tx, &upn)
            .await?
            .ok_or_else(|| {
                StoreError::Invalid(format!("the user {upn} of email {id} no longer exists"))
            })?;
        let enabled = user.conferencing.enabled;
        if record.kind == EmailKind::Disabled && enabled {
            return Err(StoreError::Invalid(format!(
                "audio conferencing is enabled again for {upn}: the notice of email {id} no longer applies"
            )));
        }
        if record.kind != EmailKind::Disabled && !enabled {
            return Err(StoreError::Invalid(format!(
                "audio conferencing is no longer enabled for {upn}: email {id} no longer applies"
            )));
        }
        let to = user.email_recipient().cloned().ok_or_else(|| {
            StoreError::Invalid(format!(
                "{upn} has no mailbox and no override address: nothing can be sent"
            ))
        })?;
        let settings = rows::read_settings(&mut tx).await?;
        let numbers = rows::read_numbers(&mut *tx).await?;
        let request = EmailRequest {
            kind: record.kind,
            to: &to,
            user: &user,
            settings: &settings,
            numbers: &numbers,
            pin: None,
        };
        let content = MailContent::from_request(&request);
        let blob = seal(
            &self.mail_key,
            &associated_data(&record.message_id, record.kind, to.as_str()),
            &content,
        )?;
        let now = now_ms();
        sqlx::query(
            "UPDATE outbox SET status = 'queued', recipient = $1, content = $2, carries_pin = 0, \
             queued_at_ms = $3, next_attempt_at_ms = $3, failed_at_ms = NULL, \
             lease_until_ms = NULL, lease_token = NULL WHERE id = $4",
        )
        .bind(to.as_str())
        .bind(blob)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(
            AuditAction::EmailRetried,
            Some(&upn),
            format!("{} email {id} queued again for {to}", record.kind.as_str()),
        );
        Self::append_audit(&mut tx, actor, &[entry]).await?;
        tx.commit().await?;
        let record = self
            .mail_message(id)
            .await?
            .ok_or_else(|| corrupt("a retried email vanished"))?;
        Ok(MailRetry {
            record,
            pin_withheld: content.pin_withheld,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(pin: Option<&str>) -> MailContent {
        MailContent {
            tenant_name: "Contoso".into(),
            user_display_name: "Alice".into(),
            user_upn: "alice@contoso.example".into(),
            conference_id: Some("123456789".into()),
            numbers: vec![],
            pin: pin.map(str::to_owned),
            pin_withheld: false,
        }
    }

    #[test]
    fn content_round_trips_and_is_bound_to_its_row() {
        let key = [7u8; 32];
        let aad = associated_data("<a@b.example>", EmailKind::PinReset, "alice@b.example");
        let blob = seal(&key, &aad, &content(Some("482915736204"))).unwrap();
        let text = String::from_utf8_lossy(&blob);
        assert!(!text.contains("482915736204"), "the PIN is not in the blob");
        assert!(!text.contains("Contoso"));
        let back = open(&key, &aad, Some(&blob)).unwrap();
        assert_eq!(back.pin.as_deref(), Some("482915736204"));
        let other = associated_data("<a@b.example>", EmailKind::PinReset, "eve@b.example");
        assert_eq!(
            open(&key, &other, Some(&blob)).unwrap_err(),
            OpenError::Decrypt
        );
        assert_eq!(
            open(&[8u8; 32], &aad, Some(&blob)).unwrap_err(),
            OpenError::Decrypt
        );
        assert_eq!(
            open(&key, &aad, Some(&blob[..5])).unwrap_err(),
            OpenError::Format
        );
        assert_eq!(open(&key, &aad, None).unwrap_err(), OpenError::Missing);
        // Two seals of the same content differ (random nonce).
        assert_ne!(
            blob,
            seal(&key, &aad, &content(Some("482915736204"))).unwrap()
        );
    }

    #[test]
    fn debug_hides_the_pin() {
        let text = format!("{:?}", content(Some("482915736204")));
        assert!(!text.contains("482915736204"), "{text}");
    }

    #[test]
    fn message_ids_are_unique_and_use_the_tenant_domain() {
        let upn = Upn::parse("alice@contoso.example").unwrap();
        let a = new_message_id(&upn);
        assert!(
            a.starts_with('<') && a.ends_with("@contoso.example>"),
            "{a}"
        );
        assert_ne!(a, new_message_id(&upn));
    }
}
