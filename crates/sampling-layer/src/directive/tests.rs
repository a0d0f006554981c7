use xxhash_rust::xxh3::xxh3_64;

use super::set::work;
use super::*;
use crate::error::ParseError;
use crate::figures::stats::OTHER_TARGET;
use crate::limits::{MAX_DIRECTIVES_LEN, MAX_TARGETS};

fn set(s: &str) -> DirectiveSet {
    DirectiveSet::parse(s, false).unwrap().0
}

fn err(s: &str) -> ParseError {
    DirectiveSet::parse(s, false).unwrap_err()
}

#[test]
fn most_specific_directive_wins() {
    let s = set("0.5,app=0.25,app::router=0.05,app::ws[heartbeat]=0.01,[tool_call]=1/3");
    assert_eq!(s.resolve_target("zzz").rate.to_string(), "0.5");
    assert_eq!(s.resolve_target("zzz").label, "");
    assert_eq!(s.resolve_target("app").rate.to_string(), "0.25");
    assert_eq!(s.resolve_target("app::db").label, "app");
    assert_eq!(s.resolve_target("app::router").rate.to_string(), "0.05");
    assert_eq!(s.resolve_target("app::router::inner").label, "app::router");
    let hb = xxh3_64(b"heartbeat");
    assert_eq!(s.resolve_key("app::ws", hb).rate.to_string(), "0.01");
    assert_eq!(s.resolve_key("app::ws::x", hb).label, "app::ws");
    assert_eq!(s.resolve_key("app::db", hb).label, "app");
    let tc = xxh3_64(b"tool_call");
    assert_eq!(s.resolve_key("zzz", tc).rate.to_string(), "1/3");
    assert_eq!(s.resolve_key("app::ws", tc).label, "");
    assert!(s.has_key_rules_for("anything"));
}

#[test]
fn targets_match_as_a_plain_prefix_like_env_filter() {
    let s = set("app=0.25,app::router=0.05,lib::ws[hb]=0.01");
    // Not only on `::` boundaries: `app` matches `apple` as EnvFilter's `app` does.
    assert_eq!(s.resolve_target("apple").label, "app");
    assert_eq!(s.resolve_target("app::routerx").label, "app::router");
    assert_eq!(s.resolve_target("ap").label, OTHER_TARGET);
    assert!(s.has_key_rules_for("lib::wsx"));
    assert!(!s.has_key_rules_for("lib::w"));
    assert_eq!(s.resolve_key("lib::wsx", xxh3_64(b"hb")).label, "lib::ws");
    // A key-only target of the same length as a rate target does not hide it.
    let s = set("app::ws[hb]=0.1,app::db=0.5");
    assert_eq!(s.resolve_target("app::ws::x").label, OTHER_TARGET);
    assert_eq!(s.resolve_target("app::dbx").label, "app::db");
    // Prefixes are cut on character boundaries.
    let s = set("é=0.5");
    assert_eq!(s.resolve_target("éa").label, "é");
    assert_eq!(s.resolve_target("e").label, OTHER_TARGET);
}

#[test]
fn without_default_unmatched_is_other_at_rate_one() {
    let s = set("app=0.1");
    let r = s.resolve_target("lib");
    assert_eq!((r.rate, r.label), (Rate::ONE, OTHER_TARGET));
    assert!(!s.has_key_rules_for("app"));
}

#[test]
fn later_duplicate_replaces_earlier() {
    let s = set("app=0.1,app=0.2,0.3,0.4,app[k]=0.5,app[k]=0.6");
    assert_eq!(s.resolve_target("app").rate.to_string(), "0.2");
    assert_eq!(s.resolve_target("x").rate.to_string(), "0.4");
    assert_eq!(s.resolve_key("app", xxh3_64(b"k")).rate.to_string(), "0.6");
    assert_eq!(s.labels().len(), 2);
}

#[test]
fn level_at_rate_is_accepted_and_level_ignored() {
    let s = set("info@0.5,app::router=debug@0.05,lib=3@0.1");
    assert_eq!(s.resolve_target("app::router").rate.to_string(), "0.05");
    assert_eq!(s.resolve_target("x").rate.to_string(), "0.5");
    assert_eq!(s.resolve_target("lib").rate.to_string(), "0.1");
}

