//! The users in the admin center, `/admin/users`: the list, a user's page and edit
//! page, the actions on a user (conferencing on and off, conference ID, numbers, the
//! conference info email, password, sign-in lock) and the PIN reset.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pinbridge_domain::email::EmailDecision;
use pinbridge_domain::ops::{EnableOptions, SetOptions};
use pinbridge_domain::{E164, NumberKind, PIN_MASK, Upn, User};
use pinbridge_store::UserQuery;
use pinbridge_store::web::FormPurpose;
use serde::Deserialize;

use super::{
    DoneQuery, Nav, ResetDonePage, TokenForm, actor_of, format_time, issue_token, nav, no_store,
    render,
};
use crate::error::{Error, Result};
use crate::session::{Admin, percent_encode};
use crate::{AppState, RouteEntry, parse_upn};

/// The routes of the users pages and of the actions on a user.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/admin/users", get(users_page)),
        RouteEntry::new(Method::GET, "/admin/users/{upn}", get(user_page)),
        RouteEntry::new(Method::GET, "/admin/users/{upn}/edit", get(user_edit_page)),
        RouteEntry::new(Method::POST, "/admin/users/{upn}/enable", post(user_enable)),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/disable",
            post(user_disable),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/conference-id",
            post(user_reset_conference_id),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/numbers",
            post(user_numbers),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/send-info",
            post(user_send_info),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/callers-can-start",
            post(user_callers_can_start),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/password",
            post(user_set_password),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/clear-lock",
            post(user_clear_lock),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/clear-pin-lock",
            post(user_clear_pin_lock),
        ),
        RouteEntry::new(
            Method::GET,
            "/admin/users/{upn}/reset-pin",
            get(reset_pin_confirm),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/reset-pin",
            post(reset_pin),
        ),
    ]
}

/// Users per page of the users list.
const PAGE_SIZE: u32 = 50;

struct UserRow {
    upn: String,
    display_name: String,
    role: &'static str,
    enabled: bool,
    conference_id: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Option<Nav>,
    q: String,
    q_encoded: String,
    users: Vec<UserRow>,
    total: i64,
    first: i64,
    last: i64,
    prev: Option<u32>,
    next: Option<u32>,
}

#[derive(Deserialize)]
struct UsersQuery {
    q: Option<String>,
    page: Option<u32>,
}

async fn users_page(
    State(state): State<AppState>,
    Admin(s): Admin,
    Query(q): Query<UsersQuery>,
) -> Result<Response> {
    let search: String =
        q.q.unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .collect();
    let page = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let result = state
        .app
        .search_users(&UserQuery {
            search: Some(search.clone()),
            limit: PAGE_SIZE,
            offset,
        })
        .await?;
    let shown = result.users.len() as i64;
    let users = result
        .users
        .iter()
        .map(|u| UserRow {
            upn: u.upn.to_string(),
            display_name: u.display_name.to_string(),
            role: u.role.as_str(),
            enabled: u.conferencing.enabled,
            conference_id: u
                .conferencing
                .conference_id
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
        })
        .collect();
    let first = i64::from(offset) + 1;
    render(&UsersPage {
        nav: nav(&s),
        q_encoded: percent_encode(&search),
        q: search,
        users,
        total: result.total,
        first,
        last: first + shown - 1,
        prev: (page > 1).then(|| page - 1),
        next: (i64::from(offset) + shown < result.total).then(|| page + 1),
    })
}

/// A user as the user pages show it.
struct UserView {
    upn: String,
    display_name: String,
    role: &'static str,
    mailbox: String,
    email_override: String,
    enabled: bool,
    conference_id: String,
    toll: String,
    toll_free: String,
    pin: &'static str,
    callers_can_start: bool,
}

