//! The users, `/api/v1/users`: listing, adding and reading users, and the actions on a
//! user (audio conferencing on and off, the PIN reset, the conference info email, the
//! override address).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post, put};
use pinbridge_domain::email::EmailDecision;
use pinbridge_domain::ops::{EnableOptions, OverrideChange, SetOptions};
use pinbridge_domain::user::Role;
use pinbridge_domain::{DisplayName, E164, EmailAddress, PIN_MASK, Upn, User};
use pinbridge_store::UserQuery;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::formats::{DisplayNameText, E164Text, EmailText};
use super::{
    ApiError, ApiJson, ApiQuery, ApiResult, Caller, ErrorBody, check_int32, optional_exact,
    parse_exact,
};
use crate::error::Error;
use crate::{AppState, RouteEntry, parse_upn};

/// The routes of the users and of the actions on a user.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/api/v1/users", get(list_users)),
        RouteEntry::new(Method::POST, "/api/v1/users", post(create_user)),
        RouteEntry::new(Method::GET, "/api/v1/users/{upn}", get(get_user)),
        RouteEntry::new(
            Method::POST,
            "/api/v1/users/{upn}/enable",
            post(enable_user),
        ),
        RouteEntry::new(
            Method::POST,
            "/api/v1/users/{upn}/disable",
            post(disable_user),
        ),
        RouteEntry::new(
            Method::POST,
            "/api/v1/users/{upn}/reset-pin",
            post(reset_pin),
        ),
        RouteEntry::new(
            Method::POST,
            "/api/v1/users/{upn}/send-conference-info",
            post(send_conference_info),
        ),
        RouteEntry::new(
            Method::PUT,
            "/api/v1/users/{upn}/email-override",
            put(set_email_override),
        ),
        RouteEntry::new(
            Method::DELETE,
            "/api/v1/users/{upn}/email-override",
            delete(clear_email_override),
        ),
    ]
}

#[derive(Serialize, ToSchema)]
struct UserView {
    upn: String,
    display_name: String,
    /// `user` or `admin`.
    role: String,
    primary_smtp_address: Option<String>,
    email_override: Option<String>,
    audio_conferencing: ConferencingView,
}

#[derive(Serialize, ToSchema)]
struct ConferencingView {
    enabled: bool,
    conference_id: Option<String>,
    service_number: Option<String>,
    toll_free_service_number: Option<String>,
    /// "Callers can start this user's meetings".
    allow_pstn_only_meetings: bool,
    /// Always the mask `***********` when a PIN is set: a PIN is shown only once.
    pin: Option<String>,
}

fn user_view(u: &User) -> UserView {
    let c = &u.conferencing;
    UserView {
        upn: u.upn.to_string(),
        display_name: u.display_name.to_string(),
        role: u.role.as_str().to_owned(),
        primary_smtp_address: u.primary_smtp_address.as_ref().map(|a| a.to_string()),
        email_override: u.email_override.as_ref().map(|a| a.to_string()),
        audio_conferencing: ConferencingView {
            enabled: c.enabled,
            conference_id: c.conference_id.as_ref().map(|c| c.to_string()),
            service_number: c.service_number.as_ref().map(|n| n.to_string()),
            toll_free_service_number: c.toll_free_service_number.as_ref().map(|n| n.to_string()),
            allow_pstn_only_meetings: c.allow_pstn_only_meetings,
            pin: c.pin_hash.as_ref().map(|_| PIN_MASK.to_owned()),
        },
    }
}

#[derive(Serialize, ToSchema)]
struct UserList {
    users: Vec<UserView>,
    /// How many users match in all.
    total: i64,
}

/// What happened to the email an action caused.
#[derive(Serialize, ToSchema)]
struct EmailStatus {
    /// `queued` or `not-sent`.
    status: String,
    /// set-up, pin-reset, conference-info-changed, disabled or conference-info.
    kind: String,
    to: Option<String>,
    /// Why nothing was sent, for a person to read.
    reason: Option<String>,
}

fn email_status(d: &EmailDecision) -> EmailStatus {
    match d {
        EmailDecision::Queue { kind, to } => EmailStatus {
            status: "queued".into(),
            kind: kind.as_str().into(),
            to: Some(to.to_string()),
            reason: None,
        },
        EmailDecision::NotSent { kind, reason } => EmailStatus {
            status: "not-sent".into(),
            kind: kind.as_str().into(),
            to: None,
            reason: Some(reason.explain(*kind).into()),
        },
    }
}

/// The result of a change to a user.
#[derive(Serialize, ToSchema)]
struct UserChange {
    user: UserView,
    /// The new PIN, in this response only; it is never shown again.
    pin: Option<String>,
    email: Option<EmailStatus>,
}

