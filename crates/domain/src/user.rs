//! Users of the directory and their audio conferencing state.

use serde::Serialize;

use crate::pin::PinHash;
use crate::text::{ConferenceId, DisplayName, E164, EmailAddress, Upn};

/// The store's identifier of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A user's audio conferencing state (Teams' `CsOnlineDialInConferencingUser`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AudioConferencing {
    pub enabled: bool,
    /// Kept reserved for the user while audio conferencing is disabled.
    pub conference_id: Option<ConferenceId>,
    pub service_number: Option<E164>,
    pub toll_free_service_number: Option<E164>,
    /// "Callers can start this user's meetings" (AllowPSTNOnlyMeetings).
    pub allow_pstn_only_meetings: bool,
    /// The organiser PIN's hash; `None` while disabled.
    pub pin_hash: Option<PinHash>,
    /// Counts the PINs ever issued to this user: each new PIN gets the next number.
    pub pin_version: i64,
    /// When the current PIN was issued (Unix milliseconds).
    pub pin_set_at_ms: Option<i64>,
}

/// A user of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub upn: Upn,
    pub display_name: DisplayName,
    /// Set only for users with a mailbox.
    pub primary_smtp_address: Option<EmailAddress>,
    /// Where conferencing emails go instead of the mailbox, remembered until cleared.
    pub email_override: Option<EmailAddress>,
    pub role: Role,
    pub password_hash: Option<PinHash>,
    pub conferencing: AudioConferencing,
    pub created_at_ms: i64,
}

impl User {
    /// Where conferencing emails for this user go: the override if set, else the
    /// mailbox's primary SMTP address, else nowhere.
    pub fn email_recipient(&self) -> Option<&EmailAddress> {
        self.email_override
            .as_ref()
            .or(self.primary_smtp_address.as_ref())
    }
}

/// The words a users search finds this user by, in lower case: the whole UPN, and each
/// run of letters and digits in the UPN and the display name.
pub fn search_terms(upn: &Upn, display_name: &DisplayName) -> Vec<String> {
    let mut terms = vec![upn.as_str().to_lowercase()];
    for text in [upn.as_str(), display_name.as_str()] {
        let lower = text.to_lowercase();
        terms.extend(
            lower
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_owned),
        );
    }
    terms.sort();
    terms.dedup();
    terms
}

/// The words of a search query, in lower case; a user matches when every word is the
/// start of one of their [`search_terms`]. At most eight words count.
pub fn search_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = query
        .split_whitespace()
        .map(str::to_lowercase)
        .take(8)
        .collect();
    words.sort();
    words.dedup();
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_cover_words_of_the_name_and_the_upn() {
        let upn = Upn::parse("Chloe.Dubois-Martin@Contoso.example").unwrap();
        let name = DisplayName::parse("Chloé Dubois-Martin (Sales)").unwrap();
        let terms = search_terms(&upn, &name);
        for expected in [
            "chloe.dubois-martin@contoso.example",
            "chloe",
            "chloé",
            "dubois",
            "martin",
            "sales",
            "contoso",
            "example",
        ] {
            assert!(
                terms.iter().any(|t| t == expected),
                "{expected} missing from {terms:?}"
            );
        }
        assert_eq!(
            search_words("  Dubois   chloé dubois "),
            vec!["chloé", "dubois"]
        );
    }
}
