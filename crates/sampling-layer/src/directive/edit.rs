//! Editing a directive set one directive at a time.
//!
//! A set is edited through its source (the items as given, comma-joined): the
//! items naming the same selector (default, target, or target and key) are
//! taken out and the new item, if any, goes at the end. The result is parsed
//! again, so an edited set is always one that its own source string parses
//! to: reading the directives back gives a string that builds the same set.
//! Linear in the length of the source, like parsing.

use super::{parse_item, valid_target, Item};
use crate::error::{ParseError, ParseErrorKind};

/// What one directive applies to: the bare default, a target, or a key
/// (under a target, or `""` for any target).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Selector {
    target: Option<String>,
    key: Option<String>,
}

impl Selector {
    /// Reads `""` (the default), `target`, `target[key]` or `[key]`.
    pub(crate) fn parse(s: &str) -> Result<Selector, ParseError> {
        let s = s.trim();
        let err = |kind| ParseError::new(s, kind);
        if s.is_empty() {
            return Ok(Selector {
                target: None,
                key: None,
            });
        }
        let (target, key) = match s.split_once('[') {
            Some((t, rest)) => {
                // The grammar's key: any text without `]`, `{` or `,` (so `a=b` and
                // `a[b` are keys), closed by the `]` that ends the target.
                let key = rest
                    .strip_suffix(']')
                    .filter(|k| !k.contains([']', '{', ',']))
                    .ok_or_else(|| err(ParseErrorKind::UnclosedBracket))?
                    .trim();
                if key.is_empty() {
                    return Err(err(ParseErrorKind::EmptyKey));
                }
                (t.trim(), Some(key.to_owned()))
            }
            None => (s, None),
        };
        let any_target = target.is_empty() && key.is_some();
        if !any_target && !valid_target(target) {
            return Err(err(ParseErrorKind::InvalidTarget(target.to_owned())));
        }
        Ok(Selector {
            target: Some(target.to_owned()),
            key,
        })
    }

    /// The directive item for this selector at `rate` (checked by the caller).
    pub(crate) fn item(&self, rate: &str) -> String {
        match (&self.target, &self.key) {
            (None, _) => rate.trim().to_owned(),
            (Some(t), None) => format!("{t}={}", rate.trim()),
            (Some(t), Some(k)) => format!("{t}[{k}]={}", rate.trim()),
        }
    }

    /// The selector a (valid) item of a set's source applies to.
    fn of_item(item: &str) -> Option<Selector> {
        match parse_item(item) {
            Ok(Item::Sample(s)) => Some(Selector {
                target: s.target.map(str::to_owned),
                key: s.key.map(str::to_owned),
            }),
            _ => None,
        }
    }
}

/// Checks that `item`, made by [`Selector::item`] for `sel`, is one sampling
/// directive with a rate and no level (a level is `EnvFilter`'s: see
/// `split_directives`) for that selector: a "rate" that is itself a directive
/// (`app=0` given as the default's) would otherwise edit another selector.
pub(crate) fn check_item(sel: &Selector, item: &str, rate: &str) -> Result<(), ParseError> {
    let err = |kind| ParseError::new(item, kind);
    match parse_item(item).map_err(err)? {
        Item::Sample(s)
            if s.level.is_none()
                && s.target == sel.target.as_deref()
                && s.key == sel.key.as_deref() =>
        {
            Ok(())
        }
        Item::Sample(_) => Err(err(ParseErrorKind::NotARate(rate.trim().to_owned()))),
        Item::Level(l) => Err(err(super::level_item_error(l))),
        // Capture: a `+…` item is not a rate.
        Item::Capture(_) => Err(err(ParseErrorKind::NotARate(rate.trim().to_owned()))),
        Item::Repeat { .. } => Err(err(ParseErrorKind::NotARate(rate.trim().to_owned()))),
    }
}

/// `source` without the items naming `sel`, with `item` (if any) at the end,
/// and the last item `source` had for `sel` (the one in force), if any.
pub(crate) fn replace(
    source: &str,
    sel: &Selector,
    item: Option<&str>,
) -> (String, Option<String>) {
    let mut out = String::with_capacity(source.len() + item.map_or(0, str::len) + 1);
    let mut previous = None;
    for it in source.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if Selector::of_item(it).as_ref() == Some(sel) {
            previous = Some(it.to_owned());
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(it);
    }
    if let Some(item) = item {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(item);
    }
    (out, previous)
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap()
    }

    #[test]
    fn selectors() {
        assert_eq!(sel("").item("0.5"), "0.5");
        assert_eq!(sel(" app::db ").item("1/20"), "app::db=1/20");
        assert_eq!(sel("app[ k ]").item("0"), "app[k]=0");
        assert_eq!(sel("[k]").item("1"), "[k]=1");
        assert!(Selector::parse("app[k").is_err());
        assert!(Selector::parse("app[]").is_err());
        assert!(Selector::parse("a b").is_err());
        assert!(Selector::parse("(other)").is_err());
    }

    #[test]
    fn replace_keeps_the_other_items_in_order() {
        let src = "0.5,app=0.1,app[k]=0,lib=1/8,app=0.2";
        let (out, prev) = replace(src, &sel("app"), Some("app=1"));
        assert_eq!(out, "0.5,app[k]=0,lib=1/8,app=1");
        assert_eq!(
            prev.as_deref(),
            Some("app=0.2"),
            "the later one was in force"
        );
        let (out, prev) = replace(src, &sel("app[k]"), None);
        assert_eq!(out, "0.5,app=0.1,lib=1/8,app=0.2");
        assert_eq!(prev.as_deref(), Some("app[k]=0"));
        let (out, prev) = replace(src, &sel(""), None);
        assert_eq!(out, "app=0.1,app[k]=0,lib=1/8,app=0.2");
        assert_eq!(prev.as_deref(), Some("0.5"));
        let (out, prev) = replace("", &sel("x"), Some("x=0"));
        assert_eq!((out.as_str(), prev), ("x=0", None));
    }
}
