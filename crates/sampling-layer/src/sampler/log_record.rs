//! The decision for a `log` record (through `tracing-log`): per `log` call
//! site, under the rule of the record's own target, both read from its
//! fields, since every record shares the bridge's few callsites.

use tracing_core::Event;

use super::Sampler;
use crate::decide::callsites::CallsiteState;
use crate::decide::log_sites;

impl Sampler {
    /// The decision for an event of a `tracing-log` callsite `cs`: per `log`
    /// call site, under the rule of the record's own target (at `cs` itself,
    /// under the `log` target, once the site table is full).
    pub(super) fn decide_log(
        &self,
        event: &Event<'_>,
        cs: &CallsiteState,
        bypass: u64,
        generation: u64,
        value_hash: &mut impl FnMut() -> Option<u64>,
    ) -> bool {
        let key = log_sites::site_key(event, *cs.meta.level());
        let site = self
            .log_sites
            .get_or_insert(key, || log_sites::record_target(event));
        let (cache, counts, cell, target) = match site {
            Some(s) => (&s.rule, &s.counts, &s.budget, &*s.target),
            None => (&cs.rule, &*cs.counts, &cs.budget, cs.meta.target()),
        };
        let mut rule = match cache.get(generation) {
            Some(r) => r,
            None => self.settle_word(cache, counts, cell, target, false),
        };
        let keep = loop {
            match self.count(rule, bypass, counts, value_hash) {
                Some((keep, tick)) => {
                    if tick {
                        self.on_time(); // budgets' and pressure's timed duties
                    }
                    break keep;
                }
                None => rule = self.settle_word(cache, counts, cell, target, true),
            }
        };
        if keep {
            self.kept(event, rule, bypass);
        }
        keep
    }
}
