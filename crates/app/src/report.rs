//! What the CLI prints with `--json` about meetings, as types.
//!
//! `pinbridge meeting new`, `meeting list` and `meeting show` serialise exactly these
//! structs, and anything reading that output (scripts, the end-to-end tests) can
//! deserialise it into the same structs. Unknown fields are refused, so a reader notices
//! when the output changes instead of silently reading defaults.

use pinbridge_domain::meeting::{ParticipantKind, Placement};
use pinbridge_domain::{NumberKind, ServiceNumber, User};
use serde::{Deserialize, Serialize};

/// One number callers can dial to reach a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialInNumber {
    /// The number in E.164 form (`+14255550100`).
    pub number: String,
    /// Toll or toll-free.
    pub kind: NumberKind,
}

impl DialInNumber {
    /// The numbers that reach a meeting of `organizer`: the organiser's own toll and
    /// toll-free numbers when they have any, else every number of the tenant.
    pub fn for_organizer(organizer: &User, numbers: &[ServiceNumber]) -> Vec<Self> {
        let c = &organizer.conferencing;
        let own: Vec<Self> = [
            (&c.service_number, NumberKind::Toll),
            (&c.toll_free_service_number, NumberKind::TollFree),
        ]
        .into_iter()
        .filter_map(|(number, kind)| {
            number.as_ref().map(|n| Self {
                number: n.as_str().to_owned(),
                kind,
            })
        })
        .collect();
        if !own.is_empty() {
            return own;
        }
        numbers
            .iter()
            .map(|n| Self {
                number: n.number.as_str().to_owned(),
                kind: n.kind,
            })
            .collect()
    }
}

/// A meeting just created (`pinbridge meeting new`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMeetingReport {
    /// The meeting's own conference ID.
    pub conference_id: String,
    /// The organiser's user principal name.
    pub organizer: String,
    /// The subject, if one was given.
    pub subject: Option<String>,
    /// The meeting's own anonymous-start setting; `None` inherits the organiser's.
    pub allow_anonymous_start: Option<bool>,
    /// The meeting's own lobby-bypass setting; `None` inherits the tenant's.
    pub allow_pstn_users_to_bypass_lobby: Option<bool>,
    /// The numbers callers dial.
    pub dial_in_numbers: Vec<DialInNumber>,
}

/// One meeting of `pinbridge meeting list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingSummary {
    /// The meeting's own conference ID.
    pub conference_id: String,
    /// The organiser's user principal name.
    pub organizer: String,
    /// The subject, if the meeting has one.
    pub subject: Option<String>,
    /// The meeting's own anonymous-start setting; `None` inherits the organiser's.
    pub allow_anonymous_start: Option<bool>,
    /// The meeting's own lobby-bypass setting; `None` inherits the tenant's.
    pub allow_pstn_users_to_bypass_lobby: Option<bool>,
    /// When the meeting was created (Unix milliseconds).
    pub created_at_ms: i64,
}

/// A meeting, or a user's own conference ID, with its live state
/// (`pinbridge meeting show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingReport {
    /// The conference ID asked about.
    pub conference_id: String,
    /// The organiser's user principal name.
    pub organizer: String,
    /// The conference ID is the organiser's own, not a meeting created for it.
    pub personal: bool,
    /// The subject, if the meeting has one.
    pub subject: Option<String>,
    /// The meeting's own anonymous-start setting; `None` inherits the organiser's.
    pub allow_anonymous_start: Option<bool>,
    /// The meeting's own lobby-bypass setting; `None` inherits the tenant's.
    pub allow_pstn_users_to_bypass_lobby: Option<bool>,
    /// Whether the first caller starts the meeting, once the settings are resolved.
    pub anonymous_start: bool,
    /// Whether callers skip the lobby of the started meeting, once resolved.
    pub bypass_lobby: bool,
    /// The numbers callers dial.
    pub dial_in_numbers: Vec<DialInNumber>,
    /// The meeting has started.
    pub started: bool,
    /// When the meeting started (Unix milliseconds); `None` while it has not.
    pub started_at_ms: Option<i64>,
    /// Everyone connected now, in order of arrival.
    pub participants: Vec<ParticipantReport>,
}

/// One participant of a live meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantReport {
    /// The bridge's identifier of the participant within the meeting.
    pub participant: i64,
    /// On the phone or in the app.
    pub kind: ParticipantKind,
    /// The participant is the organiser.
    pub organizer: bool,
    /// In the lobby or in the meeting.
    pub placement: Placement,
    /// The calling number, masked (`+1425555****`).
    pub calling_number: Option<String>,
    /// When the participant joined (Unix milliseconds).
    pub joined_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> MeetingReport {
        MeetingReport {
            conference_id: "123456789".into(),
            organizer: "alice@contoso.example".into(),
            personal: false,
            subject: None,
            allow_anonymous_start: Some(true),
            allow_pstn_users_to_bypass_lobby: None,
            anonymous_start: true,
            bypass_lobby: false,
            dial_in_numbers: vec![DialInNumber {
                number: "+14255550100".into(),
                kind: NumberKind::TollFree,
            }],
            started: true,
            started_at_ms: Some(5),
            participants: vec![ParticipantReport {
                participant: 1,
                kind: ParticipantKind::Phone,
                organizer: true,
                placement: Placement::Lobby,
                calling_number: Some("+1425555****".into()),
                joined_at_ms: 4,
            }],
        }
    }

    #[test]
    fn a_report_reads_back_as_written() {
        let text = serde_json::to_string(&report()).unwrap();
        let back: MeetingReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report());
    }

    #[test]
    fn vocabularies_are_written_as_the_cli_always_wrote_them() {
        let value = serde_json::to_value(report()).unwrap();
        assert_eq!(value["dial_in_numbers"][0]["kind"], "toll-free");
        assert_eq!(value["participants"][0]["kind"], "phone");
        assert_eq!(value["participants"][0]["placement"], "lobby");
        assert_eq!(value["participants"][0]["organizer"], true);
    }

    #[test]
    fn unknown_or_missing_fields_are_refused() {
        let mut value = serde_json::to_value(report()).unwrap();
        value["participants"][0]["in_lobby"] = true.into();
        assert!(serde_json::from_value::<MeetingReport>(value).is_err());
        let mut value = serde_json::to_value(report()).unwrap();
        value.as_object_mut().unwrap().remove("participants");
        assert!(serde_json::from_value::<MeetingReport>(value).is_err());
        let mut value = serde_json::to_value(report()).unwrap();
        value["participants"][0]["placement"] = "hallway".into();
        assert!(serde_json::from_value::<MeetingReport>(value).is_err());
    }
}
