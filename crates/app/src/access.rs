//! Who may use the admin center, the portal and the API: sign-in with its throttle,
//! sessions, one-time form tokens and API tokens.
//!
//! Sessions are known by the hash of their cookie ([`secret_hash`]); form tokens and API
//! tokens are given here as the caller holds them and hashed before they reach the
//! store.

use std::net::IpAddr;
use std::time::Duration;

use pinbridge_domain::audit::Actor;
use pinbridge_domain::{PinHash, TokenName, Upn, User};
use pinbridge_store::now_ms;
use pinbridge_store::web::{ApiToken, FormPurpose, SignInLock, ThrottlePolicy};

use crate::secret::{random_secret, secret_hash};
use crate::{App, AppError, Result};

/// How long a one-time form token (a PIN reset confirmation) stays usable.
const FORM_TOKEN_LIFETIME_MS: i64 = 30 * 60 * 1000;
/// What every API token starts with, so that one is recognised where it turns up.
const API_TOKEN_PREFIX: &str = "pb_";

/// A password hash checked when the account does not exist (computed once).
static UNKNOWN_ACCOUNT_HASH: std::sync::OnceLock<Option<PinHash>> = std::sync::OnceLock::new();

/// A sign-in attempt as the form gives it.
#[derive(Debug, Clone, Copy)]
pub struct SignIn<'a> {
    /// The user name as typed.
    pub upn: &'a str,
    pub password: &'a str,
    /// The client's address, throttled on its own.
    pub client: IpAddr,
    /// Failed sign-ins per account before a temporary lock.
    pub account_throttle: ThrottlePolicy,
    /// Failed sign-ins per client address before a temporary lock.
    pub address_throttle: ThrottlePolicy,
    /// How long the session lasts.
    pub session_lifetime: Duration,
}

/// How a sign-in attempt ended.
#[derive(Debug)]
pub enum SignInOutcome {
    /// The account or the client address is locked for now; nothing was checked.
    Locked,
    /// The user name or the password is wrong; the failure was counted.
    Refused,
    /// A new session: `session` is the cookie value, shown to this client only.
    SignedIn { user: Box<User>, session: String },
}

/// A new API token: the secret is returned here once and stored only as a hash.
#[derive(Debug)]
pub struct IssuedApiToken {
    pub token: ApiToken,
    /// The bearer token itself.
    pub secret: String,
}

/// The throttle subject of an account as typed at sign-in: lower case, without control
/// characters, at most 320 characters (the longest address).
pub fn account_subject(upn: &str) -> String {
    let clean: String = upn
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .take(320)
        .collect();
    format!("account:{clean}")
}

impl App {
    /// Signs a user in with a password. An unknown account costs the same hash as a
    /// known one, so the time of the answer does not tell which accounts exist.
    pub async fn sign_in(&self, attempt: &SignIn<'_>) -> Result<SignInOutcome> {
        let account = account_subject(attempt.upn);
        let address = format!("address:{}", attempt.client);
        let subjects = [account.as_str(), address.as_str()];
        if self.store.sign_in_locked_until(&subjects).await?.is_some() {
            return Ok(SignInOutcome::Locked);
        }
        let user = match Upn::parse(attempt.upn.trim()) {
            Ok(upn) => self.store.user(&upn).await?,
            Err(_) => None,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let hasher = self.hasher.clone();
        let password = attempt.password.as_bytes().to_vec();
        let verified = tokio::task::spawn_blocking(move || match stored {
            Some(hash) => hasher.verify(&password, &hash),
            None => {
                let dummy = UNKNOWN_ACCOUNT_HASH
                    .get_or_init(|| hasher.hash(b"no such account", &mut rand_core::OsRng).ok());
                if let Some(hash) = dummy {
                    let _ = hasher.verify(&password, hash);
                }
                false
            }
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let Some(user) = user.filter(|_| verified) else {
            self.store
                .record_sign_in_failure(&[account.as_str()], attempt.account_throttle)
                .await?;
            self.store
                .record_sign_in_failure(&[address.as_str()], attempt.address_throttle)
                .await?;
            return Ok(SignInOutcome::Refused);
        };
        self.store.clear_sign_in_failures(&account).await?;
        self.store.purge_expired_web_state().await?;
        let session = random_secret();
        let expires = now_ms().saturating_add(attempt.session_lifetime.as_millis() as i64);
        self.store
            .create_session(&secret_hash(&session), user.id, expires)
            .await?;
        Ok(SignInOutcome::SignedIn {
            user: Box::new(user),
            session,
        })
    }

    /// Whether `password` is the user's web sign-in password (checked off the async
    /// threads); false when the user has none.
    pub async fn verify_password(&self, user: &User, password: &str) -> Result<bool> {
        let Some(hash) = user.password_hash.clone() else {
            return Ok(false);
        };
        let hasher = self.hasher.clone();
        let password = password.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || hasher.verify(&password, &hash))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))
    }

