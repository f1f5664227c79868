//! The store: everything pinbridge keeps, in SQLite (the embedded default) or
//! PostgreSQL, behind one API.
//!
//! Both backends run the same queries through sqlx's `Any` driver (`$1`-style
//! parameters work on both); the few statements that differ are chosen by [`Backend`].
//! Each backend has its own numbered migrations under `migrations/`.
//!
//! Every change that matters is one transaction: the user row is locked (PostgreSQL
//! `FOR UPDATE`, SQLite `BEGIN IMMEDIATE`), the domain operation runs on the row as read,
//! and the new row, the audit lines and (later) the outbox email are written together.
//! Concurrent changes to one user therefore serialise and never lose an update.

pub mod meetings;
mod migrate;
pub mod outbox;
mod rows;
pub mod throttle;
pub mod web;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pinbridge_domain::audit::{Actor, AuditEntry};
use pinbridge_domain::ops::{Effects, OpError};
use pinbridge_domain::settings::TenantSettingsChange;
use pinbridge_domain::{ConferenceId, ServerKey, ServiceNumber, TenantSettings, Upn, User};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

pub use rows::{AuditQuery, AuditRecord, NewUser, UserPage, UserQuery};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the store lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// The embedded default: `<dir>/pinbridge.db`.
    DataDir(PathBuf),
    /// A `postgres://` (or `sqlite://`) URL.
    Url(String),
}

