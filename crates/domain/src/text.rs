//! Validated text values. Each type can only hold a well-formed value ("parse, don't
//! validate"), so code further in never re-checks them.

use std::fmt;

use serde::Serialize;

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is too long (at most {max} characters)")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} must not contain line breaks or control characters")]
    ControlCharacter { what: &'static str },
    #[error("{what} {value:?} is not valid: {why}")]
    Invalid {
        what: &'static str,
        value: String,
        why: &'static str,
    },
}

fn check_plain(what: &'static str, value: &str, max: usize) -> Result<(), TextError> {
    if value.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter { what });
    }
    if value.trim().is_empty() {
        return Err(TextError::Empty { what });
    }
    if value.chars().count() > max {
        return Err(TextError::TooLong { what, max });
    }
    Ok(())
}

fn invalid(what: &'static str, value: &str, why: &'static str) -> TextError {
    // Values are shown back to the admin, but never more than a screenful of them.
    let value: String = value.chars().take(80).collect();
    TextError::Invalid { what, value, why }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = TextError;
            fn from_str(s: &str) -> Result<Self, TextError> {
                Self::parse(s)
            }
        }
    };
}

/// An email address: a local part, `@`, and a domain with at least one dot.
/// Stored as given (the local part may be case-sensitive), compared case-insensitively
/// by the store where it matters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);
string_newtype!(EmailAddress);

impl EmailAddress {
    pub fn parse(value: &str) -> Result<Self, TextError> {
        const WHAT: &str = "email address";
        check_plain(WHAT, value, 254)?;
        let value = value.trim();
        let (local, domain) = value
            .rsplit_once('@')
            .ok_or_else(|| invalid(WHAT, value, "it has no @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(invalid(
                WHAT,
                value,
                "the part before @ must be 1 to 64 characters",
            ));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid(
                WHAT,
                value,
                "the part before @ has characters that are not allowed",
            ));
        }
        check_domain(WHAT, value, domain)?;
        Ok(Self(value.to_owned()))
    }
}

fn check_domain(what: &'static str, whole: &str, domain: &str) -> Result<(), TextError> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(what, whole, "the domain needs at least one dot"));
    }
    for label in labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(invalid(what, whole, "the domain is not a valid host name"));
        }
    }
    Ok(())
}

/// A user principal name (`alice@contoso.example`). Unique per tenant, compared
/// case-insensitively: the value is kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upn(String);
string_newtype!(Upn);

impl Upn {
    pub fn parse(value: &str) -> Result<Self, TextError> {
        const WHAT: &str = "user principal name";
        check_plain(WHAT, value, 254)?;
        let email = EmailAddress::parse(value).map_err(|e| match e {
            TextError::Invalid { value, why, .. } => TextError::Invalid {
                what: WHAT,
                value,
                why,
            },
            other => other,
        })?;
        Ok(Self(email.0.to_lowercase()))
    }
}

/// A person's or tenant's display name: 1 to 256 characters, no line breaks or other
/// control characters (so it is safe in an email header).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);
string_newtype!(DisplayName);

impl DisplayName {
    pub fn parse(value: &str) -> Result<Self, TextError> {
        check_plain("display name", value, 256)?;
        Ok(Self(value.trim().to_owned()))
    }
}

/// A telephone number in E.164 form: `+`, then 1 to 15 digits, the first not zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);
string_newtype!(E164);

