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
    Actor, DisplayName, E164, EmailAddress, LanguageTag, NumberKind, PIN_MASK, PinLength,
    ServiceNumber, TenantSettings, Upn, User,
};
use pinbridge_store::{AuditQuery, UserQuery};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

pub use self::formats::{
    DISPLAY_NAME_PATTERN, E164_PATTERN, EMAIL_LOCAL_PART_PATTERN, EMAIL_PATTERN, LANGUAGE_PATTERN,
    SEARCH_PATTERN,
};

use crate::error::Error;
use crate::session::{self, SESSION_COOKIE};
use crate::{AppState, RouteEntry};
use pinbridge_app::secret::secret_hash;

pub(crate) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/api/v1/openapi.json", get(openapi_document)),
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
        RouteEntry::new(Method::GET, "/api/v1/tenant-settings", get(get_settings)),
        RouteEntry::new(
            Method::PATCH,
            "/api/v1/tenant-settings",
            patch(patch_settings),
        ),
        RouteEntry::new(Method::GET, "/api/v1/numbers", get(list_numbers)),
        RouteEntry::new(Method::POST, "/api/v1/numbers", post(add_number)),
        RouteEntry::new(Method::GET, "/api/v1/audit", get(audit)),
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
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .ok_or(Error::Unauthenticated)?;
            let found = state.app.api_token(token).await?;
            return match found {
                Some(t) => Ok(Self {
                    actor: Actor::token(&t.name),
                }),
                None => Err(ApiError(Error::Unauthenticated)),
            };
        }
        if let Some(value) = session::cookie(&parts.headers, SESSION_COOKIE)
            && let Some(user) = state.app.session_user(&secret_hash(&value)).await?
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

/// A text value of a body or query as the document states it: the domain's parsers
/// forgive spaces around a value (the CLI and the forms trim), the API does not, so
/// that what the document's patterns allow and what the API accepts are the same set.
fn exact<'a>(what: &str, text: &'a str) -> Result<&'a str, Error> {
    if text.trim() != text {
        return Err(Error::Invalid(format!(
            "{what} must not start or end with spaces"
        )));
    }
    Ok(text)
}

