//! Guessing is throttled (RFC 6749 §4.3.2: the password grant MUST be protected against brute force; RFC 8628
//! §5.1 for user codes). The policy is pure: what a store keeps for a key ([`Attempts`]) and how one more attempt
//! changes it, with `now` given; a [`ThrottleStore`](crate::server::store::ThrottleStore) applies it atomically, in
//! memory or in a database shared by many instances.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::secret::SecretHash;
use crate::server::rules::lifetime::later;

/// How many attempts within what window are let through, and how long a key is refused after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottlePolicy {
    /// Attempts let through within one window.
    pub max_attempts: u32,
    /// How long a window lasts from its first attempt.
    pub window: Duration,
    /// How long a key is refused once it has used up its attempts.
    pub lockout: Duration,
}

impl ThrottlePolicy {
    /// Passwords (the password grant and an app's login page): 10 failures per username and client address within
    /// 15 minutes, then 60 s of refusal without checking the password.
    pub const PASSWORD: Self =
        Self { max_attempts: 10, window: Duration::from_secs(15 * 60), lockout: Duration::from_secs(60) };

    /// User codes per browser session (RFC 8628 §5.1): 5 entries within 15 minutes, then refused until the window
    /// is over. A right code clears the session's count.
    pub const USER_CODE_SESSION: Self =
        Self { max_attempts: 5, window: Duration::from_secs(15 * 60), lockout: Duration::from_secs(15 * 60) };

    /// User codes per client address (RFC 8628 §5.1): 20 entries a minute, right or wrong, then 60 s of refusal.
    /// At 20⁸ codes (34.5 bits), 20 guesses a minute from one address find one given live code
    /// once in about 2,400 years of guessing.
    pub const USER_CODE_ADDRESS: Self =
        Self { max_attempts: 20, window: Duration::from_secs(60), lockout: Duration::from_secs(60) };

    /// Device authorization requests per client address (RFC 8628 §5.2 asks servers to limit them too): 30 a
    /// minute, then 60 s of refusal. Each one stores a device authorization for its lifetime, so an address cannot
    /// fill the store.
    pub const DEVICE_AUTHORIZATION: Self =
        Self { max_attempts: 30, window: Duration::from_secs(60), lockout: Duration::from_secs(60) };

    /// Pushed authorization requests (RFC 9126) of a public client per client address: 60 a minute, then a
    /// minute's wait. Each one is stored for its lifetime, so this bounds what one address keeps stored.
    pub const PUSHED_REQUEST: Self =
        Self { max_attempts: 60, window: Duration::from_secs(60), lockout: Duration::from_secs(60) };

    /// Pushed authorization requests (RFC 9126) of one confidential client, from wherever: 1200 a minute (its
    /// users' logins all come through its servers), then a minute's wait.
    pub const CONFIDENTIAL_PUSHED_REQUEST: Self =
        Self { max_attempts: 1200, window: Duration::from_secs(60), lockout: Duration::from_secs(60) };

    /// A policy of `max_attempts` per `window`, then `lockout`.
    pub const fn new(max_attempts: u32, window: Duration, lockout: Duration) -> Self {
        Self { max_attempts, window, lockout }
    }
}

/// What a throttle store keeps for one key: the attempts of the current window and any lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Attempts {
    /// Attempts counted in the current window (a success clears them).
    pub count: u32,
    /// When the current window started (its first attempt).
    pub window_start: Option<SystemTime>,
    /// Until when the key is refused.
    pub locked_until: Option<SystemTime>,
}

impl Attempts {
    /// The record after one more attempt at `now` under `policy`. A lockout in force stays as it is; a window
    /// that is over starts a new one; otherwise the attempt counts, and the one past `max_attempts` starts the
    /// lockout. After a lockout ends within its window, one more attempt is let through and the next one locks
    /// again: past the first `max_attempts`, one guess per lockout until the window is over. Counting comes before
    /// checking, so an attempt whose request is dropped half-way still counts. Times saturate, never overflow.
    pub fn after_attempt(self, now: SystemTime, policy: &ThrottlePolicy) -> Self {
        if self.refused(now).is_some() {
            return self;
        }
        let window_over = self.window_start.is_none_or(|start| later(start, policy.window) <= now);
        if window_over {
            return Self { count: 1, window_start: Some(now), locked_until: None };
        }
        let count = if self.locked_until.is_some() { policy.max_attempts } else { self.count.saturating_add(1) };
        let locked_until = (count > policy.max_attempts).then(|| later(now, policy.lockout));
        Self { count, window_start: self.window_start, locked_until }
    }

    /// How long the key is still refused at `now`, if it is.
    pub fn refused(&self, now: SystemTime) -> Option<Duration> {
        self.locked_until.and_then(|until| until.duration_since(now).ok()).filter(|d| !d.is_zero())
    }

    /// Whether nothing of this record matters any more at `now`: its window and its lockout are over.
    pub fn is_stale(&self, now: SystemTime, policy: &ThrottlePolicy) -> bool {
        let window_over = self.window_start.is_none_or(|start| later(start, policy.window) <= now);
        window_over && self.refused(now).is_none()
    }
}

