//! Meetings and their rules: who starts a meeting, who waits in the lobby, who admits.
//!
//! The rules:
//!
//! - A meeting **starts** when the organiser joins by phone with the PIN, when a signed-in
//!   user of the tenant joins from the app, or, where anonymous start applies, when the
//!   first caller joins.
//! - Where anonymous start applies, every caller joins directly: there is no lobby.
//! - Otherwise a caller who is not the organiser waits in the **lobby** while the meeting
//!   has not started, and after the start unless dial-in lobby bypass is on. The organiser
//!   joining starts the meeting but does not admit anybody: callers already waiting stay
//!   in the lobby until someone admits them.
//! - Callers are admitted by the organiser (\*21 on the phone, Admit or Admit all in the
//!   app) and by signed-in users of the tenant who are in the meeting from the app.
//! - The meeting goes on when the organiser leaves and **ends** when the last participant
//!   in the meeting leaves. Callers still in the lobby at that moment are not released:
//!   they keep waiting for somebody to start the meeting again and admit them, until
//!   their lobby wait runs out. A later join starts the meeting afresh.
//! - A caller nobody admits within the lobby wait is released with
//!   [`MeetingEvent::LobbyTimedOut`].
//!
//! Nothing here performs I/O or reads the clock: time is an argument, so the bridge's
//! engine thread drives [`Meeting`] with its own clock and tests drive it with virtual
//! time.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::settings::TenantSettings;
use crate::text::ConferenceId;
use crate::user::{User, UserId};

/// Whether anonymous start applies to a meeting: the meeting's own
/// setting when it has one, else the organiser's "callers can start my meetings".
///
/// The tenant's "allow PSTN-only meetings by default" is deliberately not an input: it only
/// seeds the organiser's value when the organiser is enabled for audio conferencing.
pub fn resolve_anonymous_start(
    meeting_setting: Option<bool>,
    organiser_lets_callers_start: bool,
) -> bool {
    meeting_setting.unwrap_or(organiser_lets_callers_start)
}

/// Whether dial-in callers skip the lobby of a started meeting: the meeting's own setting
/// when it has one, else the tenant's `allow_pstn_users_to_bypass_lobby`.
pub fn resolve_bypass_lobby(meeting_setting: Option<bool>, tenant_allows_bypass: bool) -> bool {
    meeting_setting.unwrap_or(tenant_allows_bypass)
}

/// A meeting's own settings as stored; `None` means "use the inherited value".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeetingSettings {
    /// Callers may start this meeting without the organiser.
    pub allow_anonymous_start: Option<bool>,
    /// Dial-in callers skip the lobby once the meeting has started.
    pub allow_pstn_users_to_bypass_lobby: Option<bool>,
}

/// A meeting's static options, resolved from the store once per meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingOptions {
    /// The organiser, whose PIN starts the meeting by phone.
    pub organiser: UserId,
    /// What callers type to reach the meeting.
    pub conference_id: ConferenceId,
    /// The first caller starts the meeting and nobody waits in the lobby.
    pub anonymous_start: bool,
    /// Callers skip the lobby once the meeting has started.
    pub bypass_lobby: bool,
    /// How long a caller may wait in the lobby before being released.
    pub lobby_wait: Duration,
    /// Whether entry and exit announcements are on when the meeting starts.
    pub announcements: bool,
}

impl MeetingOptions {
    /// Resolves the options of a meeting organised by `organiser`, from the meeting's own
    /// settings, the organiser's audio conferencing state and the tenant settings.
    pub fn resolve(
        conference_id: ConferenceId,
        organiser: &User,
        meeting: MeetingSettings,
        tenant: &TenantSettings,
    ) -> Self {
        Self {
            organiser: organiser.id,
            conference_id,
            anonymous_start: resolve_anonymous_start(
                meeting.allow_anonymous_start,
                organiser.conferencing.allow_pstn_only_meetings,
            ),
            bypass_lobby: resolve_bypass_lobby(
                meeting.allow_pstn_users_to_bypass_lobby,
                tenant.allow_pstn_users_to_bypass_lobby,
            ),
            lobby_wait: Duration::from_secs(u64::from(tenant.lobby_wait_minutes) * 60),
            announcements: tenant.enable_entry_exit_notifications,
        }
    }

