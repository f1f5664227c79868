//! Signing in and out (`/signin`, `/signout`) and changing one's own password
//! (`/password`).

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pinbridge_app::secret::{random_secret, secret_hash};
use pinbridge_app::{SignIn, SignInOutcome};
use pinbridge_domain::ops::SetOptions;
use pinbridge_domain::user::Role;
use serde::Deserialize;

use super::{DoneQuery, Nav, actor_of, nav, no_store, render, render_status};
use crate::error::{Error, Result};
use crate::session::{
    self, PRESESSION_COOKIE, RequestContext, SESSION_COOKIE, SignedIn, csrf_token_for, set_cookie,
};
use crate::{AppState, RouteEntry};

/// The routes of signing in and out and of the password page.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/signin", get(signin_page)),
        RouteEntry::new(Method::POST, "/signin", post(signin)),
        RouteEntry::new(Method::POST, "/signout", post(signout)),
        RouteEntry::new(Method::GET, "/password", get(password_page)),
        RouteEntry::new(Method::POST, "/password", post(change_password)),
    ]
}

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
    let mut response = no_store(render_status(status, &page)?);
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

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
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
        render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    if !state.app.verify_password(&s.user, &form.current).await? {
        return refuse("The current password is wrong.");
    }
    if form.new != form.confirm {
        return refuse("The two new passwords differ.");
    }
    let actor = actor_of(&s);
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
