//! DPoP at a resource (RFC 9449 §7): the `DPoP` scheme, the proof with `ath`, the key binding, the challenges, and
//! a bounded replay memory for verifiers that have no store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::secret::SecretHash;

/// What a resource needs to take DPoP-bound tokens: the URL it is reached at (for `htu`), the proof window, and
/// the proofs it saw (when its verifier keeps none).
#[derive(Debug)]
pub(crate) struct DpopResource {
    /// `https://api.example`, or `https://as.example/tenant`: the URL the paths of requests are under, as clients
    /// reach the resource, without a trailing `/`.
    pub(crate) base: String,
    pub(crate) window: Duration,
    pub(crate) seen: SeenProofs,
}

impl DpopResource {
    pub(crate) fn new(base: &str) -> Self {
        let base = match url::Url::parse(base) {
            Ok(u) => format!("{}{}", u.origin().ascii_serialization(), u.path().trim_end_matches('/')),
            Err(_) => base.trim_end_matches('/').to_owned(),
        };
        Self { base, window: crate::dpop::DEFAULT_WINDOW, seen: SeenProofs::default() }
    }

    /// The URL a proof for a request to `path` names: the base and the path, without the query.
    pub(crate) fn url(&self, path: &str) -> String {
        let path = path.split(['?', '#']).next().unwrap_or("");
        format!("{}{path}", self.base)
    }
}

/// The most proofs a resource remembers by itself. A proof is remembered for twice the window (2 minutes), so this
/// is some 800 proofs a second per instance; past it, proofs are refused (503) until old ones expire: forgetting a
/// live one would let it be replayed.
const MAX_SEEN: usize = 100_000;

/// Proofs seen by this process, by [`Proof::replay_id`](crate::dpop::Proof::replay_id), until they are too old.
#[derive(Debug, Default, Clone)]
pub(crate) struct SeenProofs(Arc<Mutex<HashMap<SecretHash, SystemTime>>>);

impl SeenProofs {
    /// Whether `id` is new (then it is remembered until `until`); an error when [`MAX_SEEN`] live proofs are kept.
    pub(crate) fn first_use(&self, id: &SecretHash, until: SystemTime, now: SystemTime) -> Result<bool, StoreError> {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        super::first_proof_use_in(&mut seen, MAX_SEEN, id, until, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9449 §11.1: a proof is accepted once while it can be accepted at all. A full memory of live proofs
    /// refuses new ones (503) rather than forget a live one, which could then be replayed.
    #[test]
    fn rfc9449_11_1_a_full_replay_memory_refuses_rather_than_forgets() {
        let seen = SeenProofs::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let id = |i: usize| SecretHash::of(&format!("proof {i}"));
        let victim = id(0);
        assert_eq!(seen.first_use(&victim, now + Duration::from_secs(60), now).ok(), Some(true));
        for i in 1..MAX_SEEN {
            assert_eq!(seen.first_use(&id(i), now + Duration::from_secs(120), now).ok(), Some(true));
        }
        assert!(seen.first_use(&id(MAX_SEEN), now + Duration::from_secs(120), now).is_err(), "full of live proofs");
        assert_eq!(seen.first_use(&victim, now + Duration::from_secs(60), now).ok(), Some(false), "still a replay");
        let later = now + Duration::from_secs(61);
        assert_eq!(
            seen.first_use(&id(MAX_SEEN), later + Duration::from_secs(60), later).ok(),
            Some(true),
            "room again"
        );
        assert_eq!(seen.first_use(&id(5), later, later).ok(), Some(false));
    }
}
