//! One item for a level and a rate together: `app::db=debug@200/s`.

use std::time::Duration;

use super::table::{check_target, name, parse_item};
use super::LevelHandle;
use crate::directive::{self, Item};
use crate::error::{ParseError, ParseErrorKind};
use crate::filter::handle::SamplingHandle;

/// Applies one item of the combined grammar that
/// `split_directives` reads, at run time, to a level handle and a sampling
/// handle together, leaving every other directive of both as it is:
///
/// - `target=level@limit` (or `level@limit` for the default): the level to
///   `levels`, the rate or budget to `sampling`;
/// - `target=limit`, `target[key]=rate`: the rate to `sampling` only;
/// - `target=level` or a bare `level`: the level to `levels` only.
///
/// With `expiry`, both changes return at its end to what they replaced (the
/// sampler's and the levels' timed changes; the level's return runs on the
/// levels' clock, the rate's on the sampler's, so give both the same clock).
/// The item is parsed, and the level's target checked, before either
/// changes; the sampler then applies the rate (and may refuse it: a budget in
/// consistent mode), and only then is the level set, so a refused rate leaves
/// both as they were. (A level refused after that, for being the 4 097th
/// target, leaves the rate set.) Span and field filters are refused as by
/// [`Levels`](super::Levels).
///
/// A raised level with a budget: `DEBUG` for `app::db` for ten minutes, at
/// most 200 of its sampled-level lines a second (budgets need a sampler that
/// is not in consistent mode).
///
/// ```
/// use std::time::Duration;
/// use sampling_layer::{level::{self, Levels}, SamplingFilter};
///
/// let levels = Levels::try_new("info").unwrap();
/// let sampler = SamplingFilter::try_new("0.1").unwrap();
/// let (lh, sh) = (levels.handle(), sampler.handle());
/// let ten_minutes = Some(Duration::from_secs(600));
/// level::set_target(&lh, &sh, "app::db=debug@200/s", ten_minutes).unwrap();
/// assert_eq!(lh.directives(), "info,app::db=debug");
/// assert_eq!(sh.directives(), "0.1,app::db=200/s");
/// ```
pub fn set_target(
    levels: &LevelHandle,
    sampling: &SamplingHandle,
    item: &str,
    expiry: Option<Duration>,
) -> Result<(), ParseError> {
    let item = item.trim();
    let err = |kind| ParseError::new(item, kind);
    match directive::parse_item(item).map_err(err)? {
        // Capture items name spans, not targets: `set_directives` sets them.
        Item::Capture(_) => Err(err(ParseErrorKind::InvalidTarget(item.to_owned()))),
        // A repeat item sits beside a target's rate in the sampler's whole set.
        Item::Repeat { .. } => Err(err(ParseErrorKind::InvalidRepeat(
            "set repeat directives with the sampler's `set_directives`, not with a level"
                .to_owned(),
        ))),
        Item::Level(_) => {
            let (target, level) = parse_item(item)?;
            set_level(levels, target, name(level), expiry)
        }
        Item::Sample(x) => {
            let target = x.target.unwrap_or_default();
            let selector = match x.key {
                Some(k) => format!("{target}[{k}]"),
                None => target.to_owned(),
            };
            // As written (`1%` stays `1%` in the sampler's directives): no
            // rate or budget contains `@` or `=`.
            let limit = item.rsplit(['@', '=']).next().unwrap_or(item).trim();
            if x.level.is_some() {
                check_target(target).map_err(|k| err(k).in_levels())?;
            }
            match expiry {
                Some(d) => sampling.set_target_rate_for(&selector, limit, d)?,
                None => sampling.set_target_rate(&selector, limit)?,
            }
            match x.level {
                Some(level) => set_level(levels, target, name(level), expiry),
                None => Ok(()),
            }
        }
    }
}

fn set_level(
    levels: &LevelHandle,
    target: &str,
    level: &str,
    expiry: Option<Duration>,
) -> Result<(), ParseError> {
    match expiry {
        Some(d) => levels.set_target_level_for(target, level, d),
        None => levels.set_target_level(target, level),
    }
}
