//! What the bridge needs to know of the tenant when a call arrives: its settings and
//! its service numbers with their languages. The driver loads it from the store and
//! hands the core a fresh copy whenever it changes.

use pinbridge_domain::{ServiceNumber, TenantSettings};

/// The tenant settings and service numbers a call's set-up reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    /// The tenant settings (name recording, lobby wait).
    pub settings: TenantSettings,
    /// The service numbers, each with its languages.
    pub numbers: Vec<ServiceNumber>,
}

impl Directory {
    /// The primary language of the service number a call dialled, if it is registered.
    /// Numbers match with or without the leading `+`.
    pub fn language_of(&self, called: &str) -> Option<&str> {
        self.number(called).map(|n| n.primary_language.as_str())
    }

    /// The alternate languages of the service number a call dialled, in the order the
    /// greeting offers them (none when it is not registered).
    pub fn alternates_of(&self, called: &str) -> impl Iterator<Item = &str> {
        self.number(called)
            .into_iter()
            .flat_map(|n| n.alternate_languages.iter().map(|l| l.as_str()))
    }

    fn number(&self, called: &str) -> Option<&ServiceNumber> {
        let digits = called.trim_start_matches('+');
        self.numbers
            .iter()
            .find(|n| !digits.is_empty() && n.number.digits() == digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinbridge_domain::{E164, LanguageTag, NumberKind};

    #[test]
    fn finds_the_language_of_a_called_number_with_or_without_plus() {
        let number = ServiceNumber::new(
            E164::parse("+14255550100").unwrap(),
            NumberKind::Toll,
            LanguageTag::parse("en-US").unwrap(),
            vec![
                LanguageTag::parse("fr-FR").unwrap(),
                LanguageTag::parse("de-DE").unwrap(),
            ],
        )
        .unwrap();
        let directory = Directory {
            settings: TenantSettings::default(),
            numbers: vec![number],
        };
        assert_eq!(directory.language_of("+14255550100"), Some("en-US"));
        assert_eq!(directory.language_of("14255550100"), Some("en-US"));
        assert_eq!(directory.language_of("+14255550199"), None);
        assert_eq!(directory.language_of(""), None);
        let alternates: Vec<_> = directory.alternates_of("14255550100").collect();
        assert_eq!(alternates, ["fr-FR", "de-DE"]);
        assert_eq!(directory.alternates_of("+14255550199").count(), 0);
    }
}