fn parse_exact<T, E: std::fmt::Display>(
    what: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, Error> {
    parse(exact(what, text)?).map_err(invalid)
}

fn optional_exact<T, E: std::fmt::Display>(
    what: &str,
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, Error> {
    text.map(|t| parse_exact(what, t, parse)).transpose()
}

/// The schemas of the API's text values, stated as exactly as JSON Schema can state
/// what the domain's parsers accept (`pinbridge_domain::text`): a value the document
/// allows is accepted, and a value it does not allow is refused. The web crate's tests
/// check each pattern against its parser.
mod formats {
    use std::borrow::Cow;

    use utoipa::openapi::schema::{AllOfBuilder, Array, ArrayBuilder, ObjectBuilder, Schema, Type};
    use utoipa::openapi::{RefOr, schema::SchemaType};
    use utoipa::{PartialSchema, ToSchema};

    /// An email address as `EmailAddress::parse` takes it: a local part of the
    /// characters RFC 5322 allows unquoted, dots only between them; `@`; a domain of
    /// at least two host-name labels.
    pub const EMAIL_PATTERN: &str = concat!(
        "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
        "@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    );
    /// The part before `@` is at most 64 characters (a second pattern, since one
    /// regular expression without look-ahead cannot count it).
    pub const EMAIL_LOCAL_PART_PATTERN: &str = "^[^@]{1,64}@";
    /// A display name: no control characters (Unicode Cc), and neither starting nor
    /// ending with white space (Unicode White_Space), so at least one other character.
    pub const DISPLAY_NAME_PATTERN: &str = concat!(
        "^[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        "([^\\x00-\\x1f\\x7f-\\x9f]*",
        "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$"
    );
    /// E.164: `+`, then 1 to 15 digits, the first not 0.
    pub const E164_PATTERN: &str = "^\\+[1-9][0-9]{0,14}$";
    /// A language tag: a language of 2 or 3 letters, optionally `-` and a region of 2.
    pub const LANGUAGE_PATTERN: &str = "^[A-Za-z]{2,3}(-[A-Za-z]{2})?$";
    /// A users search: any text without control characters.
    pub const SEARCH_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

    fn text(pattern: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(SchemaType::from(Type::String))
            .pattern(Some(pattern))
    }

    macro_rules! text_schema {
        ($(#[$doc:meta])* $name:ident, $title:literal, $schema:expr) => {
            $(#[$doc])*
            pub struct $name;
            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    RefOr::T($schema)
                }
            }
            impl ToSchema for $name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed($title)
                }
            }
        };
    }

    text_schema!(
        /// An email address or a user principal name.
        EmailText,
        "EmailAddress",
        Schema::AllOf(
            AllOfBuilder::new()
            .description(Some(
                "An email address (a user principal name has the same form; it is \
                 compared in lower case): at most 254 characters, at most 64 before @.",
            ))
            .item(text(EMAIL_PATTERN).min_length(Some(3)).max_length(Some(254)))
            .item(text(EMAIL_LOCAL_PART_PATTERN))
            .examples([serde_json::json!("alice@contoso.example")])
            .build()
        )
    );
    text_schema!(
        DisplayNameText,
        "DisplayName",
        Schema::Object(
            text(DISPLAY_NAME_PATTERN)
                .description(Some(
                    "1 to 256 characters, no line breaks or other control characters, no \
                 spaces at either end.",
                ))
                .min_length(Some(1))
                .max_length(Some(256))
                .examples([serde_json::json!("Alice Smith")])
                .build()
        )
    );
    text_schema!(
        E164Text,
        "E164",
        Schema::Object(
            text(E164_PATTERN)
                .description(Some("A phone number in E.164 form, such as +14255550100."))
                .examples([serde_json::json!("+14255550100")])
                .build()
        )
    );
    fn language() -> ObjectBuilder {
        text(LANGUAGE_PATTERN)
            .description(Some("A language tag such as en-US or fr-FR (any case)."))
            .examples([serde_json::json!("fr-FR")])
    }

    text_schema!(
        LanguageText,
        "LanguageTag",
        Schema::Object(language().build())
    );

    /// A number's other languages: at most four, none twice.
    pub fn alternate_languages() -> Array {
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(language())
            .max_items(Some(4))
            .unique_items(true)
            .description(Some(
                "Up to four more languages. A language may be named once only, in any \
                 case and counting the primary language (else 422): a rule between \
                 fields that JSON Schema cannot state.",
            ))
            .build()
    }
}

use formats::{DisplayNameText, E164Text, EmailText, LanguageText};

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

/// A user's role.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    User,
    Admin,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// The user principal name; a user with this UPN must not exist yet (409).
    #[schema(value_type = EmailText)]
    pub upn: String,
    #[schema(value_type = DisplayNameText)]
    pub display_name: String,
    /// The mailbox conferencing emails go to; without one, none are sent.
    #[schema(value_type = Option<EmailText>)]
    pub primary_smtp_address: Option<String>,
    /// `user` when left out.
    pub role: Option<RoleName>,
    /// The web sign-in password, at least 12 characters.
    #[schema(min_length = 12)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnableUser {
    /// A registered toll number (else 409).
    #[schema(value_type = Option<E164Text>)]
    pub service_number: Option<String>,
    /// A registered toll-free number (else 409).
    #[schema(value_type = Option<E164Text>)]
    pub toll_free_service_number: Option<String>,
    pub allow_pstn_only_meetings: Option<bool>,
    /// Remembered as the user's override address.
    #[schema(value_type = Option<EmailText>)]
    pub send_email_to_address: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailOverride {
    #[schema(value_type = EmailText)]
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

/// How entries and exits are announced.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum AnnouncementsType {
    UseNames,
    ToneOnly,
}

/// An optional whole number as JSON Schema has it: `10.0` is the integer 10 there, so
/// it is accepted here too (serde alone takes only `10`).
fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error as _;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(f))
            .map(|f| f as u64)
    });
    whole
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{number} is not a whole number in range")))
}

/// A partial change: fields left out keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// 4 to 12; applies only to PINs generated afterwards.
    #[schema(minimum = 4, maximum = 12)]
    #[serde(default, deserialize_with = "whole_number")]
    pub pin_length: Option<u8>,
    pub automatically_send_emails: Option<bool>,
    pub allow_pstn_only_meetings_by_default: Option<bool>,
    pub enable_entry_exit_notifications: Option<bool>,
    pub entry_exit_announcements_type: Option<AnnouncementsType>,
    pub enable_name_recording: Option<bool>,
    pub allow_pstn_users_to_bypass_lobby: Option<bool>,
    #[schema(minimum = 1, maximum = 1440)]
    #[serde(default, deserialize_with = "whole_number")]
    pub lobby_wait_minutes: Option<u32>,
    /// The tenant's name in emails and pages.
    #[schema(value_type = Option<DisplayNameText>)]
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

