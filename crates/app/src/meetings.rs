//! Meetings: creating them, listing them, and what a conference ID leads to with its
//! live state.

use pinbridge_domain::audit::Actor;
use pinbridge_domain::meeting::{MeetingOptions, MeetingSettings, ParticipantKind, Placement};
use pinbridge_domain::{ConferenceId, MeetingSubject, PublicUrl, TenantSettings, Upn, User};
use pinbridge_store::StoreError;
use pinbridge_store::meetings::{LiveParticipant, NewMeeting};

use crate::invitation::Invitation;
use crate::report::{
    DialInNumber, MeetingReport, MeetingSummary, NewMeetingReport, ParticipantReport,
};
use crate::{App, AppError, Result};

/// What a conference ID leads to.
struct Conference {
    organizer: User,
    subject: Option<String>,
    settings: MeetingSettings,
    /// The ID is the organiser's own.
    personal: bool,
}

/// A meeting a caller reached, as the dial-in bridge runs it.
#[derive(Debug, Clone)]
pub struct DialInMeeting {
    /// The meeting's rules, resolved from its own settings, its organiser's and the
    /// tenant's.
    pub options: MeetingOptions,
    /// The organiser, whose PIN starts the meeting by phone.
    pub organiser: User,
    /// The tenant settings as read for this look-up.
    pub tenant: TenantSettings,
}

/// A meeting to create.
#[derive(Debug, Clone)]
pub struct MeetingRequest {
    /// The organiser; must be enabled for audio conferencing.
    pub organizer: Upn,
    pub subject: Option<MeetingSubject>,
    /// The meeting's own settings; `None` inherits.
    pub settings: MeetingSettings,
}

/// One organiser's meetings, as their own list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganiserMeetings {
    /// The organiser is enabled for audio conferencing: may create meetings, and
    /// callers reach their meetings.
    pub enabled: bool,
    /// What a meeting of this organiser gets for a setting it leaves to inherit.
    pub inherited: InheritedOptions,
    /// The personal meeting (the organiser's own conference ID, while enabled) first,
    /// then the meetings created, oldest first.
    pub meetings: Vec<OrganiserMeeting>,
}

/// The values a meeting without settings of its own gets: "callers can start my
/// meetings" from the organiser, lobby bypass from the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InheritedOptions {
    pub anonymous_start: bool,
    pub bypass_lobby: bool,
}

/// A meeting in its organiser's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganiserMeeting {
    pub conference_id: ConferenceId,
    /// The conference ID is the organiser's own, not a meeting created for it.
    pub personal: bool,
    pub subject: Option<String>,
    /// The meeting's own settings; `None` inherits.
    pub settings: MeetingSettings,
    /// Whether the first caller starts the meeting, once the settings are resolved.
    pub anonymous_start: bool,
    /// Whether callers skip the lobby of the started meeting, once resolved.
    pub bypass_lobby: bool,
    /// When the meeting was created (Unix milliseconds); `None` for the personal one.
    pub created_at_ms: Option<i64>,
}

impl App {
    /// Creates a meeting organised by a user enabled for audio conferencing, with a
    /// conference ID of its own; audited as `meeting.created`.
    pub async fn create_meeting(
        &self,
        actor: &Actor,
        request: &MeetingRequest,
    ) -> Result<NewMeetingReport> {
        let organizer = self.user(&request.organizer).await?;
        if !organizer.conferencing.enabled {
            return Err(AppError::OrganizerNotEnabled(organizer.upn));
        }
        let meeting = self
            .store
            .create_meeting(
                actor,
                &NewMeeting {
                    organizer: organizer.upn.clone(),
                    subject: request.subject.as_ref().map(|s| s.as_str().to_owned()),
                    settings: request.settings,
                },
            )
            .await?;
        let numbers = self.store.numbers().await?;
        Ok(NewMeetingReport {
            conference_id: meeting.conference_id.as_str().to_owned(),
            organizer: organizer.upn.as_str().to_owned(),
            subject: meeting.subject,
            allow_anonymous_start: meeting.settings.allow_anonymous_start,
            allow_pstn_users_to_bypass_lobby: meeting.settings.allow_pstn_users_to_bypass_lobby,
            dial_in_numbers: DialInNumber::for_organizer(&organizer, &numbers),
        })
    }

