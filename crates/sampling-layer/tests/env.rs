//! Configuration from the environment (one test: the environment is process-wide).

use sampling_layer::{ParseErrorKind, SamplingFilter};

#[test]
fn from_env_reads_rust_log_sample_or_a_named_variable() {
    std::env::set_var("RUST_LOG_SAMPLE", "app=0.25,abc,lib=1/8");
    let f = SamplingFilter::builder().from_env();
    assert_eq!(
        f.directives(),
        "app=0.25,lib=1/8",
        "lossy: the bad item is skipped"
    );
    let e = SamplingFilter::builder().try_from_env().unwrap_err();
    assert_eq!(e.directive(), "abc");
    assert!(matches!(e.kind(), ParseErrorKind::NotARate(_)));

    std::env::set_var("MY_SAMPLING", "0.5");
    let f = SamplingFilter::builder()
        .with_env_var("MY_SAMPLING")
        .try_from_env()
        .unwrap();
    assert_eq!(f.directives(), "0.5");

    std::env::remove_var("MY_SAMPLING");
    let f = SamplingFilter::builder()
        .with_env_var("MY_SAMPLING")
        .try_from_env()
        .unwrap();
    assert_eq!(f.directives(), "", "unset: no sampling");
}

#[test]
fn bad_settings_are_named() {
    let e = SamplingFilter::builder()
        .max_keys(0)
        .parse("0.5")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid sampler configuration: max_keys must be at least 1"
    );
    let e = SamplingFilter::builder()
        .mode(sampling_layer::Mode::Consistent {
            field: String::new(),
        })
        .parse("0.5")
        .unwrap_err();
    assert!(e.to_string().contains("needs a field name"));
    // parse_lossy falls back to defaults instead of failing.
    let f = SamplingFilter::builder().max_keys(0).parse_lossy("0.5");
    assert_eq!(f.stats().max_keys, 10_000);
}