    /// The user of an unexpired session, read fresh (a changed role applies at once).
    pub async fn session_user(&self, session_hash: &str) -> Result<Option<User>> {
        Ok(self.store.session_user(session_hash).await?)
    }

    /// Ends a session: its cookie is refused from now on.
    pub async fn sign_out(&self, session_hash: &str) -> Result<()> {
        Ok(self.store.delete_session(session_hash).await?)
    }

    /// Ends every session of `user` except the one with hash `keep` (after a password
    /// change).
    pub async fn end_other_sessions(&self, user: &User, keep: &str) -> Result<()> {
        Ok(self.store.delete_other_sessions(user.id, keep).await?)
    }

    /// A one-time form token for `purpose` on `target`, bound to the session with hash
    /// `session_hash` and usable for 30 minutes.
    pub async fn issue_form_token(
        &self,
        session_hash: &str,
        purpose: FormPurpose,
        target: &Upn,
    ) -> Result<String> {
        let token = random_secret();
        self.store
            .issue_form_token(
                &secret_hash(&token),
                session_hash,
                purpose,
                target,
                now_ms() + FORM_TOKEN_LIFETIME_MS,
            )
            .await?;
        Ok(token)
    }

    /// Marks a form token used: true only for the one call that used an unused,
    /// unexpired token issued to this session for this purpose and target.
    pub async fn use_form_token(
        &self,
        token: &str,
        session_hash: &str,
        purpose: FormPurpose,
        target: &Upn,
    ) -> Result<bool> {
        Ok(self
            .store
            .use_form_token(&secret_hash(token), session_hash, purpose, target)
            .await?)
    }

    /// Gives a used form token back when the action it was used for failed.
    pub async fn release_form_token(&self, token: &str) -> Result<()> {
        Ok(self.store.release_form_token(&secret_hash(token)).await?)
    }

    /// The sign-in subjects (accounts, client addresses) locked now.
    pub async fn sign_in_locks(&self) -> Result<Vec<SignInLock>> {
        Ok(self.store.sign_in_locks().await?)
    }

    /// Clears the failed sign-ins (and the lock) of a throttle subject, audited;
    /// false when there was nothing to clear.
    pub async fn clear_sign_in_lock(&self, actor: &Actor, subject: &str) -> Result<bool> {
        Ok(self.store.clear_sign_in_lock(actor, subject).await?)
    }

    /// Clears the sign-in lock of a user's account, audited; false when there was
    /// nothing to clear. The user must exist.
    pub async fn clear_account_lock(&self, actor: &Actor, upn: &Upn) -> Result<bool> {
        self.user(upn).await?;
        self.clear_sign_in_lock(actor, &account_subject(upn.as_str()))
            .await
    }

    /// Creates an API token named `name`, audited by its name; the secret is returned
    /// once.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        name: &TokenName,
    ) -> Result<IssuedApiToken> {
        let secret = format!("{API_TOKEN_PREFIX}{}", random_secret());
        let token = self
            .store
            .create_api_token(actor, name.as_str(), &secret_hash(&secret))
            .await?;
        Ok(IssuedApiToken { token, secret })
    }

    /// Every API token, by name (never the tokens themselves).
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        Ok(self.store.api_tokens().await?)
    }

    /// Revokes an API token by name, audited; false when no active token has the name.
    pub async fn revoke_api_token(&self, actor: &Actor, name: &str) -> Result<bool> {
        Ok(self.store.revoke_api_token(actor, name).await?)
    }

    /// The active API token a bearer presents, noting its use.
    pub async fn api_token(&self, secret: &str) -> Result<Option<ApiToken>> {
        Ok(self.store.api_token_by_hash(&secret_hash(secret)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_subjects_are_folded_and_bounded() {
        assert_eq!(
            account_subject("  Alice@Contoso.Example "),
            "account:alice@contoso.example"
        );
        assert_eq!(account_subject("a\u{7}b"), "account:ab");
        assert_eq!(
            account_subject(&"x".repeat(400)).len(),
            "account:".len() + 320
        );
    }
}