    /// Every meeting, oldest first.
    pub async fn meeting_summaries(&self) -> Result<Vec<MeetingSummary>> {
        let meetings = self.store.meetings().await?;
        Ok(meetings
            .into_iter()
            .map(|m| MeetingSummary {
                conference_id: m.conference_id.as_str().to_owned(),
                organizer: m.organizer.as_str().to_owned(),
                subject: m.subject,
                allow_anonymous_start: m.settings.allow_anonymous_start,
                allow_pstn_users_to_bypass_lobby: m.settings.allow_pstn_users_to_bypass_lobby,
                created_at_ms: m.created_at_ms,
            })
            .collect())
    }

    /// The meetings `organiser` organises, with the personal meeting, their settings
    /// resolved, and what a new meeting would inherit.
    pub async fn organiser_meetings(&self, organiser: &Upn) -> Result<OrganiserMeetings> {
        let organizer = self.user(organiser).await?;
        let tenant = self.store.tenant_settings().await?;
        let resolve = |id: &ConferenceId, settings: MeetingSettings| {
            MeetingOptions::resolve(id.clone(), &organizer, settings, &tenant)
        };
        let c = &organizer.conferencing;
        let personal = c.conference_id.as_ref().filter(|_| c.enabled).map(|id| {
            let options = resolve(id, MeetingSettings::default());
            OrganiserMeeting {
                conference_id: id.clone(),
                personal: true,
                subject: None,
                settings: MeetingSettings::default(),
                anonymous_start: options.anonymous_start,
                bypass_lobby: options.bypass_lobby,
                created_at_ms: None,
            }
        });
        let created = self.store.meetings_of(organiser).await?;
        let meetings = personal
            .into_iter()
            .chain(created.into_iter().map(|m| {
                let options = resolve(&m.conference_id, m.settings);
                OrganiserMeeting {
                    conference_id: m.conference_id,
                    personal: false,
                    subject: m.subject,
                    settings: m.settings,
                    anonymous_start: options.anonymous_start,
                    bypass_lobby: options.bypass_lobby,
                    created_at_ms: Some(m.created_at_ms),
                }
            }))
            .collect();
        Ok(OrganiserMeetings {
            enabled: c.enabled,
            inherited: InheritedOptions {
                anonymous_start: c.allow_pstn_only_meetings,
                bypass_lobby: tenant.allow_pstn_users_to_bypass_lobby,
            },
            meetings,
        })
    }

    /// The invitation to a meeting `organiser` organises (their personal meeting
    /// included), with links under `public_url`. A conference ID that leads to no
    /// meeting of theirs is [`AppError::NoMeeting`]; while they are not enabled for
    /// audio conferencing, nobody could call in, so there is no invitation.
    pub async fn invitation(
        &self,
        organiser: &Upn,
        id: &ConferenceId,
        public_url: &PublicUrl,
    ) -> Result<Invitation> {
        let conference = self
            .conference(id)
            .await?
            .filter(|c| &c.organizer.upn == organiser)
            .ok_or_else(|| AppError::NoMeeting(id.clone()))?;
        if !conference.organizer.conferencing.enabled {
            return Err(AppError::OrganizerNotEnabled(conference.organizer.upn));
        }
        let numbers = self.store.numbers().await?;
        Ok(Invitation {
            conference_id: id.as_str().to_owned(),
            subject: conference.subject,
            personal: conference.personal,
            join_url: public_url.join_url(id),
            reset_pin_url: public_url.portal_url(),
            dial_in_numbers: DialInNumber::for_organizer(&conference.organizer, &numbers),
        })
    }

    /// What a conference ID leads to: a meeting's own ID, or a user's own ID as a
    /// meeting that user organises with the user's own settings. `None` when it leads
    /// nowhere.
    async fn conference(&self, id: &ConferenceId) -> Result<Option<Conference>> {
        let store = &self.store;
        Ok(Some(match store.meeting(id).await? {
            Some(m) => {
                let organizer =
                    store
                        .user(&m.organizer)
                        .await?
                        .ok_or_else(|| AppError::OrganizerGone {
                            conference_id: id.clone(),
                            organizer: m.organizer.clone(),
                        })?;
                Conference {
                    organizer,
                    subject: m.subject,
                    settings: m.settings,
                    personal: false,
                }
            }
            None => match store.user_by_conference_id(id).await? {
                Some(organizer) => Conference {
                    organizer,
                    subject: None,
                    settings: MeetingSettings::default(),
                    personal: true,
                },
                None => return Ok(None),
            },
        }))
    }

