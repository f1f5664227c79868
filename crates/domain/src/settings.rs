//! Tenant conferencing settings, with the names and defaults of Teams'
//! `Get-CsOnlineDialInConferencingTenantSettings` where one exists.

use serde::Serialize;

use crate::pin::PinLength;
use crate::text::DisplayName;

/// What callers hear when someone joins or leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryExitAnnouncementsType {
    /// The recorded name is announced (a tone when no name was recorded).
    #[default]
    UseNames,
    /// Only a tone.
    ToneOnly,
}

impl EntryExitAnnouncementsType {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "use-names" | "usenames" => Ok(Self::UseNames),
            "tone-only" | "toneonly" => Ok(Self::ToneOnly),
            _ => Err(format!(
                "announcement type must be use-names or tone-only, not {text:?}"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UseNames => "use-names",
            Self::ToneOnly => "tone-only",
        }
    }
}

/// The tenant's audio conferencing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantSettings {
    /// Digits in newly generated PINs; existing PINs keep their own length.
    pub pin_length: PinLength,
    /// Send set-up, PIN-reset, change and disable emails automatically.
    pub automatically_send_emails: bool,
    /// The value newly enabled users get for "callers can start my meetings".
    pub allow_pstn_only_meetings_by_default: bool,
    pub enable_entry_exit_notifications: bool,
    pub entry_exit_announcements_type: EntryExitAnnouncementsType,
    pub enable_name_recording: bool,
    /// Dial-in callers skip the lobby of a meeting that has started.
    pub allow_pstn_users_to_bypass_lobby: bool,
    /// Minutes a caller may wait in the lobby before being told nobody admitted them.
    pub lobby_wait_minutes: u32,
    pub display_name: DisplayName,
}

impl TenantSettings {
    pub const DEFAULT_LOBBY_WAIT_MINUTES: u32 = 30;
    pub const MAX_LOBBY_WAIT_MINUTES: u32 = 24 * 60;
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            pin_length: PinLength::default(),
            automatically_send_emails: true,
            allow_pstn_only_meetings_by_default: false,
            enable_entry_exit_notifications: true,
            entry_exit_announcements_type: EntryExitAnnouncementsType::UseNames,
            enable_name_recording: true,
            allow_pstn_users_to_bypass_lobby: false,
            lobby_wait_minutes: Self::DEFAULT_LOBBY_WAIT_MINUTES,
            display_name: DisplayName::parse("pinbridge").expect("constant name is valid"),
        }
    }
}

/// A partial update of the settings; `None` leaves a value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSettingsChange {
    pub pin_length: Option<PinLength>,
    pub automatically_send_emails: Option<bool>,
    pub allow_pstn_only_meetings_by_default: Option<bool>,
    pub enable_entry_exit_notifications: Option<bool>,
    pub entry_exit_announcements_type: Option<EntryExitAnnouncementsType>,
    pub enable_name_recording: Option<bool>,
    pub allow_pstn_users_to_bypass_lobby: Option<bool>,
    pub lobby_wait_minutes: Option<u32>,
    pub display_name: Option<DisplayName>,
}

impl TenantSettingsChange {
    /// Applies the change and describes what actually changed, for the audit log
    /// (`pin_length: 5 -> 8`). An empty description means nothing changed.
    pub fn apply(&self, settings: &mut TenantSettings) -> Result<Vec<String>, String> {
        if let Some(minutes) = self.lobby_wait_minutes
            && !(1..=TenantSettings::MAX_LOBBY_WAIT_MINUTES).contains(&minutes)
        {
            return Err(format!(
                "lobby wait must be 1 to {} minutes",
                TenantSettings::MAX_LOBBY_WAIT_MINUTES
            ));
        }
        let mut changed = Vec::new();
        macro_rules! set {
            ($field:ident, $show:expr) => {
                if let Some(new) = &self.$field {
                    if settings.$field != *new {
                        let show = $show;
                        changed.push(format!(
                            "{}: {} -> {}",
                            stringify!($field),
                            show(&settings.$field),
                            show(new)
                        ));
                        settings.$field = new.clone();
                    }
                }
            };
        }
        set!(pin_length, |v: &PinLength| v.get().to_string());
        set!(automatically_send_emails, |v: &bool| v.to_string());
        set!(allow_pstn_only_meetings_by_default, |v: &bool| v
            .to_string());
        set!(enable_entry_exit_notifications, |v: &bool| v.to_string());
        set!(
            entry_exit_announcements_type,
            |v: &EntryExitAnnouncementsType| v.as_str().to_owned()
        );
        set!(enable_name_recording, |v: &bool| v.to_string());
        set!(allow_pstn_users_to_bypass_lobby, |v: &bool| v.to_string());
        set!(lobby_wait_minutes, |v: &u32| v.to_string());
        set!(display_name, |v: &DisplayName| format!("{:?}", v.as_str()));
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_teams() {
        let s = TenantSettings::default();
        assert_eq!(s.pin_length.get(), 5);
        assert!(s.automatically_send_emails);
        assert!(!s.allow_pstn_only_meetings_by_default);
        assert!(s.enable_entry_exit_notifications);
        assert!(s.enable_name_recording);
        assert!(!s.allow_pstn_users_to_bypass_lobby);
        assert_eq!(s.lobby_wait_minutes, 30);
    }

    #[test]
    fn change_reports_only_real_changes() {
        let mut s = TenantSettings::default();
        let change = TenantSettingsChange {
            pin_length: Some(PinLength::new(8).unwrap()),
            automatically_send_emails: Some(true),
            ..Default::default()
        };
        assert_eq!(change.apply(&mut s).unwrap(), vec!["pin_length: 5 -> 8"]);
        assert_eq!(s.pin_length.get(), 8);
        let bad = TenantSettingsChange {
            lobby_wait_minutes: Some(0),
            ..Default::default()
        };
        assert!(bad.apply(&mut s).is_err());
    }
}
