//! A clock the test sets: every formatter of one event reads the same instant.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

thread_local! {
    static NOW: Cell<SystemTime> = const { Cell::new(UNIX_EPOCH) };
}

/// Sets this thread's instant, `secs` from the epoch (negative: before it) plus `nanos`.
pub(crate) fn set(secs: i64, nanos: u32) {
    let base = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    NOW.with(|n| n.set(base + Duration::from_nanos(u64::from(nanos))));
}

/// The instant last set on this thread.
pub(crate) fn now() -> SystemTime {
    NOW.with(Cell::get)
}
