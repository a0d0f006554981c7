//! A parsed directive set and its lookups.
//!
//! Built in one pass: each target gets an entry the first time it is named
//! (that order is the order of the stats labels), and "a later directive
//! wins" is one hash-map insert. Lookups follow `EnvFilter`: a directive's
//! target matches every event target that starts with it, the longest match
//! wins. Rather than scanning the directives longest first, a lookup probes
//! the event target's prefixes of the lengths directive targets have, longest
//! first: a handful of hash probes, however many directives there are.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use super::{level_item_error, parse_item, Item, Sample};
use crate::{
    directive::budget::Budget,
    directive::capture_spec::CaptureSpec,
    directive::rate::Rate,
    directive::repeat_spec::RepeatSpec,
    directive::OTHER_TARGET,
    error::{ParseError, ParseErrorKind},
    limits::{MAX_DIRECTIVES_LEN, MAX_TARGETS},
};

/// Counts the parser's per-item work (hash-map operations) so a test can show
/// it grows linearly with the number of items.
#[cfg(test)]
pub(crate) mod work {
    use std::cell::Cell;

    thread_local!(static OPS: Cell<u64> = const { Cell::new(0) });

    pub(crate) fn tick() {
        OPS.with(|c| c.set(c.get() + 1));
    }

    /// The operations counted on this thread since the last call.
    pub(crate) fn take() -> u64 {
        OPS.with(|c| c.replace(0))
    }
}

#[cfg(not(test))]
mod work {
    #[inline(always)]
    pub(super) fn tick() {}
}

/// Capture: at most this many distinct `+…` items in one set
/// (each span's creation checks them all).
const MAX_CAPTURES: usize = 64;

/// A target some directive names.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    name: Box<str>,
    /// From `target=rate`; `None` if only `target[key]=rate` names it.
    rate: Option<Rate>,
    /// From `target=200/s` (then `rate` is 1): the later of the two wins.
    budget: Option<Budget>,
    /// Whether some `target[key]=rate` names it.
    has_keys: bool,
}

/// A parsed, validated directive set.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DirectiveSet {
    default: Option<Rate>,
    default_budget: Option<Budget>,
    /// Every target named, in order of first appearance ("" for `[key]=rate`).
    targets: Vec<Target>,
    by_name: HashMap<Box<str>, usize>,
    /// Distinct lengths of targets with a target-wide rate, longest first.
    rate_lengths: Vec<usize>,
    /// Distinct lengths of targets with key rules, longest first.
    key_lengths: Vec<usize>,
    /// (target index, xxh3 of the key) → rate.
    keys: HashMap<(usize, u64), Rate>,
    /// The items as given (bad ones skipped), comma-joined.
    source: String,
    /// Capture: the `+…` items, each once, in order.
    captures: Vec<CaptureSpec>,
    /// `target=first N/WINDOW`: one per target, a later one replaces it.
    repeats: Vec<(Box<str>, RepeatSpec)>,
}

/// What a lookup found: the rate and the stats label it counts under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Resolved<'a> {
    pub(crate) rate: Rate,
    pub(crate) label: &'a str,
    /// The label's budget, if it has one (then `rate` is only where new keys start).
    pub(crate) budget: Option<Budget>,
}

