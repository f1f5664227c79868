//! The dial-in numbers, `/api/v1/numbers`: listing and registering them.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use pinbridge_domain::{E164, LanguageTag, NumberKind, ServiceNumber};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::formats::{self, E164Text, LanguageText};
use super::{ApiJson, ApiResult, Caller, ErrorBody, optional_exact, parse_exact};
use crate::error::Error;
use crate::{AppState, RouteEntry};

/// The routes of the dial-in numbers.
pub(super) fn routes() -> Vec<RouteEntry> {
    vec![
        RouteEntry::new(Method::GET, "/api/v1/numbers", get(list_numbers)),
        RouteEntry::new(Method::POST, "/api/v1/numbers", post(add_number)),
    ]
}

#[derive(Serialize, ToSchema)]
struct NumberView {
    number: String,
    /// `toll` or `toll-free`.
    kind: String,
    primary_language: String,
    alternate_languages: Vec<String>,
}

fn number_view(n: &ServiceNumber) -> NumberView {
    NumberView {
        number: n.number.to_string(),
        kind: n.kind.as_str().into(),
        primary_language: n.primary_language.to_string(),
        alternate_languages: n
            .alternate_languages
            .iter()
            .map(|l| l.to_string())
            .collect(),
    }
}

/// A dial-in number's kind.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum NumberKindName {
    Toll,
    TollFree,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewNumber {
    /// Not registered yet (else 409).
    #[schema(value_type = E164Text)]
    number: String,
    kind: NumberKindName,
    /// `en-US` when left out.
    #[schema(value_type = Option<LanguageText>)]
    primary_language: Option<String>,
    #[schema(schema_with = formats::alternate_languages, required = false)]
    alternate_languages: Option<Vec<String>>,
}

/// The registered dial-in numbers.
#[utoipa::path(get, path = "/api/v1/numbers", security(("bearer" = [])),
    responses((status = 200, body = Vec<NumberView>), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody)))]
async fn list_numbers(
    State(state): State<AppState>,
    _: Caller,
) -> ApiResult<Json<Vec<NumberView>>> {
    let numbers = state.app.numbers().await?;
    Ok(Json(numbers.iter().map(number_view).collect()))
}

/// Registers a dial-in number.
#[utoipa::path(post, path = "/api/v1/numbers", request_body = NewNumber, security(("bearer" = [])),
    responses((status = 201, body = NumberView), (status = 400, description = "The body is not JSON, or a query value cannot be read.", body = ErrorBody), (status = 401, description = "No valid bearer token (or admin session).", body = ErrorBody),
        (status = 409, description = "The number is registered already.", body = ErrorBody), (status = 422, description = "A value the document does not allow, or a language named twice counting the primary language, in any case: a rule between fields that JSON Schema cannot state.", body = ErrorBody)))]
async fn add_number(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewNumber>,
) -> ApiResult<(StatusCode, Json<NumberView>)> {
    let alternates = body
        .alternate_languages
        .unwrap_or_default()
        .iter()
        .map(|l| parse_exact("a language", l, LanguageTag::parse))
        .collect::<Result<Vec<_>, _>>()?;
    let number = ServiceNumber::new(
        parse_exact("the number", &body.number, E164::parse)?,
        match body.kind {
            NumberKindName::Toll => NumberKind::Toll,
            NumberKindName::TollFree => NumberKind::TollFree,
        },
        optional_exact(
            "the primary language",
            body.primary_language.as_deref(),
            LanguageTag::parse,
        )?
        .unwrap_or_default(),
        alternates,
    )
    .map_err(Error::invalid)?;
    state.app.add_number(&caller.actor, &number).await?;
    Ok((StatusCode::CREATED, Json(number_view(&number))))
}
