//! Changing the directives: whole sets, one directive at a time, and changes
//! that expire on the clock.

use std::collections::HashMap;
use std::sync::TryLockError;
use std::time::Duration;

use super::{Sampler, REVERTS};
use crate::control::timed::{nanos, Revert, NONE};
use crate::directive::edit::{self, Selector};
use crate::directive::DirectiveSet;
use crate::error::ParseError;
use crate::sync::Ordering;

impl Sampler {
    /// Installs a whole new set; cancels every pending revert.
    pub(crate) fn replace_directives(&self, set: DirectiveSet) -> Result<(), ParseError> {
        let mut reverts = self.timed.lock_edits();
        self.install(set)?;
        reverts.clear();
        self.timed.next_expiry.store(NONE, Ordering::Relaxed);
        self.set_engaged(REVERTS, false);
        Ok(())
    }

    /// Sets (`item`) or removes (`None`) the directive for `sel`, with an
    /// optional expiry; returns whether `sel` had a directive before. On
    /// error nothing changes.
    pub(crate) fn edit(
        &self,
        sel: &Selector,
        item: Option<&str>,
        expires_in: Option<Duration>,
    ) -> Result<bool, ParseError> {
        let mut reverts = self.timed.lock_edits();
        let now = self.timed.now();
        let (set, previous, due) =
            self.parse_after_due(&reverts, now, |base| edit::replace(base, sel, item))?;
        self.install(set)?;
        for s in &due {
            reverts.remove(s);
        }
        let had = previous.is_some();
        match expires_in {
            Some(d) => {
                // On top of a pending revert, return to what it returns to.
                let restore = match reverts.remove(sel) {
                    Some(r) => r.restore,
                    None => previous,
                };
                let at = now.saturating_add(d);
                reverts.insert(sel.clone(), Revert { at, restore });
            }
            None => {
                reverts.remove(sel);
            }
        }
        self.arm(&reverts);
        Ok(had)
    }

    /// Applies the reverts that are due, if any (kept events, handle calls).
    /// Unless `wait`, the edit lock is only tried: a kept event that finds it
    /// taken leaves the work to the holder or to the next kept event.
    #[cold]
    #[inline(never)]
    pub(crate) fn expire_due(&self, wait: bool) {
        let next = self.timed.next_expiry.load(Ordering::Relaxed);
        if next == NONE {
            return;
        }
        let now = self.timed.now();
        if nanos(now) < next {
            return;
        }
        let mut reverts = match self.timed.edits.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) if wait => self.timed.lock_edits(),
            Err(TryLockError::WouldBlock) => return,
        };
        if let Ok((set, _, due)) =
            self.parse_after_due(&reverts, now, |base| (base.to_owned(), None))
        {
            if !due.is_empty() && self.install(set).is_ok() {
                for s in &due {
                    reverts.remove(s);
                }
            }
        }
        self.arm(&reverts);
    }

    /// The current set with the reverts due at `now` applied, then `edit`
    /// (which also returns the directive it replaced); the selectors
    /// reverted. A revert restores its directive; if that cannot be (the
    /// set would name more than `MAX_TARGETS` targets), the selector's
    /// directive is removed instead, so an expired change never stays.
    fn parse_after_due(
        &self,
        reverts: &HashMap<Selector, Revert>,
        now: Duration,
        edit: impl Fn(&str) -> (String, Option<String>),
    ) -> Result<(DirectiveSet, Option<String>, Vec<Selector>), ParseError> {
        let current = self.current().set.source().to_owned();
        let due: Vec<(&Selector, &Revert)> = reverts.iter().filter(|(_, r)| r.at <= now).collect();
        let attempt = |restore: bool| {
            let mut base = current.clone();
            for (sel, r) in &due {
                let item = if restore { r.restore.as_deref() } else { None };
                base = edit::replace(&base, sel, item).0;
            }
            let (source, previous) = edit(&base);
            DirectiveSet::parse(&source, false).map(|(set, _)| (set, previous))
        };
        let (set, previous) = match attempt(true) {
            Ok(done) => done,
            Err(e) if due.is_empty() => return Err(e),
            Err(_) => attempt(false)?,
        };
        let due = due.into_iter().map(|(s, _)| s.clone()).collect();
        Ok((set, previous, due))
    }

    fn arm(&self, reverts: &HashMap<Selector, Revert>) {
        let next = reverts.values().map(|r| nanos(r.at)).min().unwrap_or(NONE);
        self.timed.next_expiry.store(next, Ordering::Relaxed);
        self.set_engaged(REVERTS, next != NONE);
    }
}
