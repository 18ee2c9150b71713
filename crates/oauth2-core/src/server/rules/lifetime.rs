//! Lifetimes: when codes and tokens expire, computed from the injected `now` and never overflowing.

use std::time::{Duration, SystemTime};

/// `now + lifetime`, or the far future when a lifetime is configured too large to add (never a panic).
pub(crate) fn later(now: SystemTime, lifetime: Duration) -> SystemTime {
    now.checked_add(lifetime).unwrap_or_else(|| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_4_1_2_lifetimes_saturate_instead_of_overflowing() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(later(now, Duration::from_secs(60)), now + Duration::from_secs(60));
        assert!(later(now, Duration::MAX) > now + Duration::from_secs(100 * 365 * 24 * 3600));
    }
}