fn user_change(outcome: pinbridge_app::UserChangeOutcome) -> UserChange {
    UserChange {
        user: user_view(&outcome.user),
        pin: outcome.new_pin.map(|p| p.pin.reveal().to_owned()),
        email: outcome.email.as_ref().map(email_status),
    }
}

/// A user's role.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RoleName {
    User,
    Admin,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    /// The user principal name; a user with this UPN must not exist yet (409).
    #[schema(value_type = EmailText)]
    upn: String,
    #[schema(value_type = DisplayNameText)]
    display_name: String,
    /// The mailbox conferencing emails go to; without one, none are sent.
    #[schema(value_type = Option<EmailText>)]
    primary_smtp_address: Option<String>,
    /// `user` when left out.
    role: Option<RoleName>,
    /// The web sign-in password, at least 12 characters.
    #[schema(min_length = 12)]
    password: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct EnableUser {
    /// A registered toll number (else 409).
    #[schema(value_type = Option<E164Text>)]
    service_number: Option<String>,
    /// A registered toll-free number (else 409).
    #[schema(value_type = Option<E164Text>)]
    toll_free_service_number: Option<String>,
    allow_pstn_only_meetings: Option<bool>,
    /// Remembered as the user's override address.
    #[schema(value_type = Option<EmailText>)]
    send_email_to_address: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EmailOverride {
    #[schema(value_type = EmailText)]
    address: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UsersQuery {
    /// Every word must start a word of the UPN or display name (or the UPN itself).
    #[param(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    search: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<u32>,
    offset: Option<u32>,
}

/// The users, in UPN order.
#[utoipa::path(get, path = "/api/v1/users", params(UsersQuery), security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    _: Caller,
    ApiQuery(q): ApiQuery<UsersQuery>,
) -> ApiResult<Json<UserList>> {
    check_int32(&[q.limit, q.offset])?;
    if q.search
        .as_deref()
        .is_some_and(|t| t.chars().any(char::is_control))
    {
        return Err(ApiError(Error::BadRequest(
            "the search must not contain control characters".into(),
        )));
    }
    let page = state
        .app
        .search_users(&UserQuery {
            search: q.search,
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
            offset: q.offset.unwrap_or(0),
        })
        .await?;
    Ok(Json(UserList {
        users: page.users.iter().map(user_view).collect(),
        total: page.total,
    }))
}

/// Adds a user to the directory.
#[utoipa::path(post, path = "/api/v1/users", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody),
        (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 409, description = "A user with this UPN exists already.", body = ErrorBody), (status = 422, description = "A value the document does not allow; the message says which.", body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let request = pinbridge_app::AddUser {
        upn: parse_exact("the UPN", &body.upn, Upn::parse)?,
        display_name: parse_exact("the display name", &body.display_name, DisplayName::parse)?,
        primary_smtp_address: optional_exact(
            "the mailbox address",
            body.primary_smtp_address.as_deref(),
            EmailAddress::parse,
        )?,
        role: match body.role {
            None | Some(RoleName::User) => Role::User,
            Some(RoleName::Admin) => Role::Admin,
        },
        password: body.password,
    };
    let user = state.app.add_user(&caller.actor, request).await?;
    Ok((StatusCode::CREATED, Json(user_view(&user))))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{upn}", params(("upn" = String, Path, description = "The user's UPN")),
    security(("bearer" = [])), responses((status = 200, body = UserView), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 404, description = "No user with this UPN.", body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    _: Caller,
    Path(upn): Path<String>,
) -> ApiResult<Json<UserView>> {
    let user = state.app.user(&parse_upn(&upn)?).await?;
    Ok(Json(user_view(&user)))
}

fn optional_number(text: Option<&str>) -> Result<Option<E164>, Error> {
    optional_exact("a phone number", text, E164::parse)
}

/// Enables audio conferencing; the response carries the new PIN, once.
#[utoipa::path(post, path = "/api/v1/users/{upn}/enable", params(("upn" = String, Path, description = "The user's UPN")),
    request_body = EnableUser, security(("bearer" = [])),
    responses((status = 200, body = UserChange), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody),
        (status = 404, description = "No user with this UPN.", body = ErrorBody), (status = 409, description = "Depends on stored data: audio conferencing is enabled for the user already, or a service number is not registered or is of the other kind.", body = ErrorBody), (status = 422, description = "A value the document does not allow; the message says which.", body = ErrorBody)))]
