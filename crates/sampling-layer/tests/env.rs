//! Configuration from the environment and the builder's errors (one test
//! touches the environment: it is process-wide).

use sampling_layer::{Breaker, BuildErrorKind, ParseErrorKind, SamplingFilter, SettingError};

#[test]
fn from_env_names_the_variable_and_from_env_lossy_skips_bad_items() {
    std::env::set_var("RUST_LOG_SAMPLE", "app=0.25,abc,lib=1/8");
    let f = SamplingFilter::builder().from_env_lossy();
    assert_eq!(
        f.directives(),
        "app=0.25,lib=1/8",
        "lossy: the bad item is skipped"
    );
    let e = SamplingFilter::builder().from_env().unwrap_err();
    assert_eq!(e.env_var(), Some("RUST_LOG_SAMPLE"));
    let p = e.parse_error().expect("a directive error");
    assert_eq!(p.directive(), "abc");
    assert!(matches!(p.kind(), ParseErrorKind::NotARate(_)));
    assert_eq!(
        e.to_string(),
        format!("RUST_LOG_SAMPLE: {p}"),
        "the message starts with the variable"
    );

    std::env::set_var("MY_SAMPLING", "0.5");
    let f = SamplingFilter::builder()
        .with_env_var("MY_SAMPLING")
        .from_env()
        .unwrap();
    assert_eq!(f.directives(), "0.5");

    std::env::set_var("MY_SAMPLING", "app=debug");
    let e = SamplingFilter::builder()
        .with_env_var("MY_SAMPLING")
        .from_env()
        .unwrap_err();
    assert_eq!(e.env_var(), Some("MY_SAMPLING"));
    assert!(e.to_string().starts_with("MY_SAMPLING: "), "{e}");

    std::env::remove_var("MY_SAMPLING");
    let f = SamplingFilter::builder()
        .with_env_var("MY_SAMPLING")
        .from_env()
        .unwrap();
    assert_eq!(f.directives(), "", "unset: no sampling");

    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::env::set_var("MY_SAMPLING", std::ffi::OsStr::from_bytes(b"app=\xff"));
        let e = SamplingFilter::builder()
            .with_env_var("MY_SAMPLING")
            .from_env()
            .unwrap_err();
        assert_eq!(e.kind(), &BuildErrorKind::NotUnicode);
        assert_eq!(
            e.to_string(),
            "environment variable `MY_SAMPLING` is not valid Unicode"
        );
        let f = SamplingFilter::builder()
            .with_env_var("MY_SAMPLING")
            .from_env_lossy();
        assert_eq!(f.directives(), "", "lossy: ignored");
        std::env::remove_var("MY_SAMPLING");
    }
}

#[test]
fn bad_settings_are_setting_errors_that_name_the_setting() {
    let setting = |e: sampling_layer::BuildError| match e.kind() {
        BuildErrorKind::Setting(s) => s.clone(),
        other => panic!("not a setting error: {other:?}"),
    };
    let e = SamplingFilter::builder()
        .max_keys(0)
        .parse("0.5")
        .unwrap_err();
    assert!(e.parse_error().is_none());
    assert_eq!(
        e.to_string(),
        "invalid sampler setting `max_keys`: must be at least 1"
    );
    assert_eq!(setting(e).setting(), "max_keys");
    let e = SamplingFilter::builder()
        .mode(sampling_layer::Mode::Consistent {
            field: String::new(),
        })
        .parse("0.5")
        .unwrap_err();
    assert_eq!(setting(e).setting(), "mode");
    let e = SamplingFilter::builder()
        .key_field("")
        .parse("")
        .unwrap_err();
    assert_eq!(setting(e).setting(), "key_field");
    let e = SamplingFilter::builder()
        .breaker(Breaker::default().threshold_per_sec(0.0))
        .parse("")
        .unwrap_err();
    let s: SettingError = setting(e);
    assert_eq!(s.setting(), "breaker.threshold_per_sec");
    // A directive error is still a directive error through the builder.
    let e = SamplingFilter::builder().parse("app=2").unwrap_err();
    assert_eq!(e.parse_error().unwrap().directive(), "app=2");
    assert_eq!(e.env_var(), None);
    // parse_lossy falls back to defaults instead of failing.
    let f = SamplingFilter::builder().max_keys(0).parse_lossy("0.5");
    assert_eq!(f.stats().max_keys, 10_000);
}

#[test]
fn a_sampler_parses_from_str() {
    let f: SamplingFilter = "0.5,app=1/20".parse().unwrap();
    assert_eq!(f.directives(), "0.5,app=1/20");
    let e = "app=abc".parse::<SamplingFilter>().unwrap_err();
    assert_eq!(e.directive(), "app=abc");
}
