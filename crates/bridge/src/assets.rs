//! The prompts and the hold music, embedded in the binary and decoded once at start.

use std::collections::HashMap;

use pinbridge_ivr::PromptId;
use pinbridge_media::{Clip, Wav, WavError};
use thiserror::Error;

/// The language every deployment has prompts for, and the fallback for unknown ones.
pub const DEFAULT_LANGUAGE: &str = "en-US";

/// The languages there are prompts for, [`DEFAULT_LANGUAGE`] first. A service number's
/// language outside this list plays [`DEFAULT_LANGUAGE`], and an alternate language
/// outside it is not offered.
pub const LANGUAGES: [&str; 2] = [DEFAULT_LANGUAGE, "fr-FR"];

/// The committed prompts of one language folder, by asset name ([`PromptId::name`]).
macro_rules! prompt_files {
    ($language:literal) => {
        prompt_files!(
            @files $language,
            "admitted", "announcements-off", "announcements-on",
            "conference-id-invalid", "enter-conference-id", "enter-pin",
            "everyone-muted", "goodbye", "hand-lowered", "hand-raised", "help",
            "joined", "joining-as-organiser", "left", "lobby-admitted-all",
            "lobby-empty", "lobby-timeout", "lobby-wait", "meeting-ended",
            "muted", "not-organiser", "only-person", "organiser-press-star",
            "pin-entry-locked", "pin-invalid", "record-name", "unmuted",
            "welcome", "lobby-reminder", "language-offer-1", "language-offer-2",
            "language-offer-3", "language-offer-4"
        )
    };
    (@files $language:literal, $($name:literal),+) => {
        &[$((
            $name,
            include_bytes!(concat!("../../../assets/prompts/", $language, "/", $name, ".wav")),
        )),+]
    };
}

/// The committed prompts of each language of [`LANGUAGES`], in the same order.
const PROMPT_FILES: [&[(&str, &[u8])]; 2] = [prompt_files!("en-US"), prompt_files!("fr-FR")];

/// The committed hold music.
const HOLD_MUSIC: &[u8] = include_bytes!("../../../assets/music/hold.wav");

/// Why the embedded assets cannot be used.
#[derive(Debug, Error)]
pub enum AssetError {
    /// An asset is not a WAV file the media core can play.
    #[error("asset {name} cannot be decoded: {source}")]
    Decode {
        /// The asset.
        name: String,
        /// Why.
        source: WavError,
    },
    /// A prompt the caller flow can ask for has no asset.
    #[error("prompt {0} has no asset for {1}")]
    Missing(&'static str, &'static str),
}

/// The prompts of one language.
#[derive(Debug, Clone)]
pub struct PromptSet {
    clips: HashMap<PromptId, Clip>,
}

impl PromptSet {
    /// The clip of `prompt`.
    pub fn clip(&self, prompt: PromptId) -> Clip {
        // Every prompt is present: `Assets::load` checks it.
        self.clips
            .get(&prompt)
            .cloned()
            .unwrap_or_else(|| Clip::new(Vec::new()))
    }
}

/// Every prompt language and the hold music, decoded.
#[derive(Debug, Clone)]
pub struct Assets {
    languages: Vec<(&'static str, PromptSet)>,
    music: Clip,
}

fn decode(name: &str, bytes: &[u8]) -> Result<Clip, AssetError> {
    Wav::decode(bytes)
        .map(Wav::into_clip)
        .map_err(|source| AssetError::Decode {
            name: name.to_owned(),
            source,
        })
}

impl Assets {
    /// Decodes the embedded assets and checks that every prompt is there.
    pub fn load() -> Result<Self, AssetError> {
        let mut languages = Vec::with_capacity(LANGUAGES.len());
        for (language, files) in LANGUAGES.into_iter().zip(PROMPT_FILES) {
            let mut clips = HashMap::new();
            for prompt in PromptId::ALL {
                let (name, bytes) = files
                    .iter()
                    .find(|(name, _)| *name == prompt.name())
                    .ok_or(AssetError::Missing(prompt.name(), language))?;
                clips.insert(prompt, decode(&format!("{language}/{name}"), bytes)?);
            }
            languages.push((language, PromptSet { clips }));
        }
        Ok(Self {
            languages,
            music: decode("music/hold", HOLD_MUSIC)?,
        })
    }

    /// Whether prompts exist in `language` (otherwise [`DEFAULT_LANGUAGE`] plays).
    pub fn has_language(&self, language: &str) -> bool {
        self.languages
            .iter()
            .any(|(l, _)| l.eq_ignore_ascii_case(language))
    }

    /// The prompts of `language`, or of [`DEFAULT_LANGUAGE`] when there are none.
    pub fn prompts(&self, language: &str) -> &PromptSet {
        self.languages
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(language))
            .or_else(|| self.languages.first())
            .map(|(_, set)| set)
            .expect("the default language is always loaded")
    }

    /// The index of `language` among the loaded ones (the default when missing).
    pub fn language_index(&self, language: &str) -> usize {
        self.languages
            .iter()
            .position(|(l, _)| l.eq_ignore_ascii_case(language))
            .unwrap_or(0)
    }

    /// The prompts of the language at `index` (from [`Assets::language_index`]).
    pub fn prompts_at(&self, index: usize) -> &PromptSet {
        &self.languages[index.min(self.languages.len() - 1)].1
    }

    /// The tag of the language at `index` (from [`Assets::language_index`]).
    pub fn name_at(&self, index: usize) -> &'static str {
        self.languages[index.min(self.languages.len() - 1)].0
    }

    /// The hold music.
    pub fn music(&self) -> Clip {
        self.music.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_and_the_music_decode() {
        let assets = Assets::load().unwrap();
        for prompt in PromptId::ALL {
            assert!(
                !assets.prompts("en-US").clip(prompt).samples().is_empty(),
                "{prompt} is empty"
            );
        }
        assert!(assets.music().duration().as_secs() >= 10);
        assert!(assets.has_language("en-us"));
        assert!(assets.has_language("fr-FR"));
        assert!(!assets.has_language("de-DE"));
        assert_eq!(assets.language_index("fr-fr"), 1);
        assert_eq!(assets.language_index("de-DE"), 0);
    }

    #[test]
    fn every_language_has_every_prompt_and_its_own_recordings() {
        let assets = Assets::load().unwrap();
        let english = assets.prompts("en-US");
        let french = assets.prompts("fr-FR");
        for prompt in PromptId::ALL {
            assert!(
                !french.clip(prompt).samples().is_empty(),
                "{prompt} is empty"
            );
            assert_ne!(
                english.clip(prompt).samples(),
                french.clip(prompt).samples(),
                "{prompt} is the same in both languages"
            );
        }
    }
}
