//! The REST API, `/api/v1`: bearer tokens (`pinbridge token create`), JSON in and out,
//! errors as `{"error": {"code": "...", "message": "..."}}`, and an OpenAPI 3.1
//! document generated from these handlers at `/api/v1/openapi.json`.
//!
//! This module has what the handlers share (the error body, the extractors of bodies,
//! queries and callers, the checks of text values) and the OpenAPI document; each
//! resource's handlers and representations are in a module of their own, with their
//! routes.

mod audit;
mod formats;
mod meetings;
mod numbers;
mod pin_locks;
mod settings;
mod users;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pinbridge_app::secret::secret_hash;
use pinbridge_domain::Actor;
use pinbridge_domain::user::Role;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

pub use self::formats::{
    DISPLAY_NAME_PATTERN, E164_PATTERN, EMAIL_LOCAL_PART_PATTERN, EMAIL_PATTERN, LANGUAGE_PATTERN,
    MEETING_SUBJECT_PATTERN, SEARCH_PATTERN,
};

// The handlers' path items, named without their module so that the document's
// operations stay untagged (a module path in `paths(...)` would become a tag).
use self::audit::__path_audit;
use self::meetings::{__path_create_meeting, __path_list_meetings};
use self::numbers::{__path_add_number, __path_list_numbers};
use self::pin_locks::{__path_clear_pin_lock, __path_list_pin_locks};
use self::settings::{__path_get_settings, __path_patch_settings};
use self::users::{
    __path_clear_email_override, __path_create_user, __path_disable_user, __path_enable_user,
    __path_get_user, __path_list_users, __path_reset_pin, __path_send_conference_info,
    __path_set_email_override,
};
use crate::error::Error;
use crate::session::{self, SESSION_COOKIE};
use crate::{AppState, RouteEntry};

/// The routes of the API: its document, then resource by resource.
pub(crate) fn routes() -> Vec<RouteEntry> {
    [
        vec![RouteEntry::new(
            Method::GET,
            "/api/v1/openapi.json",
            get(openapi_document),
        )],
        users::routes(),
        settings::routes(),
        numbers::routes(),
        meetings::routes(),
        audit::routes(),
        pin_locks::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The error body every API error has.
#[derive(Serialize, ToSchema)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    /// Stable: unauthenticated, forbidden, cross-site-request, not-found, bad-request,
    /// invalid, conflict, locked, unavailable, internal.
    code: String,
    message: String,
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
struct ApiError(Error);

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

/// What a handler returns: its response, or an error as the API's JSON body.
type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejections are API errors: 400 for unreadable JSON, 422 for JSON
/// of the wrong shape.
struct ApiJson<T>(T);

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
struct ApiQuery<T>(T);

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
struct Caller {
    actor: Actor,
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

/// A value as [`exact`] takes it, then `parse`; what `parse` refuses is invalid (422).
fn parse_exact<T, E: std::fmt::Display>(
    what: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, Error> {
    parse(exact(what, text)?).map_err(Error::invalid)
}

/// [`parse_exact`] for a value that may be left out.
fn optional_exact<T, E: std::fmt::Display>(
    what: &str,
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, Error> {
    text.map(|t| parse_exact(what, t, parse)).transpose()
}

/// Adds the `bearer` security scheme the operations name to the document.
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
    info(title = "pinbridge API", description = "Users, audio conferencing, tenant settings, dial-in numbers, meetings, phone PIN locks and the audit log."),
    paths(list_users, create_user, get_user, enable_user, disable_user, reset_pin, send_conference_info,
        set_email_override, clear_email_override, get_settings, patch_settings, list_numbers, add_number,
        list_meetings, create_meeting, audit, list_pin_locks, clear_pin_lock),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The document, as JSON.
async fn openapi_document() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
