//! The server-rendered pages: sign-in, the admin center and the self-service portal.
//! They work without JavaScript; every form posts back with the session's CSRF token.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pinbridge_domain::email::EmailDecision;
use pinbridge_domain::ops::{EnableOptions, SetOptions};
use pinbridge_domain::settings::{EntryExitAnnouncementsType, TenantSettingsChange};
use pinbridge_domain::user::Role;
use pinbridge_domain::{
    Actor, AuditAction, DisplayName, E164, LanguageTag, NumberKind, PIN_MASK, PinLength,
    ServiceNumber, Upn, User,
};
use pinbridge_store::web::FormPurpose;
use pinbridge_store::{AuditQuery, UserQuery};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::session::{
    self, Admin, PRESESSION_COOKIE, RequestContext, SESSION_COOKIE, SignedIn, csrf_token_for,
    percent_encode, set_cookie,
};
use crate::{AppState, RouteEntry};
use pinbridge_app::secret::{random_secret, secret_hash};
use pinbridge_app::{SignIn, SignInOutcome};

/// Users per page of the users list.
const PAGE_SIZE: u32 = 50;

pub(crate) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/", get(home)),
        RouteEntry::new(Method::GET, "/static/style.css", get(stylesheet)),
        RouteEntry::new(Method::GET, "/signin", get(signin_page)),
        RouteEntry::new(Method::POST, "/signin", post(signin)),
        RouteEntry::new(Method::POST, "/signout", post(signout)),
        RouteEntry::new(Method::GET, "/password", get(password_page)),
        RouteEntry::new(Method::POST, "/password", post(change_password)),
        RouteEntry::new(Method::GET, "/usp", get(usp_page)),
        RouteEntry::new(Method::POST, "/usp/reset-pin", post(usp_reset_pin)),
        RouteEntry::new(Method::GET, "/admin", get(admin_home)),
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
            Method::GET,
            "/admin/users/{upn}/reset-pin",
            get(reset_pin_confirm),
        ),
        RouteEntry::new(
            Method::POST,
            "/admin/users/{upn}/reset-pin",
            post(reset_pin),
        ),
        RouteEntry::new(Method::GET, "/admin/settings", get(settings_page)),
        RouteEntry::new(Method::POST, "/admin/settings", post(settings_save)),
        RouteEntry::new(Method::GET, "/admin/numbers", get(numbers_page)),
        RouteEntry::new(Method::POST, "/admin/numbers", post(numbers_add)),
        RouteEntry::new(Method::GET, "/admin/audit", get(audit_page)),
        RouteEntry::new(Method::GET, "/admin/sign-in-locks", get(locks_page)),
        RouteEntry::new(
            Method::POST,
            "/admin/sign-in-locks/clear",
            post(locks_clear),
        ),
    ]
}

/// What the header of every signed-in page shows.
pub(crate) struct Nav {
    upn: String,
    is_admin: bool,
    csrf: String,
}

fn nav(s: &SignedIn) -> Option<Nav> {
    Some(Nav {
        upn: s.user.upn.to_string(),
        is_admin: s.user.role == Role::Admin,
        csrf: s.csrf.clone(),
    })
}

fn render(t: &impl Template) -> Result<Response> {
    Ok(Html(t.render()?).into_response())
}

/// A page that must never be kept by the browser or a proxy.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    nav: Option<Nav>,
    heading: String,
    message: String,
    back: String,
}

/// An error as a page: the status of the error and its plain message.
pub(crate) fn error_page(e: Error) -> Response {
    let status = e.status_code();
    let message = e.public_message();
    let heading = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let page = MessagePage {
        nav: None,
        heading: heading.to_owned(),
        message,
        back: "/".to_owned(),
    };
    let body = page
        .render()
        .unwrap_or_else(|_| "something went wrong".to_owned());
    no_store((status, Html(body)).into_response())
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        error_page(self)
    }
}

pub(crate) async fn not_found() -> Response {
    error_page(Error::NotFound)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../static/style.css"),
    )
}