    /// The meeting a caller reaches by typing `id`, with its options resolved, when
    /// the ID leads to a meeting whose organiser is enabled for audio conferencing.
    pub async fn dial_in_meeting(&self, id: &ConferenceId) -> Result<Option<DialInMeeting>> {
        let conference = match self.conference(id).await {
            Ok(Some(c)) if c.organizer.conferencing.enabled => c,
            Ok(_) | Err(AppError::OrganizerGone { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let tenant = self.store.tenant_settings().await?;
        Ok(Some(DialInMeeting {
            options: MeetingOptions::resolve(
                id.clone(),
                &conference.organizer,
                conference.settings,
                &tenant,
            ),
            organiser: conference.organizer,
            tenant,
        }))
    }

    /// What a conference ID leads to (see [`App::dial_in_meeting`]), its resolved
    /// settings and who is connected now.
    pub async fn meeting_report(&self, id: &ConferenceId) -> Result<MeetingReport> {
        let Conference {
            organizer,
            subject,
            settings,
            personal,
        } = self
            .conference(id)
            .await?
            .ok_or_else(|| AppError::NoMeeting(id.clone()))?;
        let store = &self.store;
        let tenant = store.tenant_settings().await?;
        let options = MeetingOptions::resolve(id.clone(), &organizer, settings, &tenant);
        let numbers = store.numbers().await?;
        let live = store.live_meeting(id).await?;
        let started_at_ms = live.as_ref().and_then(|l| l.started_at_ms);
        let participants = live
            .map(|l| l.participants)
            .unwrap_or_default()
            .iter()
            .map(participant_report)
            .collect::<Result<_>>()?;
        Ok(MeetingReport {
            conference_id: id.as_str().to_owned(),
            organizer: organizer.upn.as_str().to_owned(),
            personal,
            subject,
            allow_anonymous_start: settings.allow_anonymous_start,
            allow_pstn_users_to_bypass_lobby: settings.allow_pstn_users_to_bypass_lobby,
            anonymous_start: options.anonymous_start,
            bypass_lobby: options.bypass_lobby,
            dial_in_numbers: DialInNumber::for_organizer(&organizer, &numbers),
            started: started_at_ms.is_some(),
            started_at_ms,
            participants,
        })
    }
}

impl App {
    /// Forgets all live state: a bridge starting has no calls yet.
    pub async fn reset_live_state(&self) -> Result<()> {
        Ok(self.store.live_reset().await?)
    }

    /// Records that a meeting has callers, and whether (since when) it has started.
    pub async fn set_live_meeting(
        &self,
        id: &ConferenceId,
        started_at_ms: Option<i64>,
    ) -> Result<()> {
        Ok(self.store.live_set_meeting(id, started_at_ms).await?)
    }

    /// Forgets a meeting's live state: nobody is connected any more.
    pub async fn close_live_meeting(&self, id: &ConferenceId) -> Result<()> {
        Ok(self.store.live_remove_meeting(id).await?)
    }

    /// Records a participant of a live meeting, or where they are now.
    pub async fn set_live_participant(
        &self,
        id: &ConferenceId,
        participant: &LiveParticipant,
    ) -> Result<()> {
        Ok(self.store.live_set_participant(id, participant).await?)
    }

    /// Removes a participant who left a live meeting.
    pub async fn remove_live_participant(&self, id: &ConferenceId, participant: i64) -> Result<()> {
        Ok(self.store.live_remove_participant(id, participant).await?)
    }
}

fn participant_report(p: &LiveParticipant) -> Result<ParticipantReport> {
    let corrupt = |what: &str, value: &str| {
        AppError::Store(StoreError::Corrupt(format!(
            "live participant {}: {what} {value:?}",
            p.participant
        )))
    };
    Ok(ParticipantReport {
        participant: p.participant,
        kind: ParticipantKind::parse(&p.kind).ok_or_else(|| corrupt("kind", &p.kind))?,
        organizer: p.is_organizer,
        placement: Placement::parse(&p.placement)
            .ok_or_else(|| corrupt("placement", &p.placement))?,
        calling_number: p.calling_number.clone(),
        joined_at_ms: p.joined_at_ms,
    })
}
