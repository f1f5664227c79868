//! The dial-in numbers, `/admin/numbers`: the registered numbers and registering one.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pinbridge_domain::{E164, LanguageTag, NumberKind, ServiceNumber};
use serde::Deserialize;

use super::{DoneQuery, Nav, actor_of, nav, render_status};
use crate::error::{Error, Result};
use crate::session::{Admin, SignedIn};
use crate::{AppState, RouteEntry};

/// The routes of the numbers page.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/admin/numbers", get(numbers_page)),
        RouteEntry::new(Method::POST, "/admin/numbers", post(numbers_add)),
    ]
}

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
    render_status(status, &page)
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
fn parse_number(
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
