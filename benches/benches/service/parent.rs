//! The parent's side of the service bench: it runs each mode as a child process, in
//! interleaved rounds or under callgrind, and prints the tables.

use std::process::Command;

use benches::median::{median, median_interval};

use super::CONNECTIONS;

/// Instructions per request, counted by callgrind: user space, every thread of the
/// process (the load generator included), which valgrind runs one at a time, so the
/// count does not depend on the machine's load. Each mode runs for `short` and `long`
/// seconds; the difference of the totals over the difference of the requests leaves
/// out what starting and stopping cost.
pub(crate) fn instructions(modes: &[String], short: f64, long: f64) {
    let exe = std::env::current_exe().expect("own path");
    let run = |mode: &str, seconds: f64| -> (f64, f64) {
        let out = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["--child", mode, "--seconds", &seconds.to_string()])
            .output()
            .expect("valgrind (Debian: apt install valgrind)");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{mode}: {stderr}");
        let requests = stdout
            .lines()
            .find_map(|l| l.strip_prefix("requests="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{mode}: no request count in {stdout}"));
        let refs = stderr
            .lines()
            .find_map(|l| l.split_once("I   refs:"))
            .and_then(|(_, v)| v.trim().replace(',', "").parse().ok())
            .unwrap_or_else(|| panic!("{mode}: no instruction count in {stderr}"));
        (requests, refs)
    };
    let mut figures = Vec::new();
    for mode in modes {
        let (r1, i1) = run(mode, short);
        let (r2, i2) = run(mode, long);
        let per = (i2 - i1) / (r2 - r1);
        eprintln!("{mode}: {r1} and {r2} requests, {per:.0} instructions each");
        figures.push((mode.as_str(), per));
    }
    let of = |name: &str| figures.iter().find(|f| f.0 == name).map(|f| f.1);
    println!(
        "
user-space instructions per request (callgrind, {short} s and {long} s runs):"
    );
    for (mode, per) in &figures {
        let ratio = |base: Option<f64>, name: &str| {
            base.map_or(String::new(), |b| format!("  {name} ÷ this {:.2}", b / per))
        };
        println!(
            "  {mode:<22} {per:>8.0}{}{}{}",
            ratio(of("none"), "none"),
            ratio(of("bare"), "bare"),
            ratio(of("bare_layer"), "bare_layer")
        );
    }
}

/// Runs every mode `rounds` times, interleaved, and prints the table.
pub(crate) fn parent(modes: &[String], rounds: usize, seconds: f64) {
    let exe = std::env::current_exe().expect("own path");
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    // Per round: CPU µs a request, and of it the user-space µs.
    let mut cpu: Vec<Vec<(f64, f64)>> = vec![Vec::new(); modes.len()];
    // Resident memory at each run's end, over its requests: what a span costs that
    // is never freed (see `bare`).
    let mut resident: Vec<Vec<(f64, f64)>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds {
        for m in (0..modes.len()).map(|i| (i + round) % modes.len()) {
            let mode = &modes[m];
            let out = Command::new(&exe)
                .args(["--child", mode.as_str(), "--seconds", &seconds.to_string()])
                .output()
                .expect("child process");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{mode}: {out:?}");
            let figure = |key: &str| -> Option<f64> {
                text.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().parse().ok())
            };
            let rps = figure("requests_per_sec=")
                .unwrap_or_else(|| panic!("{mode}: no figure in {text}"));
            let us = figure("cpu_us_per_request=");
            let user = figure("user_us_per_request=");
            let requests = figure("requests=").unwrap_or(0.0);
            let rss = figure("rss_kib=");
            eprintln!(
                "round {}: {mode:<10} {rps:>9.0} req/s  {} CPU µs/request ({} user)  {}",
                round + 1,
                us.map_or("-".into(), |u| format!("{u:.2}")),
                user.map_or("-".into(), |u| format!("{u:.2}")),
                rss.map_or(String::new(), |kib| format!(
                    "{:.1} MiB resident after {requests:.0} requests",
                    kib / 1024.0
                ))
            );
            if let Some(line) = text
                .lines()
                .find(|l| l.starts_with("captured_per_request="))
            {
                eprintln!("         {line}");
            }
            figures[m].push(rps);
            cpu[m].extend(us.zip(user));
            resident[m].extend(rss.map(|kib| (kib, requests)));
        }
    }
    let best = |m: usize| figures[m].iter().cloned().fold(0.0, f64::max);
    let best_of = |name: &str| modes.iter().position(|m| m == name).map(best);
    println!("\nservice, {CONNECTIONS} connections, {rounds} rounds of {seconds} s, best round:");
    for (m, mode) in modes.iter().enumerate() {
        let all: Vec<String> = figures[m].iter().map(|f| format!("{f:.0}")).collect();
        let ratio = |base: Option<f64>, name: &str| {
            base.map_or(String::new(), |b| format!("  {:.2} of {name}", best(m) / b))
        };
        println!(
            "  {mode:<10} {:>9.0} req/s{}{}{}   (rounds: {})",
            best(m),
            ratio(best_of("none"), "none"),
            ratio(best_of("bare"), "bare"),
            ratio(best_of("bare_layer"), "bare_layer"),
            all.join(" ")
        );
    }
    paired(
        "throughput over a base in the same round",
        modes,
        &figures,
        |a, b| a / b,
    );
    println!("\nresident memory at the end of the run, largest round:");
    for (m, mode) in modes.iter().enumerate() {
        if let Some(&(kib, requests)) = resident[m].iter().max_by(|a, b| a.0.total_cmp(&b.0)) {
            println!(
                "  {mode:<10} {:>7.1} MiB after {requests:.0} requests",
                kib / 1024.0
            );
        }
    }
    // CPU time per request moves far less than throughput on a shared machine: a
    // neighbour's load takes cores away (fewer requests per second) more than it makes
    // each request dearer. The least of the rounds is the figure least disturbed.
    // Of that CPU the kernel's share (loopback TCP) is most, the same in every mode; what
    // a logging stack adds is user space, so its least round is printed beside it.
    let least = |m: usize| cpu[m].iter().map(|c| c.0).reduce(f64::min);
    let least_user = |m: usize| cpu[m].iter().map(|c| c.1).reduce(f64::min);
    let Some(none) = modes.iter().position(|m| m == "none").and_then(least) else {
        return;
    };
    println!("\nCPU time per request (the whole process, load generator included), least round:");
    for (m, mode) in modes.iter().enumerate() {
        if let (Some(us), Some(user)) = (least(m), least_user(m)) {
            println!(
                "  {mode:<10} {us:>6.2} µs  {:+.2} µs over none  (none's CPU per request: {:.2} of this)  user space {user:.2} µs",
                us - none,
                none / us
            );
        }
    }
    let totals: Vec<Vec<f64>> = cpu
        .iter()
        .map(|c| c.iter().map(|c| c.0).collect())
        .collect();
    paired(
        "CPU a request, a base's over this one's in the same round",
        modes,
        &totals,
        |this, base| base / this,
    );
}

