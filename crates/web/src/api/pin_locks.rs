//! Phone PIN entry locks, `/api/v1/pin-locks`: listing the locks in force and clearing
//! one (audited). A lock follows too many wrong organiser PINs entered by phone, per
//! organiser (`organiser:UPN`) or per calling number (`caller:NUMBER`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get};
use pinbridge_app::security::lock_subject;
use pinbridge_domain::time::format_rfc3339_millis;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiResult, Caller, ErrorBody};
use crate::error::Error;
use crate::{AppState, RouteEntry};

/// The routes of the phone PIN locks.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/api/v1/pin-locks", get(list_pin_locks)),
        RouteEntry::new(
            Method::DELETE,
            "/api/v1/pin-locks/{subject}",
            delete(clear_pin_lock),
        ),
    ]
}

/// A subject whose phone PIN entry is locked now.
#[derive(Serialize, ToSchema)]
struct PinLockView {
    /// `organiser:UPN` or `caller:NUMBER` (`caller:anonymous` for calls without a number).
    subject: String,
    /// Wrong PINs in the window that led to the lock.
    wrong_pins: i64,
    /// When the lock ends (RFC 3339, UTC).
    locked_until: String,
    /// Locks in a row, this one included; each lasts twice as long as the one before.
    locks_in_a_row: i64,
}

/// The phone PIN locks in force now.
#[utoipa::path(get, path = "/api/v1/pin-locks", security(("bearer" = [])),
    responses((status = 200, body = Vec<PinLockView>), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody)))]
async fn list_pin_locks(
    State(state): State<AppState>,
    _: Caller,
) -> ApiResult<Json<Vec<PinLockView>>> {
    let locks = state.app.phone_pin_locks().await?;
    Ok(Json(
        locks
            .into_iter()
            .map(|l| PinLockView {
                subject: l.subject,
                wrong_pins: l.failures,
                locked_until: format_rfc3339_millis(l.locked_until_ms),
                locks_in_a_row: l.locks,
            })
            .collect(),
    ))
}

/// Clears a phone PIN lock and the wrong PINs behind it (audited as
/// `phone_pin.lock_cleared`).
#[utoipa::path(delete, path = "/api/v1/pin-locks/{subject}", security(("bearer" = [])),
    params(("subject" = String, Path, pattern = "^(organiser|caller):.+$", example = "caller:+15555550100",
        description = "`organiser:UPN` or `caller:NUMBER`, as the list shows it.")),
    responses((status = 204, description = "Cleared."), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody),
        (status = 404, description = "No wrong PINs or lock recorded for the subject (none can be for a UPN or number that is not valid).", body = ErrorBody),
        (status = 422, description = "Not of the form `organiser:…` or `caller:…`.", body = ErrorBody)))]
async fn clear_pin_lock(
    State(state): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
) -> ApiResult<StatusCode> {
    let Some(subject) = lock_subject(&subject) else {
        let well_formed = ["organiser:", "caller:"]
            .iter()
            .any(|kind| subject.starts_with(kind));
        return Err(if well_formed {
            Error::NotFound
        } else {
            Error::Invalid("not a lock subject: organiser:UPN or caller:NUMBER".into())
        }
        .into());
    };
    if state
        .app
        .clear_phone_pin_lock(&caller.actor, &subject)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound.into())
    }
}
