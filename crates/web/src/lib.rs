//! The HTTP side of pinbridge: for now the health check; the admin center, the
//! self-service portal and the REST API join this router.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use pinbridge_app::App;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
}

/// How long `/healthz` waits for the store before calling it unavailable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The whole HTTP application, without a socket (tests call it with `oneshot`).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
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
    match tokio::time::timeout(HEALTH_TIMEOUT, state.app.store().ping()).await {
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
