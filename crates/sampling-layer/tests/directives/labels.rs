//! Stats labels never collide: a target named like the catch-all or the
//! default's label gets a row of its own.

use crate::support::sampler;
use sampling_layer::{stats::OTHER_TARGET, ParseErrorKind};
use tracing_subscriber::prelude::*;

#[test]
fn a_target_named_other_has_its_own_row() {
    let s = sampler("other=0.1,default=1/2");
    let handle = s.handle();
    let sub = tracing_subscriber::registry().with(s);
    tracing::subscriber::with_default(sub, || {
        for i in 0..10 {
            tracing::info!(target: "other", i, "named other");
            tracing::info!(target: "default", i, "named default");
            tracing::info!(target: "zzz", i, "no directive");
        }
    });
    let rows: Vec<(String, u64, u64)> = handle
        .stats()
        .targets
        .into_iter()
        .map(|t| (t.target, t.seen, t.kept))
        .collect();
    assert_eq!(
        rows,
        [
            (OTHER_TARGET.to_owned(), 10, 10),
            ("other".to_owned(), 10, 1),
            ("default".to_owned(), 10, 5),
        ]
    );
}

#[test]
fn labels_cannot_be_written_as_targets() {
    for label in [OTHER_TARGET, "(default)"] {
        let e = sampling_layer::SamplingFilter::try_new(&format!("{label}=0.1")).unwrap_err();
        assert_eq!(e.kind(), &ParseErrorKind::InvalidTarget(label.to_owned()));
    }
}