    /// Where `joiner` goes when joining a meeting that has (`started`) or has not started.
    /// The IVR uses this to tell a caller, before joining, whether they will wait.
    pub fn placement_for(&self, joiner: Joiner, started: bool) -> Placement {
        match joiner {
            Joiner::OrganiserWithPin | Joiner::AppUser { .. } => Placement::Meeting,
            Joiner::Caller if self.anonymous_start => Placement::Meeting,
            Joiner::Caller if started && self.bypass_lobby => Placement::Meeting,
            Joiner::Caller => Placement::Lobby,
        }
    }
}

/// Identifies a participant within one meeting (the bridge hands them out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "participant {}", self.0)
    }
}

/// Who is joining, as far as the meeting rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joiner {
    /// A phone caller who did not prove to be the organiser.
    Caller,
    /// A phone caller who entered the organiser's PIN (verified by the caller's driver).
    OrganiserWithPin,
    /// A user signed in to the tenant, joining from the app.
    AppUser {
        /// The user is the meeting's organiser.
        is_organiser: bool,
    },
}

/// How a participant is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantKind {
    /// A caller on the phone.
    Phone,
    /// A user signed in to the tenant, in the app.
    App,
}

impl ParticipantKind {
    /// The name the live state and the reports use: `phone` or `app`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::App => "app",
        }
    }

    /// The kind named by [`ParticipantKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "phone" => Some(Self::Phone),
            "app" => Some(Self::App),
            _ => None,
        }
    }
}

/// Where a participant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Waiting to be admitted, hearing music on hold.
    Lobby,
    /// In the meeting, hearing and heard by the others.
    Meeting,
}

impl Placement {
    /// The name the live state and the reports use: `lobby` or `meeting`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lobby => "lobby",
            Self::Meeting => "meeting",
        }
    }

    /// The placement named by [`Placement::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "lobby" => Some(Self::Lobby),
            "meeting" => Some(Self::Meeting),
            _ => None,
        }
    }
}

/// One participant of a live meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The participant's identifier within the meeting.
    pub id: ParticipantId,
    /// Phone or app.
    pub kind: ParticipantKind,
    /// The participant is the organiser (by PIN on the phone, or signed in in the app).
    pub is_organiser: bool,
    /// Lobby or meeting.
    pub placement: Placement,
    /// When the participant entered their current placement: queued in the lobby, or
    /// joined (or was admitted to) the meeting.
    pub since: Instant,
    /// The participant's hand is raised (\*5).
    pub hand_raised: bool,
    /// The participant is muted (\*6, or \*22 from the organiser).
    pub muted: bool,
}

impl Participant {
    /// Whether this participant may admit callers from the lobby: the organiser, or a
    /// signed-in user of the tenant in the app, in either case only from inside the
    /// meeting.
    pub fn may_admit(&self) -> bool {
        self.placement == Placement::Meeting
            && (self.is_organiser || self.kind == ParticipantKind::App)
    }

    /// Whether this participant may use the organiser's commands (\*22, \*23).
    pub fn has_organiser_keys(&self) -> bool {
        self.placement == Placement::Meeting && self.is_organiser
    }
}

/// What a join did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The participant waits in the lobby until admitted or until `deadline`, when
    /// [`Meeting::expire_lobby`] releases them.
    Lobby {
        /// When the lobby wait runs out.
        deadline: Instant,
    },
    /// The participant is in the meeting.
    Meeting {
        /// This join started the meeting.
        started_meeting: bool,
    },
}

impl JoinOutcome {
    /// The placement this outcome put the participant in.
    pub fn placement(self) -> Placement {
        match self {
            Self::Lobby { .. } => Placement::Lobby,
            Self::Meeting { .. } => Placement::Meeting,
        }
    }
}

/// What a participant leaving did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// A caller left the lobby.
    LeftLobby,
    /// A participant left the meeting.
    LeftMeeting {
        /// Nobody is left in the meeting, so it has ended.
        meeting_ended: bool,
    },
}

