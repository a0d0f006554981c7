//! Helpers shared by the integration tests: read a `DebuggingRecorder` snapshot by name
//! and labels.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use metrics::Unit;
use metrics_util::debugging::{DebugValue, Snapshotter};

/// `(metric name, sorted "k=v" labels)`.
pub type SeriesKey = (String, Vec<String>);

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

#[derive(Debug, Default)]
pub struct Snap {
    pub values: BTreeMap<SeriesKey, Value>,
    pub meta: BTreeMap<String, (Option<Unit>, Option<String>)>,
}

pub fn take(snapshotter: &Snapshotter) -> Snap {
    let mut snap = Snap::default();
    for (ck, unit, desc, value) in snapshotter.snapshot().into_vec() {
        let key = ck.key();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let v = match value {
            DebugValue::Counter(c) => Value::Counter(c),
            DebugValue::Gauge(g) => Value::Gauge(g.into_inner()),
            DebugValue::Histogram(h) => {
                Value::Histogram(h.into_iter().map(|x| x.into_inner()).collect())
            }
        };
        snap.meta
            .insert(key.name().to_owned(), (unit, desc.map(|d| d.into_owned())));
        snap.values.insert((key.name().to_owned(), labels), v);
    }
    snap
}

impl Snap {
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Value> {
        let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        l.sort();
        self.values.get(&(name.to_owned(), l))
    }

    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.get(name, labels) {
            Some(Value::Counter(c)) => *c,
            other => panic!("{name} {labels:?}: expected a counter, found {other:?}"),
        }
    }

    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.get(name, labels) {
            Some(Value::Gauge(g)) => *g,
            other => panic!("{name} {labels:?}: expected a gauge, found {other:?}"),
        }
    }

    /// Recorded values, sorted.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.get(name, labels) {
            Some(Value::Histogram(h)) => {
                let mut h = h.clone();
                h.sort_by(f64::total_cmp);
                h
            }
            None => Vec::new(),
            other => panic!("{name} {labels:?}: expected a histogram, found {other:?}"),
        }
    }

    /// Every series of `name`, as sorted label lists.
    pub fn series(&self, name: &str) -> Vec<Vec<String>> {
        self.values
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

/// A clock the test moves by hand, for the exporter's health window.
#[derive(Clone)]
pub struct ManualClock {
    base: std::time::Instant,
    nanos: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self {
            base: std::time::Instant::now(),
            nanos: Default::default(),
        }
    }

    pub fn now(&self) -> std::time::Instant {
        let n = self.nanos.load(std::sync::atomic::Ordering::SeqCst);
        self.base + std::time::Duration::from_nanos(n)
    }

    pub fn advance(&self, d: std::time::Duration) {
        self.nanos
            .fetch_add(d.as_nanos() as u64, std::sync::atomic::Ordering::SeqCst);
    }

    /// The closure `ExporterBuilder::clock` takes.
    pub fn source(&self) -> impl Fn() -> std::time::Instant + Send + Sync + 'static {
        let c = self.clone();
        move || c.now()
    }
}
