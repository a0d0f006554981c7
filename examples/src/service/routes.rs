//! The two routers: the application's (`/work`, `/metrics`, `/ready`) and the admin one
//! (`/admin/sampling`, `/admin/level`, `/admin/flush`), served on separate listeners.
//!
//! Only `/work` is instrumented. Scrapes, probes and admin calls log nothing, so that the
//! figures they read are not moved by reading them.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backpressure_writer::{NonBlocking, WorkerGuard};
use logmetrics::Exporter;
use metrics_exporter_prometheus::PrometheusHandle;
use sampling_layer::SamplingHandle;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{debug, error, info, warn};

use super::legacy_dep;
use super::telemetry::LevelHandle;

/// The target of the handlers' events (and of their span).
pub const TARGET: &str = "app::handlers";
/// DEBUG events per `/work` request.
pub const STEPS: u32 = 3;
/// The largest admin request body. A directive string is a few hundred bytes; anything
/// near this is a mistake or an attack, refused with 413 before it is parsed.
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024;
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

/// State of the admin router.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The file's sampler.
    pub sampling: SamplingHandle,
    /// `RUST_LOG`.
    pub levels: LevelHandle,
    /// The file writer, for its figures.
    pub file: NonBlocking,
    /// The file writer's guard, for `/admin/flush`.
    pub file_guard: Arc<WorkerGuard>,
    /// Publishes the figures on `/admin/flush`.
    pub exporter: Exporter,
    /// How long `/admin/flush` waits for the writer.
    pub flush_deadline: Duration,
}

/// `/work`, `/metrics` and `/ready`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/work", get(work))
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .with_state(state)
}

/// `/admin/sampling`, `/admin/level` and `/admin/flush`, bodies bounded.
pub fn admin(state: AdminState) -> Router {
    Router::new()
        .route("/admin/sampling", get(get_sampling).put(put_sampling))
        .route("/admin/level", get(get_level).put(put_level))
        .route("/admin/flush", post(flush))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
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

fn sampling_json(handle: &SamplingHandle) -> Value {
    let stats = handle.stats();
    let targets: Vec<Value> = stats
        .targets
        .iter()
        .map(|t| {
            json!({
                "target": t.target,
                "rate": t.rate,
                "seen": t.seen,
                "kept": t.kept,
                "dropped": t.dropped,
                "actual_rate": t.actual_rate(),
            })
        })
        .collect();
    json!({
        "directives": handle.directives(),
        "enabled": stats.enabled,
        "breaker_open": stats.breaker_open,
        "targets": targets,
    })
}

fn bad_request(e: impl std::fmt::Display) -> Response {
    let body = json!({ "error": e.to_string() });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn get_sampling(State(state): State<AdminState>) -> Json<Value> {
    Json(sampling_json(&state.sampling))
}

/// Replaces the whole directive set with the body: a target not repeated in it goes back
/// to the default (GET, edit, PUT). On error nothing changes.
async fn put_sampling(State(state): State<AdminState>, body: String) -> Response {
    match state.sampling.set_directives(body.trim()) {
        Ok(()) => Json(sampling_json(&state.sampling)).into_response(),
        Err(e) => bad_request(format_args!("sampling: {e}")),
    }
}

async fn get_level(State(state): State<AdminState>) -> Json<Value> {
    Json(json!({ "directives": state.levels.current() }))
}

async fn put_level(State(state): State<AdminState>, body: String) -> Response {
    match state.levels.set(body.trim()) {
        Ok(()) => Json(json!({ "directives": state.levels.current() })).into_response(),
        Err(e) => bad_request(e),
    }
}

/// Flushes the file writer (within the deadline) and publishes the figures now, so that
/// the file and `/metrics` can be compared: both then count the same lines.
async fn flush(State(state): State<AdminState>) -> Response {
    let (guard, deadline) = (state.file_guard.clone(), state.flush_deadline);
    // The flush blocks on the worker: off the runtime's threads.
    let flushed = tokio::task::spawn_blocking(move || guard.flush_timeout(deadline)).await;
    state.exporter.export_now();
    let s = state.file.stats();
    let figures = json!({
        "submitted": s.submitted,
        "written": s.lines_written,
        "dropped": s.dropped.total(),
        "queued": s.queue_depth,
    });
    match flushed {
        Ok(Ok(())) => Json(figures).into_response(),
        Ok(Err(e)) => {
            let body = json!({ "error": format!("flush: {e}"), "figures": figures });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        Err(e) => {
            let body = json!({ "error": format!("flush task: {e}") });
            (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        }
    }
}