async fn home(s: SignedIn) -> Redirect {
    if s.user.role == Role::Admin {
        Redirect::to("/admin/users")
    } else {
        Redirect::to("/usp")
    }
}

async fn admin_home(_: Admin) -> Redirect {
    Redirect::to("/admin/users")
}

fn parse_upn(text: &str) -> Result<Upn> {
    Upn::parse(text).map_err(|_| Error::NotFound)
}

/// A Unix time in milliseconds as `YYYY-MM-DD HH:MM:SSZ` (UTC).
fn format_time(ms: i64) -> String {
    pinbridge_domain::time::format_utc_millis(ms)
}

// ---- sign-in -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    nav: Option<Nav>,
    csrf: String,
    next: String,
    upn: String,
    message: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => String::new(),
    }
}

/// The sign-in page, with a pre-session cookie whose CSRF token the form carries.
fn signin_response(
    headers: &axum::http::HeaderMap,
    ctx: RequestContext,
    status: StatusCode,
    next: String,
    upn: String,
    message: Option<String>,
) -> Result<Response> {
    let (presession, fresh) = match session::cookie(headers, PRESESSION_COOKIE) {
        Some(v) => (v, false),
        None => (random_secret(), true),
    };
    let page = SignInPage {
        nav: None,
        csrf: csrf_token_for(&presession),
        next,
        upn,
        message,
    };
    let mut response = no_store((status, Html(page.render()?)).into_response());
    if fresh {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(PRESESSION_COOKIE, &presession, 24 * 60 * 60, ctx.tls),
        );
    }
    Ok(response)
}

async fn signin_page(
    headers: axum::http::HeaderMap,
    ctx: RequestContext,
    Query(q): Query<NextQuery>,
) -> Result<Response> {
    signin_response(
        &headers,
        ctx,
        StatusCode::OK,
        local_path(q.next.as_deref()),
        String::new(),
        None,
    )
}

#[derive(Deserialize)]
struct SignInForm {
    upn: String,
    password: String,
    next: Option<String>,
}

async fn signin(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ctx: RequestContext,
    Form(form): Form<SignInForm>,
) -> Result<Response> {
    let next = local_path(form.next.as_deref());
    let lifetime = state.web.session_lifetime;
    let outcome = state
        .app
        .sign_in(&SignIn {
            upn: &form.upn,
            password: &form.password,
            client: ctx.client,
            account_throttle: state.web.account_throttle,
            address_throttle: state.web.address_throttle,
            session_lifetime: lifetime,
        })
        .await?;
    let (user, session) = match outcome {
        SignInOutcome::SignedIn { user, session } => (*user, session),
        SignInOutcome::Locked => {
            return signin_response(
                &headers,
                ctx,
                StatusCode::TOO_MANY_REQUESTS,
                next,
                form.upn,
                Some(Error::Locked.to_string()),
            );
        }
        SignInOutcome::Refused => {
            tracing::info!(client = %ctx.client, "failed sign-in");
            return signin_response(
                &headers,
                ctx,
                StatusCode::UNAUTHORIZED,
                next,
                form.upn,
                Some("The user name or password is wrong.".to_owned()),
            );
        }
    };
    let target = if !next.is_empty() {
        next
    } else if user.role == Role::Admin {
        "/admin/users".to_owned()
    } else {
        "/usp".to_owned()
    };
    let mut response = Redirect::to(&target).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &session, lifetime.as_secs() as i64, ctx.tls),
    );
    Ok(response)
}

async fn signout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ctx: RequestContext,
) -> Result<Response> {
    if let Some(value) = session::cookie(&headers, SESSION_COOKIE) {
        state.app.sign_out(&secret_hash(&value)).await?;
    }
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, ctx.tls),
    );
    Ok(response)
}

