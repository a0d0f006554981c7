//! Consistent mode: same decision everywhere for the same value; superset property.

use crate::support::{text_layer, Output};
use sampling_layer::{Breaker, Mode, SamplingFilter};
use tracing::info;
use tracing_subscriber::prelude::*;

fn kept_ids(rate: &str, seed: u64, ids: &[String], in_span: bool) -> Vec<String> {
    let cap = Output::new();
    let s = SamplingFilter::builder()
        .mode(Mode::Consistent {
            field: "request_id".into(),
        })
        .seed(seed)
        .breaker(Breaker::disabled())
        .parse(rate)
        .unwrap();
    let sub = tracing_subscriber::registry().with(text_layer(&cap).with_filter(s));
    tracing::subscriber::with_default(sub, || {
        for id in ids {
            if in_span {
                let span = tracing::info_span!("request", request_id = %id);
                let _g = span.enter();
                let inner = tracing::info_span!("inner");
                let _g2 = inner.enter();
                info!(marker = %id, "handled");
            } else {
                info!(request_id = %id, marker = %id, "handled");
            }
        }
    });
    cap.lines()
        .iter()
        .map(|l| l.rsplit("marker=").next().unwrap().trim().to_owned())
        .collect()
}

fn ids() -> Vec<String> {
    (0..2000).map(|i| format!("req-{i:05}")).collect()
}

#[test]
fn two_independent_subscribers_make_identical_decisions() {
    let ids = ids();
    let a = kept_ids("0.2", 1, &ids, false);
    let b = kept_ids("0.2", 999, &ids, false);
    assert_eq!(a, b);
    // Roughly the rate (a fixed hash of fixed ids, so this is deterministic).
    assert!((300..500).contains(&a.len()), "{}", a.len());
    // The decision is the published function of the id: xxh3 below rate * 2^64.
    let threshold = ((1u128 << 64) / 5) as u64;
    let expect: Vec<String> = ids
        .iter()
        .filter(|id| xxhash_rust::xxh3::xxh3_64(id.as_bytes()) < threshold)
        .cloned()
        .collect();
    assert_eq!(a, expect);
}

#[test]
fn field_found_on_an_enclosing_span() {
    let ids = ids();
    assert_eq!(
        kept_ids("0.2", 1, &ids, true),
        kept_ids("0.2", 2, &ids, false)
    );
}

#[test]
fn higher_rate_keeps_a_superset() {
    let ids = ids();
    let mut prev: Vec<String> = Vec::new();
    for rate in ["0", "0.01", "0.05", "0.2", "0.5", "0.9", "1"] {
        let kept = kept_ids(rate, 3, &ids, false);
        assert!(
            prev.iter().all(|id| kept.contains(id)),
            "{rate} lost ids kept at a lower rate"
        );
        assert!(kept.len() >= prev.len());
        prev = kept;
    }
    assert_eq!(prev.len(), ids.len());
}
