//! `split_directives` against `EnvFilter`: the directive cases of
//! tracing-subscriber 0.3's own tests (`filter/env/directive.rs`, `env/mod.rs`,
//! `tests/env_filter`), restated. Every string `EnvFilter` accepts is split so
//! that `EnvFilter` gets exactly its own items, or is refused with an error
//! naming the item and saying why (a number is a rate here).

use crate::support::{text_layer, Output};
use proptest::prelude::*;
use sampling_layer::{limits::MAX_DIRECTIVES_LEN, split_directives, ParseErrorKind};
use tracing_subscriber::{prelude::*, EnvFilter};

/// What `EnvFilter` itself makes of `s` (as text: `EnvFilter` is not `PartialEq`).
fn env_filter(s: &str) -> String {
    EnvFilter::builder()
        .parse(s)
        .unwrap_or_else(|e| panic!("EnvFilter refuses {s:?}: {e}"))
        .to_string()
}

/// `s` has only `EnvFilter` items: the split hands over all of them and the
/// sampler gets nothing.
fn assert_all_forwarded(s: &str) {
    let (env, sampler) = split_directives(s).unwrap_or_else(|e| panic!("split refuses {s:?}: {e}"));
    assert_eq!(env.to_string(), env_filter(s), "{s}");
    assert_eq!(sampler.directives(), "", "{s}");
}

#[test]
fn every_level_form_env_filter_accepts_is_forwarded_whole() {
    for s in [
        // targets and levels, any case
        "common=trace,server=trace",
        "common=INFO,server=DEBUG",
        "common=iNfo,server=dEbUg",
        "crate1::mod1=error,crate1::mod2,crate2=debug,crate3=off",
        "crate1::mod1=error,crate1::mod2=warn,crate1::mod2::mod3=info,\
         crate2=debug,crate3=trace,crate3::mod2::mod1=off",
        "crate1::mod1=ERROR,crate1::mod2=WARN,crate1::mod2::mod3=INFO,\
         crate2=DEBUG,crate3=TRACE,crate3::mod2::mod1=OFF",
        "foo::bar=debug,foo::bar::baz=trace,foo=info,a_really_long_name_with_no_colons=warn",
        "warn,crate2=debug",
        "warn",
        "WARN",
        "wArN",
        "target-name=info",
        "info,stuff=debug",
        "stuff=debug,info",
        // an empty level is TRACE for EnvFilter
        "crate2=",
        "crate1::mod1=info,crate2=",
        // span filters
        "app[mySpan]=debug",
        "[cool_span]=debug",
        "info,[cool_span]=debug",
        "info,stuff[cool_span]=debug",
        "crate1::mod2[bar]",
        "crate1::mod1[foo]=error,crate1::mod2[bar],crate2[baz]=debug",
        "bar[span]=trace,foo=debug,baz::quux=info,a[span]=warn",
        "span[b]=debug,b=debug,a=trace,c=info,span[a]=info",
        "target[span-name]=info",
        "target[span]=",
        // a span name may hold `=`, `@`, `[`, `%`, `/` and digits: still EnvFilter's
        "target[!\"#$%&'()*+-./:;<=>?@^_`|~[}]=info",
        "app[a@0.5]=debug",
        // field filters
        "[span1{foo=1}]=error,[span2{bar=2 baz=false}],crate2[{quux=\"quuux\"}]=debug",
        "[foo{bar}]=trace,[foo{baz}]=trace",
        "info,[{hello=4}]=debug",
        "app[mySpan{field=\"value\"}]=debug",
        "[root]=debug",
    ] {
        assert_all_forwarded(s);
    }
}

#[test]
fn rates_and_level_at_rate_are_split_between_the_two() {
    let (env, sampler) = split_directives(
        "info,app::router=debug@0.05,app::ws[hb]=0.01,[tool]=1/3,warn@0.5,\
         lib[span{id=1}]=trace,app=1,crate2=,app[conn]=debug,app[conn]=0.1",
    )
    .unwrap();
    assert_eq!(
        env.to_string(),
        env_filter("info,app::router=debug,warn,lib[span{id=1}]=trace,crate2=,app[conn]=debug")
    );
    assert_eq!(
        sampler.directives(),
        "app::router=0.05,app::ws[hb]=0.01,[tool]=1/3,0.5,app=1,app[conn]=0.1"
    );
}

