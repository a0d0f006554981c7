//! The admin router, served on its own listener (loopback by default): whoever reaches it
//! can change what the service logs.
//!
//! | route | does |
//! |---|---|
//! | `GET /admin/sampling` | the directives (a string `PUT` takes back), per-target figures |
//! | `PUT /admin/sampling` | replaces the **whole** directive set with the body |
//! | `PUT /admin/sampling/{target}` | sets one target's rate (the body), `?for=10m` for a while |
//! | `DELETE /admin/sampling/{target}` | removes one target's directive |
//! | `GET /admin/level` | the levels (a string `PUT` takes back) and the pending returns |
//! | `PUT /admin/level` | replaces the **whole** level set with the body |
//! | `PUT /admin/level/{target}` | sets one target's level (the body), `?for=10m` for a while |
//! | `DELETE /admin/level/{target}` | removes one target's level |
//! | `POST /admin/flush` | flushes the file writer and publishes the figures |
//!
//! `{target}` is a directive's left-hand side, percent-encoded as a path segment:
//! `app::db` as is, `app::db[key]` as `app::db%5Bkey%5D`, `[key]` (a key under any target)
//! as `%5Bkey%5D`, and the bare default rate (or level) as [`DEFAULT_TARGET`]. Levels take
//! plain targets only (no `[...]`). Bodies are bounded to
//! [`ADMIN_BODY_LIMIT`]. Like the scrape, admin calls log nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use backpressure_writer::{NonBlocking, WorkerGuard};
use logmetrics::Exporter;
use sampling_layer::level::LevelHandle;
use sampling_layer::SamplingHandle;
use serde::Deserialize;
use serde_json::{json, Value};

/// The largest admin request body. A directive string is a few hundred bytes; anything
/// near this is a mistake or an attack, refused with 413 before it is parsed.
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024;
/// The path segment that names the bare default rate (the directive without a target) in
/// `/admin/sampling/{target}`. An empty segment would not route, and `@` cannot start a
/// `tracing` target a directive names (targets are module paths).
pub const DEFAULT_TARGET: &str = "@default";
/// The longest `?for=` a timed change may ask for. A change meant to be temporary that
/// outlives a week is a mistake; say so rather than keep it.
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// State of the admin router.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The file's sampler.
    pub sampling: SamplingHandle,
    /// `RUST_LOG`: the run-time levels.
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

/// `/admin/sampling[/{target}]`, `/admin/level` and `/admin/flush`, bodies bounded.
pub fn admin(state: AdminState) -> Router {
    Router::new()
        .route("/admin/sampling", get(get_sampling).put(put_sampling))
        .route(
            "/admin/sampling/{target}",
            put(put_target).delete(delete_target),
        )
        .route("/admin/level", get(get_level).put(put_level))
        .route(
            "/admin/level/{target}",
            put(put_level_target).delete(delete_level_target),
        )
        .route("/admin/flush", post(flush))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .with_state(state)
}

