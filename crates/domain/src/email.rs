//! Which conferencing email an action causes, and to whom. An explicit send is always
//! honoured, also with automatic emails off, and given together with a PIN reset it
//! sends the PIN-reset email; an override address, once set, receives every later
//! email until it is cleared. Rendering and delivery live in the mail crate; this
//! module only decides.

use serde::Serialize;

use crate::settings::TenantSettings;
use crate::text::EmailAddress;
use crate::user::User;

/// The conferencing emails pinbridge sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmailKind {
    /// Set up for audio conferencing: conference ID, numbers and the PIN.
    SetUp,
    /// An admin reset the PIN: the PIN, conference ID and numbers.
    PinReset,
    /// The conference ID or a default number changed: no PIN.
    ConferenceInfoChanged,
    /// Audio conferencing was turned off for the user.
    Disabled,
    /// "Send conference info", on request: no PIN.
    ConferenceInfo,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SetUp => "set-up",
            Self::PinReset => "pin-reset",
            Self::ConferenceInfoChanged => "conference-info-changed",
            Self::Disabled => "disabled",
            Self::ConferenceInfo => "conference-info",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::SetUp,
            Self::PinReset,
            Self::ConferenceInfoChanged,
            Self::Disabled,
            Self::ConferenceInfo,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }

    /// Whether the email carries the user's new PIN.
    pub fn carries_pin(self) -> bool {
        matches!(self, Self::SetUp | Self::PinReset)
    }
}

/// Whether an email was asked for by the admin or follows automatically from a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Automatic,
    /// `--send-email`, the "Send conference info" button: always honoured.
    Explicit,
}

/// The outcome for one email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum EmailDecision {
    Queue {
        kind: EmailKind,
        to: EmailAddress,
    },
    NotSent {
        kind: EmailKind,
        reason: NotSentReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotSentReason {
    AutomaticEmailsOff,
    NoAddress,
}

impl NotSentReason {
    /// What an admin is told when `kind` was not sent: with automatic emails off, the
    /// admin passes the information on by hand.
    pub fn explain(self, kind: EmailKind) -> &'static str {
        match (self, kind.carries_pin()) {
            (Self::AutomaticEmailsOff, true) => {
                "automatic emails are off: give the user this PIN yourself"
            }
            (Self::AutomaticEmailsOff, false) => {
                "automatic emails are off: tell the user of this change yourself"
            }
            (Self::NoAddress, _) => {
                "the user has no mailbox and no override address: nothing was sent"
            }
        }
    }
}

/// Decides whether `kind` is sent for `user`, and to which address.
pub fn decide(
    kind: EmailKind,
    trigger: Trigger,
    settings: &TenantSettings,
    user: &User,
) -> EmailDecision {
    if trigger == Trigger::Automatic && !settings.automatically_send_emails {
        return EmailDecision::NotSent {
            kind,
            reason: NotSentReason::AutomaticEmailsOff,
        };
    }
    match user.email_recipient() {
        Some(to) => EmailDecision::Queue {
            kind,
            to: to.clone(),
        },
        None => EmailDecision::NotSent {
            kind,
            reason: NotSentReason::NoAddress,
        },
    }
}