/// The documented difference: a number is a rate. `0` and `1` are valid rates
/// (EnvFilter: OFF and ERROR); `2`..`5` are refused, naming the level meant.
#[test]
fn numeric_levels_are_rates_here() {
    let (env, sampler) = split_directives("crate3::mod2::mod1=0,crate1::mod1=1").unwrap();
    assert_eq!(
        env.to_string(),
        "error",
        "no level part: ERROR, as for an unset RUST_LOG"
    );
    assert_eq!(sampler.directives(), "crate3::mod2::mod1=0,crate1::mod1=1");

    let e = split_directives(
        "crate1::mod1=1,crate1::mod2=2,crate1::mod2::mod3=3,crate2=4,crate3=5,crate3::mod2::mod1=0",
    )
    .unwrap_err();
    assert_eq!(e.directive(), "crate1::mod2=2");
    assert_eq!(e.kind(), &ParseErrorKind::NumericLevel("2".into()));
    assert_eq!(
        e.to_string(),
        "invalid sampling directive `crate1::mod2=2`: rate `2` is outside [0, 1]: a number is a \
         sampling rate here, not EnvFilter's numeric level (write `warn` for the level)"
    );
    let e = split_directives("info,5").unwrap_err();
    assert_eq!(
        (e.directive(), e.kind()),
        ("5", &ParseErrorKind::NumericLevel("5".into()))
    );
}

#[test]
fn an_empty_level_before_the_rate_is_refused() {
    for s in ["app=@0.5", "@0.5", "info,app = @ 0.5"] {
        let e = split_directives(s).unwrap_err();
        assert_eq!(e.kind(), &ParseErrorKind::EmptyLevel, "{s}");
        assert!(e.to_string().contains("no level before `@`"), "{e}");
    }
}

/// `[name]` is a span before a level and a key before a rate; one item is never both.
#[test]
fn span_filter_and_sample_key_never_combine() {
    let e = split_directives("app[conn]=debug@0.1").unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::KeyWithLevel);
    assert!(
        e.to_string()
            .contains("`[name]` is EnvFilter's span filter"),
        "{e}"
    );
    let e = split_directives("app[conn{id=1}]=0.1").unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::FieldFilterWithRate);
}

/// What EnvFilter refuses is refused with the item named and EnvFilter's own
/// error as the source.
#[test]
fn env_filter_errors_are_kept_as_the_source() {
    for (s, item) in [
        (
            "crate1::mod1=warn=info,crate2=debug",
            "crate1::mod1=warn=info",
        ),
        (
            "crate1::mod1=noNumber,crate2=debug",
            "crate1::mod1=noNumber",
        ),
        ("crate1::mod1=wrong,crate2=warn", "crate1::mod1=wrong"),
        (",!", "!"),
    ] {
        let e = split_directives(s).unwrap_err();
        assert_eq!(
            (e.directive(), e.kind()),
            (item, &ParseErrorKind::EnvFilter),
            "{s}"
        );
        assert_eq!(
            e.to_string(),
            format!("invalid level directive `{item}`: EnvFilter refused it")
        );
        let source = std::error::Error::source(&e).expect("EnvFilter's error");
        let upstream = source
            .downcast_ref::<tracing_subscriber::filter::ParseError>()
            .expect("a tracing_subscriber ParseError");
        assert_eq!(
            upstream.to_string(),
            item.parse::<tracing_subscriber::filter::Directive>()
                .unwrap_err()
                .to_string()
        );
    }
    // Brackets EnvFilter cannot close either are refused by the splitter.
    let e = split_directives("target[]{]=info").unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::UnclosedBracket);
}

#[test]
fn limits_hold_for_the_combined_string() {
    let long = "info,".repeat(MAX_DIRECTIVES_LEN / 5 + 1);
    let e = split_directives(&long).unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::TooLong(long.len()));
    // EnvFilter's own parsing is quadratic in its directives: at most 4 096 go there.
    let many: Vec<String> = (0..4097).map(|i| format!("t{i}=info")).collect();
    let e = split_directives(&many.join(",")).unwrap_err();
    assert_eq!(
        (e.directive(), e.kind()),
        ("t4096=info", &ParseErrorKind::TooManyLevelDirectives)
    );
    assert!(split_directives(&many[..4096].join(",")).is_ok());
}

/// One target means the same on both sides. EnvFilter's `app`
/// matches `apple`; so does the sampler's.
#[test]
fn a_target_matches_the_same_events_in_both_halves() {
    let cap = Output::new();
    let (env, sampler) = split_directives("warn,app=debug@1/2").unwrap();
    let handle = sampler.handle();
    let sub = tracing_subscriber::registry()
        .with(env)
        .with(text_layer(&cap).with_filter(sampler));
    tracing::subscriber::with_default(sub, || {
        for i in 0..10 {
            tracing::debug!(target: "app::db", i, "db");
            tracing::debug!(target: "apple", i, "apple");
            tracing::debug!(target: "ap", i, "ap");
        }
    });
    assert_eq!(
        (cap.count(" db"), cap.count(" apple"), cap.count(" ap ")),
        (5, 5, 0)
    );
    let app = handle
        .stats()
        .targets
        .into_iter()
        .find(|t| t.target == "app")
        .unwrap();
    assert_eq!((app.seen, app.kept, app.dropped), (20, 10, 10));
}