/// The directives (round-trippable: `PUT` them back, or give them to `RUST_LOG_SAMPLE`)
/// and, per target, the rate in force (a budget target: its budget and its effective
/// rate, the share of its events kept in the last interval), the lifetime figures and those of the last
/// complete recent interval (a rate change shows there within one interval).
fn sampling_json(handle: &SamplingHandle) -> Value {
    // Directives first: reading them applies any expiry that is due, so the figures
    // below are those of the set shown.
    let directives = handle.directives();
    let stats = handle.stats();
    let targets: Vec<Value> = stats
        .targets
        .iter()
        .map(|t| {
            json!({
                "target": t.target,
                "rate": t.rate,
                // A budget target has no fixed rate (`rate` 1): what it keeps now.
                "budget": t.budget,
                "effective_rate": t.effective_rate,
                "seen": t.seen,
                "kept": t.kept,
                "dropped": t.dropped,
                "actual_rate": t.actual_rate(),
                "recent_seen": t.recent_seen,
                "recent_kept": t.recent_kept,
                "recent_rate": t.recent_rate(),
            })
        })
        .collect();
    json!({
        "directives": directives,
        "enabled": stats.enabled,
        "breaker_open": stats.breaker_open,
        "recent_interval_ms": stats.recent_interval.as_millis() as u64,
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
/// to the default (GET, edit, PUT), and every pending timed change is cancelled. On error
/// nothing changes.
async fn put_sampling(State(state): State<AdminState>, body: String) -> Response {
    match state.sampling.set_directives(body.trim()) {
        Ok(()) => Json(sampling_json(&state.sampling)).into_response(),
        Err(e) => bad_request(format_args!("sampling: {e}")),
    }
}

/// Query of `PUT /admin/sampling/{target}`.
#[derive(Debug, Deserialize)]
pub struct TargetParams {
    /// How long the change lasts (`90s`, `10m`, `1h`, `500ms`); then the target returns
    /// to what it had before, unless it was changed again since.
    #[serde(rename = "for")]
    pub for_: Option<String>,
}

/// The selector of a `{target}` segment (already percent-decoded by `Path`).
fn selector(target: &str) -> &str {
    if target == DEFAULT_TARGET {
        ""
    } else {
        target
    }
}

/// Sets one target's rate (the body), leaving the other directives as they are.
async fn put_target(
    State(state): State<AdminState>,
    Path(target): Path<String>,
    Query(params): Query<TargetParams>,
    body: String,
) -> Response {
    let (target, rate) = (selector(&target), body.trim());
    let set = match params.for_.as_deref().map(parse_duration) {
        None => state.sampling.set_target_rate(target, rate),
        Some(Ok(d)) => state.sampling.set_target_rate_for(target, rate, d),
        Some(Err(e)) => return bad_request(format_args!("for: {e}")),
    };
    match set {
        Ok(()) => Json(sampling_json(&state.sampling)).into_response(),
        Err(e) => bad_request(format_args!("sampling: {e}")),
    }
}

/// Removes one target's directive: its events fall to the next matching one. 404 if it
/// had none.
async fn delete_target(State(state): State<AdminState>, Path(target): Path<String>) -> Response {
    match state.sampling.remove_target(selector(&target)) {
        Ok(true) => Json(sampling_json(&state.sampling)).into_response(),
        Ok(false) => {
            let body = json!({ "error": format!("sampling: no directive for {target:?}") });
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
        Err(e) => bad_request(format_args!("sampling: {e}")),
    }
}

/// `500ms`, `90s`, `10m`, `2h`: a positive whole number and a unit, at most
/// [`MAX_EXPIRY`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit (ms, s, m, h)"))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    let d = n
        .checked_mul(unit_ms)
        .map(Duration::from_millis)
        .filter(|d| *d <= MAX_EXPIRY)
        .ok_or_else(|| format!("{s:?}: longer than {} h", MAX_EXPIRY.as_secs() / 3600))?;
    if d.is_zero() {
        return Err(format!("{s:?}: must be positive"));
    }
    Ok(d)
}

/// The levels (round-trippable: `PUT` them back, or give them to `RUST_LOG`) and the
/// timed changes still to return, earliest first.
fn level_json(levels: &LevelHandle) -> Value {
    let pending: Vec<Value> = levels
        .pending()
        .iter()
        .map(|p| {
            json!({
                "target": p.target,
                "level": p.level.to_string().to_lowercase(),
                "restore": p.restore.map(|l| l.to_string().to_lowercase()),
                "due_in_ms": p.due_in.as_millis() as u64,
            })
        })
        .collect();
    json!({ "directives": levels.directives(), "pending": pending })
}

async fn get_level(State(state): State<AdminState>) -> Json<Value> {
    Json(level_json(&state.levels))
}

/// Replaces the whole level set with the body and cancels every pending return. On error
/// nothing changes.
async fn put_level(State(state): State<AdminState>, body: String) -> Response {
    match state.levels.set_directives(body.trim()) {
        Ok(()) => Json(level_json(&state.levels)).into_response(),
        Err(e) => bad_request(format_args!("level: {e}")),
    }
}

/// Sets one target's level (the body: `debug`, `info`, ...), leaving the others; with
/// `?for=` it returns by itself.
async fn put_level_target(
    State(state): State<AdminState>,
    Path(target): Path<String>,
    Query(params): Query<TargetParams>,
    body: String,
) -> Response {
    let (target, level) = (selector(&target), body.trim());
    let set = match params.for_.as_deref().map(parse_duration) {
        None => state.levels.set_target_level(target, level),
        Some(Ok(d)) => state.levels.set_target_level_for(target, level, d),
        Some(Err(e)) => return bad_request(format_args!("for: {e}")),
    };
    match set {
        Ok(()) => Json(level_json(&state.levels)).into_response(),
        Err(e) => bad_request(format_args!("level: {e}")),
    }
}

/// Removes one target's level: its events fall to the next matching one. 404 if it had
/// none.
async fn delete_level_target(
    State(state): State<AdminState>,
    Path(target): Path<String>,
) -> Response {
    match state.levels.remove_target_level(selector(&target)) {
        Ok(true) => Json(level_json(&state.levels)).into_response(),
        Ok(false) => {
            let body = json!({ "error": format!("level: no level for {target:?}") });
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
        Err(e) => bad_request(format_args!("level: {e}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_a_unit_and_within_bounds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("168h"), Ok(MAX_EXPIRY));
        for bad in [
            "",
            "10",
            "s",
            "0s",
            "1d",
            "-1s",
            "1.5m",
            "169h",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("1d").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn the_default_has_a_name_of_its_own() {
        assert_eq!(selector(DEFAULT_TARGET), "");
        assert_eq!(selector("app::db[key]"), "app::db[key]");
    }
}