/// The same figures compared round by round: for each mode, the median over the rounds
/// of its figure over a base's in the same round. Rounds run the modes back to back,
/// so a ratio within one round shares that stretch of the machine; the median of the
/// ratios is steadier than the ratio of two best rounds, which may come from different
/// stretches. The bases: `none`, `bare`, `bare_layer`, and for a capturing mode its mode without
/// capture (`ours_capture` over `ours`, `ours_deferred_capture` over `ours_deferred`).
///
/// Beside each median, in brackets, the interval that holds the true median of the
/// ratio with at least 95% confidence ([`median_interval`]): when a goal lies inside it,
/// the run cannot tell whether the goal is met, and more rounds narrow it.
fn paired(title: &str, modes: &[String], figures: &[Vec<f64>], ratio: fn(f64, f64) -> f64) {
    let index = |name: &str| modes.iter().position(|m| m == name);
    let summary = |m: usize, base: usize| -> String {
        let mut r: Vec<f64> = figures[m]
            .iter()
            .zip(&figures[base])
            .map(|(&a, &b)| ratio(a, b))
            .collect();
        let Some(median) = median(&mut r) else {
            return "-".into();
        };
        match median_interval(r.len()) {
            Some((lo, hi)) => format!("{median:.3} [{:.3}, {:.3}]", r[lo], r[hi]),
            None => format!("{median:.3}"),
        }
    };
    println!("\n{title}, median of the rounds [95% interval]:");
    for (m, mode) in modes.iter().enumerate() {
        let capture_base = mode.strip_suffix("_capture").and_then(index);
        let bases = ["none", "bare", "bare_layer"]
            .into_iter()
            .map(|name| (name, index(name)))
            .chain(capture_base.map(|b| (modes[b].as_str(), Some(b))));
        let text: Vec<String> = bases
            // A round with no figure (no CPU clock) would pair the wrong rounds.
            .filter(|(_, b)| b.is_some_and(|b| figures[b].len() == figures[m].len()))
            .filter_map(|(name, b)| Some(format!("{} of {name}", summary(m, b?))))
            .collect();
        if !text.is_empty() {
            println!("  {mode:<10} {}", text.join("  "));
        }
    }
}