#[test]
fn bad_directives_name_the_directive_and_the_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "app=1.5",
            "invalid sampling directive `app=1.5`: rate `1.5` is outside [0, 1]",
        ),
        (
            "app=-0.1",
            "invalid sampling directive `app=-0.1`: rate `-0.1` is outside [0, 1]",
        ),
        (
            "abc",
            "invalid sampling directive `abc`: `abc` is not a rate",
        ),
        (
            "app=NaN",
            "invalid sampling directive `app=NaN`: `NaN` is not a rate",
        ),
        (
            "app=1/0",
            "invalid sampling directive `app=1/0`: the fraction has a zero denominator",
        ),
        (
            "app[key=0.1",
            "invalid sampling directive `app[key=0.1`: `[` is not closed",
        ),
        (
            "app[k]x=0.1",
            "`[` is not closed by a `]` at the end of the target",
        ),
        ("app[]=0.1", "the key between `[` and `]` is empty"),
        ("app=", "no rate (write `target=rate`"),
        ("app[span]", "no rate (write `target=rate`"),
        ("info", "`info` is a level with no `@rate`"),
        ("app=debug", "`debug` is a level with no `@rate`"),
        ("app[span]=debug", "`debug` is a level with no `@rate`"),
        ("app=loud@0.1", "`loud` is not a level"),
        ("app=@0.5", "no level before `@`"),
        ("@0.5", "no level before `@`"),
        (
            "app=3",
            "a number is a sampling rate here, not EnvFilter's numeric level (write `info`",
        ),
        ("5", "(write `trace` for the level)"),
        ("app[k]=debug@0.1", "a `[key]` directive takes a rate only"),
        (
            "app[{x}]=0.1",
            "field filters (`[{field}]`, `[span{field=value}]`) belong to EnvFilter",
        ),
        ("a b=0.1", "`a b` is not a valid target"),
        ("=0.1", "`` is not a valid target"),
        ("(other)=0.1", "`(other)` is not a valid target"),
        ("(default)=0.1", "`(default)` is not a valid target"),
    ];
    for (input, want) in cases {
        let e = err(&format!("0.5,{input}"));
        assert_eq!(e.directive(), *input);
        assert!(
            e.to_string().contains(want),
            "{input}: got `{e}`, want `{want}`"
        );
    }
}

#[test]
fn lossy_skips_bad_items_and_keeps_the_rest() {
    let (s, skipped) = DirectiveSet::parse("app=2,lib=0.5,abc,0.1", true).unwrap();
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[0].directive(), "app=2");
    assert_eq!(skipped[1].directive(), "abc");
    assert_eq!(s.resolve_target("lib").rate.to_string(), "0.5");
    assert_eq!(s.resolve_target("app").rate.to_string(), "0.1");
    assert_eq!(s.source(), "lib=0.5,0.1");
}

#[test]
fn labels_cover_every_target_once_in_order_of_appearance() {
    let s = set("0.5,app=0.1,app::ws[hb]=0.01,lib[x]=0.2,app=0.3,[k]=0.1");
    let labels: Vec<(String, String)> = s
        .labels()
        .into_iter()
        .map(|(l, r)| (l, r.to_string()))
        .collect();
    let want = [
        ("", "0.5"),
        ("app", "0.3"),
        ("app::ws", "0.3"),
        ("lib", "0.5"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(l, r)| (l.to_string(), r.to_string()))
        .collect();
    assert_eq!(labels, want);
    let s = set("app=0.1,[k]=0.5");
    let labels: Vec<String> = s.labels().into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, [OTHER_TARGET, "app", ""]);
}

/// Item 12: a target named like a label gets its own row, never the label's.
#[test]
fn no_target_can_share_the_catch_all_or_default_row() {
    assert!(OTHER_TARGET.starts_with('('));
    assert!(!valid_target(OTHER_TARGET) && !valid_target("(default)"));
    let s = set("other=0.1,default=0.2");
    let labels: Vec<String> = s.labels().into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, [OTHER_TARGET, "other", "default"]);
    assert_eq!(s.resolve_target("other").label, "other");
    assert_eq!(s.resolve_target("x").label, OTHER_TARGET);
}

