//! The REST API, `/api/v1`: bearer tokens (`pinbridge token create`), JSON in and out,
//! errors as `{"error": {"code": "...", "message": "..."}}`, and an OpenAPI 3.1
//! document generated from these handlers at `/api/v1/openapi.json`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use pinbridge_domain::email::EmailDecision;
use pinbridge_domain::ops::{EnableOptions, OverrideChange, SetOptions};
use pinbridge_domain::settings::{EntryExitAnnouncementsType, TenantSettingsChange};
use pinbridge_domain::user::Role;
use pinbridge_domain::{
    Actor, DisplayName, E164, EmailAddress, PIN_MASK, PinLength, ServiceNumber, TenantSettings,
    Upn, User,
};
use pinbridge_store::{AuditQuery, UserQuery};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::Error;
use crate::session::{self, SESSION_COOKIE, secret_hash};
use crate::{AppState, RouteEntry};

pub(crate) fn routes() -> Vec<RouteEntry> {
    let r = |method: Method, path: &'static str, handler| RouteEntry {
        method,
        path,
        handler,
    };
    vec![
        r(Method::GET, "/api/v1/openapi.json", get(openapi_document)),
        r(Method::GET, "/api/v1/users", get(list_users)),
        r(Method::POST, "/api/v1/users", post(create_user)),
        r(Method::GET, "/api/v1/users/{upn}", get(get_user)),
        r(
            Method::POST,
            "/api/v1/users/{upn}/enable",
            post(enable_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{upn}/disable",
            post(disable_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{upn}/reset-pin",
            post(reset_pin),
        ),
        r(
            Method::POST,
            "/api/v1/users/{upn}/send-conference-info",
            post(send_conference_info),
        ),
        r(
            Method::PUT,
            "/api/v1/users/{upn}/email-override",
            put(set_email_override),
        ),
        r(
            Method::DELETE,
            "/api/v1/users/{upn}/email-override",
            delete(clear_email_override),
        ),
        r(Method::GET, "/api/v1/tenant-settings", get(get_settings)),
        r(
            Method::PATCH,
            "/api/v1/tenant-settings",
            patch(patch_settings),
        ),
        r(Method::GET, "/api/v1/numbers", get(list_numbers)),
        r(Method::POST, "/api/v1/numbers", post(add_number)),
        r(Method::GET, "/api/v1/audit", get(audit)),
    ]
}

/// The error body every API error has.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: unauthenticated, forbidden, cross-site-request, not-found, bad-request,
    /// invalid, conflict, locked, unavailable, internal.
    pub code: String,
    pub message: String,
}

/// An error as the API's JSON body.
pub(crate) fn error_response(e: Error) -> Response {
    let status = e.status_code();
    let body = ErrorBody {
        error: ErrorDetail {
            code: e.code().to_owned(),
            message: e.public_message(),
        },
    };
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// The web [`Error`], rendered as JSON.
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.0)
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejections are API errors: 400 for unreadable JSON, 422 for JSON
/// of the wrong shape.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError(Error::Invalid(format!(
                "the body does not fit: {}",
                e.body_text()
            )))),
            Err(e) => Err(ApiError(Error::BadRequest(e.body_text()))),
        }
    }
}

/// A query string whose rejections are API errors (400).
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError(Error::BadRequest(e.body_text()))),
        }
    }
}

/// Who calls the API: a bearer token, or a signed-in admin's browser session.
pub struct Caller {
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let store = state.app.store();
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .ok_or(Error::Unauthenticated)?;
            let found = store.api_token_by_hash(&secret_hash(token)).await?;
            return match found {
                Some(t) => Ok(Self {
                    actor: Actor::token(&t.name),
                }),
                None => Err(ApiError(Error::Unauthenticated)),
            };
        }
        if let Some(value) = session::cookie(&parts.headers, SESSION_COOKIE)
            && let Some(user) = store.session_user(&secret_hash(&value)).await?
        {
            if user.role != Role::Admin {
                return Err(ApiError(Error::Forbidden));
            }
            return Ok(Self {
                actor: Actor::user(&user.upn),
            });
        }
        Err(ApiError(Error::Unauthenticated))
    }
}

