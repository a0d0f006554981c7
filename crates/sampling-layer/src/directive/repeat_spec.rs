//! The right-hand side of a repeat directive: `first N/WINDOW [by FIELD+FIELD]`.
//!
//! The word `first` is what makes it a repeat directive: a rate starts with a
//! digit, `.` or `-`, a budget is `N/s`, a capture item starts with `+`, and
//! no `EnvFilter` level is spelt `first`, so none of them reads alike.

use std::fmt;
use std::time::Duration;

/// At most this many copies kept per key and window.
pub(crate) const MAX_FIRST: u32 = 1_000_000;
/// At most this many fields in a key.
pub(crate) const MAX_FIELDS: usize = 8;
const MIN_WINDOW: Duration = Duration::from_millis(1);
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `first N/WINDOW [by a+b]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepeatSpec {
    /// Copies kept per key and window.
    pub(crate) first: u32,
    pub(crate) window: Duration,
    /// Field names whose values are part of the key (`message` is the
    /// formatted message); empty: the callsite alone.
    pub(crate) fields: Vec<Box<str>>,
}

/// Whether a directive's right-hand side is a repeat form: the word `first`
/// (any case) and then whitespace.
pub(crate) fn is_repeat(value: &str) -> bool {
    let v = value.trim_start();
    v.get(..5).is_some_and(|w| w.eq_ignore_ascii_case("first"))
        && v.as_bytes().get(5).is_some_and(u8::is_ascii_whitespace)
}

impl RepeatSpec {
    /// Reads a right-hand side for which [`is_repeat`] holds. The error says
    /// what is wrong, in words (it becomes `ParseErrorKind::InvalidRepeat`).
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        let rest = value.trim()[5..].trim_start();
        let mut words = rest.split_whitespace();
        let count = words
            .next()
            .ok_or("`first` needs N/WINDOW after it, as in `first 5/1s`")?;
        let (n, window) = count
            .split_once('/')
            .ok_or_else(|| format!("`{count}` is not N/WINDOW (as in `5/1s`)"))?;
        let first: u32 = n
            .parse()
            .ok()
            .filter(|n| (1..=MAX_FIRST).contains(n))
            .ok_or_else(|| format!("N `{n}` is not a whole number in 1 ..= {MAX_FIRST}"))?;
        let window = parse_window(window)?;
        let fields = match (words.next(), words.next(), words.next()) {
            (None, _, _) => Vec::new(),
            (Some(by), Some(list), None) if by.eq_ignore_ascii_case("by") => parse_fields(list)?,
            (Some(by), None, _) if by.eq_ignore_ascii_case("by") => {
                return Err("`by` needs field names joined by `+`, as in `by peer+code`".into())
            }
            (Some(w), _, _) if !w.eq_ignore_ascii_case("by") => {
                return Err(format!(
                    "unexpected `{w}` after the window (expected `by field+field` or nothing)"
                ))
            }
            _ => {
                return Err(
                    "field names after `by` are joined by `+`, without spaces (`by peer+code`)"
                        .into(),
                )
            }
        };
        Ok(RepeatSpec {
            first,
            window,
            fields,
        })
    }
}

/// `s`, `min`, or a whole number then `ms`, `s`, `sec`, `m` or `min` (any case).
fn parse_window(w: &str) -> Result<Duration, String> {
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = w.split_at(digits);
    let n: u64 = if num.is_empty() {
        1
    } else {
        num.parse()
            .map_err(|_| format!("window `{w}` is too large (at most 24h)"))?
    };
    let unit_ms: u64 = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" | "sec" => 1_000,
        "m" | "min" => 60_000,
        "" => {
            return Err(format!(
                "window `{w}` has no unit (write `{w}s`, `{w}ms` or `{w}min`)"
            ))
        }
        _ => return Err(format!("window unit `{unit}` is not ms, s or min")),
    };
    let window = n
        .checked_mul(unit_ms)
        .map(Duration::from_millis)
        .filter(|d| (MIN_WINDOW..=MAX_WINDOW).contains(d))
        .ok_or_else(|| format!("window `{w}` is outside 1ms ..= 24h"))?;
    Ok(window)
}

fn parse_fields(list: &str) -> Result<Vec<Box<str>>, String> {
    let mut fields: Vec<Box<str>> = Vec::new();
    for name in list.split('+') {
        if name.is_empty() {
            return Err(format!("empty field name in `by {list}`"));
        }
        if name.contains(['[', ']', '=', '@', '{', '}']) {
            return Err(format!("`{name}` is not a field name"));
        }
        if !fields.iter().any(|f| &**f == name) {
            fields.push(name.into());
        }
    }
    if fields.len() > MAX_FIELDS {
        return Err(format!("more than {MAX_FIELDS} fields in a key"));
    }
    Ok(fields)
}

impl fmt::Display for RepeatSpec {
    /// The canonical form, which parses back to the same spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.window.as_millis();
        write!(f, "first {}/", self.first)?;
        if ms % 60_000 == 0 {
            write!(f, "{}min", ms / 60_000)?;
        } else if ms % 1_000 == 0 {
            write!(f, "{}s", ms / 1_000)?;
        } else {
            write!(f, "{ms}ms")?;
        }
        for (i, name) in self.fields.iter().enumerate() {
            f.write_str(if i == 0 { " by " } else { "+" })?;
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn forms_and_canonical_text() {
        let s = RepeatSpec::parse("first 5/1s").unwrap();
        assert_eq!((s.first, s.window), (5, Duration::from_secs(1)));
        assert_eq!(s.to_string(), "first 5/1s");
        let s = RepeatSpec::parse("FIRST  3/s  by peer+code+peer").unwrap();
        assert_eq!(s.to_string(), "first 3/1s by peer+code");
        assert_eq!(
            RepeatSpec::parse("first 1/250ms").unwrap().to_string(),
            "first 1/250ms"
        );
        assert_eq!(
            RepeatSpec::parse("first 1/120s").unwrap().to_string(),
            "first 1/2min"
        );
        assert!(is_repeat("first 5/1s") && is_repeat(" First\t1/s"));
        assert!(!is_repeat("firstly") && !is_repeat("0.5") && !is_repeat("5/s"));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = |s: &str| RepeatSpec::parse(s).unwrap_err();
        assert!(e("first ").contains("needs N/WINDOW"));
        assert!(e("first 5").contains("not N/WINDOW"));
        assert!(e("first 0/1s").contains("N `0`"));
        assert!(e("first 5/1h").contains("unit `h`"));
        assert!(e("first 5/3").contains("no unit"));
        assert!(e("first 5/0s").contains("outside"));
        assert!(e("first 5/99999999999999999999s").contains("too large"));
        assert!(e("first 5/1s by").contains("`by` needs"));
        assert!(e("first 5/1s by a b").contains("without spaces"));
        assert!(e("first 5/1s per a").contains("unexpected `per`"));
        assert!(e("first 5/1s by a++b").contains("empty field"));
        assert!(e("first 5/1s by a+b+c+d+e+f+g+h+i").contains("more than 8"));
    }
}