/// A dial-in number's kind.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum NumberKindName {
    Toll,
    TollFree,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNumber {
    /// Not registered yet (else 409).
    #[schema(value_type = E164Text)]
    pub number: String,
    pub kind: NumberKindName,
    /// `en-US` when left out.
    #[schema(value_type = Option<LanguageText>)]
    pub primary_language: Option<String>,
    #[schema(schema_with = formats::alternate_languages, required = false)]
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
    /// Every word must start a word of the UPN or display name (or the UPN itself).
    #[param(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub search: Option<String>,
    /// 1 to 1000, default 100.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only lines about this user (a UPN; no such user gives no lines).
    #[param(value_type = Option<EmailText>)]
    pub user: Option<String>,
    /// 1 to 10000, default 100.
    pub limit: Option<u32>,
}

// ---- handlers ------------------------------------------------------------------------------

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

/// The tenant's conferencing settings.
#[utoipa::path(get, path = "/api/v1/tenant-settings", security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody)))]
async fn get_settings(State(state): State<AppState>, _: Caller) -> ApiResult<Json<SettingsView>> {
    let s = state.app.tenant_settings().await?;
    Ok(Json(settings_view(&s)))
}

/// Changes some settings; fields left out keep their value.
#[utoipa::path(patch, path = "/api/v1/tenant-settings", request_body = SettingsPatch, security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 422, description = "A value the document does not allow; the message says which.", body = ErrorBody)))]
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
        entry_exit_announcements_type: body.entry_exit_announcements_type.map(|t| match t {
            AnnouncementsType::UseNames => EntryExitAnnouncementsType::UseNames,
            AnnouncementsType::ToneOnly => EntryExitAnnouncementsType::ToneOnly,
        }),
        enable_name_recording: body.enable_name_recording,
        allow_pstn_users_to_bypass_lobby: body.allow_pstn_users_to_bypass_lobby,
        lobby_wait_minutes: body.lobby_wait_minutes,
        display_name: optional_exact(
            "the display name",
            body.display_name.as_deref(),
            DisplayName::parse,
        )?,
    };
    let (settings, _) = state
        .app
        .update_tenant_settings(&caller.actor, &change)
        .await?;
    Ok(Json(settings_view(&settings)))
}

/// The registered dial-in numbers.
#[utoipa::path(get, path = "/api/v1/numbers", security(("bearer" = [])),
    responses((status = 200, body = Vec<NumberView>), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody)))]
async fn list_numbers(
    State(state): State<AppState>,
    _: Caller,
) -> ApiResult<Json<Vec<NumberView>>> {
    let numbers = state.app.numbers().await?;
    Ok(Json(numbers.iter().map(number_view).collect()))
}

/// Registers a dial-in number.
#[utoipa::path(post, path = "/api/v1/numbers", request_body = NewNumber, security(("bearer" = [])),
    responses((status = 201, body = NumberView), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody),
        (status = 409, description = "The number is registered already.", body = ErrorBody), (status = 422, description = "A value the document does not allow, or a language named twice counting the primary language, in any case: a rule between fields that JSON Schema cannot state.", body = ErrorBody)))]
async fn add_number(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewNumber>,
) -> ApiResult<(StatusCode, Json<NumberView>)> {
    let alternates = body
        .alternate_languages
        .unwrap_or_default()
        .iter()
        .map(|l| parse_exact("a language", l, LanguageTag::parse))
        .collect::<Result<Vec<_>, _>>()?;
    let number = ServiceNumber::new(
        parse_exact("the number", &body.number, E164::parse)?,
        match body.kind {
            NumberKindName::Toll => NumberKind::Toll,
            NumberKindName::TollFree => NumberKind::TollFree,
        },
        optional_exact(
            "the primary language",
            body.primary_language.as_deref(),
            LanguageTag::parse,
        )?
        .unwrap_or_default(),
        alternates,
    )
    .map_err(invalid)?;
    state.app.add_number(&caller.actor, &number).await?;
    Ok((StatusCode::CREATED, Json(number_view(&number))))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditView>), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 422, description = "A value the document does not allow; the message says which.", body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    _: Caller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<AuditView>>> {
    check_int32(&[q.limit])?;
    let target = optional_exact("the user", q.user.as_deref(), Upn::parse)?;
    let records = state
        .app
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
