//! The email outbox: conferencing emails queued in the same transaction as the change
//! that caused them, delivered later by the mail worker.

use pinbridge_domain::email::EmailKind;
use pinbridge_domain::{EmailAddress, Pin, ServiceNumber, TenantSettings, User};
use sqlx::{Any, Transaction};

use crate::Result;

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

/// Queues an email inside the caller's transaction.
pub(crate) async fn enqueue(
    _tx: &mut Transaction<'static, Any>,
    _mail_key: &[u8; 32],
    _request: &EmailRequest<'_>,
) -> Result<()> {
    // The outbox table and its worker arrive with the mail crate.
    Ok(())
}
