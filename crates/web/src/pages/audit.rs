//! The audit log, `/admin/audit`: the newest lines, filtered by user, action and actor.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::get;
use pinbridge_domain::{AuditAction, Upn};
use pinbridge_store::AuditQuery;
use serde::Deserialize;

use super::{Nav, format_time, nav, render};
use crate::error::{Error, Result};
use crate::session::Admin;
use crate::{AppState, RouteEntry};

/// The route of the audit log.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![RouteEntry::new(
        Method::GET,
        "/admin/audit",
        get(audit_page),
    )]
}

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
        text => Some(Upn::parse(text).map_err(Error::invalid)?),
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
