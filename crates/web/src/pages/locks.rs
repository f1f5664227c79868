//! The sign-in locks, `/admin/sign-in-locks`: the accounts and client addresses locked
//! after failed sign-ins, and clearing a lock.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{DoneQuery, Nav, actor_of, format_time, nav, render};
use crate::error::{Error, Result};
use crate::session::Admin;
use crate::{AppState, RouteEntry};

/// The routes of the sign-in locks page.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/admin/sign-in-locks", get(locks_page)),
        RouteEntry::new(
            Method::POST,
            "/admin/sign-in-locks/clear",
            post(locks_clear),
        ),
    ]
}

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
