//! A verified-token cache for resource servers: what a verifier answered for a token, kept by the token's hash
//! until the token expires or a maximum age passes, whichever is first; bounded in entries; forgotten at once on
//! revocation. [`Cached`] puts one in front of any [`AccessTokenVerifier`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::resource::{AccessGrant, AccessTokenVerifier, BearerToken};
use crate::secret::SecretHash;

/// Shards of the cache, each behind its own lock.
const SHARDS: usize = 16;

/// What the cache keeps of a token: what it grants (`None`: the verifier did not know it), and until when.
type Entry = (Option<AccessGrant>, SystemTime);

/// Hashes a [`SecretHash`] key by taking 8 of its bytes: they are SHA-256 output, uniform already, and an attacker
/// who could aim at a bucket would need SHA-256 preimages. Bytes the shard choice does not use.
#[derive(Default)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `SecretHash` hashes as its 32 bytes (after a length prefix, which `write_usize` receives).
        if let Some(word) = bytes.get(8..16) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.0 = u64::from_le_bytes(w);
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

type Shard = HashMap<SecretHash, Entry, std::hash::BuildHasherDefault<PassThrough>>;

/// A verified-token cache for resource servers: what a verifier answered for a token, kept by the token's hash
/// until the token expires or a maximum age passes, whichever is first; at most `capacity` tokens; forgotten at
/// once on revocation ([`forget`](Self::forget)). [`Cached`] puts one in front of any [`AccessTokenVerifier`].
#[derive(Debug)]
pub struct TokenCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), per_shard: capacity.div_ceil(SHARDS).max(1) }
    }

    fn shard(&self, hash: &SecretHash) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[usize::from(hash.as_bytes()[0]) % SHARDS].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What was kept for `hash` and is still good at `now`: `Some(Some(grant))` for a live token, `Some(None)` for
    /// one the verifier refused, `None` when the cache does not know (or no longer trusts) it.
    pub fn get(&self, hash: &SecretHash, now: SystemTime) -> Option<Option<AccessGrant>> {
        let mut shard = self.shard(hash);
        match shard.get(hash) {
            Some((found, until)) if *until > now => Some(found.clone()),
            Some(_) => {
                shard.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Keeps `found` for `hash` until `until`, and never past the grant's expiry. A full shard first drops what
    /// expired, then, if still full, an entry chosen by the table's order (an attacker's junk tokens evict each
    /// other as much as real ones: the bound holds, and a miss costs one verification).
    pub fn insert(&self, hash: SecretHash, found: Option<AccessGrant>, until: SystemTime, now: SystemTime) {
        let until = found.as_ref().map_or(until, |g| until.min(g.expires_at));
        if until <= now {
            return;
        }
        let mut shard = self.shard(&hash);
        if shard.len() >= self.per_shard && !shard.contains_key(&hash) {
            shard.retain(|_, (_, u)| *u > now);
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(hash, (found, until));
    }

    /// Forgets `hash` (its token was revoked): the next check asks the verifier again.
    pub fn forget(&self, hash: &SecretHash) {
        self.shard(hash).remove(hash);
    }

    /// How many tokens are kept, counting those expired and not yet dropped.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// Whether it keeps nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A verifier `V` behind a [`TokenCache`]: answers come from the cache while they are good, at most `max_age`
/// (a refusal too: a token refused is not tried again for that long), and never past the token's expiry.
///
/// ```
/// # futures_executor::block_on(async {
/// use std::time::{Duration, SystemTime};
/// use oauth2_core::resource::{AccessTokenVerifier, Cached, ResourceServer};
/// use oauth2_core::server::{MemoryStore, TokenRecord};
///
/// let cached = Cached::new(MemoryStore::new(), 10_000, Duration::from_secs(60));
/// let rs = ResourceServer::new("api");
/// let token = rs.bearer_token([b"Bearer unknown".as_slice()])?;
/// assert_eq!(cached.verify(&token, SystemTime::now()).await?, None);
/// assert_eq!(cached.cache().len(), 1, "the refusal is kept too");
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct Cached<V> {
    inner: V,
    cache: TokenCache,
    max_age: Duration,
}

impl<V> Cached<V> {
    /// `inner` behind a cache of `capacity` tokens, each kept at most `max_age`.
    pub fn new(inner: V, capacity: usize, max_age: Duration) -> Self {
        Self { inner, cache: TokenCache::new(capacity), max_age }
    }

    /// The cache (to [`forget`](TokenCache::forget) a revoked token).
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// The verifier behind it.
    pub fn inner(&self) -> &V {
        &self.inner
    }
}

impl<V: AccessTokenVerifier> AccessTokenVerifier for Cached<V> {
    async fn verify(&self, token: &BearerToken<'_>, now: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
        let hash = token.hash();
        if let Some(found) = self.cache.get(&hash, now) {
            return Ok(found);
        }
        // A failure is not kept: the next request asks again.
        let found = self.inner.verify(token, now).await?;
        self.cache.insert(hash, found.clone(), now.checked_add(self.max_age).unwrap_or(now), now);
        Ok(found)
    }

    async fn first_proof_use(
        &self,
        id: &SecretHash,
        until: SystemTime,
        now: SystemTime,
    ) -> Result<Option<bool>, StoreError> {
        self.inner.first_proof_use(id, until, now).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::resource::ResourceServer;
    use crate::scope::Scope;

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn grant(expires_in: u64) -> AccessGrant {
        AccessGrant::new(None, "app".into(), Arc::new(Scope::parse("read")), t0() + Duration::from_secs(expires_in))
    }

    /// Knows one token, and counts its calls.
    struct Counting(AtomicUsize, u64);

    impl AccessTokenVerifier for Counting {
        async fn verify(&self, token: &BearerToken<'_>, _: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok((token.secret() == "good").then(|| grant(self.1)))
        }
    }

    fn verify(c: &Cached<Counting>, token: &str, at: SystemTime) -> Option<AccessGrant> {
        let rs = ResourceServer::new("api");
        let header = format!("Bearer {token}");
        let token = rs.bearer_token([header.as_bytes()]).unwrap();
        futures_executor::block_on(c.verify(&token, at)).unwrap()
    }

    #[test]
    fn rfc7662_4_answers_are_kept_until_exp_and_at_most_max_age() {
        let c = Cached::new(Counting(AtomicUsize::new(0), 30), 100, Duration::from_secs(60));
        assert!(verify(&c, "good", t0()).is_some());
        assert!(verify(&c, "good", t0() + Duration::from_secs(29)).is_some());
        assert_eq!(c.inner().0.load(Ordering::SeqCst), 1, "a hit asks nobody");
        verify(&c, "good", t0() + Duration::from_secs(30));
        assert_eq!(c.inner().0.load(Ordering::SeqCst), 2, "never kept past the token's exp");
        let long = Cached::new(Counting(AtomicUsize::new(0), 3600), 100, Duration::from_secs(60));
        verify(&long, "good", t0());
        verify(&long, "good", t0() + Duration::from_secs(59));
        assert_eq!(long.inner().0.load(Ordering::SeqCst), 1);
        verify(&long, "good", t0() + Duration::from_secs(60));
        assert_eq!(long.inner().0.load(Ordering::SeqCst), 2, "asked again after max_age");
    }

    #[test]
    fn refusals_are_kept_and_revocations_forgotten() {
        let c = Cached::new(Counting(AtomicUsize::new(0), 3600), 100, Duration::from_secs(60));
        assert!(verify(&c, "bad", t0()).is_none());
        assert!(verify(&c, "bad", t0()).is_none());
        assert_eq!(c.inner().0.load(Ordering::SeqCst), 1, "a refusal is kept too");
        verify(&c, "good", t0());
        c.cache().forget(&SecretHash::of("good"));
        verify(&c, "good", t0());
        assert_eq!(c.inner().0.load(Ordering::SeqCst), 3, "a forgotten token is asked again");
    }

    #[test]
    fn the_cache_is_bounded_in_entries() {
        let cache = TokenCache::new(64);
        for i in 0..10_000 {
            cache.insert(SecretHash::of(&format!("t{i}")), Some(grant(3600)), t0() + Duration::from_secs(60), t0());
        }
        assert!(cache.len() <= 64, "{}", cache.len());
        assert!(cache.get(&SecretHash::of("t9999"), t0()).is_some(), "the newest is kept");
        // Expired entries go first, before a live one is evicted.
        let cache = TokenCache::new(16);
        cache.insert(SecretHash::of("old"), None, t0() + Duration::from_secs(1), t0());
        cache.insert(SecretHash::of("new"), None, t0() + Duration::from_secs(60), t0() + Duration::from_secs(2));
        assert_eq!(cache.get(&SecretHash::of("old"), t0() + Duration::from_secs(2)), None);
    }
}
