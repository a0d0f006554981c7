//! Budgets as written in a directive: `200/s`, `30/min`, and for a fleet
//! `10000/s/fleet`. What a budget does at run time is in the budget control
//! (`control::budget`).

use std::fmt;

use crate::error::ParseErrorKind;

/// The largest budget: a billion lines per unit.
const MAX_AMOUNT: u64 = 1_000_000_000;

/// A budget as written: `amount` lines per second or per minute, for this
/// process or (`/fleet`) for the whole fleet, shared out by its size.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Budget {
    amount: u32,
    per_minute: bool,
    fleet: bool,
}

impl Budget {
    /// `Some` if `text` is a budget (`<integer>/s`, `<integer>/min`, any case
    /// of the unit), with the parse result; `None` if it is not written as one
    /// (a rate, `1/20`, has digits after the `/`).
    pub(crate) fn parse(text: &str) -> Option<Result<Budget, ParseErrorKind>> {
        let (amount, unit) = text.trim().split_once('/')?;
        // A fleet budget: the unit, then `/fleet` (the whole fleet's lines).
        let (unit, fleet) = match unit.rsplit_once('/') {
            Some((unit, scope)) if scope.trim().eq_ignore_ascii_case("fleet") => (unit, true),
            _ => (unit, false),
        };
        let unit = unit.trim();
        let per_minute = if unit.eq_ignore_ascii_case("s") || unit.eq_ignore_ascii_case("sec") {
            false
        } else if unit.eq_ignore_ascii_case("min") || unit.eq_ignore_ascii_case("m") {
            true
        } else if unit.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
            return Some(Err(ParseErrorKind::InvalidBudget(text.trim().to_owned())));
        } else {
            return None;
        };
        let amount = amount.trim();
        let bad = || Some(Err(ParseErrorKind::InvalidBudget(text.trim().to_owned())));
        if amount.is_empty() || amount.len() > 10 || !amount.bytes().all(|b| b.is_ascii_digit()) {
            return bad();
        }
        match amount.parse::<u64>() {
            Ok(n) if (1..=MAX_AMOUNT).contains(&n) => Some(Ok(Budget {
                amount: n as u32,
                per_minute,
                fleet,
            })),
            _ => bad(),
        }
    }

    /// Whether the amount is the whole fleet's (shared out by the fleet size).
    pub(crate) fn is_fleet(self) -> bool {
        self.fleet
    }

    /// Lines per second, as written (for a fleet budget: the fleet's).
    pub(crate) fn per_sec(self) -> f64 {
        if self.per_minute {
            f64::from(self.amount) / 60.0
        } else {
            f64::from(self.amount)
        }
    }
}

/// Written as parsed (`200/s`, `30/min`, `10000/s/fleet`): parsing the
/// output gives it back.
impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.per_minute { "min" } else { "s" };
        let scope = if self.fleet { "/fleet" } else { "" };
        write!(f, "{}/{unit}{scope}", self.amount)
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Budget({self})")
    }
}
