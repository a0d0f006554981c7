//! Context capture across `.await`: 1 000 concurrent `#[instrument]`-ed tasks
//! on a multi-threaded runtime, each error carrying only its own request's lines.
#![cfg(not(sampling_layer_loom))]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use crate::support::capture::ByThread;
use sampling_layer::capture::Capture;
use sampling_layer::{Breaker, SamplingFilter};
use tracing::instrument::WithSubscriber;

const STEPS: u32 = 10;

fn field(l: &str, name: &str) -> u32 {
    let at = l.find(&format!(" {name}=")).unwrap() + name.len() + 2;
    l[at..].split([' ', '\n']).next().unwrap().parse().unwrap()
}

/// Yields to the scheduler once (tokio's `yield_now` needs its `rt` feature
/// only; this is the same thing without the macro features).
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[tracing::instrument(name = "request", skip(threads))]
async fn request(id: u32, threads: Arc<Mutex<HashSet<(u32, ThreadId)>>>) {
    for i in 0..STEPS {
        threads
            .lock()
            .unwrap()
            .insert((id, std::thread::current().id()));
        tracing::debug!(req = id, i, "step");
        yield_once().await;
    }
    if id % 4 == 0 {
        tracing::error!(req = id, "failed");
    }
}

#[test]
fn a_thousand_instrumented_tasks_hopping_threads_each_error_carries_only_its_own_lines() {
    const TASKS: u32 = 1_000;
    let out = ByThread::default();
    let sampler = SamplingFilter::builder()
        .breaker(Breaker::disabled())
        .capture(Capture::default().span("request"))
        .parse("0.1")
        .unwrap();
    let handle = sampler.handle();
    let dispatch = tracing::Dispatch::new(crate::support::capture::text_subscriber(
        sampler,
        out.clone(),
    ));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|id| tokio::spawn(request(id, threads.clone()).with_subscriber(dispatch.clone())))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    drop(rt);
    let hopped = (0..TASKS)
        .filter(|id| {
            threads
                .lock()
                .unwrap()
                .iter()
                .filter(|(t, _)| t == id)
                .count()
                > 1
        })
        .count();
    eprintln!("{hopped} of {TASKS} tasks ran on more than one thread");

    // On each thread, a failing request's flush is its captured lines, all of
    // that request, then its error, written in one poll: nothing in between.
    let all = out.0.lock().unwrap().clone();
    let mut steps = vec![Vec::new(); TASKS as usize];
    let mut errors = 0;
    let by_thread: HashSet<ThreadId> = all.iter().map(|(t, _)| *t).collect();
    for thread in by_thread {
        let lines: Vec<&String> = all
            .iter()
            .filter(|(t, _)| *t == thread)
            .map(|(_, l)| l)
            .collect();
        let mut run: Vec<&String> = Vec::new();
        for l in lines {
            let id = field(l, "req");
            assert!(l.contains(&format!("request{{id={id}}}")), "{l}");
            if l.ends_with("captured=true\n") {
                run.push(l);
                continue;
            }
            if l.contains("failed") {
                assert!(id % 4 == 0);
                errors += 1;
                let ctx: Vec<u32> = run
                    .iter()
                    .map(|c| {
                        assert_eq!(
                            field(c, "req"),
                            id,
                            "another request's line before {l}: {c}"
                        );
                        field(c, "i")
                    })
                    .collect();
                assert!(ctx.windows(2).all(|w| w[0] < w[1]), "{ctx:?}");
                steps[id as usize].extend(ctx);
            } else {
                assert!(run.is_empty(), "context without its error: {run:?}");
                steps[id as usize].push(field(l, "i"));
            }
            run.clear();
        }
        assert!(run.is_empty(), "context without its error: {run:?}");
    }
    assert_eq!(errors, TASKS / 4);
    for (id, s) in steps.iter_mut().enumerate() {
        s.sort_unstable();
        if id % 4 == 0 {
            assert_eq!(*s, (0..STEPS).collect::<Vec<_>>(), "request {id}");
        }
    }
    let c = handle.stats().capture;
    assert_eq!(c.buffered_lines, 0);
    assert_eq!(c.captured, c.flushed + c.discarded);
    assert_eq!(c.captured, handle.stats().targets[0].dropped);
}
