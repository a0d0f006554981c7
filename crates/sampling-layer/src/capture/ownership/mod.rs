//! Which capturing span owns each span's events: the capture state's span hooks.
//!
//! A span matching a capture spec owns its own events; any other span's
//! events belong to its parent's owner. `on_new_span` works that out once per
//! span; `on_enter` and `on_exit` keep the thread's stack of spans with an
//! owner (see `capture::stack`), which the decision reads; `on_close`
//! hands a capturing span's buffer to the owner around it, or discards it.
//!
//! Capturing spans are kept in the sampler's [`table`] of open capturing
//! spans, with the owner around each, so that entering and closing one needs
//! no registry lookup; any other span with an owner (and a capturing span the
//! table had no room for) keeps it in its extensions, as a [`CaptureOwners`].

pub(crate) mod table;

use tracing_core::{span, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::{stack, CaptureState};
use table::OwnerTable;

/// Which capturing span owns a span's events, per sampler: the span itself if
/// it matches a spec, else its parent's owner. Several samplers in one
/// registry share the list; the first one's entry is inline, as a stack
/// rarely has two (no allocation per span for it).
#[derive(Debug)]
struct CaptureOwners {
    first: (usize, u64),
    more: Vec<(usize, u64)>,
}

impl CaptureState {
    /// `on_new_span`: records the span's owner if it matches a spec or its
    /// parent has one: a capturing span in the owner table (with the owner
    /// around it, for its close), where it fits; any other owner in the
    /// span's extensions.
    pub(crate) fn on_new_span<S>(
        &self,
        sampler: usize,
        meta: &Metadata<'_>,
        id: &span::Id,
        ctx: &Context<'_, S>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.span(id) else { return };
        // Read in place: cloning the `Arc` out cost two atomic updates a span.
        let specs = self.specs.read().unwrap_or_else(|e| e.into_inner());
        let matches = specs.iter().any(|s| s.matches(meta));
        drop(specs);
        let outer = span.parent().and_then(|p| self.owner(sampler, &p));
        let owner = if matches {
            let table = self
                .owners
                .get_or_init(|| OwnerTable::with_slots(table::SLOTS));
            if table.insert(id.into_u64(), outer) {
                return;
            }
            Some(id.into_u64())
        } else {
            outer
        };
        let Some(owner) = owner else { return };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<CaptureOwners>() {
            Some(o) => o.more.push((sampler, owner)),
            None => ext.insert(CaptureOwners {
                first: (sampler, owner),
                more: Vec::new(),
            }),
        }
    }

    /// Whether `id` is an open capturing span in the owner table.
    #[inline]
    fn in_table(&self, id: u64) -> bool {
        self.owners.get().is_some_and(|t| t.contains(id))
    }

    /// The owner of `span`'s events for `sampler`: itself if it is in the
    /// owner table, else what its extensions say.
    fn owner<'a, R: LookupSpan<'a>>(&self, sampler: usize, span: &SpanRef<'a, R>) -> Option<u64> {
        let id = span.id().into_u64();
        if self.in_table(id) {
            return Some(id);
        }
        owner_of(span.extensions().get::<CaptureOwners>(), sampler)
    }

    /// `on_enter`: a span with an owner goes on the thread's stack. A
    /// capturing span in the owner table costs a probe, no registry lookup.
    pub(crate) fn on_enter<S>(&self, sampler: usize, id: &span::Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let own = id.into_u64();
        if self.in_table(own) {
            stack::push(sampler, own, own);
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let owner = owner_of(span.extensions().get::<CaptureOwners>(), sampler);
        if let Some(owner) = owner {
            stack::push(sampler, own, owner);
        }
    }

    /// `on_exit`: pops the span if it was pushed.
    pub(crate) fn on_exit(&self, sampler: usize, id: &span::Id) {
        stack::pop(sampler, id.into_u64());
    }

    /// `on_close`, called whether or not capture is on now (the owner table
    /// must forget every span it holds at its close): a capturing span's
    /// buffer goes to the capturing span around it, if one is open (a later
    /// failure there is what the reader debugs, and these lines are part of
    /// it), else is discarded (counted). The parent is still open: the
    /// registry closes a span only after its children.
    pub(crate) fn on_close<S>(&self, sampler: usize, id: &span::Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let own = id.into_u64();
        let parent = match self.owners.get().and_then(|t| t.take(own)) {
            Some(outer) => outer,
            None if !self.is_active() => return,
            None => {
                let Some(span) = ctx.span(id) else { return };
                let owner = owner_of(span.extensions().get::<CaptureOwners>(), sampler);
                if owner != Some(own) {
                    return;
                }
                span.parent().and_then(|p| self.owner(sampler, &p))
            }
        };
        let mut store = self.lock();
        match parent {
            Some(parent) => store.hand_up(own, parent, &self.settings),
            None => store.discard(own, &self.settings),
        }
    }
}

fn owner_of(owners: Option<&CaptureOwners>, sampler: usize) -> Option<u64> {
    let owners = owners?;
    std::iter::once(&owners.first)
        .chain(&owners.more)
        .find(|(s, _)| *s == sampler)
        .map(|(_, o)| *o)
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::table::{OwnerTable, SLOTS};
    use crate::capture::{CaptureLayer, CaptureWriter};
    use crate::{Breaker, SamplingFilter, SamplingHandle};
    use tracing_subscriber::prelude::*;

    fn in_table(handle: &SamplingHandle) -> usize {
        let capture = &handle.sampler.capture;
        capture.owners.get().map_or(0, OwnerTable::len)
    }

    /// The owner table holds a capturing span from its open to its close, also
    /// when capture was switched off in between; spans past its room are found
    /// through their extensions, so every one of them still captures, and
    /// their lines are discarded at their close, every one counted.
    #[test]
    fn capturing_spans_are_held_until_their_close_and_spill_to_extensions() {
        let sampler = SamplingFilter::builder()
            .breaker(Breaker::disabled())
            .parse("0,+request")
            .unwrap();
        let handle = sampler.handle();
        let writer = CaptureWriter::new(std::io::sink, &handle);
        let layer = CaptureLayer::new(
            tracing_subscriber::fmt::layer().with_writer(writer),
            &handle,
        );
        let subscriber = tracing_subscriber::registry().with(layer.with_filter(sampler));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request");
            let other = tracing::info_span!("other");
            assert_eq!(in_table(&handle), 1, "only the capturing span");
            handle.set_directives("0").unwrap();
            drop(request);
            assert_eq!(in_table(&handle), 0, "forgotten at its close, capture off");
            drop(other);
            handle.set_directives("0,+request").unwrap();
            let n = 3 * SLOTS;
            let spans: Vec<tracing::Span> =
                (0..n).map(|i| tracing::info_span!("request", i)).collect();
            let held = in_table(&handle);
            assert!(held > 0 && held <= SLOTS, "{held}");
            for span in &spans {
                span.in_scope(|| {
                    let _inner = tracing::info_span!("inner").entered();
                    tracing::debug!("context")
                });
            }
            drop(spans);
            assert_eq!(in_table(&handle), 0);
            let c = handle.stats().capture;
            assert_eq!(
                (c.captured, c.discarded, c.buffered_spans),
                (n as u64, n as u64, 0)
            );
        });
    }
}
