//! What the admin surfaces read: the tenant settings, the dial-in numbers, the users,
//! the audit log and the email outbox; and the store's health.

use pinbridge_domain::audit::Actor;
use pinbridge_domain::{ServiceNumber, TenantSettings};
use pinbridge_mail::{Transport, Worker, WorkerConfig};
use pinbridge_store::outbox::{MailQuery, MailRecord, MailRetry};
use pinbridge_store::{AuditQuery, AuditRecord, UserPage, UserQuery};

use crate::{App, Result};

impl App {
    /// The tenant's conferencing settings.
    pub async fn tenant_settings(&self) -> Result<TenantSettings> {
        Ok(self.store.tenant_settings().await?)
    }

    /// The registered dial-in numbers.
    pub async fn numbers(&self) -> Result<Vec<ServiceNumber>> {
        Ok(self.store.numbers().await?)
    }

    /// A page of users in UPN order, those matching the search when there is one.
    pub async fn search_users(&self, query: &UserQuery) -> Result<UserPage> {
        Ok(self.store.list_users(query).await?)
    }

    /// The audit log, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Ok(self.store.audit(query).await?)
    }

    /// The queued, sent and failed emails, newest first (never their contents).
    pub async fn mail_messages(&self, query: &MailQuery) -> Result<Vec<MailRecord>> {
        Ok(self.store.mail_messages(query).await?)
    }

    /// Queues a failed email again, audited.
    pub async fn retry_failed_mail(&self, actor: &Actor, id: i64) -> Result<MailRetry> {
        Ok(self.store.retry_failed_mail(actor, id).await?)
    }

    /// The worker that delivers this store's queued emails through `transport`.
    pub fn mail_worker(&self, transport: Transport, config: WorkerConfig) -> Worker {
        Worker::new(self.store.clone(), transport, config)
    }

    /// Whether the store answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Closes the store's connections, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.store.close().await;
    }
}
