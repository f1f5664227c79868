//! A user's own meetings, `/meetings`: the list (the personal meeting first), scheduling
//! a meeting, and a meeting's invitation, ready to paste into a calendar invite.
//!
//! Every signed-in user of the tenant has these pages; they see and create only
//! meetings they organise. Creating one is `App::create_meeting`, the same action the
//! CLI's `meeting new` and the API's `POST /api/v1/meetings` call (audited as
//! `meeting.created`).

use std::sync::LazyLock;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pinbridge_app::{AppError, MeetingRequest, OrganiserMeeting};
use pinbridge_domain::meeting::MeetingSettings;
use pinbridge_domain::{ConferenceId, MeetingSubject};
use serde::Deserialize;

use super::{DoneQuery, Nav, actor_of, format_time, nav, render, render_status};
use crate::error::{Error, Result};
use crate::session::SignedIn;
use crate::{AppState, RouteEntry};

/// The routes of the meetings pages.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/meetings", get(meetings_page)),
        RouteEntry::new(Method::POST, "/meetings", post(meetings_create)),
        RouteEntry::new(
            Method::GET,
            "/meetings/{conference_id}",
            get(invitation_page),
        ),
    ]
}

/// The route of the page that joins a meeting from the browser. An invitation always
/// names its address; the invitation page links to it only while the router serves it.
pub(crate) const MEET_ROUTE: &str = "/meet/{conference_id}";

/// Whether the router serves [`MEET_ROUTE`].
static MEET_SERVED: LazyLock<bool> = LazyLock::new(|| {
    crate::route_table()
        .iter()
        .any(|r| r.method == Method::GET && r.path == MEET_ROUTE)
});

/// What the form's choice of an inherited setting is called.
const DEFAULT: &str = "default";

/// A meeting's own setting as the form offers it: the inherited value, on or off.
fn setting_choice(setting: Option<bool>) -> &'static str {
    match setting {
        None => DEFAULT,
        Some(true) => "on",
        Some(false) => "off",
    }
}

/// The form's choice of a setting, or what is wrong with it.
fn parse_setting(what: &str, value: Option<&str>) -> Result<Option<bool>, String> {
    match value.map(str::trim) {
        None | Some(DEFAULT) => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(format!(
            "{what} must be {DEFAULT}, on or off, not {:?}",
            other.chars().take(40).collect::<String>()
        )),
    }
}

fn yes_no(on: bool) -> &'static str {
    if on { "yes" } else { "no" }
}

/// A resolved option with where it comes from: `yes (default)`, `no (this meeting)`.
fn option_text(resolved: bool, setting: Option<bool>) -> String {
    let from = if setting.is_some() {
        "this meeting"
    } else {
        "default"
    };
    format!("{} ({from})", yes_no(resolved))
}

struct MeetingRow {
    conference_id: String,
    personal: bool,
    subject: String,
    anonymous_start: String,
    bypass_lobby: String,
    created: String,
}

fn meeting_row(m: &OrganiserMeeting) -> MeetingRow {
    MeetingRow {
        conference_id: m.conference_id.to_string(),
        personal: m.personal,
        subject: m.subject.clone().unwrap_or_default(),
        anonymous_start: option_text(m.anonymous_start, m.settings.allow_anonymous_start),
        bypass_lobby: option_text(m.bypass_lobby, m.settings.allow_pstn_users_to_bypass_lobby),
        created: m.created_at_ms.map(format_time).unwrap_or_default(),
    }
}

/// What the scheduling form holds: empty, or what was posted when it was refused.
struct FormValues {
    subject: String,
    anonymous_start: &'static str,
    bypass_lobby: &'static str,
}

impl Default for FormValues {
    fn default() -> Self {
        Self {
            subject: String::new(),
            anonymous_start: DEFAULT,
            bypass_lobby: DEFAULT,
        }
    }
}

#[derive(Template)]
#[template(path = "meetings.html")]
struct MeetingsPage {
    nav: Option<Nav>,
    csrf: String,
    enabled: bool,
    meetings: Vec<MeetingRow>,
    /// The inherited values, as the form's default choices name them.
    inherited_anonymous_start: &'static str,
    inherited_bypass_lobby: &'static str,
    form: FormValues,
    subject_max: usize,
    error: Option<String>,
}

async fn meetings_response(
    state: &AppState,
    s: &SignedIn,
    status: StatusCode,
    form: FormValues,
    error: Option<String>,
) -> Result<Response> {
    let mine = state.app.organiser_meetings(&s.user.upn).await?;
    render_status(
        status,
        &MeetingsPage {
            nav: nav(s),
            csrf: s.csrf.clone(),
            enabled: mine.enabled,
            meetings: mine.meetings.iter().map(meeting_row).collect(),
            inherited_anonymous_start: yes_no(mine.inherited.anonymous_start),
            inherited_bypass_lobby: yes_no(mine.inherited.bypass_lobby),
            form,
            subject_max: MeetingSubject::MAX_CHARS,
            error,
        },
    )
}