fn targets(n: usize, key: bool) -> String {
    (0..n)
        .map(|i| {
            if key {
                format!("app[k{i}]=0.5")
            } else {
                format!("t{i}=0.5")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `s` and returns the work counted (map operations, items, labels).
fn work_of(s: &str) -> u64 {
    work::take();
    let (set, _) = DirectiveSet::parse(s, false).unwrap();
    let _ = set.labels();
    work::take()
}

/// Item 8: per-item work is constant, so doubling the items at most doubles it
/// (the quadratic parser did O(n) work per item: `retain` over all rules).
#[test]
fn parse_work_grows_linearly_with_the_number_of_items() {
    let dup = |n: usize| vec!["app=0.5"; n].join(",");
    type Make = Box<dyn Fn(usize) -> String>;
    let cases: [(&str, Make); 4] = [
        ("distinct targets", Box::new(|n| targets(n, false))),
        ("distinct keys", Box::new(|n| targets(n, true))),
        (
            "keys under distinct targets",
            Box::new(|n| {
                (0..n)
                    .map(|i| format!("t{}[k{i}]=0.5", i % 4000))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        ),
        ("one target repeated", Box::new(dup)),
    ];
    for (what, make) in cases {
        let n = if what == "distinct targets" {
            2000
        } else {
            20_000
        };
        let (w1, w2) = (work_of(&make(n)), work_of(&make(2 * n)));
        assert!(
            w1 >= n as u64,
            "{what}: work {w1} for {n} items is not counted"
        );
        assert!(
            w2 * 10 <= w1 * 22,
            "{what}: work({}) = {w2} > 2.2 * work({n}) = {w1} * 2.2",
            2 * n
        );
    }
}

/// Item 8: a string with more targets than the stats rows is refused at the
/// first target too many, without reading the rest; a string over the length
/// limit is refused before any parsing.
#[test]
fn limits_are_refused_quickly_with_errors_that_say_so() {
    let ok = targets(MAX_TARGETS, false);
    assert_eq!(set(&ok).labels().len(), MAX_TARGETS + 1);

    let s = targets(64_000, false);
    work::take();
    let e = err(&s);
    let spent = work::take();
    assert_eq!(e.kind(), &ParseErrorKind::TooManyTargets);
    assert_eq!(e.directive(), format!("t{MAX_TARGETS}=0.5"));
    assert!(
        e.to_string().contains("more than 4095 distinct targets"),
        "{e}"
    );
    assert!(
        spent < 4 * MAX_TARGETS as u64,
        "{spent} operations before refusing"
    );
    // Lossy: one error for the whole excess, the first 4 095 targets kept.
    let (set, skipped) = DirectiveSet::parse(&s, true).unwrap();
    assert_eq!((skipped.len(), set.labels().len()), (1, MAX_TARGETS + 1));

    let long = "0.5,".repeat(MAX_DIRECTIVES_LEN / 4 + 1);
    work::take();
    let e = err(&long);
    assert_eq!(work::take(), 0);
    assert_eq!(e.kind(), &ParseErrorKind::TooLong(long.len()));
    assert_eq!(
        e.to_string(),
        format!("directive string refused: the directive string is {} bytes, more than the 1048576 accepted", long.len())
    );
    // Exactly at the limit is accepted.
    let at = format!("{}0.5", "0.5,".repeat((MAX_DIRECTIVES_LEN - 3) / 4));
    let at = format!("{at}{}", ",".repeat(MAX_DIRECTIVES_LEN - at.len()));
    assert_eq!(at.len(), MAX_DIRECTIVES_LEN);
    assert!(DirectiveSet::parse(&at, false).is_ok());
}

/// One whitespace rule for every form: spaces around `=`, `@`, `[`, `]`,
/// the `/` of a fraction or budget and before `%` are ignored, in
/// `target=rate` and `target[key]=rate` alike (`app[k] =0.5` was refused
/// while `app =0.5` was accepted); a space inside a target or a number is not.
#[test]
fn whitespace_around_the_separators_is_ignored_in_every_form() {
    for (spaced, plain) in [
        ("app =0.5", "app=0.5"),
        ("app= 0.5", "app=0.5"),
        ("app[k] =0.5", "app[k]=0.5"),
        ("app[k]= 0.5", "app[k]=0.5"),
        ("app [ k ] = 0.5", "app[k]=0.5"),
        ("[k] =0.5", "[k]=0.5"),
        ("app = debug @ 0.5", "app=debug@0.5"),
        ("app = 1 / 20", "app=1/20"),
        ("app = 200 / s", "app=200/s"),
        ("app = 5 %", "app=5%"),
    ] {
        assert!(parse_item(plain).is_ok(), "{plain}");
        assert_eq!(parse_item(spaced), parse_item(plain), "{spaced}");
        assert_eq!(set(spaced).labels(), set(plain).labels(), "{spaced}");
    }
    assert_eq!(
        parse_item("a pp=0.5"),
        Err(ParseErrorKind::InvalidTarget("a pp".into()))
    );
    assert!(parse_item("app=0. 5").is_err());
    assert!(parse_item("app[k] x=0.5").is_err());
}

/// The grammar in `SamplingFilter`'s docs lists every budget unit the parser takes,
/// and no other: read from the docs' grammar block, each listed unit parses
/// in any case, with or without spaces around the `/`, and near misses do not.
#[test]
fn the_documented_budget_units_are_exactly_the_accepted_ones() {
    let docs = include_str!("../filter/directives.md");
    let line = docs
        .lines()
        .find(|l| l.trim_start().starts_with("unit "))
        .expect("the grammar defines `unit`");
    let units: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    assert_eq!(units, ["s", "sec", "min", "m"], "{line}");
    for unit in &units {
        for text in [
            format!("app=5/{unit}"),
            format!("app=5/{}", unit.to_uppercase()),
            format!("app = 5 / {unit}"),
        ] {
            assert!(
                matches!(
                    parse_item(&text),
                    Ok(Item::Sample(Sample {
                        budget: Some(_),
                        ..
                    }))
                ),
                "{text}"
            );
        }
    }
    for miss in ["secs", "mins", "ms", "h", "hour", "minute", "second"] {
        assert!(
            matches!(
                parse_item(&format!("app=5/{miss}")),
                Err(ParseErrorKind::InvalidBudget(_))
            ),
            "{miss}"
        );
    }
}
