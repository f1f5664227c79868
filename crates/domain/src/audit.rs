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
    ApiTokenCreated,
    ApiTokenRevoked,
    SignInLockCleared,
    MeetingCreated,
    PhonePinFailed,
    PhonePinLocked,
    PhonePinLockCleared,
}

impl AuditAction {
    pub const ALL: [Self; 22] = [
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
        Self::ApiTokenCreated,
        Self::ApiTokenRevoked,
        Self::SignInLockCleared,
        Self::MeetingCreated,
        Self::PhonePinFailed,
        Self::PhonePinLocked,
        Self::PhonePinLockCleared,
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
            Self::ApiTokenCreated => "api_token.created",
            Self::ApiTokenRevoked => "api_token.revoked",
            Self::SignInLockCleared => "sign_in.lock_cleared",
            Self::MeetingCreated => "meeting.created",
            Self::PhonePinFailed => "phone_pin.failed",
            Self::PhonePinLocked => "phone_pin.locked",
            Self::PhonePinLockCleared => "phone_pin.lock_cleared",
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

#[cfg(test)]
mod tests {
    use super::AuditAction;

    /// Where each action sits in `ALL`. The match is exhaustive: a new action does not
    /// compile until it is given a place here, which is the reminder to list it in `ALL`
    /// (and in the audit filter, the API and the docs that enumerate actions).
    fn position(action: AuditAction) -> usize {
        match action {
            AuditAction::UserAdded => 0,
            AuditAction::UserEnabled => 1,
            AuditAction::UserDisabled => 2,
            AuditAction::PinReset => 3,
            AuditAction::PinResetBySelf => 4,
            AuditAction::ConferenceIdReset => 5,
            AuditAction::DialInNumbersChanged => 6,
            AuditAction::PstnOnlyMeetingsChanged => 7,
            AuditAction::EmailOverrideSet => 8,
            AuditAction::EmailOverrideCleared => 9,
            AuditAction::PasswordSet => 10,
            AuditAction::ConferenceInfoSent => 11,
            AuditAction::TenantSettingsChanged => 12,
            AuditAction::NumberRegistered => 13,
            AuditAction::EmailRetried => 14,
            AuditAction::ApiTokenCreated => 15,
            AuditAction::ApiTokenRevoked => 16,
            AuditAction::SignInLockCleared => 17,
            AuditAction::MeetingCreated => 18,
            AuditAction::PhonePinFailed => 19,
            AuditAction::PhonePinLocked => 20,
            AuditAction::PhonePinLockCleared => 21,
        }
    }

    #[test]
    fn every_action_is_listed_once_and_its_code_parses_back() {
        let mut codes = std::collections::HashSet::new();
        for (i, action) in AuditAction::ALL.into_iter().enumerate() {
            assert_eq!(position(action), i, "{action:?} is out of place in ALL");
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            assert!(codes.insert(action.as_str()), "{action:?}: code used twice");
            assert!(action.as_str().contains('.'), "{action:?}: not area.verb");
        }
        assert_eq!(AuditAction::parse("token.created"), None);
    }
}