// ---- own password ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn password_page(s: SignedIn, Query(q): Query<DoneQuery>) -> Result<Response> {
    render(&PasswordPage {
        nav: nav(&s),
        csrf: s.csrf.clone(),
        notice: q
            .done
            .is_some()
            .then(|| "Your password was changed; your other sessions were signed out.".to_owned()),
        error: None,
    })
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

async fn change_password(
    State(state): State<AppState>,
    s: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response> {
    let refuse = |message: &str| -> Result<Response> {
        let page = PasswordPage {
            nav: nav(&s),
            csrf: s.csrf.clone(),
            notice: None,
            error: Some(message.to_owned()),
        };
        Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
    };
    if !state.app.verify_password(&s.user, &form.current).await? {
        return refuse("The current password is wrong.");
    }
    if form.new != form.confirm {
        return refuse("The two new passwords differ.");
    }
    let actor = Actor::user(&s.user.upn);
    match state
        .app
        .set_user(
            &actor,
            &s.user.upn,
            &SetOptions::default(),
            false,
            Some(form.new),
        )
        .await
    {
        Ok(_) => {}
        Err(pinbridge_app::AppError::WeakPassword) => {
            return refuse(&pinbridge_app::AppError::WeakPassword.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    state
        .app
        .end_other_sessions(&s.user, &s.session_hash)
        .await?;
    Ok(Redirect::to("/password?done=1").into_response())
}

// ---- self-service portal -------------------------------------------------------------

#[derive(Template)]
#[template(path = "usp.html")]
struct UspPage {
    nav: Option<Nav>,
    csrf: String,
    enabled: bool,
    conference_id: String,
    numbers: Vec<String>,
    mask: &'static str,
    token: String,
}

async fn issue_token(
    state: &AppState,
    s: &SignedIn,
    purpose: FormPurpose,
    target: &Upn,
) -> Result<String> {
    Ok(state
        .app
        .issue_form_token(&s.session_hash, purpose, target)
        .await?)
}

async fn usp_page(State(state): State<AppState>, s: SignedIn) -> Result<Response> {
    let c = &s.user.conferencing;
    let token = if c.enabled {
        issue_token(&state, &s, FormPurpose::SelfPinReset, &s.user.upn).await?
    } else {
        String::new()
    };
    let numbers = [&c.service_number, &c.toll_free_service_number]
        .into_iter()
        .flatten()
        .map(|n| n.to_string())
        .collect();
    Ok(no_store(render(&UspPage {
        nav: nav(&s),
        csrf: s.csrf.clone(),
        enabled: c.enabled,
        conference_id: c
            .conference_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        numbers,
        mask: PIN_MASK,
        token,
    })?))
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

#[derive(Template)]
#[template(path = "reset_done.html")]
struct ResetDonePage {
    nav: Option<Nav>,
    who: String,
    pin: Option<String>,
    mask: &'static str,
    email: Option<String>,
    back: String,
}

async fn usp_reset_pin(
    State(state): State<AppState>,
    s: SignedIn,
    Form(form): Form<TokenForm>,
) -> Result<Response> {
    let fresh = state
        .app
        .use_form_token(
            &form.token,
            &s.session_hash,
            FormPurpose::SelfPinReset,
            &s.user.upn,
        )
        .await?;
    let pin = if fresh {
        match state.app.reset_own_pin(&s.user.upn).await {
            Ok(issued) => Some(issued.pin.reveal().to_owned()),
            Err(e) => {
                state.app.release_form_token(&form.token).await?;
                return Err(e.into());
            }
        }
    } else {
        None
    };
    Ok(no_store(render(&ResetDonePage {
        nav: nav(&s),
        who: s.user.display_name.to_string(),
        pin,
        mask: PIN_MASK,
        email: fresh.then(|| "No email was sent for this reset.".to_owned()),
        back: "/usp".to_owned(),
    })?))
}

// ---- users ------------------------------------------------------------------------------

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
    notice: Option<String>,
}

#[derive(Deserialize)]
struct NoticeQuery {
    done: Option<String>,
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
        _ => return None,
    })
}

async fn user_edit_page(
    State(state): State<AppState>,
    Admin(s): Admin,
    Path(upn): Path<String>,
    Query(q): Query<NoticeQuery>,
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
    render(&UserEditPage {
        nav: nav(&s),
        csrf: s.csrf.clone(),
        u: user_view(&user),
        toll_numbers: of_kind(NumberKind::Toll),
        toll_free_numbers: of_kind(NumberKind::TollFree),
        notice: q.done.as_deref().and_then(notice_text).map(str::to_owned),
    })
}

fn back_to_edit(upn: &Upn, done: &str) -> Response {
    Redirect::to(&format!(
        "/admin/users/{}/edit?done={done}",
        percent_encode(upn.as_str())
    ))
    .into_response()
}

fn actor_of(s: &SignedIn) -> Actor {
    Actor::user(&s.user.upn)
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
        back: format!("/admin/users/{}/edit", percent_encode(upn.as_str())),
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
        Some(t) => E164::parse(t)
            .map(Some)
            .map_err(|e| Error::Invalid(e.to_string())),
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
    let base = format!("/admin/users/{}", percent_encode(upn.as_str()));
    Ok(no_store(render(&ResetConfirmPage {
        nav: nav(&s),
        csrf: s.csrf.clone(),
        who: user.display_name.to_string(),
        action: format!("{base}/reset-pin"),
        cancel: format!("{base}/edit"),
        token,
    })?))
}

/// Reset: the new PIN in this response only, never stored or kept in the session. A
/// token posted again resets nothing and shows the mask.
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
        back: format!("/admin/users/{}/edit", percent_encode(upn.as_str())),
    })?))
}

