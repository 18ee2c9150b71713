//! DPoP at a resource (RFC 9449 §7): the `DPoP` scheme, the proof with `ath`, the key binding, the challenges, and
//! a bounded replay memory for verifiers that have no store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::secret::SecretHash;

/// What a resource needs to take DPoP-bound tokens: the origin it is reached at (for `htu`), the proof window, and
/// the proofs it saw (when its verifier keeps none).
#[derive(Debug)]
pub(crate) struct DpopResource {
    /// `https://api.example`: scheme, host and port, as clients reach the resource.
    pub(crate) origin: String,
    pub(crate) window: Duration,
    pub(crate) seen: SeenProofs,
}

impl DpopResource {
    pub(crate) fn new(origin: &str) -> Self {
        let origin = url::Url::parse(origin)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| origin.trim_end_matches('/').to_owned());
        Self { origin, window: crate::dpop::DEFAULT_WINDOW, seen: SeenProofs::default() }
    }

    /// The URL a proof for a request to `path` names: the origin and the path, without the query.
    pub(crate) fn url(&self, path: &str) -> String {
        let path = path.split(['?', '#']).next().unwrap_or("");
        format!("{}{path}", self.origin)
    }
}

/// The most proofs a resource remembers by itself. A proof is remembered for twice the window (2 minutes), so this
/// is some 800 proofs a second per instance; past it, the oldest half goes (a replay of one of those is then
/// possible until its `iat` is too old).
const MAX_SEEN: usize = 100_000;

/// Proofs seen by this process, by [`Proof::replay_id`](crate::dpop::Proof::replay_id), until they are too old.
#[derive(Debug, Default, Clone)]
pub(crate) struct SeenProofs(Arc<Mutex<HashMap<SecretHash, SystemTime>>>);

impl SeenProofs {
    /// Whether `id` is new (then it is remembered until `until`).
    pub(crate) fn first_use(&self, id: &SecretHash, until: SystemTime, now: SystemTime) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.get(id).is_some_and(|kept| *kept > now) {
            return false;
        }
        if seen.len() >= MAX_SEEN {
            seen.retain(|_, kept| *kept > now);
            if seen.len() >= MAX_SEEN {
                // Every one is live: forget those that expire first.
                let mut expiries: Vec<SystemTime> = seen.values().copied().collect();
                expiries.sort_unstable();
                let cut = expiries[expiries.len() / 2];
                seen.retain(|_, kept| *kept > cut);
            }
        }
        seen.insert(*id, until);
        true
    }
}