/// The key of password attempts for `username` from `address`: a hash, so a store keeps no username. An IPv6
/// address counts by its /64 (one host usually has a whole /64 to pick from), an IPv4-mapped one as IPv4.
pub(crate) fn password_key(username: &str, address: Option<IpAddr>) -> SecretHash {
    SecretHash::of(&format!("password\0{username}\0{}", address_bucket(address)))
}

/// The key of user code entries from `address` (RFC 8628 §5.1), counted as [`password_key`] counts addresses.
pub(crate) fn user_code_address_key(address: Option<IpAddr>) -> SecretHash {
    SecretHash::of(&format!("user_code\0address\0{}", address_bucket(address)))
}

/// The key of device authorization requests from `address`.
pub(crate) fn device_authorization_key(address: Option<IpAddr>) -> SecretHash {
    SecretHash::of(&format!("device_authorization\0{}", address_bucket(address)))
}

/// The key of pushed authorization requests by `client_id` from `address` (`None`: from anywhere, for a
/// confidential client, whose pushes all come from its own servers).
pub(crate) fn pushed_request_key(client_id: &str, address: Option<IpAddr>) -> SecretHash {
    let from = address.map_or_else(|| "*".to_owned(), |a| address_bucket(Some(a)));
    SecretHash::of(&format!("pushed_request\0{client_id}\0{from}"))
}

/// The key of user code entries in the app's browser session `session`.
pub(crate) fn user_code_session_key(session: &str) -> SecretHash {
    SecretHash::of(&format!("user_code\0session\0{session}"))
}

/// An address as the throttles count it: IPv6 by its /64, IPv4-mapped as IPv4; empty when unknown.
fn address_bucket(address: Option<IpAddr>) -> String {
    let address = address.map(|a| match a.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            format!("{}/64", std::net::Ipv6Addr::from(segments))
        }
        v4 @ IpAddr::V4(_) => v4.to_string(),
    });
    address.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    #[test]
    fn rfc6749_4_3_2_ten_attempts_then_sixty_seconds_of_refusal() {
        let policy = ThrottlePolicy::PASSWORD;
        let mut a = Attempts::default();
        for i in 0..10 {
            a = a.after_attempt(at(i), &policy);
            assert_eq!(a.refused(at(i)), None, "attempt {} is let through", i + 1);
        }
        a = a.after_attempt(at(10), &policy);
        assert_eq!(a.refused(at(10)), Some(Duration::from_secs(60)), "the eleventh within the window is refused");
        // Attempts during the lockout change nothing (and are not checked).
        let during = a.after_attempt(at(40), &policy);
        assert_eq!(during, a);
        assert_eq!(during.refused(at(40)), Some(Duration::from_secs(30)));
        // After the lockout, within the same window: one more attempt, then the next locks again.
        let after = a.after_attempt(at(70), &policy);
        assert_eq!(after.refused(at(70)), None, "one attempt after the lockout is let through");
        let again = after.after_attempt(at(71), &policy);
        assert_eq!(again.refused(at(71)), Some(Duration::from_secs(60)), "and the next one locks again");
        // Once the window is over, a fresh one.
        let fresh = again.after_attempt(at(15 * 60 + 200), &policy);
        assert_eq!((fresh.count, fresh.refused(at(15 * 60 + 200))), (1, None));
    }

    #[test]
    fn rfc6749_4_3_2_huge_policies_saturate_instead_of_panicking() {
        let policy = ThrottlePolicy::new(1, Duration::MAX, Duration::MAX);
        let a = Attempts::default().after_attempt(at(0), &policy).after_attempt(at(1), &policy);
        assert!(a.refused(at(2)).is_some());
    }

    #[test]
    fn rfc6749_4_3_2_attempts_spread_over_more_than_the_window_are_not_refused() {
        let policy = ThrottlePolicy::PASSWORD;
        let mut a = Attempts::default();
        for i in 0..30 {
            // One attempt every 100 s: at most 9 fall into any 15-minute window.
            a = a.after_attempt(at(i * 100), &policy);
            assert_eq!(a.refused(at(i * 100)), None, "attempt {i}");
        }
        assert!(a.is_stale(at(29 * 100 + 900), &policy) && !a.is_stale(at(29 * 100 + 10), &policy));
    }

    #[test]
    fn ipv6_hosts_count_by_their_64_and_mapped_addresses_as_ipv4() {
        let key = |a: &str| password_key("alice", a.parse().ok());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"), "one /64, one budget");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
    }

    #[test]
    fn keys_hide_the_username_and_tell_addresses_apart() {
        let a = password_key("alice", "10.0.0.1".parse().ok());
        assert_ne!(a, password_key("alice", "10.0.0.2".parse().ok()));
        assert_ne!(a, password_key("bob", "10.0.0.1".parse().ok()));
        assert_eq!(a, password_key("alice", "10.0.0.1".parse().ok()));
    }
}
