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

/// A budget under both keys (by request id it is one rate for the target, so requests
/// stay whole); with the trace deciding (`follow-trace`) it is refused, naming the
/// directive. `--sampling per-event` takes the default budget rates, and the admin view
/// shows the budget.
#[test]
fn budgets_come_with_per_event_sampling() {
    let whole = filters::parse_rates_with(
        "RUST_LOG_SAMPLE",
        "app::handlers=200/s",
        filters::Keys::RequestId,
    )
    .unwrap();
    let t = whole.handle().stats().targets;
    let handlers = t.iter().find(|t| t.target == "app::handlers").unwrap();
    assert_eq!(handlers.budget, Some(200.0));
    let e = filters::parse_rates_with(
        "RUST_LOG_SAMPLE",
        "app::handlers=200/s",
        filters::Keys::FollowTrace,
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

/// `/admin/level/{target}` raises one target's level, `?for=` makes it return by itself
/// (the pending return is listed until then), and hostile input is refused by name with
/// nothing changed.
#[test]
fn a_level_raised_per_target_for_a_while_returns() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), "app::handlers=1,legacy_dep=0");
    let (app, admin) = (service.app, service.admin);
    let get = |id: &str| {
        let path = "/work?key=1";
        assert_eq!(http(app, "GET", path, &[("x-request-id", id)], b"").0, 200);
    };
    let levels = || -> Value {
        serde_json::from_str(&http(admin, "GET", "/admin/level", &[], b"").1).unwrap()
    };
    get("before");
    let path = "/admin/level/app::handlers?for=1s";
    let (status, body) = http(admin, "PUT", path, &[], b"debug");
    assert_eq!(status, 200, "{body}");
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["directives"], "info,app::handlers=debug");
    let pending = &shown["pending"][0];
    assert_eq!(
        (&pending["target"], &pending["level"]),
        (&"app::handlers".into(), &"debug".into())
    );
    assert_eq!(pending["restore"], Value::Null);
    assert!(pending["due_in_ms"].as_u64().unwrap() <= 1000, "{pending}");
    get("raised");
    // Another target, without expiry, stays.
    let (status, body) = http(admin, "PUT", "/admin/level/legacy_dep", &[], b"warn");
    assert_eq!(status, 200, "{body}");

    // Hostile input: each refused with what is wrong, nothing changed.
    let refused: [(&str, &str, &[u8], &str); 6] = [
        (
            "PUT",
            "/admin/level/app::handlers?for=soon",
            b"debug",
            "for:",
        ),
        (
            "PUT",
            "/admin/level/app::handlers?for=9999h",
            b"debug",
            "longer than",
        ),
        (
            "PUT",
            "/admin/level/app::handlers?for=0s",
            b"debug",
            "positive",
        ),
        (
            "PUT",
            "/admin/level/app::handlers",
            b"verbose",
            "`verbose` is not a level",
        ),
        (
            "PUT",
            "/admin/level/app%5Bspan%5D",
            b"debug",
            "span and field filters",
        ),
        (
            "PUT",
            "/admin/level",
            b"info,=debug",
            "target before `=` is empty",
        ),
    ];
    for (method, path, body, says) in refused {
        let (status, text) = http(admin, method, path, &[], body);
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains(says), "{path}: {text}");
    }
    let huge = vec![b'd'; 1 << 20];
    assert_eq!(http(admin, "PUT", "/admin/level/app", &[], &huge).0, 413);
    assert_eq!(
        http(admin, "DELETE", "/admin/level/nothing", &[], b"").0,
        404
    );
    assert_eq!(
        levels()["directives"],
        "info,app::handlers=debug,legacy_dep=warn"
    );

    // The return runs on the service's own clock: wait for it (bounded), then the
    // handlers' DEBUG lines stop again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while levels()["pending"]
        .as_array()
        .is_some_and(|p| !p.is_empty())
    {
        assert!(std::time::Instant::now() < deadline, "{}", levels());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(levels()["directives"], "info,legacy_dep=warn");
    get("returned");
    let (status, stopped) = service.stop("-TERM");
    assert!(
        status.success() && stopped.ends_with("flush=ok"),
        "{stopped}"
    );

    let file = read_file(dir.path());
    let debug_lines = |id: &str| {
        file.iter()
            .filter(|l| l["span"]["request_id"] == id && l["target"] == routes::TARGET)
            .filter(|l| level_of(l) == "DEBUG")
            .count()
    };
    let steps = routes::STEPS as usize;
    assert_eq!(
        [
            debug_lines("before"),
            debug_lines("raised"),
            debug_lines("returned")
        ],
        [0, steps, 0]
    );
}