impl E164 {
    pub fn parse(value: &str) -> Result<Self, TextError> {
        const WHAT: &str = "phone number";
        check_plain(WHAT, value, 16)?;
        let value = value.trim();
        let digits = value
            .strip_prefix('+')
            .ok_or_else(|| invalid(WHAT, value, "E.164 numbers start with +"))?;
        if digits.is_empty()
            || digits.len() > 15
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(invalid(
                WHAT,
                value,
                "E.164 numbers are + and 1 to 15 digits, the first not 0",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The digits without the leading `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

/// A language tag such as `en-US` (language, optionally a region).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LanguageTag(String);
string_newtype!(LanguageTag);

impl LanguageTag {
    pub fn parse(value: &str) -> Result<Self, TextError> {
        const WHAT: &str = "language";
        check_plain(WHAT, value, 16)?;
        let value = value.trim();
        let (lang, region) = match value.split_once('-') {
            Some((l, r)) => (l, Some(r)),
            None => (value, None),
        };
        let lang_ok =
            (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_alphabetic());
        let region_ok =
            region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()));
        if !lang_ok || !region_ok {
            return Err(invalid(WHAT, value, "use a tag like en-US or fr-FR"));
        }
        Ok(Self(match region {
            Some(r) => format!("{}-{}", lang.to_ascii_lowercase(), r.to_ascii_uppercase()),
            None => lang.to_ascii_lowercase(),
        }))
    }
}

impl Default for LanguageTag {
    fn default() -> Self {
        Self("en-US".to_owned())
    }
}

/// A conference ID: 7 to 9 digits, what a caller types on the phone to reach a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConferenceId(String);
string_newtype!(ConferenceId);

impl ConferenceId {
    pub const GENERATED_LENGTH: usize = 9;

    pub fn parse(value: &str) -> Result<Self, TextError> {
        const WHAT: &str = "conference ID";
        check_plain(WHAT, value, 9)?;
        let value = value.trim();
        if !(7..=9).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(WHAT, value, "conference IDs are 7 to 9 digits"));
        }
        Ok(Self(value.to_owned()))
    }

    /// A new random conference ID of nine digits, the first not zero. Uniqueness is the
    /// store's job: it retries with another value when one is taken.
    pub fn generate(rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) -> Self {
        let mut digits = crate::pin::random_digits(rng, Self::GENERATED_LENGTH);
        while digits.starts_with('0') {
            digits = crate::pin::random_digits(rng, Self::GENERATED_LENGTH);
        }
        Self(digits)
    }
}

/// A meeting's subject: 1 to 200 characters on one line, kept without the spaces
/// around it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MeetingSubject(String);
string_newtype!(MeetingSubject);

impl MeetingSubject {
    /// The longest subject, in characters.
    pub const MAX_CHARS: usize = 200;

    pub fn parse(value: &str) -> Result<Self, TextError> {
        let value = value.trim();
        check_plain("meeting subject", value, Self::MAX_CHARS)?;
        Ok(Self(value.to_owned()))
    }

    /// A subject as a form field or a command-line option gives it: blank (or only
    /// spaces) means the meeting has none.
    pub fn parse_optional(value: &str) -> Result<Option<Self>, TextError> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        Self::parse(value).map(Some)
    }
}

/// The web address users reach pinbridge at (the `public_url` setting): `http://` or
/// `https://` and a host, with no spaces, control characters, query or fragment, kept
/// without a trailing slash. Emails link to its self-service portal and meeting
/// invitations to its join page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicUrl(String);
string_newtype!(PublicUrl);

impl PublicUrl {
    pub fn parse(value: &str) -> Result<Self, TextError> {
        const WHAT: &str = "public URL";
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(
                WHAT,
                value,
                "it must not contain spaces or control characters",
            ));
        }
        let value = value.trim_end_matches('/');
        let Some(rest) = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
        else {
            return Err(invalid(
                WHAT,
                value,
                "it must be an http:// or https:// address",
            ));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(invalid(WHAT, value, "it must name a host"));
        }
        if rest.contains(['?', '#']) {
            return Err(invalid(
                WHAT,
                value,
                "it must not have a query or a fragment",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The self-service portal, where a user resets their own PIN.
    pub fn portal_url(&self) -> String {
        format!("{}/usp", self.0)
    }

    /// Where signed-in users join a meeting from the browser.
    pub fn join_url(&self, id: &ConferenceId) -> String {
        format!("{}/meet/{id}", self.0)
    }
}

impl Default for PublicUrl {
    /// The address of `serve` on its default HTTP port.
    fn default() -> Self {
        Self("http://localhost:8080".to_owned())
    }
}

/// The name of an API token, which the audit log shows: 1 to 64 ASCII letters, digits,
/// `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenName(String);
string_newtype!(TokenName);

impl TokenName {
    /// The longest name, in characters.
    pub const MAX_CHARS: usize = 64;

    pub fn parse(value: &str) -> Result<Self, TextError> {
        let ok = !value.is_empty()
            && value.len() <= Self::MAX_CHARS
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(invalid(
                "token name",
                value,
                "it must be 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses() {
        for ok in [
            "a@b.example",
            "first.last+tag@sub.contoso.example",
            "X_Y@hotmail.com",
        ] {
            EmailAddress::parse(ok).unwrap();
        }
        for bad in [
            "",
            "nobody",
            "a@b",
            "a@@b.example",
            "a b@c.example",
            "a@b.example\r\nBcc: x@y.example",
            ".a@b.example",
            "a@-b.example",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn upn_is_case_insensitive() {
        assert_eq!(
            Upn::parse("Alice@Contoso.Example").unwrap().as_str(),
            "alice@contoso.example"
        );
    }

    #[test]
    fn display_name_refuses_line_breaks() {
        assert_eq!(
            DisplayName::parse("Alice\r\nBcc: x@y.example"),
            Err(TextError::ControlCharacter {
                what: "display name"
            })
        );
        assert_eq!(
            DisplayName::parse("  Ålice Ünder ").unwrap().as_str(),
            "Ålice Ünder"
        );
    }

    #[test]
    fn e164_numbers() {
        E164::parse("+14255550100").unwrap();
        for bad in [
            "14255550100",
            "+",
            "+0123",
            "+1425555010012345",
            "+1-425",
            "+1 425",
        ] {
            assert!(E164::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn language_tags_are_normalised() {
        assert_eq!(LanguageTag::parse("fr-fr").unwrap().as_str(), "fr-FR");
        assert!(LanguageTag::parse("english").is_err());
    }

    #[test]
    fn conference_ids() {
        ConferenceId::parse("1234567").unwrap();
        assert!(ConferenceId::parse("123456").is_err());
        assert!(ConferenceId::parse("1234567890").is_err());
        let id = ConferenceId::generate(&mut rand_core::OsRng);
        assert_eq!(id.as_str().len(), 9);
        assert!(!id.as_str().starts_with('0'));
    }

    #[test]
    fn meeting_subjects_are_one_trimmed_line() {
        assert_eq!(
            MeetingSubject::parse(" Q3 review ").unwrap().as_str(),
            "Q3 review"
        );
        let longest = "x".repeat(MeetingSubject::MAX_CHARS);
        assert_eq!(MeetingSubject::parse(&longest).unwrap().as_str(), longest);
        assert!(matches!(
            MeetingSubject::parse(&format!("{longest}x")),
            Err(TextError::TooLong { .. })
        ));
        assert!(matches!(
            MeetingSubject::parse("two\nlines"),
            Err(TextError::ControlCharacter { .. })
        ));
        assert!(matches!(
            MeetingSubject::parse("   "),
            Err(TextError::Empty { .. })
        ));
        assert_eq!(MeetingSubject::parse_optional(" \t ").unwrap(), None);
        assert_eq!(
            MeetingSubject::parse_optional(" Q3 ")
                .unwrap()
                .unwrap()
                .as_str(),
            "Q3"
        );
        assert!(MeetingSubject::parse_optional("a\u{0}b").is_err());
    }

    #[test]
    fn public_urls() {
        let url = PublicUrl::parse("https://meet.contoso.example/").unwrap();
        assert_eq!(url.as_str(), "https://meet.contoso.example");
        assert_eq!(url.portal_url(), "https://meet.contoso.example/usp");
        assert_eq!(
            url.join_url(&ConferenceId::parse("123456789").unwrap()),
            "https://meet.contoso.example/meet/123456789"
        );
        assert_eq!(
            PublicUrl::parse("http://127.0.0.1:8080/pinbridge")
                .unwrap()
                .portal_url(),
            "http://127.0.0.1:8080/pinbridge/usp"
        );
        assert_eq!(PublicUrl::default().as_str(), "http://localhost:8080");
        for bad in [
            "",
            "meet.contoso.example",
            "ftp://meet.contoso.example",
            "https://",
            "https:///path",
            "https://meet.contoso.example/?x=1",
            "https://meet.contoso.example/#top",
            "https://meet contoso.example",
            "https://meet.contoso.example\r\nX: y",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn token_names_are_short_plain_words() {
        assert_eq!(
            TokenName::parse("ci-deploy_1.2").unwrap().as_str(),
            "ci-deploy_1.2"
        );
        assert!(TokenName::parse(&"a".repeat(TokenName::MAX_CHARS)).is_ok());
        for bad in [
            "",
            "two words",
            "naïve",
            &"a".repeat(TokenName::MAX_CHARS + 1),
        ] {
            assert!(TokenName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
