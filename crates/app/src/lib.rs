//! The application layer: every admin and self-service action, implemented once and
//! called by the CLI, the admin center and the API alike.
//!
//! An action here hashes secrets off the async threads, runs the domain operation inside
//! one store transaction, and returns what the caller may show, including the one-time
//! plaintext PIN where the action generated one.

mod access;
mod directory;
mod invitation;
mod key_file;
mod meetings;
pub mod report;
pub mod secret;
pub mod security;

use std::path::PathBuf;

use pinbridge_domain::audit::Actor;
use pinbridge_domain::email::EmailDecision;
use pinbridge_domain::ops::{self, EnableOptions, NewPin, SetOptions};
use pinbridge_domain::settings::TenantSettingsChange;
use pinbridge_domain::user::Role;
use pinbridge_domain::{
    ConferenceId, DisplayName, EmailAddress, Pin, PinHash, SecretHasher, ServerKey, ServiceNumber,
    TenantSettings, Upn, User, VerifyMemory,
};
use pinbridge_store::{Location, NewUser, OpenOptions, Store, StoreError, now_ms};

pub use access::{IssuedApiToken, SignIn, SignInOutcome, account_subject};
pub use invitation::Invitation;
pub use key_file::load_or_create_key;
pub use meetings::{
    DialInMeeting, InheritedOptions, MeetingRequest, OrganiserMeeting, OrganiserMeetings,
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Key(String),
    #[error("the password must be at least {min} characters", min = MIN_PASSWORD_CHARS)]
    WeakPassword,
    #[error("{0} is not enabled for audio conferencing (enable the user first)")]
    OrganizerNotEnabled(Upn),
    #[error("no meeting with conference ID {0}")]
    NoMeeting(ConferenceId),
    #[error("the organiser {organizer} of meeting {conference_id} is gone")]
    OrganizerGone {
        conference_id: ConferenceId,
        organizer: Upn,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

pub const MIN_PASSWORD_CHARS: usize = 12;

/// Where the store is and which key unlocks it.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// The server key in hex, from the config file or `PINBRIDGE_SERVER_KEY`.
    pub server_key: Option<String>,
    pub open: OpenOptions,
}

/// The running application: the store and the keyed hasher.
#[derive(Clone)]
pub struct App {
    store: Store,
    hasher: SecretHasher,
    key: ServerKey,
}

/// The result of an action that generated a PIN: the plaintext, shown once.
#[derive(Debug)]
pub struct IssuedPin {
    pub pin: Pin,
    /// The PIN's number in the user's history (the audit log names it).
    pub version: i64,
}

/// What `enable` and `set` return.
#[derive(Debug)]
pub struct UserChangeOutcome {
    pub user: User,
    pub new_pin: Option<IssuedPin>,
    pub email: Option<EmailDecision>,
}

/// Options for adding a user.
#[derive(Debug)]
pub struct AddUser {
    pub upn: Upn,
    pub display_name: DisplayName,
    pub primary_smtp_address: Option<EmailAddress>,
    pub role: Role,
    pub password: Option<String>,
}

impl App {
    /// Opens the store: the embedded SQLite in `data_dir` with its `server.key`, or the
    /// database URL with the key from configuration.
    pub async fn open(config: &StoreConfig) -> Result<Self> {
        let (location, key) = match &config.database_url {
            Some(url) => {
                let hex = config.server_key.as_deref().ok_or_else(|| {
                    AppError::Key(
                        "with --database-url the server key must come from the config file \
                         (server_key) or PINBRIDGE_SERVER_KEY, the same on every node"
                            .into(),
                    )
                })?;
                let key = ServerKey::parse_hex(hex).map_err(|e| AppError::Key(e.to_string()))?;
                (Location::Url(url.clone()), key)
            }
            None => {
                let key = match &config.server_key {
                    Some(hex) => {
                        ServerKey::parse_hex(hex).map_err(|e| AppError::Key(e.to_string()))?
                    }
                    None => load_or_create_key(&config.data_dir)?,
                };
                (Location::DataDir(config.data_dir.clone()), key)
            }
        };
        let store = Store::open(&location, &key, &config.open).await?;
        Ok(Self::from_parts(store, key))
    }

    pub fn from_parts(store: Store, key: ServerKey) -> Self {
        Self {
            hasher: SecretHasher::new(key.pepper()),
            store,
            key,
        }
    }

    /// The store behind `App`, for tests only (feature `test-support`).
    #[cfg(feature = "test-support")]
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn server_key(&self) -> &ServerKey {
        &self.key
    }

    pub fn hasher(&self) -> &SecretHasher {
        &self.hasher
    }

    async fn hash_secret(&self, secret: Vec<u8>) -> Result<PinHash> {
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&secret, &mut rand_core::OsRng))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| AppError::Internal(e.to_string()))
    }

    /// Generates a PIN of the tenant's current length and hashes it.
    async fn new_pin(&self) -> Result<(Pin, NewPin)> {
        let length = self.store.tenant_settings().await?.pin_length;
        let pin = Pin::generate(length, &mut rand_core::OsRng);
        let hash = self.hash_secret(pin.reveal().as_bytes().to_vec()).await?;
        Ok((
            pin,
            NewPin {
                hash,
                issued_at_ms: now_ms(),
            },
        ))
    }

    fn check_password(password: &str) -> Result<()> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AppError::WeakPassword);
        }
        Ok(())
    }

    pub async fn add_user(&self, actor: &Actor, request: AddUser) -> Result<User> {
        let password_hash = match &request.password {
            Some(p) => {
                Self::check_password(p)?;
                Some(self.hash_secret(p.as_bytes().to_vec()).await?)
            }
            None => None,
        };
        let new = NewUser {
            upn: request.upn,
            display_name: request.display_name,
            primary_smtp_address: request.primary_smtp_address,
            role: request.role,
            password_hash,
        };
        Ok(self.store.add_user(actor, &new).await?)
    }

    pub async fn user(&self, upn: &Upn) -> Result<User> {
        self.store
            .user(upn)
            .await?
            .ok_or_else(|| StoreError::UnknownUser(upn.clone()).into())
    }

    /// Enable-CsOnlineDialInConferencingUser: returns the new PIN, shown once.
    pub async fn enable_user(
        &self,
        actor: &Actor,
        upn: &Upn,
        options: &EnableOptions,
    ) -> Result<UserChangeOutcome> {
        // Refuse early, before paying for a hash, when the user is unknown or enabled.
        let current = self.user(upn).await?;
        if current.conferencing.enabled {
            return Err(StoreError::Rejected(ops::OpError::AlreadyEnabled(upn.clone())).into());
        }
        let (pin, new_pin) = self.new_pin().await?;
        let (user, effects, version) = self
            .store
            .update_user(actor, upn, Some(&pin), |ctx| {
                let fx = ops::enable(
                    ctx.user,
                    options,
                    ctx.settings,
                    ctx.numbers,
                    ctx.candidate_conference_id,
                    new_pin.clone(),
                )?;
                Ok((fx, ctx.user.conferencing.pin_version))
            })
            .await?;
        Ok(UserChangeOutcome {
            user,
            new_pin: Some(IssuedPin { pin, version }),
            email: effects.email,
        })
    }

    /// Set-CsOnlineDialInConferencingUser. `reset_pin` issues a new PIN, returned once;
    /// `password` sets the web sign-in password.
    pub async fn set_user(
        &self,
        actor: &Actor,
        upn: &Upn,
        options: &SetOptions,
        reset_pin: bool,
        password: Option<String>,
    ) -> Result<UserChangeOutcome> {
        let current = self.user(upn).await?;
        let needs_conferencing = options.needs_audio_conferencing(reset_pin);
        if needs_conferencing && !current.conferencing.enabled {
            return Err(StoreError::Rejected(ops::OpError::NotEnabled(upn.clone())).into());
        }
        let password_hash = match &password {
            Some(p) => {
                Self::check_password(p)?;
                Some(self.hash_secret(p.as_bytes().to_vec()).await?)
            }
            None => None,
        };
        let issued = if reset_pin {
            Some(self.new_pin().await?)
        } else {
            None
        };
        let (user, effects, version) = self
            .store
            .update_user(actor, upn, issued.as_ref().map(|(pin, _)| pin), |ctx| {
                let candidate = options
                    .reset_conference_id
                    .then(|| ctx.candidate_conference_id.clone());
                let mut fx = ops::set(
                    ctx.user,
                    options,
                    issued.as_ref().map(|(_, new)| new.clone()),
                    candidate,
                    ctx.settings,
                    ctx.numbers,
                )?;
                if let Some(hash) = &password_hash {
                    fx.audit
                        .extend(ops::set_password(ctx.user, hash.clone()).audit);
                }
                Ok((fx, ctx.user.conferencing.pin_version))
            })
            .await?;
        let new_pin = issued.map(|(pin, _)| IssuedPin { pin, version });
        Ok(UserChangeOutcome {
            user,
            new_pin,
            email: effects.email,
        })
    }

    pub async fn disable_user(&self, actor: &Actor, upn: &Upn) -> Result<UserChangeOutcome> {
        let (user, effects, ()) = self
            .store
            .update_user(actor, upn, None, |ctx| {
                Ok((ops::disable(ctx.user, ctx.settings)?, ()))
            })
            .await?;
        Ok(UserChangeOutcome {
            user,
            new_pin: None,
            email: effects.email,
        })
    }

    /// The self-service reset: the user's own new PIN, shown once; no email.
    pub async fn reset_own_pin(&self, upn: &Upn) -> Result<IssuedPin> {
        let current = self.user(upn).await?;
        if !current.conferencing.enabled {
            return Err(StoreError::Rejected(ops::OpError::NotEnabled(upn.clone())).into());
        }
        let (pin, new_pin) = self.new_pin().await?;
        let actor = Actor::user(upn);
        let (_, _, version) = self
            .store
            .update_user(&actor, upn, None, |ctx| {
                let fx = ops::reset_pin_by_self(ctx.user, new_pin.clone())?;
                Ok((fx, ctx.user.conferencing.pin_version))
            })
            .await?;
        Ok(IssuedPin { pin, version })
    }

    /// Whether `digits` is the user's current organiser PIN.
    pub async fn verify_pin(&self, user: &User, digits: &str) -> Result<bool> {
        let checker = self.pin_checker();
        let (user, digits) = (user.clone(), digits.to_owned());
        tokio::task::spawn_blocking(move || {
            checker.check(&user, &digits, &mut VerifyMemory::default())
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
    }

    /// What checks organiser PINs, for callers that run the check on threads of their
    /// own (it blocks: Argon2id, 19 MiB, tens of milliseconds).
    pub fn pin_checker(&self) -> PinChecker {
        PinChecker {
            hasher: self.hasher.clone(),
        }
    }

    pub async fn update_tenant_settings(
        &self,
        actor: &Actor,
        change: &TenantSettingsChange,
    ) -> Result<(TenantSettings, Vec<String>)> {
        Ok(self.store.update_tenant_settings(actor, change).await?)
    }

    pub async fn add_number(&self, actor: &Actor, number: &ServiceNumber) -> Result<()> {
        Ok(self.store.add_number(actor, number).await?)
    }
}

/// Checks organiser PINs against their stored hashes; see [`App::pin_checker`].
#[derive(Clone)]
pub struct PinChecker {
    hasher: SecretHasher,
}

impl PinChecker {
    /// Whether `digits` is the user's organiser PIN (false without a PIN or for digits
    /// that cannot be a PIN). Blocks for the length of one Argon2id verification, done
    /// in `memory` (a thread that checks many keeps one).
    pub fn check(&self, user: &User, digits: &str, memory: &mut VerifyMemory) -> bool {
        match (&user.conferencing.pin_hash, Pin::from_entered(digits)) {
            (Some(hash), Some(pin)) => self.hasher.verify_pin_in(&pin, hash, memory),
            _ => false,
        }
    }
}
