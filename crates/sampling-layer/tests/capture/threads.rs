//! Context capture under 8 threads of interleaved requests: each error's
//! context holds exactly its own request's lines.

use std::sync::{Arc, Barrier};
use std::thread::ThreadId;

use crate::support::capture::{balanced, ByThread};
use sampling_layer::capture::Capture;
use sampling_layer::{Breaker, SamplingFilter};

fn builder() -> sampling_layer::SamplingFilterBuilder {
    SamplingFilter::builder().breaker(Breaker::disabled())
}

/// The number after `name=` in a line.
fn field(l: &str, name: &str) -> u32 {
    let at = l.find(&format!(" {name}=")).unwrap() + name.len() + 2;
    l[at..].split([' ', '\n']).next().unwrap().parse().unwrap()
}

/// Checks one thread's lines: requests run one after another on it, so its
/// lines are each request's kept steps, then (if it failed) its captured
/// steps, all of that request and in order, right before its error.
fn check_thread(lines: &[String], fails: impl Fn(u32) -> bool, steps: u32) -> (usize, usize) {
    let (mut captured, mut errors) = (0, 0);
    let mut i = 0;
    while i < lines.len() {
        let id = field(&lines[i], "req");
        let mine: Vec<&String> = lines[i..]
            .iter()
            .take_while(|l| field(l, "req") == id)
            .collect();
        i += mine.len();
        let (kept, rest): (Vec<&&String>, Vec<&&String>) = mine
            .iter()
            .partition(|l| !l.contains("captured=true") && !l.contains("failed"));
        let mut seen: Vec<u32> = kept.iter().map(|l| field(l, "i")).collect();
        if fails(id) {
            let (last, ctx) = rest.split_last().expect("an error line");
            assert!(last.contains("ERROR") && last.contains("failed"), "{last}");
            let ctx: Vec<u32> = ctx.iter().map(|l| field(l, "i")).collect();
            assert!(ctx.windows(2).all(|w| w[0] < w[1]), "request {id}: {ctx:?}");
            captured += ctx.len();
            errors += 1;
            seen.extend(ctx);
            seen.sort_unstable();
            assert_eq!(seen, (0..steps).collect::<Vec<_>>(), "request {id}");
        } else {
            assert!(rest.is_empty(), "a clean request wrote context: {rest:?}");
        }
        for l in &mine {
            assert!(l.contains(&format!("request{{id={id}}}")), "{l}");
        }
    }
    (captured, errors)
}

#[test]
fn eight_threads_of_interleaved_requests_each_error_carries_only_its_own_lines() {
    const THREADS: u32 = 8;
    const PER_THREAD: u32 = 40;
    const STEPS: u32 = 20;
    let out = ByThread::default();
    let sampler = builder()
        .capture(Capture::default().span("request"))
        .parse("0.1")
        .unwrap();
    let handle = sampler.handle();
    let dispatch = tracing::Dispatch::new(crate::support::capture::text_subscriber(
        sampler,
        out.clone(),
    ));
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (dispatch, barrier) = (dispatch.clone(), barrier.clone());
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    barrier.wait();
                    for n in 0..PER_THREAD {
                        let id = t * PER_THREAD + n;
                        let span = tracing::info_span!("request", id);
                        let _e = span.enter();
                        for i in 0..STEPS {
                            tracing::debug!(req = id, i, "step");
                        }
                        if id % 3 == 0 {
                            tracing::error!(req = id, "failed");
                        }
                    }
                })
            })
        })
        .collect();
    let ids: Vec<ThreadId> = threads.iter().map(|t| t.thread().id()).collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = out.0.lock().unwrap().clone();
    let (mut captured, mut errors) = (0, 0);
    for id in ids {
        let lines: Vec<String> = all
            .iter()
            .filter(|(t, _)| *t == id)
            .map(|(_, l)| l.clone())
            .collect();
        let (c, e) = check_thread(&lines, |r| r % 3 == 0, STEPS);
        captured += c;
        errors += e;
    }
    let total = THREADS * PER_THREAD;
    assert_eq!(errors, (0..total).filter(|i| i % 3 == 0).count());
    let s = handle.stats().capture;
    assert!(balanced(&s));
    assert_eq!((s.flushed as usize, s.buffered_lines), (captured, 0));
    assert_eq!(s.captured, handle.stats().targets[0].dropped);
}