fn level_item() -> impl Strategy<Value = String> {
    let target = "[a-z_][a-z0-9_:-]{0,8}";
    let span = prop_oneof![
        Just(String::new()),
        "\\[[a-zA-Z_ -]{0,6}\\]",
        "\\[[a-z]{0,4}\\{[a-z]{1,4}\\}\\]",
        "\\[[a-z]{0,4}\\{[a-z]{1,4}=[0-9]{1,3}\\}\\]",
    ];
    let level = prop_oneof![
        Just(None),
        Just(Some("")),
        Just(Some("trace")),
        Just(Some("DEBUG")),
        Just(Some("Info")),
        Just(Some("warn")),
        Just(Some("error")),
        Just(Some("off")),
    ];
    prop_oneof![
        (target, span, level).prop_map(|(t, s, l)| match l {
            Some(l) => format!("{t}{s}={l}"),
            None => format!("{t}{s}"),
        }),
        prop_oneof![Just("info"), Just("WARN"), Just("off")].prop_map(str::to_owned),
    ]
}

fn rate_item() -> impl Strategy<Value = (String, bool)> {
    let target = "[a-z_][a-z0-9_:-]{0,8}";
    let rate = prop_oneof![Just("0"), Just("1"), Just("0.05"), Just("5%"), Just("1/20")];
    prop_oneof![
        rate.clone().prop_map(|r| (r.to_owned(), false)),
        (target, rate.clone()).prop_map(|(t, r)| (format!("{t}={r}"), false)),
        (target, "[a-z]{1,5}", rate).prop_map(|(t, k, r)| (format!("{t}[{k}]={r}"), false)),
        (
            target,
            prop_oneof![Just("debug"), Just("info")],
            "0\\.[0-9]{1,3}"
        )
            .prop_map(|(t, l, r)| (format!("{t}={l}@{r}"), true)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Mixed strings: EnvFilter gets exactly the level items (and the level of
    /// each `level@rate`), the sampler one directive per rate item.
    #[test]
    fn each_item_goes_to_its_side(
        items in proptest::collection::vec(
            prop_oneof![level_item().prop_map(|l| (l, None)), rate_item().prop_map(|r| (String::new(), Some(r)))],
            1..8,
        )
    ) {
        let mut all = Vec::new();
        let mut env = Vec::new();
        let mut rates = 0;
        for (level, rate) in &items {
            match rate {
                None => { all.push(level.clone()); env.push(level.clone()); }
                Some((r, has_level)) => {
                    all.push(r.clone());
                    rates += 1;
                    if *has_level {
                        let (t, rest) = r.split_once('=').unwrap();
                        env.push(format!("{t}={}", rest.split_once('@').unwrap().0));
                    }
                }
            }
        }
        let s = all.join(",");
        let (got_env, sampler) = split_directives(&s).unwrap();
        let want = if env.is_empty() { "error".to_owned() } else { env_filter(&env.join(",")) };
        prop_assert_eq!(got_env.to_string(), want);
        let got_rates = sampler.directives();
        prop_assert_eq!(got_rates.split(',').filter(|i| !i.is_empty()).count(), rates);
    }

    /// Any string EnvFilter accepts: split, or refused for a documented reason
    /// on an item whose value is the sampler's (a number, or `@`).
    #[test]
    fn what_env_filter_accepts_is_split_or_refused_with_a_reason(
        s in r"[a-z0-9_:\-\[\]=@.%/{} ,]{0,30}"
    ) {
        if EnvFilter::builder().parse(&s).is_ok() {
            if let Err(e) = split_directives(&s) {
                prop_assert!(
                    !matches!(e.kind(), ParseErrorKind::EnvFilter),
                    "{:?}: EnvFilter accepts it as a whole but not item by item: {}", s, e
                );
                let item = e.directive();
                prop_assert!(s.contains(item));
                let value = item.rsplit_once('=').map_or(item, |(_, v)| v).trim();
                prop_assert!(
                    item.contains('@')
                        || value.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-'),
                    "{:?}: refused item {:?} is not a rate form: {}", s, item, e
                );
            }
        }
    }
}