// ---- settings ---------------------------------------------------------------------------

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
    Ok((status, Html(page.render()?)).into_response())
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

// ---- numbers ----------------------------------------------------------------------------

struct NumberRow {
    number: String,
    kind: &'static str,
    primary: String,
    alternates: String,
}

#[derive(Template)]
#[template(path = "numbers.html")]
struct NumbersPage {
    nav: Option<Nav>,
    csrf: String,
    numbers: Vec<NumberRow>,
    notice: Option<String>,
    error: Option<String>,
}

async fn numbers_response(
    state: &AppState,
    s: &SignedIn,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response> {
    let numbers = state
        .app
        .numbers()
        .await?
        .iter()
        .map(|n| NumberRow {
            number: n.number.to_string(),
            kind: n.kind.as_str(),
            primary: n.primary_language.to_string(),
            alternates: n
                .alternate_languages
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let page = NumbersPage {
        nav: nav(s),
        csrf: s.csrf.clone(),
        numbers,
        notice,
        error,
    };
    Ok((status, Html(page.render()?)).into_response())
}

async fn numbers_page(
    State(state): State<AppState>,
    Admin(s): Admin,
    Query(q): Query<DoneQuery>,
) -> Result<Response> {
    let notice = q.done.map(|_| "The number was added.".to_owned());
    numbers_response(&state, &s, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
struct NumberForm {
    number: String,
    kind: String,
    primary_language: String,
    alternate_languages: Option<String>,
}

/// A service number from its parts as text, or what is wrong with them.
pub(crate) fn parse_number(
    number: &str,
    kind: &str,
    primary_language: &str,
    alternate_languages: &str,
) -> Result<ServiceNumber, String> {
    let number = E164::parse(number.trim()).map_err(|e| e.to_string())?;
    let kind = NumberKind::parse(kind.trim())
        .ok_or_else(|| format!("the type must be toll or toll-free, not {kind:?}"))?;
    let primary = LanguageTag::parse(primary_language.trim()).map_err(|e| e.to_string())?;
    let alternates =
        ServiceNumber::parse_languages(alternate_languages).map_err(|e| e.to_string())?;
    ServiceNumber::new(number, kind, primary, alternates).map_err(|e| e.to_string())
}

async fn numbers_add(
    State(state): State<AppState>,
    Admin(s): Admin,
    Form(form): Form<NumberForm>,
) -> Result<Response> {
    let number = match parse_number(
        &form.number,
        &form.kind,
        &form.primary_language,
        form.alternate_languages.as_deref().unwrap_or(""),
    ) {
        Ok(n) => n,
        Err(message) => {
            return numbers_response(
                &state,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(message),
            )
            .await;
        }
    };
    match state.app.add_number(&actor_of(&s), &number).await {
        Ok(()) => Ok(Redirect::to("/admin/numbers?done=1").into_response()),
        Err(e) => {
            let e = Error::from(e);
            match e.status_code() {
                StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => {
                    numbers_response(&state, &s, e.status_code(), None, Some(e.to_string())).await
                }
                _ => Err(e),
            }
        }
    }
}

// ---- audit log --------------------------------------------------------------------------

struct AuditRow {
    at: String,
    actor: String,
    action: &'static str,
    target: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    user: String,
    action: String,
    actor: String,
    actions: Vec<String>,
    records: Vec<AuditRow>,
}

#[derive(Deserialize)]
struct AuditFilter {
    user: Option<String>,
    action: Option<String>,
    actor: Option<String>,
}

async fn audit_page(
    State(state): State<AppState>,
    Admin(s): Admin,
    Query(f): Query<AuditFilter>,
) -> Result<Response> {
    let user = f.user.unwrap_or_default();
    let action = f.action.unwrap_or_default();
    let actor = f.actor.unwrap_or_default();
    let target = match user.trim() {
        "" => None,
        text => Some(Upn::parse(text).map_err(|e| Error::Invalid(e.to_string()))?),
    };
    let records = state
        .app
        .audit(&AuditQuery {
            limit: 1000,
            target,
        })
        .await?
        .into_iter()
        .filter(|r| action.is_empty() || r.action.as_str() == action)
        .filter(|r| {
            actor.is_empty()
                || r.actor
                    .as_str()
                    .to_lowercase()
                    .contains(&actor.to_lowercase())
        })
        .take(200)
        .map(|r| AuditRow {
            at: format_time(r.at_ms),
            actor: r.actor.as_str().to_owned(),
            action: r.action.as_str(),
            target: r.target.map(|t| t.to_string()).unwrap_or_default(),
            detail: r.detail,
        })
        .collect();
    render(&AuditPage {
        nav: nav(&s),
        user,
        action,
        actor,
        actions: AuditAction::ALL
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        records,
    })
}

// ---- sign-in locks ----------------------------------------------------------------------

struct LockRow {
    subject: String,
    failures: i64,
    until: String,
}

#[derive(Template)]
#[template(path = "locks.html")]
struct LocksPage {
    nav: Option<Nav>,
    csrf: String,
    locks: Vec<LockRow>,
    notice: Option<String>,
}

async fn locks_page(
    State(state): State<AppState>,
    Admin(s): Admin,
    Query(q): Query<DoneQuery>,
) -> Result<Response> {
    let locks = state
        .app
        .sign_in_locks()
        .await?
        .into_iter()
        .map(|l| LockRow {
            subject: l.subject,
            failures: l.failures,
            until: format_time(l.locked_until_ms),
        })
        .collect();
    render(&LocksPage {
        nav: nav(&s),
        csrf: s.csrf.clone(),
        locks,
        notice: q.done.map(|_| "The lock was cleared.".to_owned()),
    })
}

#[derive(Deserialize)]
struct ClearLockForm {
    subject: String,
}

async fn locks_clear(
    State(state): State<AppState>,
    Admin(s): Admin,
    Form(form): Form<ClearLockForm>,
) -> Result<Response> {
    if form.subject.chars().any(char::is_control)
        || !state
            .app
            .clear_sign_in_lock(&actor_of(&s), &form.subject)
            .await?
    {
        return Err(Error::NotFound);
    }
    Ok(Redirect::to("/admin/sign-in-locks?done=1").into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(
            super::format_time(1_700_000_000_000),
            "2023-11-14 22:13:20Z"
        );
    }
}