/// The document declares query numbers as 32-bit; larger ones are refused, not wrapped.
fn check_int32(values: &[Option<u32>]) -> Result<(), Error> {
    if values.iter().flatten().any(|v| *v > i32::MAX as u32) {
        return Err(Error::BadRequest(
            "numbers in the query must be below 2^31".into(),
        ));
    }
    Ok(())
}

fn parse_upn(text: &str) -> Result<Upn, Error> {
    Upn::parse(text).map_err(|_| Error::NotFound)
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::Invalid(e.to_string())
}

// ---- representations -------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub upn: String,
    pub display_name: String,
    /// `user` or `admin`.
    pub role: String,
    pub primary_smtp_address: Option<String>,
    pub email_override: Option<String>,
    pub audio_conferencing: ConferencingView,
}

#[derive(Serialize, ToSchema)]
pub struct ConferencingView {
    pub enabled: bool,
    pub conference_id: Option<String>,
    pub service_number: Option<String>,
    pub toll_free_service_number: Option<String>,
    /// "Callers can start this user's meetings".
    pub allow_pstn_only_meetings: bool,
    /// Always the mask `***********` when a PIN is set: a PIN is shown only once.
    pub pin: Option<String>,
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
pub struct UserList {
    pub users: Vec<UserView>,
    /// How many users match in all.
    pub total: i64,
}

/// What happened to the email an action caused.
#[derive(Serialize, ToSchema)]
pub struct EmailStatus {
    /// `queued` or `not-sent`.
    pub status: String,
    /// set-up, pin-reset, conference-info-changed, disabled or conference-info.
    pub kind: String,
    pub to: Option<String>,
    /// Why nothing was sent, for a person to read.
    pub reason: Option<String>,
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
pub struct UserChange {
    pub user: UserView,
    /// The new PIN, in this response only; it is never shown again.
    pub pin: Option<String>,
    pub email: Option<EmailStatus>,
}

fn user_change(outcome: pinbridge_app::UserChangeOutcome) -> UserChange {
    UserChange {
        user: user_view(&outcome.user),
        pin: outcome.new_pin.map(|p| p.pin.reveal().to_owned()),
        email: outcome.email.as_ref().map(email_status),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub upn: String,
    pub display_name: String,
    pub primary_smtp_address: Option<String>,
    /// `user` (default) or `admin`.
    pub role: Option<String>,
    /// The web sign-in password, at least 12 characters.
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnableUser {
    pub service_number: Option<String>,
    pub toll_free_service_number: Option<String>,
    pub allow_pstn_only_meetings: Option<bool>,
    pub send_email_to_address: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailOverride {
    pub address: String,
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    pub pin_length: u8,
    pub automatically_send_emails: bool,
    pub allow_pstn_only_meetings_by_default: bool,
    pub enable_entry_exit_notifications: bool,
    /// `use-names` or `tone-only`.
    pub entry_exit_announcements_type: String,
    pub enable_name_recording: bool,
    pub allow_pstn_users_to_bypass_lobby: bool,
    pub lobby_wait_minutes: u32,
    pub display_name: String,
}

fn settings_view(s: &TenantSettings) -> SettingsView {
    SettingsView {
        pin_length: s.pin_length.get(),
        automatically_send_emails: s.automatically_send_emails,
        allow_pstn_only_meetings_by_default: s.allow_pstn_only_meetings_by_default,
        enable_entry_exit_notifications: s.enable_entry_exit_notifications,
        entry_exit_announcements_type: s.entry_exit_announcements_type.as_str().into(),
        enable_name_recording: s.enable_name_recording,
        allow_pstn_users_to_bypass_lobby: s.allow_pstn_users_to_bypass_lobby,
        lobby_wait_minutes: s.lobby_wait_minutes,
        display_name: s.display_name.to_string(),
    }
}

/// A partial change: fields left out keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// 4 to 12; applies only to PINs generated afterwards.
    #[schema(minimum = 4, maximum = 12)]
    pub pin_length: Option<u8>,
    pub automatically_send_emails: Option<bool>,
    pub allow_pstn_only_meetings_by_default: Option<bool>,
    pub enable_entry_exit_notifications: Option<bool>,
    pub entry_exit_announcements_type: Option<String>,
    pub enable_name_recording: Option<bool>,
    pub allow_pstn_users_to_bypass_lobby: Option<bool>,
    #[schema(minimum = 1, maximum = 1440)]
    pub lobby_wait_minutes: Option<u32>,
    pub display_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct NumberView {
    pub number: String,
    /// `toll` or `toll-free`.
    pub kind: String,
    pub primary_language: String,
    pub alternate_languages: Vec<String>,
}

fn number_view(n: &ServiceNumber) -> NumberView {
    NumberView {
        number: n.number.to_string(),
        kind: n.kind.as_str().into(),
        primary_language: n.primary_language.to_string(),
        alternate_languages: n
            .alternate_languages
            .iter()
            .map(|l| l.to_string())
            .collect(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNumber {
    /// E.164, such as `+14255550100`.
    pub number: String,
    /// `toll` or `toll-free`.
    pub kind: String,
    pub primary_language: Option<String>,
    pub alternate_languages: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Matches anywhere in the UPN or display name.
    pub search: Option<String>,
    /// 1 to 1000, default 100.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only lines about this user.
    pub user: Option<String>,
    /// 1 to 10000, default 100.
    pub limit: Option<u32>,
}

// ---- handlers ------------------------------------------------------------------------------

/// The users, in UPN order.
#[utoipa::path(get, path = "/api/v1/users", params(UsersQuery), security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
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
        .store()
        .list_users(&UserQuery {
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
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let request = pinbridge_app::AddUser {
        upn: Upn::parse(&body.upn).map_err(invalid)?,
        display_name: DisplayName::parse(&body.display_name).map_err(invalid)?,
        primary_smtp_address: body
            .primary_smtp_address
            .as_deref()
            .map(EmailAddress::parse)
            .transpose()
            .map_err(invalid)?,
        role: match body.role.as_deref() {
            None => Role::User,
            Some(r) => Role::parse(r)
                .ok_or_else(|| invalid(format!("the role must be user or admin, not {r:?}")))?,
        },
        password: body.password,
    };
    let user = state.app.add_user(&caller.actor, request).await?;
    Ok((StatusCode::CREATED, Json(user_view(&user))))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{upn}", params(("upn" = String, Path, description = "The user's UPN")),
    security(("bearer" = [])), responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    _: Caller,
    Path(upn): Path<String>,
) -> ApiResult<Json<UserView>> {
    let user = state.app.user(&parse_upn(&upn)?).await?;
    Ok(Json(user_view(&user)))
}

fn optional_number(text: Option<&str>) -> Result<Option<E164>, Error> {
    text.map(E164::parse).transpose().map_err(invalid)
}

/// Enables audio conferencing; the response carries the new PIN, once.
#[utoipa::path(post, path = "/api/v1/users/{upn}/enable", params(("upn" = String, Path, description = "The user's UPN")),
    request_body = EnableUser, security(("bearer" = [])),
    responses((status = 200, body = UserChange), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
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
        send_email_to_address: body
            .send_email_to_address
            .as_deref()
            .map(EmailAddress::parse)
            .transpose()
            .map_err(invalid)?,
    };
    let outcome = state.app.enable_user(&caller.actor, &upn, &options).await?;
    Ok(Json(user_change(outcome)))
}

/// Disables audio conferencing: the PIN is removed, the conference ID stays reserved.
#[utoipa::path(post, path = "/api/v1/users/{upn}/disable", params(("upn" = String, Path, description = "The user's UPN")),
    security(("bearer" = [])),
    responses((status = 200, body = UserChange), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
    responses((status = 200, body = UserChange), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
    responses((status = 200, body = UserChange), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_email_override(
    State(state): State<AppState>,
    caller: Caller,
    Path(upn): Path<String>,
    ApiJson(body): ApiJson<EmailOverride>,
) -> ApiResult<Json<UserView>> {
    let upn = parse_upn(&upn)?;
    let address = EmailAddress::parse(&body.address).map_err(invalid)?;
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
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
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

/// The tenant's conferencing settings.
#[utoipa::path(get, path = "/api/v1/tenant-settings", security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 401, body = ErrorBody)))]
async fn get_settings(State(state): State<AppState>, _: Caller) -> ApiResult<Json<SettingsView>> {
    let s = state.app.store().tenant_settings().await?;
    Ok(Json(settings_view(&s)))
}

/// Changes some settings; fields left out keep their value.
#[utoipa::path(patch, path = "/api/v1/tenant-settings", request_body = SettingsPatch, security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SettingsPatch>,
) -> ApiResult<Json<SettingsView>> {
    let change = TenantSettingsChange {
        pin_length: body
            .pin_length
            .map(PinLength::new)
            .transpose()
            .map_err(invalid)?,
        automatically_send_emails: body.automatically_send_emails,
        allow_pstn_only_meetings_by_default: body.allow_pstn_only_meetings_by_default,
        enable_entry_exit_notifications: body.enable_entry_exit_notifications,
        entry_exit_announcements_type: body
            .entry_exit_announcements_type
            .as_deref()
            .map(EntryExitAnnouncementsType::parse)
            .transpose()
            .map_err(invalid)?,
        enable_name_recording: body.enable_name_recording,
        allow_pstn_users_to_bypass_lobby: body.allow_pstn_users_to_bypass_lobby,
        lobby_wait_minutes: body.lobby_wait_minutes,
        display_name: body
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()
            .map_err(invalid)?,
    };
    let (settings, _) = state
        .app
        .update_tenant_settings(&caller.actor, &change)
        .await?;
    Ok(Json(settings_view(&settings)))
}

/// The registered dial-in numbers.
#[utoipa::path(get, path = "/api/v1/numbers", security(("bearer" = [])),
    responses((status = 200, body = Vec<NumberView>), (status = 401, body = ErrorBody)))]
async fn list_numbers(
    State(state): State<AppState>,
    _: Caller,
) -> ApiResult<Json<Vec<NumberView>>> {
    let numbers = state.app.store().numbers().await?;
    Ok(Json(numbers.iter().map(number_view).collect()))
}

/// Registers a dial-in number.
#[utoipa::path(post, path = "/api/v1/numbers", request_body = NewNumber, security(("bearer" = [])),
    responses((status = 201, body = NumberView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_number(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewNumber>,
) -> ApiResult<(StatusCode, Json<NumberView>)> {
    let number = crate::pages::parse_number(
        &body.number,
        &body.kind,
        body.primary_language.as_deref().unwrap_or("en-US"),
        &body.alternate_languages.unwrap_or_default().join(","),
    )
    .map_err(Error::Invalid)?;
    state.app.add_number(&caller.actor, &number).await?;
    Ok((StatusCode::CREATED, Json(number_view(&number))))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    _: Caller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<AuditView>>> {
    check_int32(&[q.limit])?;
    let target = q
        .user
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(Upn::parse)
        .transpose()
        .map_err(invalid)?;
    let records = state
        .app
        .store()
        .audit(&AuditQuery {
            limit: q.limit.unwrap_or(100).clamp(1, 10_000),
            target,
        })
        .await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at_ms: r.at_ms,
                actor: r.actor.as_str().to_owned(),
                action: r.action.as_str().to_owned(),
                target: r.target.map(|t| t.to_string()),
                detail: r.detail,
            })
            .collect(),
    ))
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "pinbridge API", description = "Users, audio conferencing, tenant settings, dial-in numbers and the audit log."),
    paths(list_users, create_user, get_user, enable_user, disable_user, reset_pin, send_conference_info,
        set_email_override, clear_email_override, get_settings, patch_settings, list_numbers, add_number, audit),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

async fn openapi_document() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
