//! The application's router (`/work`, `/metrics`, `/ready`); the admin one, on a listener
//! of its own, is in [`admin`](super::admin).
//!
//! Only `/work` is instrumented. Scrapes, probes and admin calls log nothing, so that the
//! figures they read are not moved by reading them.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use logmetrics::Exporter;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::{debug, error, info, warn};

use super::legacy_dep;

/// The target of the handlers' events (and of their span).
pub const TARGET: &str = "app::handlers";
/// DEBUG events per `/work` request.
pub const STEPS: u32 = 3;
/// The longest `x-request-id` taken from a client; longer or odd ones get a fresh id.
pub const MAX_REQUEST_ID: usize = 64;

/// State of the application router.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Renders `/metrics`.
    pub prometheus: PrometheusHandle,
    /// Answers `/ready` (a clone of the exporter the thread runs).
    pub exporter: Exporter,
}

/// `/work`, `/metrics` and `/ready`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/work", get(work))
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .with_state(state)
}

/// The request's id: the client's `x-request-id` if it is short and printable, else a
/// fresh one. It is the consistent-sampling key, so a gateway that sets it and samples by
/// it keeps the same requests as this service.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let given = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= MAX_REQUEST_ID
                    && v.bytes().all(|b| b.is_ascii_graphic())
            });
        Ok(RequestId(match given {
            Some(v) => v.to_owned(),
            None => format!(
                "srv-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }))
    }
}

/// Query of `/work`.
#[derive(Debug, Deserialize)]
pub struct WorkParams {
    /// Passed to the `log`-based dependency.
    #[serde(default)]
    pub key: u32,
    /// Log a WARN.
    #[serde(default)]
    pub slow: bool,
    /// Log an ERROR and answer 500.
    #[serde(default)]
    pub fail: bool,
    /// Panic in the handler, as a bug would: the connection is dropped without an answer,
    /// and the panic hook logs the panic (in the request's span) and flushes the writers.
    #[serde(default)]
    pub panic: bool,
}

#[tracing::instrument(
    name = "request",
    target = "app::handlers",
    skip_all,
    fields(request_id = %id.0, key = params.key)
)]
async fn work(id: RequestId, Query(params): Query<WorkParams>) -> Response {
    info!(target: TARGET, "work started");
    for step in 0..STEPS {
        debug!(target: TARGET, step, "step done");
        tokio::task::yield_now().await;
    }
    let value = legacy_dep::lookup(params.key);
    if params.panic {
        panic!("request asked to panic (key {})", params.key);
    }
    if params.slow {
        warn!(target: TARGET, "slow request");
    }
    if params.fail {
        error!(target: TARGET, "work failed");
        let body = json!({ "request_id": id.0, "error": "failed" });
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    info!(target: TARGET, value, "work done");
    Json(json!({ "request_id": id.0, "value": value })).into_response()
}

async fn metrics(State(state): State<AppState>) -> String {
    state.prometheus.render()
}

/// 200 `healthy`, or 503 with the problems. Reading it changes nothing: every prober (the
/// kubelet, a human with curl) gets the same answer over the same window.
async fn ready(State(state): State<AppState>) -> (StatusCode, String) {
    let report = state.exporter.health();
    let status = if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, report.to_string())
}
