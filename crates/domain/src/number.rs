//! Dial-in service numbers: the numbers callers dial, each toll or toll-free, with the
//! language its prompts are played in.

use serde::{Deserialize, Serialize};

use crate::text::{E164, LanguageTag, TextError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NumberKind {
    Toll,
    TollFree,
}

impl NumberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Toll => "toll",
            Self::TollFree => "toll-free",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "toll" => Some(Self::Toll),
            "toll-free" => Some(Self::TollFree),
            _ => None,
        }
    }
}

/// A registered dial-in number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceNumber {
    pub number: E164,
    pub kind: NumberKind,
    pub primary_language: LanguageTag,
    /// Up to [`ServiceNumber::MAX_ALTERNATE_LANGUAGES`] more languages.
    pub alternate_languages: Vec<LanguageTag>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("a number has at most 4 alternate languages")]
    TooManyLanguages,
    #[error("{0} is listed twice among the languages")]
    DuplicateLanguage(String),
}

impl ServiceNumber {
    pub const MAX_ALTERNATE_LANGUAGES: usize = 4;

    pub fn new(
        number: E164,
        kind: NumberKind,
        primary_language: LanguageTag,
        alternate_languages: Vec<LanguageTag>,
    ) -> Result<Self, NumberError> {
        if alternate_languages.len() > Self::MAX_ALTERNATE_LANGUAGES {
            return Err(NumberError::TooManyLanguages);
        }
        let mut seen = vec![&primary_language];
        for lang in &alternate_languages {
            if seen.contains(&lang) {
                return Err(NumberError::DuplicateLanguage(lang.to_string()));
            }
            seen.push(lang);
        }
        Ok(Self {
            number,
            kind,
            primary_language,
            alternate_languages,
        })
    }

    /// Parses a comma-separated list of language tags (`fr-FR,de-DE`); empty gives none.
    pub fn parse_languages(text: &str) -> Result<Vec<LanguageTag>, TextError> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(LanguageTag::parse)
            .collect()
    }
}

/// A caller's number as it is shown (in the live state, the CLI and the app): the
/// last four digits hidden (`+14255550123` → `+1425555****`); a number of six digits
/// or fewer is hidden whole. Anything that is not a digit is kept as it is.
pub fn mask_calling_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    let hide = if digits > 6 { 4 } else { digits };
    let mut hidden = 0;
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    for &c in chars.iter().rev() {
        if c.is_ascii_digit() && hidden < hide {
            out.push('*');
            hidden += 1;
        } else {
            out.push(c);
        }
    }
    out.into_iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        let alts = ServiceNumber::parse_languages("fr-FR, de-de").unwrap();
        let n = ServiceNumber::new(
            E164::parse("+14255550100").unwrap(),
            NumberKind::Toll,
            LanguageTag::default(),
            alts,
        )
        .unwrap();
        assert_eq!(n.alternate_languages[1].as_str(), "de-DE");
        let five = ServiceNumber::parse_languages("fr-FR,de-DE,es-ES,it-IT,nl-NL").unwrap();
        assert_eq!(
            ServiceNumber::new(
                n.number.clone(),
                NumberKind::Toll,
                LanguageTag::default(),
                five
            ),
            Err(NumberError::TooManyLanguages)
        );
        let dup = ServiceNumber::parse_languages("en-US").unwrap();
        assert!(
            ServiceNumber::new(n.number, NumberKind::Toll, LanguageTag::default(), dup).is_err()
        );
    }

    #[test]
    fn masks_the_last_four_digits() {
        assert_eq!(mask_calling_number("+14255550123"), "+1425555****");
        assert_eq!(mask_calling_number("+1 425 555 0123"), "+1 425 555 ****");
        assert_eq!(mask_calling_number("1234567"), "123****");
        assert_eq!(mask_calling_number("123456"), "******");
        assert_eq!(mask_calling_number("1234"), "****");
        assert_eq!(mask_calling_number("anonymous"), "anonymous");
        assert_eq!(mask_calling_number(""), "");
    }
}
