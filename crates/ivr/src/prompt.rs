//! The recorded prompts and generated tones a call can play.

use std::fmt;

/// A recorded prompt. Each one is an asset `assets/prompts/<language>/<name>.wav`, where
/// `<name>` is [`PromptId::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptId {
    /// The greeting at the start of every call.
    Welcome,
    /// "Enter the conference ID followed by pound."
    EnterConferenceId,
    /// "That conference ID is not valid."
    ConferenceIdInvalid,
    /// "If you are the organiser, press star now."
    OrganiserPressStar,
    /// "Enter your PIN followed by pound."
    EnterPin,
    /// "That PIN is not valid."
    PinInvalid,
    /// "You are joining as the organiser."
    JoiningAsOrganiser,
    /// "After the tone, say your name, then press pound."
    RecordName,
    /// "Please wait; someone in the meeting will let you in soon."
    LobbyWait,
    /// "You have been admitted to the meeting."
    Admitted,
    /// "You are the only person in the meeting."
    OnlyPerson,
    /// "Nobody admitted you to the meeting."
    LobbyTimeout,
    /// "Goodbye."
    Goodbye,
    /// The list of keypad commands.
    Help,
    /// "You are muted."
    Muted,
    /// "You are unmuted."
    Unmuted,
    /// "Your hand is raised."
    HandRaised,
    /// "Your hand is lowered."
    HandLowered,
    /// "Everyone in the lobby has been admitted."
    LobbyAdmittedAll,
    /// "Nobody is waiting in the lobby."
    LobbyEmpty,
    /// "Everyone except the organiser is muted."
    EveryoneMuted,
    /// "Entry and exit announcements are on."
    AnnouncementsOn,
    /// "Entry and exit announcements are off."
    AnnouncementsOff,
    /// "Only the organiser can do that."
    NotOrganiser,
    /// "The meeting has ended."
    MeetingEnded,
    /// Someone joined the meeting.
    Joined,
    /// Someone left the meeting.
    Left,
    /// "Too many wrong PINs have been entered; PIN entry by phone is locked for now."
    PinEntryLocked,
    /// "You are still waiting in the lobby; someone will let you in soon." (the lobby's
    /// reminder, over the music on hold).
    LobbyReminder,
    /// "For LANGUAGE, press 1", said in that language (a number's first alternate).
    LanguageOffer1,
    /// "For LANGUAGE, press 2."
    LanguageOffer2,
    /// "For LANGUAGE, press 3."
    LanguageOffer3,
    /// "For LANGUAGE, press 4."
    LanguageOffer4,
}

impl PromptId {
    /// Every prompt, for checking that the assets exist.
    pub const ALL: [PromptId; 33] = [
        Self::Welcome,
        Self::EnterConferenceId,
        Self::ConferenceIdInvalid,
        Self::OrganiserPressStar,
        Self::EnterPin,
        Self::PinInvalid,
        Self::JoiningAsOrganiser,
        Self::RecordName,
        Self::LobbyWait,
        Self::Admitted,
        Self::OnlyPerson,
        Self::LobbyTimeout,
        Self::Goodbye,
        Self::Help,
        Self::Muted,
        Self::Unmuted,
        Self::HandRaised,
        Self::HandLowered,
        Self::LobbyAdmittedAll,
        Self::LobbyEmpty,
        Self::EveryoneMuted,
        Self::AnnouncementsOn,
        Self::AnnouncementsOff,
        Self::NotOrganiser,
        Self::MeetingEnded,
        Self::Joined,
        Self::Left,
        Self::PinEntryLocked,
        Self::LobbyReminder,
        Self::LanguageOffer1,
        Self::LanguageOffer2,
        Self::LanguageOffer3,
        Self::LanguageOffer4,
    ];

    /// The most alternate languages a greeting offers (keys 1 to 4).
    pub const MAX_LANGUAGE_OFFERS: u8 = 4;

    /// "For LANGUAGE, press `key`", for keys 1 to [`PromptId::MAX_LANGUAGE_OFFERS`].
    pub fn language_offer(key: u8) -> Option<PromptId> {
        match key {
            1 => Some(Self::LanguageOffer1),
            2 => Some(Self::LanguageOffer2),
            3 => Some(Self::LanguageOffer3),
            4 => Some(Self::LanguageOffer4),
            _ => None,
        }
    }

    /// The asset's file name without the `.wav` extension.
    pub fn name(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::EnterConferenceId => "enter-conference-id",
            Self::ConferenceIdInvalid => "conference-id-invalid",
            Self::OrganiserPressStar => "organiser-press-star",
            Self::EnterPin => "enter-pin",
            Self::PinInvalid => "pin-invalid",
            Self::JoiningAsOrganiser => "joining-as-organiser",
            Self::RecordName => "record-name",
            Self::LobbyWait => "lobby-wait",
            Self::Admitted => "admitted",
            Self::OnlyPerson => "only-person",
            Self::LobbyTimeout => "lobby-timeout",
            Self::Goodbye => "goodbye",
            Self::Help => "help",
            Self::Muted => "muted",
            Self::Unmuted => "unmuted",
            Self::HandRaised => "hand-raised",
            Self::HandLowered => "hand-lowered",
            Self::LobbyAdmittedAll => "lobby-admitted-all",
            Self::LobbyEmpty => "lobby-empty",
            Self::EveryoneMuted => "everyone-muted",
            Self::AnnouncementsOn => "announcements-on",
            Self::AnnouncementsOff => "announcements-off",
            Self::NotOrganiser => "not-organiser",
            Self::MeetingEnded => "meeting-ended",
            Self::Joined => "joined",
            Self::Left => "left",
            Self::PinEntryLocked => "pin-entry-locked",
            Self::LobbyReminder => "lobby-reminder",
            Self::LanguageOffer1 => "language-offer-1",
            Self::LanguageOffer2 => "language-offer-2",
            Self::LanguageOffer3 => "language-offer-3",
            Self::LanguageOffer4 => "language-offer-4",
        }
    }
}

impl fmt::Display for PromptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A generated tone (the media side synthesises it; there is no asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// The beep after which the caller says their name.
    Beep,
    /// A keypad command was not recognised.
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_has_a_committed_asset_in_every_language() {
        let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/prompts");
        for language in ["en-US", "fr-FR"] {
            for prompt in PromptId::ALL {
                let path = prompts
                    .join(language)
                    .join(format!("{}.wav", prompt.name()));
                assert!(path.is_file(), "missing asset {}", path.display());
            }
        }
    }

    #[test]
    fn every_offer_key_has_its_prompt() {
        for key in 1..=PromptId::MAX_LANGUAGE_OFFERS {
            let prompt = PromptId::language_offer(key).unwrap();
            assert!(prompt.name().ends_with(&key.to_string()));
        }
        assert_eq!(PromptId::language_offer(0), None);
        assert_eq!(PromptId::language_offer(5), None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = PromptId::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PromptId::ALL.len());
    }
}