/// Something every interested party should hear about. The bridge drains these with
/// [`Meeting::poll_event`] and tells the calls concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingEvent {
    /// The meeting started, because of this participant's join.
    Started {
        /// Who started it.
        by: ParticipantId,
    },
    /// The last participant left the meeting; lobby callers keep waiting.
    Ended,
    /// A participant entered the meeting directly.
    Joined {
        /// Who joined.
        id: ParticipantId,
    },
    /// A caller was put in the lobby.
    WaitingInLobby {
        /// Who waits.
        id: ParticipantId,
    },
    /// A lobby caller was admitted to the meeting.
    Admitted {
        /// Who was admitted.
        id: ParticipantId,
    },
    /// A participant left (the lobby or the meeting).
    Left {
        /// Who left.
        id: ParticipantId,
    },
    /// A caller's lobby wait ran out; they are no longer part of the meeting.
    LobbyTimedOut {
        /// Who was released.
        id: ParticipantId,
    },
    /// A participant was muted or unmuted.
    MuteChanged {
        /// Whose mute changed.
        id: ParticipantId,
        /// The new state.
        muted: bool,
    },
    /// A participant raised or lowered their hand.
    HandChanged {
        /// Whose hand.
        id: ParticipantId,
        /// The new state.
        raised: bool,
    },
    /// Entry and exit announcements were turned on or off.
    AnnouncementsChanged {
        /// The new state.
        on: bool,
    },
}

/// Why a meeting operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MeetingError {
    /// The identifier is not a participant of this meeting.
    #[error("{0} is not part of this meeting")]
    UnknownParticipant(ParticipantId),
    /// The identifier is already in use in this meeting.
    #[error("{0} has already joined this meeting")]
    AlreadyPresent(ParticipantId),
    /// The participant may not do this (for example a caller pressing \*21).
    #[error("{0} is not allowed to do this")]
    NotAllowed(ParticipantId),
    /// The operation needs the participant to be in the meeting, not the lobby.
    #[error("{0} is not in the meeting")]
    NotInMeeting(ParticipantId),
    /// The participant to admit is not waiting in the lobby.
    #[error("{0} is not waiting in the lobby")]
    NotInLobby(ParticipantId),
}

/// The live state of one meeting on a node.
#[derive(Debug, Clone)]
pub struct Meeting {
    options: MeetingOptions,
    participants: Vec<Participant>,
    started: bool,
    announcements: bool,
    events: VecDeque<MeetingEvent>,
}

impl Meeting {
    /// A meeting nobody has joined yet.
    pub fn new(options: MeetingOptions) -> Self {
        let announcements = options.announcements;
        Self {
            options,
            participants: Vec::new(),
            started: false,
            announcements,
            events: VecDeque::new(),
        }
    }

    /// The meeting's static options.
    pub fn options(&self) -> &MeetingOptions {
        &self.options
    }

    /// The meeting has started and not ended since.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Entry and exit announcements are on.
    pub fn announcements_on(&self) -> bool {
        self.announcements
    }

    /// Every participant, lobby and meeting, in order of arrival.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// One participant.
    pub fn participant(&self, id: ParticipantId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
    }

    /// Nobody is connected, in the lobby or the meeting: the bridge may drop it.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// The callers waiting in the lobby, longest waiting first.
    pub fn lobby(&self) -> impl Iterator<Item = &Participant> {
        self.participants
            .iter()
            .filter(|p| p.placement == Placement::Lobby)
    }