impl Location {
    pub fn database_file(dir: &Path) -> PathBuf {
        dir.join("pinbridge.db")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no user {0}")]
    UnknownUser(Upn),
    #[error("a user {0} already exists")]
    DuplicateUser(Upn),
    #[error("the number {0} is already registered")]
    DuplicateNumber(String),
    #[error(transparent)]
    Rejected(#[from] OpError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Key(#[from] pinbridge_domain::KeyError),
    #[error("unsupported database URL {0:?}: use postgres://… (or sqlite://…)")]
    UnsupportedUrl(String),
    #[error("the database could not be reached: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("the stored data is not valid: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub max_connections: u32,
    /// How long to wait for a connection (and, on SQLite, for the write lock).
    pub acquire_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The store. Cloning shares the connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Encrypts queued email contents at rest (derived from the server key).
    mail_key: std::sync::Arc<[u8; 32]>,
}

/// What a user operation sees: the row as locked, the settings and numbers it may
/// consult, and a fresh conference ID to use if it needs one.
pub struct UserContext<'a> {
    pub user: &'a mut User,
    pub settings: &'a TenantSettings,
    pub numbers: &'a [ServiceNumber],
    pub candidate_conference_id: ConferenceId,
}

/// The wall clock as Unix milliseconds, the unit every stored instant is in (0 for a
/// clock set before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens (and creates) the store, applies pending migrations and checks the server
    /// key against the check value the store holds (storing it on first use).
    pub async fn open(location: &Location, key: &ServerKey, options: &OpenOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, backend) = match location {
            Location::DataDir(dir) => {
                let file = Location::database_file(dir);
                (
                    format!("sqlite://{}?mode=rwc", file.display()),
                    Backend::Sqlite,
                )
            }
            Location::Url(url)
                if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
            {
                (url.clone(), Backend::Postgres)
            }
            Location::Url(url) if url.starts_with("sqlite:") => (url.clone(), Backend::Sqlite),
            Location::Url(url) => return Err(StoreError::UnsupportedUrl(redact_url(url))),
        };
        let connect: AnyConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Invalid(format!("bad database URL: {e}")))?;
        let busy_ms = options.acquire_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                             PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON; \
                             PRAGMA foreign_keys = ON;"
                        ))))
                        .await?;
                    } else {
                        // A search's selectivity depends on its words: plan each query for
                        // its own parameters rather than once for all of them.
                        conn.execute("SET plan_cache_mode = force_custom_plan")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        let store = Self {
            pool,
            backend,
            mail_key: std::sync::Arc::new(key.mail_key()),
        };
        migrate::run(&store).await?;
        store.check_key(key).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction. On SQLite it takes the write lock at once, so two writers
    /// never deadlock upgrading a read lock.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// `FOR UPDATE` where the engine has row locks.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    async fn check_key(&self, key: &ServerKey) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'server_key_check'")
                .fetch_optional(&mut *tx)
                .await?;
        match stored {
            Some(check) => {
                tx.rollback().await?;
                key.verify_check_value(&check)?;
            }
            None => {
                sqlx::query("INSERT INTO meta (key, value) VALUES ('server_key_check', $1)")
                    .bind(key.check_value())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Appends audit lines inside a transaction.
    pub(crate) async fn append_audit(
        tx: &mut Transaction<'static, Any>,
        actor: &Actor,
        entries: &[AuditEntry],
    ) -> Result<()> {
        let at = now_ms();
        for entry in entries {
            sqlx::query(
                "INSERT INTO audit_log (at_ms, actor, action, target_upn, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(at)
            .bind(actor.as_str())
            .bind(entry.action.as_str())
            .bind(entry.target.as_ref().map(|u| u.as_str()))
            .bind(&entry.detail)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Applies a partial settings change and audits what changed.
    pub async fn update_tenant_settings(
        &self,
        actor: &Actor,
        change: &TenantSettingsChange,
    ) -> Result<(TenantSettings, Vec<String>)> {
        let mut tx = self.begin_write().await?;
        let mut settings = rows::read_settings(&mut tx).await?;
        let changed = change.apply(&mut settings).map_err(StoreError::Invalid)?;
        if !changed.is_empty() {
            rows::write_settings(&mut tx, &settings).await?;
            let entry = AuditEntry::new(
                pinbridge_domain::AuditAction::TenantSettingsChanged,
                None,
                changed.join("; "),
            );
            Self::append_audit(&mut tx, actor, &[entry]).await?;
        }
        tx.commit().await?;
        Ok((settings, changed))
    }

    /// Runs a domain operation on one user inside one transaction: the row is locked,
    /// `operation` changes it, and the row, the conference-ID registry and the audit
    /// lines are written before commit. If the candidate conference ID is taken, the
    /// operation runs again with another one.
    ///
    /// `pin` is the plaintext of a PIN the operation installs, for the email that
    /// carries it: it is written only encrypted, inside the outbox row.
    pub async fn update_user<T>(
        &self,
        actor: &Actor,
        upn: &Upn,
        pin: Option<&pinbridge_domain::Pin>,
        mut operation: impl FnMut(UserContext<'_>) -> Result<(Effects, T), OpError>,
    ) -> Result<(User, Effects, T)> {
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            let mut tx = self.begin_write().await?;
            let settings = rows::read_settings(&mut tx).await?;
            let numbers = rows::read_numbers(&mut *tx).await?;
            let mut user = rows::read_user_for_update(self, &mut tx, upn)
                .await?
                .ok_or_else(|| StoreError::UnknownUser(upn.clone()))?;
            let candidate = ConferenceId::generate(&mut rand_core::OsRng);
            let (effects, value) = operation(UserContext {
                user: &mut user,
                settings: &settings,
                numbers: &numbers,
                candidate_conference_id: candidate,
            })?;
            if let Some(released) = &effects.released_conference_id {
                sqlx::query("DELETE FROM conference_ids WHERE conference_id = $1")
                    .bind(released.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(assigned) = &effects.assigned_conference_id {
                let taken: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM conference_ids WHERE conference_id = $1")
                        .bind(assigned.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    tx.rollback().await?;
                    continue;
                }
                sqlx::query(
                    "INSERT INTO conference_ids (conference_id, user_id, assigned_at_ms) VALUES ($1, $2, $3)",
                )
                .bind(assigned.as_str())
                .bind(user.id.0)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            rows::write_user(&mut tx, &user).await?;
            Self::append_audit(&mut tx, actor, &effects.audit).await?;
            if let Some(pinbridge_domain::email::EmailDecision::Queue { kind, to }) = &effects.email
            {
                let request = outbox::EmailRequest {
                    kind: *kind,
                    to,
                    user: &user,
                    settings: &settings,
                    numbers: &numbers,
                    pin,
                };
                outbox::enqueue(&mut tx, &self.mail_key, &request).await?;
            }
            tx.commit().await?;
            return Ok((user, effects, value));
        }
        Err(StoreError::Database(
            "could not find a free conference ID".into(),
        ))
    }
}

/// A database URL with any password removed, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}
