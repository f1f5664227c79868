//! The tenant's conferencing settings, `/api/v1/tenant-settings`: reading and changing
//! them.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::{get, patch};
use pinbridge_domain::settings::{EntryExitAnnouncementsType, TenantSettingsChange};
use pinbridge_domain::{DisplayName, PinLength, TenantSettings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::formats::DisplayNameText;
use super::{ApiJson, ApiResult, Caller, ErrorBody, optional_exact};
use crate::error::Error;
use crate::{AppState, RouteEntry};

/// The routes of the tenant settings.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/api/v1/tenant-settings", get(get_settings)),
        RouteEntry::new(
            Method::PATCH,
            "/api/v1/tenant-settings",
            patch(patch_settings),
        ),
    ]
}

#[derive(Serialize, ToSchema)]
struct SettingsView {
    pin_length: u8,
    automatically_send_emails: bool,
    allow_pstn_only_meetings_by_default: bool,
    enable_entry_exit_notifications: bool,
    /// `use-names` or `tone-only`.
    entry_exit_announcements_type: String,
    enable_name_recording: bool,
    allow_pstn_users_to_bypass_lobby: bool,
    lobby_wait_minutes: u32,
    display_name: String,
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
enum AnnouncementsType {
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
struct SettingsPatch {
    /// 4 to 12; applies only to PINs generated afterwards.
    #[schema(minimum = 4, maximum = 12)]
    #[serde(default, deserialize_with = "whole_number")]
    pin_length: Option<u8>,
    automatically_send_emails: Option<bool>,
    allow_pstn_only_meetings_by_default: Option<bool>,
    enable_entry_exit_notifications: Option<bool>,
    entry_exit_announcements_type: Option<AnnouncementsType>,
    enable_name_recording: Option<bool>,
    allow_pstn_users_to_bypass_lobby: Option<bool>,
    #[schema(minimum = 1, maximum = 1440)]
    #[serde(default, deserialize_with = "whole_number")]
    lobby_wait_minutes: Option<u32>,
    /// The tenant's name in emails and pages.
    #[schema(value_type = Option<DisplayNameText>)]
    display_name: Option<String>,
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
            .map_err(Error::invalid)?,
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