    /// How many participants are in the meeting (not the lobby).
    pub fn in_meeting_count(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| p.placement == Placement::Meeting)
            .count()
    }

    /// Where `joiner` would go if they joined now.
    pub fn placement_for(&self, joiner: Joiner) -> Placement {
        self.options.placement_for(joiner, self.started)
    }

    /// Adds a participant, in the lobby or the meeting as the rules decide. A join that
    /// starts the meeting admits nobody: callers already waiting stay in the lobby.
    pub fn join(
        &mut self,
        id: ParticipantId,
        joiner: Joiner,
        now: Instant,
    ) -> Result<JoinOutcome, MeetingError> {
        if self.participant(id).is_some() {
            return Err(MeetingError::AlreadyPresent(id));
        }
        let (kind, is_organiser) = match joiner {
            Joiner::Caller => (ParticipantKind::Phone, false),
            Joiner::OrganiserWithPin => (ParticipantKind::Phone, true),
            Joiner::AppUser { is_organiser } => (ParticipantKind::App, is_organiser),
        };
        let placement = self.placement_for(joiner);
        self.participants.push(Participant {
            id,
            kind,
            is_organiser,
            placement,
            since: now,
            hand_raised: false,
            muted: false,
        });
        match placement {
            Placement::Lobby => {
                self.events.push_back(MeetingEvent::WaitingInLobby { id });
                Ok(JoinOutcome::Lobby {
                    deadline: now + self.options.lobby_wait,
                })
            }
            Placement::Meeting => {
                let started_meeting = !self.started;
                if started_meeting {
                    self.started = true;
                    self.announcements = self.options.announcements;
                    self.events.push_back(MeetingEvent::Started { by: id });
                }
                self.events.push_back(MeetingEvent::Joined { id });
                Ok(JoinOutcome::Meeting { started_meeting })
            }
        }
    }

    /// Admits every caller waiting in the lobby (\*21, or Admit all in the app), in order of
    /// arrival, and returns them; an empty list means the lobby was empty.
    pub fn admit_all(
        &mut self,
        by: ParticipantId,
        now: Instant,
    ) -> Result<Vec<ParticipantId>, MeetingError> {
        self.check_admitter(by)?;
        let mut admitted = Vec::new();
        for p in &mut self.participants {
            if p.placement == Placement::Lobby {
                p.placement = Placement::Meeting;
                p.since = now;
                admitted.push(p.id);
            }
        }
        self.events
            .extend(admitted.iter().map(|&id| MeetingEvent::Admitted { id }));
        Ok(admitted)
    }

    /// Admits one caller from the lobby (Admit in the app).
    pub fn admit(
        &mut self,
        by: ParticipantId,
        who: ParticipantId,
        now: Instant,
    ) -> Result<(), MeetingError> {
        self.check_admitter(by)?;
        let p = self.find_mut(who)?;
        if p.placement != Placement::Lobby {
            return Err(MeetingError::NotInLobby(who));
        }
        p.placement = Placement::Meeting;
        p.since = now;
        self.events.push_back(MeetingEvent::Admitted { id: who });
        Ok(())
    }

    /// Removes a participant. The meeting goes on when the organiser leaves and ends when
    /// the last participant in the meeting leaves; lobby callers then keep waiting.
    pub fn leave(&mut self, id: ParticipantId) -> Result<LeaveOutcome, MeetingError> {
        let index = self
            .participants
            .iter()
            .position(|p| p.id == id)
            .ok_or(MeetingError::UnknownParticipant(id))?;
        let left = self.participants.remove(index);
        self.events.push_back(MeetingEvent::Left { id });
        match left.placement {
            Placement::Lobby => Ok(LeaveOutcome::LeftLobby),
            Placement::Meeting => {
                let meeting_ended = self.started && self.in_meeting_count() == 0;
                if meeting_ended {
                    self.end();
                }
                Ok(LeaveOutcome::LeftMeeting { meeting_ended })
            }
        }
    }

    /// Mutes everyone in the meeting except the organiser (\*22) and returns who was newly
    /// muted. Only the organiser may do this.
    pub fn mute_all_except_organiser(
        &mut self,
        by: ParticipantId,
    ) -> Result<Vec<ParticipantId>, MeetingError> {
        self.check_organiser(by)?;
        let mut muted = Vec::new();
        for p in &mut self.participants {
            if p.placement == Placement::Meeting && !p.is_organiser && !p.muted {
                p.muted = true;
                muted.push(p.id);
            }
        }
        self.events.extend(
            muted
                .iter()
                .map(|&id| MeetingEvent::MuteChanged { id, muted: true }),
        );
        Ok(muted)
    }

    /// Turns entry and exit announcements on or off (\*23) and returns the new state. Only
    /// the organiser may do this.
    pub fn toggle_announcements(&mut self, by: ParticipantId) -> Result<bool, MeetingError> {
        self.check_organiser(by)?;
        self.announcements = !self.announcements;
        self.events.push_back(MeetingEvent::AnnouncementsChanged {
            on: self.announcements,
        });
        Ok(self.announcements)
    }

    /// Raises or lowers a participant's hand (\*5) and returns the new state.
    pub fn toggle_hand(&mut self, id: ParticipantId) -> Result<bool, MeetingError> {
        let p = self.find_in_meeting_mut(id)?;
        p.hand_raised = !p.hand_raised;
        let raised = p.hand_raised;
        self.events
            .push_back(MeetingEvent::HandChanged { id, raised });
        Ok(raised)
    }

    /// Mutes or unmutes a participant (\*6) and returns the new state.
    pub fn toggle_mute(&mut self, id: ParticipantId) -> Result<bool, MeetingError> {
        let p = self.find_in_meeting_mut(id)?;
        p.muted = !p.muted;
        let muted = p.muted;
        self.events
            .push_back(MeetingEvent::MuteChanged { id, muted });
        Ok(muted)
    }

    /// Releases the callers whose lobby wait has run out by `now` (waiting for the whole
    /// lobby wait or longer) and returns them, longest waiting first.
    pub fn expire_lobby(&mut self, now: Instant) -> Vec<ParticipantId> {
        let wait = self.options.lobby_wait;
        let mut released = Vec::new();
        self.participants.retain(|p| {
            let expired =
                p.placement == Placement::Lobby && now.saturating_duration_since(p.since) >= wait;
            if expired {
                released.push(p.id);
            }
            !expired
        });
        self.events.extend(
            released
                .iter()
                .map(|&id| MeetingEvent::LobbyTimedOut { id }),
        );
        released
    }

    /// When [`Meeting::expire_lobby`] should next be called, if anybody is waiting.
    pub fn next_lobby_deadline(&self) -> Option<Instant> {
        self.lobby()
            .map(|p| p.since + self.options.lobby_wait)
            .min()
    }

    /// The next event to pass on, oldest first.
    pub fn poll_event(&mut self) -> Option<MeetingEvent> {
        self.events.pop_front()
    }

    fn end(&mut self) {
        self.started = false;
        self.announcements = self.options.announcements;
        self.events.push_back(MeetingEvent::Ended);
    }

    fn find_mut(&mut self, id: ParticipantId) -> Result<&mut Participant, MeetingError> {
        self.participants
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or(MeetingError::UnknownParticipant(id))
    }

    fn find_in_meeting_mut(&mut self, id: ParticipantId) -> Result<&mut Participant, MeetingError> {
        let p = self.find_mut(id)?;
        if p.placement != Placement::Meeting {
            return Err(MeetingError::NotInMeeting(id));
        }
        Ok(p)
    }

    fn check_admitter(&self, by: ParticipantId) -> Result<(), MeetingError> {
        let p = self
            .participant(by)
            .ok_or(MeetingError::UnknownParticipant(by))?;
        if p.may_admit() {
            Ok(())
        } else {
            Err(MeetingError::NotAllowed(by))
        }
    }

    fn check_organiser(&self, by: ParticipantId) -> Result<(), MeetingError> {
        let p = self
            .participant(by)
            .ok_or(MeetingError::UnknownParticipant(by))?;
        if p.has_organiser_keys() {
            Ok(())
        } else {
            Err(MeetingError::NotAllowed(by))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{DisplayName, Upn};
    use crate::user::AudioConferencing;

    const WAIT: Duration = Duration::from_secs(30 * 60);

    fn options(anonymous_start: bool, bypass_lobby: bool) -> MeetingOptions {
        MeetingOptions {
            organiser: UserId(1),
            conference_id: ConferenceId::parse("123456789").unwrap(),
            anonymous_start,
            bypass_lobby,
            lobby_wait: WAIT,
            announcements: true,
        }
    }

    fn drain(m: &mut Meeting) -> Vec<MeetingEvent> {
        std::iter::from_fn(|| m.poll_event()).collect()
    }

    fn placement(m: &Meeting, id: u64) -> Option<Placement> {
        m.participant(ParticipantId(id)).map(|p| p.placement)
    }

    const ORGANISER: ParticipantId = ParticipantId(100);

    #[test]
    fn anonymous_start_prefers_the_meeting_setting_then_the_organiser() {
        assert!(resolve_anonymous_start(Some(true), false));
        assert!(!resolve_anonymous_start(Some(false), true));
        assert!(resolve_anonymous_start(None, true));
        assert!(!resolve_anonymous_start(None, false));
    }

    #[test]
    fn bypass_prefers_the_meeting_setting_then_the_tenant() {
        assert!(resolve_bypass_lobby(Some(true), false));
        assert!(!resolve_bypass_lobby(Some(false), true));
        assert!(resolve_bypass_lobby(None, true));
        assert!(!resolve_bypass_lobby(None, false));
    }

    #[test]
    fn options_resolve_ignores_the_tenant_default_for_anonymous_start() {
        let organiser = User {
            id: UserId(7),
            upn: Upn::parse("org@contoso.example").unwrap(),
            display_name: DisplayName::parse("Organiser").unwrap(),
            primary_smtp_address: None,
            email_override: None,
            role: Default::default(),
            password_hash: None,
            conferencing: AudioConferencing {
                allow_pstn_only_meetings: false,
                ..Default::default()
            },
            created_at_ms: 0,
        };
        let tenant = TenantSettings {
            allow_pstn_only_meetings_by_default: true,
            allow_pstn_users_to_bypass_lobby: true,
            lobby_wait_minutes: 5,
            ..TenantSettings::default()
        };
        let id = ConferenceId::parse("1234567").unwrap();
        let o =
            MeetingOptions::resolve(id.clone(), &organiser, MeetingSettings::default(), &tenant);
        assert_eq!(o.organiser, UserId(7));
        assert_eq!(o.conference_id, id);
        assert!(
            !o.anonymous_start,
            "the tenant default only seeds the organiser"
        );
        assert!(o.bypass_lobby);
        assert_eq!(o.lobby_wait, Duration::from_secs(300));

        let own = MeetingSettings {
            allow_anonymous_start: Some(true),
            allow_pstn_users_to_bypass_lobby: Some(false),
        };
        let o = MeetingOptions::resolve(id, &organiser, own, &tenant);
        assert!(o.anonymous_start);
        assert!(!o.bypass_lobby);
    }

    #[test]
    fn two_callers_before_the_start_wait_in_the_lobby() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, false));
        let a = m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        let b = m.join(ParticipantId(2), Joiner::Caller, t0).unwrap();
        assert_eq!(
            a,
            JoinOutcome::Lobby {
                deadline: t0 + WAIT
            }
        );
        assert_eq!(b.placement(), Placement::Lobby);
        assert!(!m.is_started());
        assert_eq!(
            drain(&mut m),
            vec![
                MeetingEvent::WaitingInLobby {
                    id: ParticipantId(1)
                },
                MeetingEvent::WaitingInLobby {
                    id: ParticipantId(2)
                },
            ]
        );
    }

    #[test]
    fn organiser_with_pin_starts_and_callers_wait_until_star_21() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, false));
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        m.join(ParticipantId(2), Joiner::Caller, t0).unwrap();
        drain(&mut m);

        let o = m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        assert_eq!(
            o,
            JoinOutcome::Meeting {
                started_meeting: true
            }
        );
        assert!(m.is_started());
        assert_eq!(placement(&m, 1), Some(Placement::Lobby));
        assert_eq!(placement(&m, 2), Some(Placement::Lobby));
        assert_eq!(
            drain(&mut m),
            vec![
                MeetingEvent::Started { by: ORGANISER },
                MeetingEvent::Joined { id: ORGANISER },
            ]
        );

        // A caller arriving after the start still waits (no bypass).
        let c = m.join(ParticipantId(3), Joiner::Caller, t0).unwrap();
        assert_eq!(c.placement(), Placement::Lobby);
        drain(&mut m);

        let t1 = t0 + Duration::from_secs(10);
        let admitted = m.admit_all(ORGANISER, t1).unwrap();
        assert_eq!(
            admitted,
            vec![ParticipantId(1), ParticipantId(2), ParticipantId(3)]
        );
        assert!(m.lobby().next().is_none());
        assert_eq!(m.participant(ParticipantId(1)).unwrap().since, t1);
        assert_eq!(
            drain(&mut m),
            vec![
                MeetingEvent::Admitted {
                    id: ParticipantId(1)
                },
                MeetingEvent::Admitted {
                    id: ParticipantId(2)
                },
                MeetingEvent::Admitted {
                    id: ParticipantId(3)
                },
            ]
        );
        // Nobody is left to admit.
        assert_eq!(m.admit_all(ORGANISER, t1).unwrap(), vec![]);
    }

    #[test]
    fn a_caller_pressing_star_21_is_not_allowed() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, true));
        m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap(); // Bypass: in the meeting.
        let mut lobby_only = Meeting::new(options(false, false));
        lobby_only
            .join(ParticipantId(2), Joiner::Caller, t0)
            .unwrap();
        assert_eq!(
            m.admit_all(ParticipantId(1), t0),
            Err(MeetingError::NotAllowed(ParticipantId(1)))
        );
        assert_eq!(
            lobby_only.admit_all(ParticipantId(2), t0),
            Err(MeetingError::NotAllowed(ParticipantId(2)))
        );
        assert_eq!(
            m.admit_all(ParticipantId(9), t0),
            Err(MeetingError::UnknownParticipant(ParticipantId(9)))
        );
        assert_eq!(
            MeetingError::NotAllowed(ParticipantId(1)).to_string(),
            "participant 1 is not allowed to do this"
        );
    }

    #[test]
    fn app_users_of_the_tenant_start_the_meeting_and_may_admit() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, false));
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        let app = ParticipantId(50);
        let outcome = m
            .join(
                app,
                Joiner::AppUser {
                    is_organiser: false,
                },
                t0,
            )
            .unwrap();
        assert_eq!(
            outcome,
            JoinOutcome::Meeting {
                started_meeting: true
            }
        );
        assert_eq!(placement(&m, 1), Some(Placement::Lobby));
        m.admit(app, ParticipantId(1), t0).unwrap();
        assert_eq!(placement(&m, 1), Some(Placement::Meeting));
        assert_eq!(
            m.admit(app, ParticipantId(1), t0),
            Err(MeetingError::NotInLobby(ParticipantId(1)))
        );
        // A tenant app user who is not the organiser has no organiser keys.
        assert_eq!(
            m.mute_all_except_organiser(app),
            Err(MeetingError::NotAllowed(app))
        );
        assert_eq!(
            m.toggle_announcements(app),
            Err(MeetingError::NotAllowed(app))
        );
    }

    #[test]
    fn a_caller_cannot_admit_one_by_one_but_the_organiser_can() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, true));
        m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        let mut other = Meeting::new(options(false, false));
        other.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        other.join(ParticipantId(2), Joiner::Caller, t0).unwrap();
        assert_eq!(
            m.admit(ParticipantId(1), ORGANISER, t0),
            Err(MeetingError::NotAllowed(ParticipantId(1)))
        );
        other.admit(ORGANISER, ParticipantId(2), t0).unwrap();
        assert_eq!(placement(&other, 2), Some(Placement::Meeting));
    }

    #[test]
    fn anonymous_start_first_caller_starts_and_nobody_waits() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(true, false));
        let first = m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        assert_eq!(
            first,
            JoinOutcome::Meeting {
                started_meeting: true
            }
        );
        for id in 2..=3 {
            let o = m.join(ParticipantId(id), Joiner::Caller, t0).unwrap();
            assert_eq!(
                o,
                JoinOutcome::Meeting {
                    started_meeting: false
                }
            );
        }
        let o = m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        assert_eq!(
            o,
            JoinOutcome::Meeting {
                started_meeting: false
            }
        );
        assert!(m.lobby().next().is_none());
        assert_eq!(m.next_lobby_deadline(), None);
        assert_eq!(
            m.placement_for(Joiner::Caller),
            Placement::Meeting,
            "no lobby for anybody"
        );
    }

    #[test]
    fn bypass_skips_the_lobby_after_the_start_but_not_before() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, true));
        assert_eq!(m.placement_for(Joiner::Caller), Placement::Lobby);
        let early = m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        assert_eq!(early.placement(), Placement::Lobby);
        m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        assert_eq!(placement(&m, 1), Some(Placement::Lobby), "still waits");
        let late = m.join(ParticipantId(2), Joiner::Caller, t0).unwrap();
        assert_eq!(
            late,
            JoinOutcome::Meeting {
                started_meeting: false
            }
        );
    }

    #[test]
    fn the_meeting_goes_on_after_the_organiser_leaves_and_ends_with_the_last() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, false));
        m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        m.join(ParticipantId(2), Joiner::Caller, t0).unwrap();
        m.admit_all(ORGANISER, t0).unwrap();
        m.join(ParticipantId(3), Joiner::Caller, t0).unwrap();
        drain(&mut m);

        assert_eq!(
            m.leave(ORGANISER),
            Ok(LeaveOutcome::LeftMeeting {
                meeting_ended: false
            })
        );
        assert!(m.is_started());
        assert_eq!(
            m.leave(ParticipantId(1)),
            Ok(LeaveOutcome::LeftMeeting {
                meeting_ended: false
            })
        );
        assert_eq!(
            m.leave(ParticipantId(2)),
            Ok(LeaveOutcome::LeftMeeting {
                meeting_ended: true
            })
        );
        assert!(!m.is_started());
        assert_eq!(
            drain(&mut m),
            vec![
                MeetingEvent::Left { id: ORGANISER },
                MeetingEvent::Left {
                    id: ParticipantId(1)
                },
                MeetingEvent::Left {
                    id: ParticipantId(2)
                },
                MeetingEvent::Ended,
            ]
        );
        // The lobby caller keeps waiting for somebody to start the meeting again.
        assert_eq!(placement(&m, 3), Some(Placement::Lobby));
        assert!(!m.is_empty());
        let again = m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        assert_eq!(
            again,
            JoinOutcome::Meeting {
                started_meeting: true
            }
        );
        assert_eq!(placement(&m, 3), Some(Placement::Lobby));
        assert_eq!(m.leave(ParticipantId(3)), Ok(LeaveOutcome::LeftLobby));
        assert_eq!(
            m.leave(ParticipantId(3)),
            Err(MeetingError::UnknownParticipant(ParticipantId(3)))
        );
    }

    #[test]
    fn lobby_callers_are_released_when_the_wait_runs_out() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, false));
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        let t1 = t0 + Duration::from_secs(60);
        m.join(ParticipantId(2), Joiner::Caller, t1).unwrap();
        drain(&mut m);
        assert_eq!(m.next_lobby_deadline(), Some(t0 + WAIT));

        assert!(
            m.expire_lobby(t0 + WAIT - Duration::from_millis(1))
                .is_empty()
        );
        assert_eq!(m.expire_lobby(t0 + WAIT), vec![ParticipantId(1)]);
        assert_eq!(
            drain(&mut m),
            vec![MeetingEvent::LobbyTimedOut {
                id: ParticipantId(1)
            }]
        );
        assert_eq!(m.participant(ParticipantId(1)), None);
        assert_eq!(m.next_lobby_deadline(), Some(t1 + WAIT));

        // Admitted callers are not released.
        m.join(ORGANISER, Joiner::OrganiserWithPin, t1).unwrap();
        m.admit_all(ORGANISER, t1).unwrap();
        assert!(m.expire_lobby(t1 + WAIT * 2).is_empty());
        assert_eq!(m.next_lobby_deadline(), None);
    }

    #[test]
    fn star_22_mutes_everyone_but_the_organiser() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(true, false));
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        m.join(ParticipantId(2), Joiner::Caller, t0).unwrap();
        m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        assert_eq!(m.toggle_mute(ParticipantId(2)), Ok(true));
        drain(&mut m);
        assert_eq!(
            m.mute_all_except_organiser(ParticipantId(1)),
            Err(MeetingError::NotAllowed(ParticipantId(1)))
        );
        assert_eq!(
            m.mute_all_except_organiser(ORGANISER),
            Ok(vec![ParticipantId(1)])
        );
        assert!(
            m.participants()
                .iter()
                .filter(|p| !p.is_organiser)
                .all(|p| p.muted)
        );
        assert!(!m.participant(ORGANISER).unwrap().muted);
        assert_eq!(
            drain(&mut m),
            vec![MeetingEvent::MuteChanged {
                id: ParticipantId(1),
                muted: true
            }]
        );
        // A muted caller may unmute themselves.
        assert_eq!(m.toggle_mute(ParticipantId(1)), Ok(false));
    }

    #[test]
    fn star_23_toggles_announcements_for_the_organiser_only() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(true, false));
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        m.join(ORGANISER, Joiner::AppUser { is_organiser: true }, t0)
            .unwrap();
        assert!(m.announcements_on());
        assert_eq!(
            m.toggle_announcements(ParticipantId(1)),
            Err(MeetingError::NotAllowed(ParticipantId(1)))
        );
        assert_eq!(m.toggle_announcements(ORGANISER), Ok(false));
        assert_eq!(m.toggle_announcements(ORGANISER), Ok(true));
    }

    #[test]
    fn hand_and_mute_need_the_meeting_not_the_lobby() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, false));
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        assert_eq!(
            m.toggle_hand(ParticipantId(1)),
            Err(MeetingError::NotInMeeting(ParticipantId(1)))
        );
        assert_eq!(
            m.toggle_mute(ParticipantId(1)),
            Err(MeetingError::NotInMeeting(ParticipantId(1)))
        );
        m.join(ORGANISER, Joiner::OrganiserWithPin, t0).unwrap();
        m.admit_all(ORGANISER, t0).unwrap();
        drain(&mut m);
        assert_eq!(m.toggle_hand(ParticipantId(1)), Ok(true));
        assert_eq!(m.toggle_hand(ParticipantId(1)), Ok(false));
        assert_eq!(
            drain(&mut m),
            vec![
                MeetingEvent::HandChanged {
                    id: ParticipantId(1),
                    raised: true
                },
                MeetingEvent::HandChanged {
                    id: ParticipantId(1),
                    raised: false
                },
            ]
        );
    }

    #[test]
    fn joining_twice_is_refused() {
        let t0 = Instant::now();
        let mut m = Meeting::new(options(false, false));
        m.join(ParticipantId(1), Joiner::Caller, t0).unwrap();
        assert_eq!(
            m.join(ParticipantId(1), Joiner::OrganiserWithPin, t0),
            Err(MeetingError::AlreadyPresent(ParticipantId(1)))
        );
        assert_eq!(m.participants().len(), 1);
    }
}
