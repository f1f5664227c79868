//! The audit vocabulary: who did what to whom. Entries never carry a PIN or a password.

use serde::Serialize;

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Actor(String);

impl Actor {
    /// An admin at the command line, named by the operating-system account.
    pub fn cli(os_user: &str) -> Self {
        Self(format!("cli:{os_user}"))
    }
    /// A signed-in user (an admin in the admin center, or a user in the portal).
    pub fn user(upn: &crate::Upn) -> Self {
        Self(upn.to_string())
    }
    /// An API token, by its name.
    pub fn token(name: &str) -> Self {
        Self(format!("token:{name}"))
    }
    /// pinbridge itself (the demo seed, the phone bridge).
    pub fn system() -> Self {
        Self("system".to_owned())
    }
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What was done. The stored code is the `as_str` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditAction {
    UserAdded,
    UserEnabled,
    UserDisabled,
    PinReset,
    PinResetBySelf,
    ConferenceIdReset,
    DialInNumbersChanged,
    PstnOnlyMeetingsChanged,
    EmailOverrideSet,
    EmailOverrideCleared,
    PasswordSet,
    ConferenceInfoSent,
    TenantSettingsChanged,
    NumberRegistered,
    EmailRetried,
}

impl AuditAction {
    pub const ALL: [Self; 15] = [
        Self::UserAdded,
        Self::UserEnabled,
        Self::UserDisabled,
        Self::PinReset,
        Self::PinResetBySelf,
        Self::ConferenceIdReset,
        Self::DialInNumbersChanged,
        Self::PstnOnlyMeetingsChanged,
        Self::EmailOverrideSet,
        Self::EmailOverrideCleared,
        Self::PasswordSet,
        Self::ConferenceInfoSent,
        Self::TenantSettingsChanged,
        Self::NumberRegistered,
        Self::EmailRetried,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserAdded => "user.added",
            Self::UserEnabled => "user.enabled",
            Self::UserDisabled => "user.disabled",
            Self::PinReset => "user.pin_reset",
            Self::PinResetBySelf => "user.pin_reset_by_self",
            Self::ConferenceIdReset => "user.conference_id_reset",
            Self::DialInNumbersChanged => "user.dial_in_numbers_changed",
            Self::PstnOnlyMeetingsChanged => "user.pstn_only_meetings_changed",
            Self::EmailOverrideSet => "user.email_override_set",
            Self::EmailOverrideCleared => "user.email_override_cleared",
            Self::PasswordSet => "user.password_set",
            Self::ConferenceInfoSent => "user.conference_info_sent",
            Self::TenantSettingsChanged => "tenant.settings_changed",
            Self::NumberRegistered => "number.registered",
            Self::EmailRetried => "email.retried",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// One line of the audit log as the domain produces it; the store adds the sequence
/// number and the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub action: AuditAction,
    /// The user acted on, if any.
    pub target: Option<crate::Upn>,
    /// A sentence of detail; never a secret.
    pub detail: String,
}

impl AuditEntry {
    pub fn new(
        action: AuditAction,
        target: Option<&crate::Upn>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            action,
            target: target.cloned(),
            detail: detail.into(),
        }
    }
}