fn user_view(u: &User) -> UserView {
    let c = &u.conferencing;
    let text = |v: Option<String>| v.unwrap_or_else(|| "(none)".to_owned());
    UserView {
        upn: u.upn.to_string(),
        display_name: u.display_name.to_string(),
        role: u.role.as_str(),
        mailbox: text(u.primary_smtp_address.as_ref().map(|a| a.to_string())),
        email_override: text(u.email_override.as_ref().map(|a| a.to_string())),
        enabled: c.enabled,
        conference_id: text(c.conference_id.as_ref().map(|c| c.to_string())),
        toll: text(c.service_number.as_ref().map(|n| n.to_string())),
        toll_free: c
            .toll_free_service_number
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_default(),
        pin: if c.pin_hash.is_some() {
            PIN_MASK
        } else {
            "(none)"
        },
        callers_can_start: c.allow_pstn_only_meetings,
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    nav: Option<Nav>,
    u: UserView,
}

async fn user_page(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
) -> Result<Response> {
    let user = state.app.user(&parse_upn(&upn)?).await?;
    render(&UserPage {
        nav: nav(&s),
        u: user_view(&user),
    })
}

#[derive(Template)]
#[template(path = "user_edit.html")]
struct UserEditPage {
    nav: Option<Nav>,
    csrf: String,
    u: UserView,
    toll_numbers: Vec<String>,
    toll_free_numbers: Vec<String>,
    /// Set while phone PIN entry is locked for the user as organiser: what to say.
    pin_lock: Option<String>,
    notice: Option<String>,
}

/// The fixed messages a redirect back to the edit page may name.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "enabled" => "Audio conferencing is on; the new PIN was shown once.",
        "disabled" => "Audio conferencing is off. The conference ID stays reserved for the user.",
        "conference-id" => "A new conference ID was assigned.",
        "numbers" => "The dial-in numbers were saved.",
        "callers" => "Saved.",
        "info-queued" => "The conference info email was queued.",
        "password" => "The password was set.",
        "lock-cleared" => "The sign-in lock was cleared.",
        "no-lock" => "There was no sign-in lock to clear.",
        "pin-lock-cleared" => "Phone PIN entry is unlocked.",
        "no-pin-lock" => "Phone PIN entry was not locked.",
        _ => return None,
    })
}

async fn user_edit_page(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response> {
    let user = state.app.user(&parse_upn(&upn)?).await?;
    let numbers = state.app.numbers().await?;
    let of_kind = |kind: NumberKind| {
        numbers
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| n.number.to_string())
            .collect()
    };
    let lock = state.app.organiser_pin_lock(&user.upn).await?;
    render(&UserEditPage {
        nav: nav(&s),
        csrf: s.csrf.clone(),
        u: user_view(&user),
        toll_numbers: of_kind(NumberKind::Toll),
        toll_free_numbers: of_kind(NumberKind::TollFree),
        pin_lock: lock.map(|l| {
            format!(
                "locked until {} after {} wrong PINs entered by phone",
                format_time(l.locked_until_ms),
                l.failures
            )
        }),
        notice: q.done.as_deref().and_then(notice_text).map(str::to_owned),
    })
}

/// The path of a user's page; its edit page and actions are below it.
fn user_path(upn: &Upn) -> String {
    format!("/admin/users/{}", percent_encode(upn.as_str()))
}

/// Back to the user's edit page, which shows the notice `done` names.
fn back_to_edit(upn: &Upn, done: &str) -> Response {
    Redirect::to(&format!("{}/edit?done={done}", user_path(upn))).into_response()
}

/// What the admin is told about the email an action caused.
fn email_text(decision: Option<&EmailDecision>) -> Option<String> {
    decision.map(|d| match d {
        EmailDecision::Queue { kind, to } => {
            format!("The {} email was queued for {to}.", kind.as_str())
        }
        EmailDecision::NotSent { kind, reason } => {
            format!(
                "The {} email was not sent: {}.",
                kind.as_str(),
                reason.explain(*kind)
            )
        }
    })
}

async fn user_enable(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let outcome = state
        .app
        .enable_user(&actor_of(&s), &upn, &EnableOptions::default())
        .await?;
    Ok(no_store(render(&ResetDonePage {
        nav: nav(&s),
        who: outcome.user.display_name.to_string(),
        pin: outcome.new_pin.map(|p| p.pin.reveal().to_owned()),
        mask: PIN_MASK,
        email: email_text(outcome.email.as_ref()),
        back: format!("{}/edit", user_path(&upn)),
    })?))
}

async fn user_disable(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    state.app.disable_user(&actor_of(&s), &upn).await?;
    Ok(back_to_edit(&upn, "disabled"))
}

async fn user_reset_conference_id(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let options = SetOptions {
        reset_conference_id: true,
        ..SetOptions::default()
    };
    state
        .app
        .set_user(&actor_of(&s), &upn, &options, false, None)
        .await?;
    Ok(back_to_edit(&upn, "conference-id"))
}

#[derive(Deserialize)]
struct NumbersForm {
    service_number: Option<String>,
    toll_free_service_number: Option<String>,
}