impl DirectiveSet {
    /// Parses a whole string. With `lossy`, bad items are skipped and returned
    /// as the second element; otherwise the first bad item is the error.
    pub(crate) fn parse(
        s: &str,
        lossy: bool,
    ) -> Result<(DirectiveSet, Vec<ParseError>), ParseError> {
        let mut set = DirectiveSet::default();
        let mut skipped = Vec::new();
        if s.len() > MAX_DIRECTIVES_LEN {
            let e = ParseError::new("", ParseErrorKind::TooLong(s.len()));
            return if lossy { Ok((set, vec![e])) } else { Err(e) };
        }
        let mut too_many = false;
        for raw in s.split(',') {
            let item = raw.trim();
            if item.is_empty() {
                continue;
            }
            work::tick();
            let parsed = match parse_item(item) {
                Ok(Item::Sample(sample)) => set.add(sample),
                Ok(Item::Level(l)) => Err(level_item_error(l)),
                Ok(Item::Capture(c)) => set.add_capture(c),
                Ok(Item::Repeat { target, spec }) => set.add_repeat(target, spec),
                Err(kind) => Err(kind),
            };
            match parsed {
                Ok(()) => {
                    if !set.source.is_empty() {
                        set.source.push(',');
                    }
                    set.source.push_str(item);
                }
                // Reported once: the rest of a string past the limit is refused alike.
                Err(ParseErrorKind::TooManyTargets) if lossy && too_many => {}
                Err(kind) => {
                    too_many |= kind == ParseErrorKind::TooManyTargets;
                    let e = ParseError::new(item, kind);
                    if !lossy {
                        return Err(e);
                    }
                    skipped.push(e);
                }
            }
        }
        set.rate_lengths = set.lengths(|t| t.rate.is_some());
        set.key_lengths = set.lengths(|t| t.has_keys);
        Ok((set, skipped))
    }

    /// Adds a directive; a later one for the same target (and key) replaces the earlier.
    fn add(&mut self, s: Sample<'_>) -> Result<(), ParseErrorKind> {
        let target = match (s.target, s.key) {
            (None, _) => {
                self.default = Some(s.rate);
                self.default_budget = s.budget;
                return Ok(());
            }
            (Some(t), _) => self.target(t)?,
        };
        work::tick();
        match s.key {
            None => {
                self.targets[target].rate = Some(s.rate);
                self.targets[target].budget = s.budget;
            }
            Some(key) => {
                self.targets[target].has_keys = true;
                self.keys.insert((target, xxh3_64(key.as_bytes())), s.rate);
            }
        }
        Ok(())
    }

    /// The index of `name`'s entry, added if new and within [`MAX_TARGETS`].
    fn target(&mut self, name: &str) -> Result<usize, ParseErrorKind> {
        work::tick();
        if let Some(&i) = self.by_name.get(name) {
            return Ok(i);
        }
        if self.targets.len() >= MAX_TARGETS {
            return Err(ParseErrorKind::TooManyTargets);
        }
        let i = self.targets.len();
        self.targets.push(Target {
            name: name.into(),
            rate: None,
            budget: None,
            has_keys: false,
        });
        self.by_name.insert(name.into(), i);
        Ok(i)
    }

    /// Distinct lengths of the targets `pick` selects, longest first. There are
    /// few: distinct lengths in a string of `n` bytes are fewer than `sqrt(2n)`.
    fn lengths(&self, pick: impl Fn(&Target) -> bool) -> Vec<usize> {
        let mut lengths: Vec<usize> = self
            .targets
            .iter()
            .filter(|t| pick(t))
            .map(|t| t.name.len())
            .collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        lengths
    }

    /// The targets that are a prefix of `target`, longest first, among those
    /// of the given lengths.
    fn prefixes<'s, 't>(
        &'s self,
        lengths: &'s [usize],
        target: &'t str,
    ) -> impl Iterator<Item = (usize, &'s Target)> + use<'s, 't> {
        lengths.iter().filter_map(move |&len| {
            let i = *self.by_name.get(target.get(..len)?)?;
            Some((i, &self.targets[i]))
        })
    }

