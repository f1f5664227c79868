//! The meetings, `/api/v1/meetings`: listing them and creating one for an organiser.
//! Creating is `App::create_meeting`, as for the CLI's `meeting new` and the web's
//! `/meetings` form, audited as `meeting.created`.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use pinbridge_app::MeetingRequest;
use pinbridge_app::report::DialInNumber;
use pinbridge_domain::meeting::MeetingSettings;
use pinbridge_domain::{MeetingSubject, Upn};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::formats::{EmailText, MeetingSubjectText};
use super::{ApiJson, ApiResult, Caller, ErrorBody, optional_exact, parse_exact};
use crate::{AppState, RouteEntry};

/// The routes of the meetings.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/api/v1/meetings", get(list_meetings)),
        RouteEntry::new(Method::POST, "/api/v1/meetings", post(create_meeting)),
    ]
}

/// A meeting just created, with the numbers callers dial.
#[derive(Serialize, ToSchema)]
struct NewMeetingView {
    /// The meeting's own conference ID.
    conference_id: String,
    /// The organiser's UPN.
    organizer: String,
    subject: Option<String>,
    /// The meeting's own anonymous-start setting; null inherits the organiser's
    /// "callers can start my meetings".
    allow_anonymous_start: Option<bool>,
    /// The meeting's own lobby-bypass setting; null inherits the tenant's.
    allow_pstn_users_to_bypass_lobby: Option<bool>,
    /// The organiser's toll and toll-free numbers (else every number of the tenant).
    dial_in_numbers: Vec<NumberView>,
}

#[derive(Serialize, ToSchema)]
struct NumberView {
    number: String,
    /// `toll` or `toll-free`.
    kind: String,
}

fn number_view(n: &DialInNumber) -> NumberView {
    NumberView {
        number: n.number.clone(),
        kind: n.kind.as_str().to_owned(),
    }
}

/// A meeting of the list.
#[derive(Serialize, ToSchema)]
struct MeetingView {
    /// The meeting's own conference ID.
    conference_id: String,
    /// The organiser's UPN.
    organizer: String,
    subject: Option<String>,
    /// The meeting's own anonymous-start setting; null inherits the organiser's.
    allow_anonymous_start: Option<bool>,
    /// The meeting's own lobby-bypass setting; null inherits the tenant's.
    allow_pstn_users_to_bypass_lobby: Option<bool>,
    /// When the meeting was created (Unix milliseconds).
    created_at_ms: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMeeting {
    /// The organiser's UPN; the user must exist (else 404) and be enabled for audio
    /// conferencing (else 409).
    #[schema(value_type = EmailText)]
    organizer: String,
    #[schema(value_type = Option<MeetingSubjectText>)]
    subject: Option<String>,
    /// Left out or null: the organiser's "callers can start my meetings".
    allow_anonymous_start: Option<bool>,
    /// Left out or null: the tenant's setting.
    allow_pstn_users_to_bypass_lobby: Option<bool>,
}

/// Every meeting, oldest first (not the users' own conference IDs).
#[utoipa::path(get, path = "/api/v1/meetings", security(("bearer" = [])),
    responses((status = 200, body = Vec<MeetingView>), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody)))]
async fn list_meetings(
    State(state): State<AppState>,
    _: Caller,
) -> ApiResult<Json<Vec<MeetingView>>> {
    let meetings = state.app.meeting_summaries().await?;
    Ok(Json(
        meetings
            .into_iter()
            .map(|m| MeetingView {
                conference_id: m.conference_id,
                organizer: m.organizer,
                subject: m.subject,
                allow_anonymous_start: m.allow_anonymous_start,
                allow_pstn_users_to_bypass_lobby: m.allow_pstn_users_to_bypass_lobby,
                created_at_ms: m.created_at_ms,
            })
            .collect(),
    ))
}

/// Creates a meeting with a conference ID of its own; audited.
#[utoipa::path(post, path = "/api/v1/meetings", request_body = NewMeeting, security(("bearer" = [])),
    responses((status = 201, body = NewMeetingView), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody),
        (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 404, description = "No user with the organiser's UPN.", body = ErrorBody),
        (status = 409, description = "The organiser is not enabled for audio conferencing.", body = ErrorBody), (status = 422, description = "A value the document does not allow; the message says which.", body = ErrorBody)))]
async fn create_meeting(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewMeeting>,
) -> ApiResult<(StatusCode, Json<NewMeetingView>)> {
    let request = MeetingRequest {
        organizer: parse_exact("the organiser", &body.organizer, Upn::parse)?,
        subject: optional_exact(
            "the subject",
            body.subject.as_deref(),
            MeetingSubject::parse,
        )?,
        settings: MeetingSettings {
            allow_anonymous_start: body.allow_anonymous_start,
            allow_pstn_users_to_bypass_lobby: body.allow_pstn_users_to_bypass_lobby,
        },
    };
    let created = state.app.create_meeting(&caller.actor, &request).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewMeetingView {
            dial_in_numbers: created.dial_in_numbers.iter().map(number_view).collect(),
            conference_id: created.conference_id,
            organizer: created.organizer,
            subject: created.subject,
            allow_anonymous_start: created.allow_anonymous_start,
            allow_pstn_users_to_bypass_lobby: created.allow_pstn_users_to_bypass_lobby,
        }),
    ))
}