fn optional_number(text: Option<&str>) -> Result<Option<E164>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => E164::parse(t).map(Some).map_err(Error::invalid),
        None => Ok(None),
    }
}

async fn user_numbers(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
    Form(form): Form<NumbersForm>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let options = SetOptions {
        service_number: optional_number(form.service_number.as_deref())?,
        toll_free_service_number: optional_number(form.toll_free_service_number.as_deref())?,
        ..SetOptions::default()
    };
    state
        .app
        .set_user(&actor_of(&s), &upn, &options, false, None)
        .await?;
    Ok(back_to_edit(&upn, "numbers"))
}

async fn user_send_info(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let options = SetOptions {
        send_email: true,
        ..SetOptions::default()
    };
    state
        .app
        .set_user(&actor_of(&s), &upn, &options, false, None)
        .await?;
    Ok(back_to_edit(&upn, "info-queued"))
}

#[derive(Deserialize)]
struct CallersForm {
    allow: Option<String>,
}

async fn user_callers_can_start(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
    Form(form): Form<CallersForm>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let options = SetOptions {
        allow_pstn_only_meetings: Some(form.allow.is_some()),
        ..SetOptions::default()
    };
    state
        .app
        .set_user(&actor_of(&s), &upn, &options, false, None)
        .await?;
    Ok(back_to_edit(&upn, "callers"))
}

#[derive(Deserialize)]
struct SetPasswordForm {
    password: String,
}

async fn user_set_password(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
    Form(form): Form<SetPasswordForm>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    state
        .app
        .set_user(
            &actor_of(&s),
            &upn,
            &SetOptions::default(),
            false,
            Some(form.password),
        )
        .await?;
    Ok(back_to_edit(&upn, "password"))
}

async fn user_clear_lock(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let cleared = state.app.clear_account_lock(&actor_of(&s), &upn).await?;
    Ok(back_to_edit(
        &upn,
        if cleared { "lock-cleared" } else { "no-lock" },
    ))
}

async fn user_clear_pin_lock(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let cleared = state
        .app
        .clear_organiser_pin_lock(&actor_of(&s), &upn)
        .await?;
    Ok(back_to_edit(
        &upn,
        if cleared {
            "pin-lock-cleared"
        } else {
            "no-pin-lock"
        },
    ))
}

#[derive(Template)]
#[template(path = "reset_confirm.html")]
struct ResetConfirmPage {
    nav: Option<Nav>,
    csrf: String,
    who: String,
    action: String,
    cancel: String,
    token: String,
}

async fn reset_pin_confirm(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let user = state.app.user(&upn).await?;
    if !user.conferencing.enabled {
        return Err(Error::Conflict(
            pinbridge_domain::ops::OpError::NotEnabled(upn).to_string(),
        ));
    }
    let token = issue_token(&state, &s, FormPurpose::AdminPinReset, &upn).await?;
    let base = user_path(&upn);
    Ok(no_store(render(&ResetConfirmPage {
        nav: nav(&s),
        csrf: s.csrf.clone(),
        who: user.display_name.to_string(),
        action: format!("{base}/reset-pin"),
        cancel: format!("{base}/edit"),
        token,
    })?))
}

/// Resets the PIN: the new PIN is in this response only, never stored or kept in the
/// session. A token posted again resets nothing and shows the mask.
async fn reset_pin(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
    Form(form): Form<TokenForm>,
) -> Result<Response> {
    let upn = parse_upn(&upn)?;
    let fresh = state
        .app
        .use_form_token(
            &form.token,
            &s.session_hash,
            FormPurpose::AdminPinReset,
            &upn,
        )
        .await?;
    let (who, pin, email) = if fresh {
        match state
            .app
            .set_user(&actor_of(&s), &upn, &SetOptions::default(), true, None)
            .await
        {
            Ok(outcome) => (
                outcome.user.display_name.to_string(),
                outcome.new_pin.map(|p| p.pin.reveal().to_owned()),
                email_text(outcome.email.as_ref()),
            ),
            Err(e) => {
                state.app.release_form_token(&form.token).await?;
                return Err(e.into());
            }
        }
    } else {
        (
            state.app.user(&upn).await?.display_name.to_string(),
            None,
            None,
        )
    };
    Ok(no_store(render(&ResetDonePage {
        nav: nav(&s),
        who,
        pin,
        mask: PIN_MASK,
        email,
        back: format!("{}/edit", user_path(&upn)),
    })?))
}
