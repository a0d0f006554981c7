use super::idle::*;
use std::time::Duration;

#[test]
fn park_after_is_counted_in_whole_polls() {
    assert_eq!(park_polls(Duration::ZERO), 1, "zero still polls once");
    assert_eq!(park_polls(Duration::from_micros(1_999)), 1);
    assert_eq!(park_polls(PARK_AFTER), 100);
    assert_eq!(
        park_polls(Duration::MAX),
        u32::MAX,
        "saturates, never wraps"
    );
}
