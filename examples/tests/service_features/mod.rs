//! What the service shows beyond rates: the context of a failed request (capture through
//! the writer's context share), budgets with `--sampling per-event`, and a `--help` that
//! names the variables it reads.

use std::collections::HashSet;

use clap::CommandFactory;
use examples::service::{filters, routes, Config};
use serde_json::Value;

use crate::service_http::harness::{level_of, read_file, Service};
use crate::service_http::http;

/// A failed request's INFO line, sampled out at rate 0, reaches the file before its
/// ERROR, marked captured; a request that did not fail leaves nothing behind.
#[test]
fn a_failed_request_comes_with_its_context() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), "app::handlers=0,legacy_dep=0,+{request_id}");
    let get = |id: &str, fail: bool| {
        let path = format!("/work?key=1&fail={fail}");
        http(service.app, "GET", &path, &[("x-request-id", id)], b"").0
    };
    assert_eq!(get("ok-1", false), 200);
    assert_eq!(get("failed-1", true), 500);
    assert_eq!(get("ok-2", false), 200);
    let (status, stopped) = service.stop("-TERM");
    assert!(
        status.success() && stopped.ends_with("flush=ok"),
        "{stopped}"
    );

    let file = read_file(dir.path());
    let of = |id: &str| -> Vec<&Value> {
        file.iter()
            .filter(|l| l["span"]["request_id"] == id && l["target"] == routes::TARGET)
            .collect()
    };
    assert!(of("ok-1").is_empty() && of("ok-2").is_empty(), "{file:?}");
    let failed = of("failed-1");
    // `work started` (INFO, sampled out, captured) and then the ERROR itself.
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(
        (level_of(failed[0]), failed[0]["fields"]["message"].as_str()),
        ("INFO", Some("work started"))
    );
    assert_eq!(failed[0]["captured"], true, "{:?}", failed[0]);
    assert_eq!(level_of(failed[1]), "ERROR");
    assert_eq!(failed[1].get("captured"), None, "{:?}", failed[1]);
}

/// Consistent decisions refuse a budget, naming the directive; `--sampling per-event`
/// takes it, and the admin view shows the budget.
#[test]
fn budgets_come_with_per_event_sampling() {
    let e = filters::parse_rates_with(
        "RUST_LOG_SAMPLE",
        "app::handlers=200/s",
        filters::Keys::RequestId,
    )
    .unwrap_err();
    assert_eq!(e.directive, "app::handlers=200/s", "{e}");
    filters::parse_rates_with(
        "RUST_LOG_SAMPLE",
        filters::DEFAULT_BUDGET_RATES,
        filters::Keys::PerEvent,
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let service = Service::start_with(
        dir.path(),
        "app::handlers=1000/s,legacy_dep=0",
        &["--sampling=per-event"],
    );
    let (status, body) = http(service.admin, "GET", "/admin/sampling", &[], b"");
    assert_eq!(status, 200, "{body}");
    let s: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["directives"], "app::handlers=1000/s,legacy_dep=0", "{s}");
    let (status, stopped) = service.stop("-TERM");
    assert!(
        status.success() && stopped.ends_with("flush=ok"),
        "{stopped}"
    );
}

/// `--help` names both variables with their defaults, and every flag.
#[test]
fn help_names_the_variables_and_their_defaults() {
    let help = Config::command().render_long_help().to_string();
    for needle in [
        "RUST_LOG ",
        "[default: info]",
        "RUST_LOG_SAMPLE",
        filters::DEFAULT_RATES,
        filters::DEFAULT_BUDGET_RATES,
        "--sampling",
        "SERVICE_SAMPLING",
    ] {
        assert!(help.contains(needle), "{needle:?} not in {help}");
    }
    let flags: HashSet<String> = Config::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    for flag in &flags {
        assert!(help.contains(flag.as_str()), "{flag}");
    }
}