async fn meetings_page(State(state): State<AppState>, s: SignedIn) -> Result<Response> {
    meetings_response(&state, &s, StatusCode::OK, FormValues::default(), None).await
}

#[derive(Deserialize)]
struct MeetingForm {
    #[serde(default)]
    subject: String,
    allow_anonymous_start: Option<String>,
    allow_pstn_users_to_bypass_lobby: Option<String>,
}

/// The meeting the form asks for, organised by the signed-in user, or what is wrong
/// with the form.
fn meeting_request(s: &SignedIn, form: &MeetingForm) -> Result<MeetingRequest, String> {
    Ok(MeetingRequest {
        organizer: s.user.upn.clone(),
        subject: MeetingSubject::parse_optional(&form.subject).map_err(|e| e.to_string())?,
        settings: MeetingSettings {
            allow_anonymous_start: parse_setting(
                "\"callers may start it\"",
                form.allow_anonymous_start.as_deref(),
            )?,
            allow_pstn_users_to_bypass_lobby: parse_setting(
                "\"dial-in callers bypass the lobby\"",
                form.allow_pstn_users_to_bypass_lobby.as_deref(),
            )?,
        },
    })
}

/// Schedules a meeting and shows its invitation (after a redirect, so a reload
/// schedules nothing more). A refused form shows the list again with the reason and
/// what was typed.
async fn meetings_create(
    State(state): State<AppState>,
    s: SignedIn,
    Form(form): Form<MeetingForm>,
) -> Result<Response> {
    let refused = |status: StatusCode, message: String| {
        // What was typed stays (cut to a sensible length); a choice the form does not
        // offer goes back to the default.
        let choice = |value: Option<&str>| parse_setting("", value).map_or(DEFAULT, setting_choice);
        let values = FormValues {
            subject: form
                .subject
                .chars()
                .take(MeetingSubject::MAX_CHARS * 2)
                .collect(),
            anonymous_start: choice(form.allow_anonymous_start.as_deref()),
            bypass_lobby: choice(form.allow_pstn_users_to_bypass_lobby.as_deref()),
        };
        meetings_response(&state, &s, status, values, Some(message))
    };
    let request = match meeting_request(&s, &form) {
        Ok(r) => r,
        Err(message) => return refused(StatusCode::UNPROCESSABLE_ENTITY, message).await,
    };
    match state.app.create_meeting(&actor_of(&s), &request).await {
        Ok(created) => Ok(Redirect::to(&format!(
            "/meetings/{}?done=created",
            created.conference_id
        ))
        .into_response()),
        Err(AppError::OrganizerNotEnabled(_)) => {
            refused(
                StatusCode::CONFLICT,
                "Audio conferencing is not enabled for you, so you cannot schedule meetings. \
                 Ask your admin."
                    .to_owned(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "meeting.html")]
struct InvitationPage {
    nav: Option<Nav>,
    heading: String,
    conference_id: String,
    personal: bool,
    numbers: Vec<String>,
    join_url: String,
    /// The join page as a link, while the router serves it.
    join_link: Option<String>,
    text: String,
    notice: Option<&'static str>,
}

/// A meeting's invitation. Only its organiser sees it; any other conference ID is not
/// found.
async fn invitation_page(
    State(state): State<AppState>,
    s: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response> {
    let id = ConferenceId::parse(&id).map_err(|_| Error::NotFound)?;
    let invitation = match state
        .app
        .invitation(&s.user.upn, &id, &state.web.public_url)
        .await
    {
        Ok(i) => i,
        Err(AppError::OrganizerNotEnabled(_)) => {
            return Err(Error::Conflict(
                "audio conferencing is not enabled for you, so callers cannot reach your \
                 meetings: ask your admin"
                    .into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let heading = match (&invitation.subject, invitation.personal) {
        (Some(subject), _) => subject.clone(),
        (None, true) => "Personal meeting".to_owned(),
        (None, false) => format!("Meeting {id}"),
    };
    render(&InvitationPage {
        nav: nav(&s),
        heading,
        conference_id: invitation.conference_id.clone(),
        personal: invitation.personal,
        numbers: invitation
            .dial_in_numbers
            .iter()
            .map(|n| format!("{} ({})", n.number, n.kind.as_str()))
            .collect(),
        join_url: invitation.join_url.clone(),
        join_link: MEET_SERVED.then(|| format!("/meet/{id}")),
        text: invitation.text(),
        notice: q
            .done
            .is_some_and(|d| d == "created")
            .then_some("The meeting was created. Copy the invitation into your calendar invite."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_default_on_or_off() {
        assert_eq!(parse_setting("x", None), Ok(None));
        assert_eq!(parse_setting("x", Some("default")), Ok(None));
        assert_eq!(parse_setting("x", Some("on")), Ok(Some(true)));
        assert_eq!(parse_setting("x", Some("off")), Ok(Some(false)));
        assert!(parse_setting("x", Some("yes")).is_err());
        for setting in [None, Some(true), Some(false)] {
            assert_eq!(
                parse_setting("x", Some(setting_choice(setting))),
                Ok(setting)
            );
        }
    }
}
