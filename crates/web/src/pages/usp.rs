//! The self-service portal, `/usp`: a user's own conference ID and dial-in numbers, and
//! resetting their own PIN.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use pinbridge_domain::PIN_MASK;
use pinbridge_store::web::FormPurpose;

use super::{Nav, ResetDonePage, TokenForm, issue_token, nav, no_store, render};
use crate::error::Result;
use crate::session::SignedIn;
use crate::{AppState, RouteEntry};

/// The routes of the self-service portal.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/usp", get(usp_page)),
        RouteEntry::new(Method::POST, "/usp/reset-pin", post(usp_reset_pin)),
    ]
}

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
