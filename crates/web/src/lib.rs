//! The HTTP side of pinbridge: the admin center (`/admin`), the self-service portal
//! (`/usp`), a user's meetings (`/meetings`), sign-in, the REST API (`/api/v1`) and the
//! health check.
//!
//! Every route is declared once, in [`route_table`]: the router is built from it, and
//! the CSRF test walks it to try every state-changing route.

pub mod api;
mod error;
pub mod headers;
mod pages;
pub mod session;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{MethodRouter, get};
use pinbridge_app::App;
use pinbridge_domain::{Cidr, PublicUrl, Upn};
use pinbridge_store::web::ThrottlePolicy;

pub use error::Error;
pub use tls::{Peer, TlsListener};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub web: Arc<WebConfig>,
}

impl AppState {
    /// The state with the default web settings.
    pub fn new(app: App) -> Self {
        Self {
            app,
            web: Arc::new(WebConfig::default()),
        }
    }
}

/// Settings of the web layer.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Connections from these addresses may set `X-Forwarded-For` and
    /// `X-Forwarded-Proto`; from anywhere else those headers are ignored.
    pub trusted_proxies: Vec<Cidr>,
    /// How long a sign-in lasts.
    pub session_lifetime: Duration,
    /// Failed sign-ins per account before a temporary lock.
    pub account_throttle: ThrottlePolicy,
    /// Failed sign-ins per client address before a temporary lock.
    pub address_throttle: ThrottlePolicy,
    /// Where users reach pinbridge: meeting invitations name its join and PIN reset
    /// links.
    pub public_url: PublicUrl,
}

impl Default for WebConfig {
    fn default() -> Self {
        const MINUTE_MS: i64 = 60_000;
        Self {
            trusted_proxies: Vec::new(),
            session_lifetime: Duration::from_secs(8 * 60 * 60),
            account_throttle: ThrottlePolicy {
                max_failures: 5,
                window_ms: 15 * MINUTE_MS,
                lock_ms: 15 * MINUTE_MS,
                longest_lock_ms: 15 * MINUTE_MS,
            },
            address_throttle: ThrottlePolicy {
                max_failures: 20,
                window_ms: 15 * MINUTE_MS,
                lock_ms: 15 * MINUTE_MS,
                longest_lock_ms: 15 * MINUTE_MS,
            },
            public_url: PublicUrl::default(),
        }
    }
}

/// One route: a method, a path pattern and its handler.
pub struct RouteEntry {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
}

impl RouteEntry {
    /// A route for `method` requests to `path`.
    fn new(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self {
            method,
            path,
            handler,
        }
    }

    /// Whether requests to this route may change state (and so need the CSRF check).
    pub fn changes_state(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS)
    }
}

/// The user a path names: a text that is no UPN names no user, so it is not found.
fn parse_upn(text: &str) -> Result<Upn, Error> {
    Upn::parse(text).map_err(|_| Error::NotFound)
}

/// How long `/healthz` waits for the store before calling it unavailable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Every route of the application.
pub fn route_table() -> Vec<RouteEntry> {
    let mut routes = vec![
        RouteEntry::new(Method::GET, "/healthz", get(healthz)),
        RouteEntry::new(Method::GET, "/metrics", get(metrics)),
    ];
    routes.extend(pages::routes());
    routes.extend(api::routes());
    routes
}

/// The whole HTTP application, without a socket (tests call it with `oneshot`).
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for entry in route_table() {
        router = router.route(entry.path, entry.handler);
    }
    router
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(session::csrf_guard))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::request_context,
        ))
        .with_state(state)
}

/// What renders `/metrics`, registered by the process that runs the dial-in bridge.
static METRICS_RENDERER: std::sync::OnceLock<fn() -> String> = std::sync::OnceLock::new();

/// Registers the function that renders `/metrics` (Prometheus text format); the first
/// registration wins.
pub fn set_metrics_renderer(render: fn() -> String) {
    let _ = METRICS_RENDERER.set(render);
}

/// The bridge's metrics in the Prometheus text format (empty without a bridge).
async fn metrics() -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    let body = METRICS_RENDERER
        .get()
        .map(|render| render())
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// 200 while the store answers; 503 with the reason when it does not.
async fn healthz(State(state): State<AppState>) -> (StatusCode, String) {
    match tokio::time::timeout(HEALTH_TIMEOUT, state.app.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n".to_owned()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store unavailable: {e}\n"),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "store unavailable: no answer within {} s\n",
                HEALTH_TIMEOUT.as_secs()
            ),
        ),
    }
}
