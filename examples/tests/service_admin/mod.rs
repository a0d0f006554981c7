//! The admin routes one target at a time: a rate set, read back, narrowed to a key,
//! and the default changed, each checked against the lines the file keeps.

use super::*;

/// The handlers' INFO/DEBUG lines per request id, and the `log` dependency's.
fn kept_lines(file: &[Value], target: &str) -> HashMap<String, usize> {
    let mut by_request = HashMap::new();
    for l in file {
        let id = l["span"]["request_id"].as_str();
        if let (Some(id), true) = (id, l["target"] == target) {
            if matches!(level_of(l), "INFO" | "DEBUG") {
                *by_request.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    by_request
}

fn admin_json(admin: std::net::SocketAddr, method: &str, path: &str, body: &str) -> Value {
    let (status, text) = http(admin, method, path, &[], body.as_bytes());
    assert_eq!(status, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn target_json<'a>(sampling: &'a Value, target: &str) -> &'a Value {
    let targets = sampling["targets"].as_array().unwrap();
    targets.iter().find(|t| t["target"] == target).unwrap()
}

#[test]
fn one_target_at_a_time_through_the_admin_routes() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), "app::handlers=0,legacy_dep=0");
    let (app, admin) = (service.app, service.admin);
    let flush = || {
        let (status, body) = http(admin, "POST", "/admin/flush", &[], b"");
        assert_eq!(status, 200, "{body}");
    };
    let flushed_metrics = || {
        flush();
        Metrics(http(app, "GET", "/metrics", &[], b"").1)
    };
    let flushed_file = || {
        flush();
        read_file(dir.path())
    };
    let rate = |m: &Metrics, target: &str| {
        m.get("log_sampling_rate", &[("name", "file"), ("target", target)])
    };

    // One target raised; the other keeps its rate (a whole-string PUT would have reset it).
    let s = admin_json(admin, "PUT", "/admin/sampling/app::handlers", "1");
    assert_eq!(s["directives"], "legacy_dep=0,app::handlers=1");
    let p = drive_n(app, "p", 10);
    let m = flushed_metrics();
    assert_eq!(
        (rate(&m, routes::TARGET), rate(&m, "legacy_dep")),
        (1.0, 0.0)
    );
    let file = read_file(dir.path());
    let (handlers, legacy) = (
        kept_lines(&file, routes::TARGET),
        kept_lines(&file, "legacy_dep"),
    );
    for sent in &p {
        let full = 1 + usize::from(!sent.fail);
        assert_eq!(handlers.get(&sent.id), Some(&full), "{}", sent.id);
        assert_eq!(legacy.get(&sent.id), None, "{}", sent.id);
    }
    // GET: the figures, lifetime and recent, per target.
    let s = admin_json(admin, "GET", "/admin/sampling", "");
    let t = target_json(&s, routes::TARGET);
    assert_eq!(
        (t["rate"].as_f64(), t["seen"].as_u64()),
        (Some(1.0), Some(19))
    );
    assert!(
        t["recent_seen"].is_u64() && t.get("recent_rate").is_some(),
        "{t}"
    );
    // No budget (this service samples in consistent mode, which takes rates only): the
    // effective rate is the rate in force.
    assert_eq!(
        (t["budget"].is_null(), t["effective_rate"].as_f64()),
        (true, Some(1.0)),
        "{t}"
    );

    // `target[key]` (a `sample_key` under a target), percent-encoded as a path segment.
    admin_json(admin, "PUT", "/admin/sampling/app::handlers", "0");
    let s = admin_json(admin, "PUT", "/admin/sampling/app::handlers%5Bq-3%5D", "1");
    assert_eq!(
        s["directives"],
        "legacy_dep=0,app::handlers=0,app::handlers[q-3]=1"
    );
    drive_n(app, "q", 10);
    let file = flushed_file();
    let q = kept_lines(&file, routes::TARGET);
    assert!(q.keys().all(|id| !id.starts_with("q-")), "{q:?}");
    let s = admin_json(
        admin,
        "DELETE",
        "/admin/sampling/app::handlers%5Bq-3%5D",
        "",
    );
    assert_eq!(s["directives"], "legacy_dep=0,app::handlers=0");
    let gone = "/admin/sampling/app::handlers%5Bq-3%5D";
    assert_eq!(http(admin, "DELETE", gone, &[], b"").0, 404);

    // The bare default by its reserved name; a target removed falls under it.
    let s = admin_json(admin, "PUT", "/admin/sampling/@default", "0");
    assert_eq!(s["directives"], "legacy_dep=0,app::handlers=0,0");
    let s = admin_json(admin, "DELETE", "/admin/sampling/app::handlers", "");
    assert_eq!(s["directives"], "legacy_dep=0,0");
    // Round trip: the string GET shows, PUT back whole, is the same set.
    let s = admin_json(admin, "PUT", "/admin/sampling", "legacy_dep=0,0");
    assert_eq!(s["directives"], "legacy_dep=0,0");

    // Bad input: named, nothing changed.
    let (status, body) = http(admin, "PUT", "/admin/sampling/legacy_dep", &[], b"2");
    assert_eq!(status, 400);
    assert!(body.contains("legacy_dep=2"), "{body}");
    let forever = "/admin/sampling/legacy_dep?for=forever";
    let (status, body) = http(admin, "PUT", forever, &[], b"1");
    assert_eq!(status, 400);
    assert!(body.contains("forever"), "{body}");
    let huge = vec![b'1'; 1 << 20];
    assert_eq!(http(admin, "PUT", "/admin/sampling/x", &[], &huge).0, 413);

    // For a while, then back by itself: raised for 1 s, the dependency's lines are kept...
    let s = admin_json(admin, "PUT", "/admin/sampling/legacy_dep?for=1s", "1");
    assert_eq!(s["directives"], "0,legacy_dep=1");
    let r = drive_n(app, "r", 5);
    let legacy = kept_lines(&flushed_file(), "legacy_dep");
    assert!(r.iter().all(|s| legacy.get(&s.id) == Some(&1)));
    // ...and the change reverts, seen through GET (polled: no assertion on time).
    let mut last = Value::Null;
    let reverted = (0..600).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        last = admin_json(admin, "GET", "/admin/sampling", "")["directives"].clone();
        last == "0,legacy_dep=0"
    });
    assert!(reverted, "the timed change did not revert: {last}");
    drive_n(app, "s", 5);
    let m = flushed_metrics();
    assert_eq!(rate(&m, "legacy_dep"), 0.0);
    let legacy = kept_lines(&flushed_file(), "legacy_dep");
    assert!(legacy.keys().all(|id| !id.starts_with("s-")), "{legacy:?}");

    // A panic in a handler: no answer, but its ERROR line is in the file, in the
    // request's span (the panic hook logged and flushed it; no shutdown was needed).
    let boom = [("x-request-id", "boom")];
    assert_eq!(
        http_or_closed(app, "GET", "/work?key=9&panic=true", &boom, b""),
        None
    );
    let file = flushed_file();
    let panicked = file
        .iter()
        .find(|l| l["target"] == "panic" && level_of(l) == "ERROR")
        .expect("the panic's own ERROR line");
    assert_eq!(panicked["span"]["request_id"], "boom");
    assert!(
        message(panicked).is_some_and(|m| m.contains("request asked to panic (key 9)")),
        "{panicked}"
    );
    // The service goes on serving.
    assert_eq!(http(app, "GET", "/work?key=1", &[], b"").0, 200);

    let (status, stopped) = service.stop("-TERM");
    assert!(status.success(), "{status}");
    assert!(stopped.ends_with("flush=ok"), "{stopped}");
}