    /// The rule for events at `target` that carry no key a `[key]` directive names.
    pub(crate) fn resolve_target(&self, target: &str) -> Resolved<'_> {
        let found = self
            .prefixes(&self.rate_lengths, target)
            .find_map(|(_, t)| Some((t.rate?, &*t.name, t.budget)));
        if let Some((rate, label, budget)) = found {
            return Resolved {
                rate,
                label,
                budget,
            };
        }
        match self.default {
            Some(rate) => Resolved {
                rate,
                label: "",
                budget: self.default_budget,
            },
            None => Resolved {
                rate: Rate::ONE,
                label: OTHER_TARGET,
                budget: None,
            },
        }
    }

    /// Whether some `[key]` directive could apply to events at `target`.
    pub(crate) fn has_key_rules_for(&self, target: &str) -> bool {
        self.prefixes(&self.key_lengths, target)
            .any(|(_, t)| t.has_keys)
    }

    /// The rule for an event at `target` whose key hashes (xxh3) to `key_hash`:
    /// the key directive of the longest matching target, else the target's rule.
    pub(crate) fn resolve_key(&self, target: &str, key_hash: u64) -> Resolved<'_> {
        self.prefixes(&self.key_lengths, target)
            .find_map(|(i, t)| {
                self.keys.get(&(i, key_hash)).map(|&rate| Resolved {
                    rate,
                    label: &t.name,
                    budget: None,
                })
            })
            .unwrap_or_else(|| self.resolve_target(target))
    }

    /// Every stats label this set can produce, once each, with the target-wide
    /// rate shown for it: `""` for the default, or [`OTHER_TARGET`] when there
    /// is none, then each target in order of first appearance.
    pub(crate) fn labels(&self) -> Vec<(String, Rate)> {
        let mut out = Vec::with_capacity(self.targets.len() + 1);
        out.push(match self.default {
            Some(rate) => (String::new(), rate),
            None => (OTHER_TARGET.to_owned(), Rate::ONE),
        });
        for t in &self.targets {
            work::tick();
            // `[key]=rate` (target "") counts under "": the default's row if any.
            if t.name.is_empty() && self.default.is_some() {
                continue;
            }
            let rate = t.rate.unwrap_or_else(|| self.resolve_target(&t.name).rate);
            out.push((t.name.to_string(), rate));
        }
        out
    }

    /// Every label with a budget (the default's is `""`).
    pub(crate) fn budgets(&self) -> impl Iterator<Item = (&str, Budget)> + '_ {
        let default = self.default_budget.map(|b| ("", b));
        default.into_iter().chain(
            self.targets
                .iter()
                .filter_map(|t| Some((&*t.name, t.budget?))),
        )
    }

    /// The directives as given (bad ones skipped), comma-joined.
    /// Capture: the span kinds that capture context.
    pub(crate) fn captures(&self) -> &[CaptureSpec] {
        &self.captures
    }

    // The same spec twice is one (a linear scan: a set names a handful).
    fn add_capture(&mut self, rest: &str) -> Result<(), ParseErrorKind> {
        let spec = CaptureSpec::parse(rest)?;
        if !self.captures.contains(&spec) {
            if self.captures.len() >= MAX_CAPTURES {
                return Err(ParseErrorKind::TooManyCaptures);
            }
            self.captures.push(spec);
        }
        Ok(())
    }

    /// The repeat directives: (target, spec), one per target.
    pub(crate) fn repeats(&self) -> &[(Box<str>, RepeatSpec)] {
        &self.repeats
    }

    // A later directive for the same target replaces the earlier (a linear
    // scan: at most `MAX_REPEATS`).
    fn add_repeat(&mut self, target: &str, spec: &str) -> Result<(), ParseErrorKind> {
        let spec = RepeatSpec::parse(spec).map_err(ParseErrorKind::InvalidRepeat)?;
        if let Some(slot) = self.repeats.iter_mut().find(|(t, _)| &**t == target) {
            slot.1 = spec;
        } else if self.repeats.len() >= crate::limits::MAX_REPEATS {
            return Err(ParseErrorKind::InvalidRepeat(format!(
                "more than {} repeat directives in one set",
                crate::limits::MAX_REPEATS
            )));
        } else {
            self.repeats.push((target.into(), spec));
        }
        Ok(())
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}
