//! Sign-in sessions, the CSRF guard and the client's address.
//!
//! A session is a random cookie value; the store keeps only its SHA-256. The CSRF token
//! of a session is derived from the cookie value, so it needs no storage and cannot be
//! computed from the database. Before sign-in, a pre-session cookie plays the same role
//! for the sign-in form.

use std::net::{IpAddr, Ipv4Addr};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use pinbridge_app::secret::secret_hash;
use pinbridge_domain::User;
use pinbridge_domain::user::Role;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::{AppState, Peer};

pub const SESSION_COOKIE: &str = "pb_session";
pub const PRESESSION_COOKIE: &str = "pb_presession";
/// The form field and the header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Largest form body the CSRF guard reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Who is asking, as far as the network tells: the client's address (from a trusted
/// proxy's `X-Forwarded-For` when there is one) and whether the request came over TLS.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext {
    pub client: IpAddr,
    pub tls: bool,
}

/// The CSRF token that belongs to a session or pre-session cookie value.
pub fn csrf_token_for(cookie_value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"pinbridge csrf token\0");
    hasher.update(cookie_value.as_bytes());
    hex::encode(&hasher.finalize()[..20])
}

/// The value of one cookie of the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure over TLS.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The signed-in user of a page request, with the session's hash and CSRF token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub session_hash: String,
    pub csrf: String,
}

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct Admin(pub SignedIn);

/// Why a page request has no usable session.
pub enum NoSession {
    /// Not signed in (or the session ended): go to the sign-in page.
    SignIn(String),
    Failed(Error),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn(next) => {
                let target = if next.starts_with('/') && !next.starts_with("//") {
                    format!("/signin?next={}", percent_encode(&next))
                } else {
                    "/signin".to_owned()
                };
                Redirect::to(&target).into_response()
            }
            Self::Failed(e) => crate::pages::error_page(e),
        }
    }
}

pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = NoSession;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let next = if parts.method == Method::GET {
            next
        } else {
            String::new()
        };
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(NoSession::SignIn(next));
        };
        let session_hash = secret_hash(&value);
        let user = state
            .app
            .session_user(&session_hash)
            .await
            .map_err(|e| NoSession::Failed(e.into()))?;
        match user {
            Some(user) => Ok(Self {
                user,
                session_hash,
                csrf: csrf_token_for(&value),
            }),
            None => Err(NoSession::SignIn(next)),
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = NoSession;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if signed_in.user.role != Role::Admin {
            return Err(NoSession::Failed(Error::Forbidden));
        }
        Ok(Self(signed_in))
    }
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestContext>()
            .copied()
            .unwrap_or(RequestContext {
                client: IpAddr::V4(Ipv4Addr::LOCALHOST),
                tls: false,
            }))
    }
}

/// Works out the client's address and scheme. Forwarded headers count only when the
/// connection comes from a configured proxy address.
pub async fn request_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0);
    let (mut client, mut tls) = match peer {
        Some(p) => (p.addr.ip(), p.tls),
        None => (IpAddr::V4(Ipv4Addr::LOCALHOST), false),
    };
    let trusted = |ip: IpAddr| state.web.trusted_proxies.iter().any(|c| c.contains(ip));
    if trusted(client) {
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        // The nearest address that is not one of our proxies is the client.
        for ip in forwarded.into_iter().rev() {
            client = ip;
            if !trusted(ip) {
                break;
            }
        }
        if let Some(proto) = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            tls = proto.trim().eq_ignore_ascii_case("https");
        }
    }
    req.extensions_mut().insert(RequestContext { client, tls });
    next.run(req).await
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the browser says the request came from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return true;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'));
        return match (origin_host, host) {
            (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
            _ => true,
        };
    }
    false
}

/// Refuses every state-changing request that comes from another site or lacks the CSRF
/// token of the caller's session. API requests with a bearer token carry no ambient
/// credential and need no CSRF token, but a cross-site origin is refused for them too.
pub async fn csrf_guard(req: Request, next: Next) -> Response {
    if is_safe(req.method()) {
        return next.run(req).await;
    }
    let api = req.uri().path().starts_with("/api/");
    let refuse = |api: bool| {
        let e = Error::CrossSite;
        if api {
            crate::api::error_response(e)
        } else {
            crate::pages::error_page(e)
        }
    };
    if cross_site(req.headers()) {
        return refuse(api);
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    // An API request with no cookie carries no ambient credential either: it is
    // authenticated (or refused with 401) by its handler.
    let has_cookie = [SESSION_COOKIE, PRESESSION_COOKIE]
        .iter()
        .any(|name| cookie(req.headers(), name).is_some());
    if api && (bearer || !has_cookie) {
        return next.run(req).await;
    }
    let expected: Vec<String> = [SESSION_COOKIE, PRESESSION_COOKIE]
        .iter()
        .filter_map(|name| cookie(req.headers(), name))
        .map(|v| csrf_token_for(&v))
        .collect();
    let header_token = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large\n",
            )
                .into_response();
        }
    };
    let presented = header_token.or_else(|| {
        is_form
            .then(|| {
                form_urlencoded_pairs(&bytes)
                    .into_iter()
                    .find(|(k, _)| k == CSRF_FIELD)
                    .map(|(_, v)| v)
            })
            .flatten()
    });
    let valid = presented.is_some_and(|p| {
        expected
            .iter()
            .any(|e| bool::from(e.as_bytes().ct_eq(p.as_bytes())))
    });
    if !valid {
        return refuse(api);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The pairs of an `application/x-www-form-urlencoded` body.
fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded_pairs(bytes).unwrap_or_default()
}

fn serde_urlencoded_pairs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    Some(
        text.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect(),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(text.get(i + 1..i + 3).unwrap_or(""), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
