//! The audit log, `/api/v1/audit`: the newest lines first, optionally only those about
//! one user.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use pinbridge_domain::Upn;
use pinbridge_store::AuditQuery;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::formats::EmailText;
use super::{ApiQuery, ApiResult, Caller, ErrorBody, check_int32, optional_exact};
use crate::{AppState, RouteEntry};

/// The route of the audit log.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![RouteEntry::new(Method::GET, "/api/v1/audit", get(audit))]
}

#[derive(Serialize, ToSchema)]
struct AuditView {
    id: i64,
    at_ms: i64,
    actor: String,
    action: String,
    target: Option<String>,
    detail: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// Only lines about this user (a UPN; no such user gives no lines).
    #[param(value_type = Option<EmailText>)]
    user: Option<String>,
    /// 1 to 10000, default 100.
    limit: Option<u32>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditView>), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody), (status = 422, description = "A value the document does not allow; the message says which.", body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    _: Caller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<AuditView>>> {
    check_int32(&[q.limit])?;
    let target = optional_exact("the user", q.user.as_deref(), Upn::parse)?;
    let records = state
        .app
        .audit(&AuditQuery {
            limit: q.limit.unwrap_or(100).clamp(1, 10_000),
            target,
        })
        .await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at_ms: r.at_ms,
                actor: r.actor.as_str().to_owned(),
                action: r.action.as_str().to_owned(),
                target: r.target.map(|t| t.to_string()),
                detail: r.detail,
            })
            .collect(),
    ))
}