async fn enable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(upn): Path<String>,
    ApiJson(body): ApiJson<EnableUser>,
) -> ApiResult<Json<UserChange>> {
    let upn = parse_upn(&upn)?;
    let options = EnableOptions {
        service_number: optional_number(body.service_number.as_deref())?,
        toll_free_service_number: optional_number(body.toll_free_service_number.as_deref())?,
        allow_pstn_only_meetings: body.allow_pstn_only_meetings,
        send_email_to_address: optional_exact(
            "the email address",
            body.send_email_to_address.as_deref(),
            EmailAddress::parse,
        )?,
    };
    let outcome = state.app.enable_user(&caller.actor, &upn, &options).await?;
    Ok(Json(user_change(outcome)))
}

/// Disables audio conferencing: the PIN is removed, the conference ID stays reserved.
#[utoipa::path(post, path = "/api/v1/users/{upn}/disable", params(("upn" = String, Path, description = "The user's UPN")),
    security(("bearer" = [])),
    responses((status = 200, body = UserChange), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 404, description = "No user with this UPN.", body = ErrorBody), (status = 409, description = "Audio conferencing is not enabled for the user.", body = ErrorBody)))]
async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(upn): Path<String>,
) -> ApiResult<Json<UserChange>> {
    let upn = parse_upn(&upn)?;
    let outcome = state.app.disable_user(&caller.actor, &upn).await?;
    Ok(Json(user_change(outcome)))
}

/// Resets the PIN; the response carries the new PIN, once.
#[utoipa::path(post, path = "/api/v1/users/{upn}/reset-pin", params(("upn" = String, Path, description = "The user's UPN")),
    security(("bearer" = [])),
    responses((status = 200, body = UserChange), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 404, description = "No user with this UPN.", body = ErrorBody), (status = 409, description = "Audio conferencing is not enabled for the user.", body = ErrorBody)))]
async fn reset_pin(
    State(state): State<AppState>,
    caller: Caller,
    Path(upn): Path<String>,
) -> ApiResult<Json<UserChange>> {
    let upn = parse_upn(&upn)?;
    let outcome = state
        .app
        .set_user(&caller.actor, &upn, &SetOptions::default(), true, None)
        .await?;
    Ok(Json(user_change(outcome)))
}

/// Emails the conference ID and dial-in numbers (no PIN).
#[utoipa::path(post, path = "/api/v1/users/{upn}/send-conference-info", params(("upn" = String, Path, description = "The user's UPN")),
    security(("bearer" = [])),
    responses((status = 200, body = UserChange), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 404, description = "No user with this UPN.", body = ErrorBody), (status = 409, description = "Audio conferencing is not enabled for the user, or the user has no mailbox and no override address.", body = ErrorBody)))]
async fn send_conference_info(
    State(state): State<AppState>,
    caller: Caller,
    Path(upn): Path<String>,
) -> ApiResult<Json<UserChange>> {
    let upn = parse_upn(&upn)?;
    let options = SetOptions {
        send_email: true,
        ..SetOptions::default()
    };
    let outcome = state
        .app
        .set_user(&caller.actor, &upn, &options, false, None)
        .await?;
    Ok(Json(user_change(outcome)))
}

/// Sets the address conferencing emails go to instead of the mailbox.
#[utoipa::path(put, path = "/api/v1/users/{upn}/email-override", params(("upn" = String, Path, description = "The user's UPN")),
    request_body = EmailOverride, security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody),
        (status = 404, description = "No user with this UPN.", body = ErrorBody), (status = 422, description = "A value the document does not allow; the message says which.", body = ErrorBody)))]
async fn set_email_override(
    State(state): State<AppState>,
    caller: Caller,
    Path(upn): Path<String>,
    ApiJson(body): ApiJson<EmailOverride>,
) -> ApiResult<Json<UserView>> {
    let upn = parse_upn(&upn)?;
    let address = parse_exact("the address", &body.address, EmailAddress::parse)?;
    let options = SetOptions {
        email_override: Some(OverrideChange::Set(address)),
        ..SetOptions::default()
    };
    let outcome = state
        .app
        .set_user(&caller.actor, &upn, &options, false, None)
        .await?;
    Ok(Json(user_view(&outcome.user)))
}

/// Clears the override address: emails go to the mailbox again.
#[utoipa::path(delete, path = "/api/v1/users/{upn}/email-override", params(("upn" = String, Path, description = "The user's UPN")),
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 404, description = "No user with this UPN.", body = ErrorBody)))]
async fn clear_email_override(
    State(state): State<AppState>,
    caller: Caller,
    Path(upn): Path<String>,
) -> ApiResult<Json<UserView>> {
    let upn = parse_upn(&upn)?;
    let options = SetOptions {
        email_override: Some(OverrideChange::Clear),
        ..SetOptions::default()
    };
    let outcome = state
        .app
        .set_user(&caller.actor, &upn, &options, false, None)
        .await?;
    Ok(Json(user_view(&outcome.user)))
}
