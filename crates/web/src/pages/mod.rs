//! The server-rendered pages: sign-in, the admin center, the self-service portal and a
//! user's meetings. They work without JavaScript (a script only adds copy buttons);
//! every form posts back with the session's CSRF token.
//!
//! This module has what the pages share (the header, rendering, the error page, the
//! one-time form tokens and the page that shows a new PIN), the stylesheet, the copy
//! script and the start pages; each resource's pages are in a module of their own, with their routes.

mod audit;
mod locks;
mod meetings;
mod numbers;
mod settings;
mod signin;
mod users;
mod usp;

use askama::Template;
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use pinbridge_domain::user::Role;
use pinbridge_domain::{Actor, Upn};
use pinbridge_store::web::FormPurpose;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::session::{Admin, SignedIn};
use crate::{AppState, RouteEntry};

/// The routes of every page, resource by resource.
pub(crate) fn routes() -> Vec<RouteEntry> {
    [
        vec![
            RouteEntry::new(Method::GET, "/", get(home)),
            RouteEntry::new(Method::GET, "/static/style.css", get(stylesheet)),
            RouteEntry::new(Method::GET, "/static/copy.js", get(copy_script)),
        ],
        signin::routes(),
        usp::routes(),
        meetings::routes(),
        vec![RouteEntry::new(Method::GET, "/admin", get(admin_home))],
        users::routes(),
        settings::routes(),
        numbers::routes(),
        audit::routes(),
        locks::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What the header of every signed-in page shows.
struct Nav {
    upn: String,
    is_admin: bool,
    csrf: String,
}

/// The header of `s`'s pages: who is signed in, whether the admin links show, and
/// the CSRF token of the sign-out form.
fn nav(s: &SignedIn) -> Option<Nav> {
    Some(Nav {
        upn: s.user.upn.to_string(),
        is_admin: s.user.role == Role::Admin,
        csrf: s.csrf.clone(),
    })
}

/// A page as the response, with status 200.
fn render(t: &impl Template) -> Result<Response> {
    render_status(StatusCode::OK, t)
}

/// A page as the response, with `status`.
fn render_status(status: StatusCode, t: &impl Template) -> Result<Response> {
    Ok((status, Html(t.render()?)).into_response())
}

/// A page that must never be kept by the browser or a proxy.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A heading, a message and a link back: the error page.
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

/// The page of every path without a route (404).
pub(crate) async fn not_found() -> Response {
    error_page(Error::NotFound)
}

/// The one stylesheet, built into the binary.
async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/style.css"),
    )
}

/// The script of the copy buttons, built into the binary: the pages load no script
/// from anywhere else, and work without it.
async fn copy_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../static/copy.js"),
    )
}

/// `/` leads admins to the users list and everyone else to the self-service portal.
async fn home(s: SignedIn) -> Redirect {
    if s.user.role == Role::Admin {
        Redirect::to("/admin/users")
    } else {
        Redirect::to("/usp")
    }
}

/// The admin center starts at the users list.
async fn admin_home(_: Admin) -> Redirect {
    Redirect::to("/admin/users")
}

/// A Unix time in milliseconds as `YYYY-MM-DD HH:MM:SSZ` (UTC).
fn format_time(ms: i64) -> String {
    pinbridge_domain::time::format_utc_millis(ms)
}

/// The query of a redirect after a change: `done` asks the page to say it was made.
#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

/// A one-time form token for `purpose` on `target`, bound to the session: each PIN
/// reset form resets the PIN once.
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

/// A form that carries a one-time form token.
#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

/// The page that shows a new PIN once (or the mask, when the token was used already)
/// and what became of the email.
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

/// The signed-in user as the actor of a change (the audit log names them).
fn actor_of(s: &SignedIn) -> Actor {
    Actor::user(&s.user.upn)
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
