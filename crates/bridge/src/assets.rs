//! The prompts and the hold music, embedded in the binary and decoded once at start.

use std::collections::HashMap;

use pinbridge_ivr::PromptId;
use pinbridge_media::{Clip, Wav, WavError};
use thiserror::Error;

/// The language every deployment has prompts for, and the fallback for unknown ones.
pub const DEFAULT_LANGUAGE: &str = "en-US";

/// The committed en-US prompts, by asset name ([`PromptId::name`]).
const EN_US: &[(&str, &[u8])] = &[
    (
        "admitted",
        include_bytes!("../../../assets/prompts/en-US/admitted.wav"),
    ),
    (
        "announcements-off",
        include_bytes!("../../../assets/prompts/en-US/announcements-off.wav"),
    ),
    (
        "announcements-on",
        include_bytes!("../../../assets/prompts/en-US/announcements-on.wav"),
    ),
    (
        "conference-id-invalid",
        include_bytes!("../../../assets/prompts/en-US/conference-id-invalid.wav"),
    ),
    (
        "enter-conference-id",
        include_bytes!("../../../assets/prompts/en-US/enter-conference-id.wav"),
    ),
    (
        "enter-pin",
        include_bytes!("../../../assets/prompts/en-US/enter-pin.wav"),
    ),
    (
        "everyone-muted",
        include_bytes!("../../../assets/prompts/en-US/everyone-muted.wav"),
    ),
    (
        "goodbye",
        include_bytes!("../../../assets/prompts/en-US/goodbye.wav"),
    ),
    (
        "hand-lowered",
        include_bytes!("../../../assets/prompts/en-US/hand-lowered.wav"),
    ),
    (
        "hand-raised",
        include_bytes!("../../../assets/prompts/en-US/hand-raised.wav"),
    ),
    (
        "help",
        include_bytes!("../../../assets/prompts/en-US/help.wav"),
    ),
    (
        "joined",
        include_bytes!("../../../assets/prompts/en-US/joined.wav"),
    ),
    (
        "joining-as-organiser",
        include_bytes!("../../../assets/prompts/en-US/joining-as-organiser.wav"),
    ),
    (
        "left",
        include_bytes!("../../../assets/prompts/en-US/left.wav"),
    ),
    (
        "lobby-admitted-all",
        include_bytes!("../../../assets/prompts/en-US/lobby-admitted-all.wav"),
    ),
    (
        "lobby-empty",
        include_bytes!("../../../assets/prompts/en-US/lobby-empty.wav"),
    ),
    (
        "lobby-timeout",
        include_bytes!("../../../assets/prompts/en-US/lobby-timeout.wav"),
    ),
    (
        "lobby-wait",
        include_bytes!("../../../assets/prompts/en-US/lobby-wait.wav"),
    ),
    (
        "meeting-ended",
        include_bytes!("../../../assets/prompts/en-US/meeting-ended.wav"),
    ),
    (
        "muted",
        include_bytes!("../../../assets/prompts/en-US/muted.wav"),
    ),
    (
        "not-organiser",
        include_bytes!("../../../assets/prompts/en-US/not-organiser.wav"),
    ),
    (
        "only-person",
        include_bytes!("../../../assets/prompts/en-US/only-person.wav"),
    ),
    (
        "organiser-press-star",
        include_bytes!("../../../assets/prompts/en-US/organiser-press-star.wav"),
    ),
    (
        "pin-entry-locked",
        include_bytes!("../../../assets/prompts/en-US/pin-entry-locked.wav"),
    ),
    (
        "pin-invalid",
        include_bytes!("../../../assets/prompts/en-US/pin-invalid.wav"),
    ),
    (
        "record-name",
        include_bytes!("../../../assets/prompts/en-US/record-name.wav"),
    ),
    (
        "unmuted",
        include_bytes!("../../../assets/prompts/en-US/unmuted.wav"),
    ),
    (
        "welcome",
        include_bytes!("../../../assets/prompts/en-US/welcome.wav"),
    ),
];

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
        let mut clips = HashMap::new();
        for prompt in PromptId::ALL {
            let (name, bytes) = EN_US
                .iter()
                .find(|(name, _)| *name == prompt.name())
                .ok_or(AssetError::Missing(prompt.name(), DEFAULT_LANGUAGE))?;
            clips.insert(prompt, decode(name, bytes)?);
        }
        Ok(Self {
            languages: vec![(DEFAULT_LANGUAGE, PromptSet { clips })],
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
        assert!(!assets.has_language("fr-FR"));
        assert_eq!(assets.language_index("fr-FR"), 0);
    }
}
