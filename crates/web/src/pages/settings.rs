//! The tenant's conferencing settings, `/admin/settings`.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pinbridge_domain::settings::{EntryExitAnnouncementsType, TenantSettingsChange};
use pinbridge_domain::{DisplayName, PinLength};
use serde::Deserialize;

use super::{DoneQuery, Nav, actor_of, nav, render_status};
use crate::error::{Error, Result};
use crate::session::{Admin, SignedIn};
use crate::{AppState, RouteEntry};

/// The routes of the settings page.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/admin/settings", get(settings_page)),
        RouteEntry::new(Method::POST, "/admin/settings", post(settings_save)),
    ]
}

struct SettingsView {
    display_name: String,
    pin_length: u8,
    automatically_send_emails: bool,
    enable_entry_exit_notifications: bool,
    tone_only: bool,
    enable_name_recording: bool,
    allow_pstn_users_to_bypass_lobby: bool,
    allow_pstn_only_meetings_by_default: bool,
    lobby_wait_minutes: u32,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Option<Nav>,
    csrf: String,
    s: SettingsView,
    notice: Option<String>,
    error: Option<String>,
}

async fn settings_response(
    state: &AppState,
    s: &SignedIn,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response> {
    let t = state.app.tenant_settings().await?;
    let page = SettingsPage {
        nav: nav(s),
        csrf: s.csrf.clone(),
        s: SettingsView {
            display_name: t.display_name.to_string(),
            pin_length: t.pin_length.get(),
            automatically_send_emails: t.automatically_send_emails,
            enable_entry_exit_notifications: t.enable_entry_exit_notifications,
            tone_only: t.entry_exit_announcements_type == EntryExitAnnouncementsType::ToneOnly,
            enable_name_recording: t.enable_name_recording,
            allow_pstn_users_to_bypass_lobby: t.allow_pstn_users_to_bypass_lobby,
            allow_pstn_only_meetings_by_default: t.allow_pstn_only_meetings_by_default,
            lobby_wait_minutes: t.lobby_wait_minutes,
        },
        notice,
        error,
    };
    render_status(status, &page)
}

async fn settings_page(
    State(state): State<AppState>,
    Admin(s): Admin,
    Query(q): Query<DoneQuery>,
) -> Result<Response> {
    let notice = q.done.map(|_| "The settings were saved.".to_owned());
    settings_response(&state, &s, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
struct SettingsForm {
    display_name: String,
    pin_length: String,
    automatically_send_emails: Option<String>,
    enable_entry_exit_notifications: Option<String>,
    entry_exit_announcements_type: String,
    enable_name_recording: Option<String>,
    allow_pstn_users_to_bypass_lobby: Option<String>,
    allow_pstn_only_meetings_by_default: Option<String>,
    lobby_wait_minutes: String,
}

fn settings_change(form: &SettingsForm) -> Result<TenantSettingsChange, String> {
    Ok(TenantSettingsChange {
        pin_length: Some(PinLength::parse(form.pin_length.trim()).map_err(|e| e.to_string())?),
        automatically_send_emails: Some(form.automatically_send_emails.is_some()),
        allow_pstn_only_meetings_by_default: Some(
            form.allow_pstn_only_meetings_by_default.is_some(),
        ),
        enable_entry_exit_notifications: Some(form.enable_entry_exit_notifications.is_some()),
        entry_exit_announcements_type: Some(EntryExitAnnouncementsType::parse(
            &form.entry_exit_announcements_type,
        )?),
        enable_name_recording: Some(form.enable_name_recording.is_some()),
        allow_pstn_users_to_bypass_lobby: Some(form.allow_pstn_users_to_bypass_lobby.is_some()),
        lobby_wait_minutes: Some(
            form.lobby_wait_minutes
                .trim()
                .parse()
                .map_err(|_| "the lobby wait must be a whole number of minutes".to_owned())?,
        ),
        display_name: Some(DisplayName::parse(&form.display_name).map_err(|e| e.to_string())?),
    })
}

async fn settings_save(
    State(state): State<AppState>,
    Admin(s): Admin,
    Form(form): Form<SettingsForm>,
) -> Result<Response> {
    let change = match settings_change(&form) {
        Ok(c) => c,
        Err(message) => {
            return settings_response(
                &state,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(message),
            )
            .await;
        }
    };
    match state
        .app
        .update_tenant_settings(&actor_of(&s), &change)
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/settings?done=1").into_response()),
        Err(e) => {
            let e = Error::from(e);
            if e.status_code() == StatusCode::UNPROCESSABLE_ENTITY {
                settings_response(
                    &state,
                    &s,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    Some(e.to_string()),
                )
                .await
            } else {
                Err(e)
            }
        }
    }
}
