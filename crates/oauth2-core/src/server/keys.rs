//! The server's signing keys (design.md §3): kept in its [`KeyStore`], created once however many instances start
//! together, loaded and refreshed, rotated by a call, sealed at rest when the server has a [`KeySealer`].

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::jose::{Algorithm, JoseError, JwkSet, KeySealer, MAX_LEEWAY, NONCE_LEN, SigningKey};
use crate::server::store::{KeyRecord, KeyStore};

/// How long an instance signs with the keys it loaded before it looks again: a key rotated at another instance is
/// used everywhere within this time (the old one stays published well beyond it).
pub const KEYS_REFRESH: Duration = Duration::from_secs(60);

/// How often a token naming an unknown `kid` may make the server load its keys again, at most.
pub const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(5);

/// Why the signing keys could not be had.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key could not be used: sealed and no (or another) key-encryption key, or damaged.
    #[error("signing key {kid}: {error}")]
    Key {
        /// The key's id.
        kid: String,
        /// What is wrong with it.
        error: JoseError,
    },
    /// No key signs with this algorithm (none was created for it).
    #[error("no signing key for {0}")]
    Missing(Algorithm),
}

/// The signing keys at one moment: the current key of each algorithm, and the JWKS (every key whose tokens may
/// still be valid, current ones first).
#[derive(Debug)]
pub struct SigningKeys {
    current: Vec<Arc<SigningKey>>,
    jwks: JwkSet,
    loaded_at: SystemTime,
}

impl SigningKeys {
    /// The keys of the store's `records` at `now`, opened with `sealer` where sealed. A key retired until before
    /// `now` is left out.
    pub fn from_records(records: &[KeyRecord], sealer: Option<&KeySealer>, now: SystemTime) -> Result<Self, KeyError> {
        let mut current = Vec::new();
        let mut jwks = JwkSet::default();
        let mut retired = Vec::new();
        for record in records.iter().filter(|r| r.retired_until.is_none_or(|until| until > now)) {
            let key = open(record, sealer).map_err(|error| KeyError::Key { kid: record.kid.clone(), error })?;
            match record.retired_until {
                None => {
                    jwks.keys.push(key.public_jwk());
                    current.push(Arc::new(key));
                }
                Some(_) => retired.push(key.public_jwk()),
            }
        }
        jwks.keys.extend(retired);
        Ok(Self { current, jwks, loaded_at: now })
    }

    /// The key that signs with `algorithm` now.
    pub fn current(&self, algorithm: Algorithm) -> Option<&Arc<SigningKey>> {
        self.current.iter().find(|k| k.algorithm() == algorithm)
    }

    /// The public keys to publish at `jwks_uri`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

/// Opens a stored key: unseals it if sealed, then parses its PKCS#8.
fn open(record: &KeyRecord, sealer: Option<&KeySealer>) -> Result<SigningKey, JoseError> {
    let algorithm: Algorithm = record.algorithm.parse()?;
    let der = match (KeySealer::is_sealed(&record.private_key), sealer) {
        (true, Some(sealer)) => sealer.open(&record.kid, &record.private_key)?,
        (true, None) => return Err(JoseError::Key("sealed, and no key-encryption key is set")),
        (false, _) => record.private_key.clone(),
    };
    SigningKey::from_pkcs8(algorithm, record.kid.clone(), &der)
}

/// The keys as a server holds them: the store's, loaded at most [`KEYS_REFRESH`] ago.
#[derive(Debug, Default)]
pub(crate) struct KeyRing {
    pub(crate) sealer: Option<KeySealer>,
    loaded: RwLock<Option<Arc<SigningKeys>>>,
}

impl KeyRing {
    pub(crate) fn new(sealer: Option<KeySealer>) -> Self {
        Self { sealer, loaded: RwLock::default() }
    }

    /// The keys, from memory if loaded less than [`KEYS_REFRESH`] ago, else from `store`.
    pub(crate) async fn get(&self, store: &impl KeyStore, now: SystemTime) -> Result<Arc<SigningKeys>, KeyError> {
        let fresh = |keys: &Arc<SigningKeys>| {
            now.duration_since(keys.loaded_at).is_ok_and(|age| age < KEYS_REFRESH) || now < keys.loaded_at
        };
        if let Some(keys) = self.loaded.read().unwrap_or_else(PoisonError::into_inner).as_ref().filter(|k| fresh(k)) {
            return Ok(Arc::clone(keys));
        }
        self.reload(store, now).await
    }

    /// The keys loaded again because a token named a `kid` they lack (a key another instance rotated in): `None`
    /// when they were loaded less than [`UNKNOWN_KID_RELOAD`] ago, so that tokens naming random kids cost a store
    /// read at most that often.
    pub(crate) async fn reload_for_unknown_kid(
        &self,
        store: &impl KeyStore,
        now: SystemTime,
    ) -> Result<Option<Arc<SigningKeys>>, KeyError> {
        let recent = self.loaded.read().unwrap_or_else(PoisonError::into_inner).as_ref().is_some_and(|k| {
            now.duration_since(k.loaded_at).is_ok_and(|age| age < UNKNOWN_KID_RELOAD) || now < k.loaded_at
        });
        if recent {
            return Ok(None);
        }
        self.reload(store, now).await.map(Some)
    }

    /// The keys, from `store`.
    pub(crate) async fn reload(&self, store: &impl KeyStore, now: SystemTime) -> Result<Arc<SigningKeys>, KeyError> {
        let records = store.signing_keys().await?;
        let keys = Arc::new(SigningKeys::from_records(&records, self.sealer.as_ref(), now)?);
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&keys));
        Ok(keys)
    }

    /// See [`AuthorizationServer::ensure_signing_key`](super::AuthorizationServer::ensure_signing_key).
    pub(crate) async fn ensure(
        &self,
        store: &impl KeyStore,
        algorithm: Algorithm,
        nonce: [u8; NONCE_LEN],
        now: SystemTime,
        generate: impl FnOnce() -> Result<SigningKey, JoseError>,
    ) -> Result<Arc<SigningKeys>, KeyError> {
        let loaded = self.reload(store, now).await?;
        if loaded.current(algorithm).is_some() {
            return Ok(loaded);
        }
        let key = generate().map_err(|error| KeyError::Key { kid: String::new(), error })?;
        if key.algorithm() != algorithm {
            return Err(KeyError::Missing(algorithm));
        }
        store.create_signing_key(self.record(&key, nonce, now)?).await?;
        self.reload(store, now).await
    }

    /// See [`AuthorizationServer::rotate_signing_key`](super::AuthorizationServer::rotate_signing_key).
    pub(crate) async fn rotate(
        &self,
        store: &impl KeyStore,
        key: SigningKey,
        nonce: [u8; NONCE_LEN],
        retired_until: SystemTime,
        now: SystemTime,
    ) -> Result<Arc<SigningKeys>, KeyError> {
        store.rotate_signing_key(self.record(&key, nonce, now)?, retired_until).await?;
        self.reload(store, now).await
    }

    /// `key` as the store keeps it: its PKCS#8, sealed when there is a sealer (with `nonce`).
    pub(crate) fn record(
        &self,
        key: &SigningKey,
        nonce: [u8; NONCE_LEN],
        now: SystemTime,
    ) -> Result<KeyRecord, KeyError> {
        let failed = |error| KeyError::Key { kid: key.kid().to_owned(), error };
        let der = key.to_pkcs8().map_err(failed)?;
        let private_key = match &self.sealer {
            Some(sealer) => sealer.seal(key.kid(), &der, nonce).map_err(failed)?,
            None => der,
        };
        Ok(KeyRecord {
            kid: key.kid().to_owned(),
            algorithm: key.algorithm().as_str().to_owned(),
            private_key,
            created_at: now,
            retired_until: None,
        })
    }
}

/// How long a key rotated out at `now` stays published: until every token it signed has expired, counting the
/// instances that sign with it until they next load the keys, and the verifiers' clock leeway.
pub(crate) fn retired_until(now: SystemTime, longest_signed_lifetime: Duration) -> SystemTime {
    now + longest_signed_lifetime + KEYS_REFRESH + MAX_LEEWAY
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::MemoryStore;
    use crate::server::store::Maintenance;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn ed(seed: u8) -> Result<SigningKey, JoseError> {
        SigningKey::ed25519_from_seed(format!("k{seed}"), &[seed; 32])
    }

    /// Polls two futures together to the end (both make progress, as two instances would).
    fn both<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
        let (mut a, mut b) = (Box::pin(a), Box::pin(b));
        let (mut ra, mut rb) = (None, None);
        futures_executor::block_on(std::future::poll_fn(|cx| {
            if ra.is_none()
                && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
            {
                ra = Some(v);
            }
            if rb.is_none()
                && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
            {
                rb = Some(v);
            }
            if ra.is_some() && rb.is_some() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
        }));
        (ra.expect("done"), rb.expect("done"))
    }

    #[test]
    fn instances_starting_together_share_one_key_and_the_second_makes_none() {
        let store = MemoryStore::new();
        let (a, b) = (KeyRing::default(), KeyRing::default());
        let (ka, kb) = both(
            a.ensure(&store, Algorithm::EdDsa, [1; 12], at(0), || ed(1)),
            b.ensure(&store, Algorithm::EdDsa, [2; 12], at(0), || ed(2)),
        );
        let (ka, kb) = (ka.expect("a"), kb.expect("b"));
        let kid = |k: &SigningKeys| k.current(Algorithm::EdDsa).map(|k| k.kid().to_owned());
        assert_eq!(kid(&ka), kid(&kb), "one key for both");
        assert_eq!(ka.jwks(), kb.jwks());
        assert_eq!(ka.jwks().keys.len(), 1);
        let later = KeyRing::default();
        let third = futures_executor::block_on(
            later.ensure(&store, Algorithm::EdDsa, [3; 12], at(5), || panic!("a key exists: none is made")),
        );
        assert_eq!(kid(&third.expect("c")), kid(&ka));
        assert!(ka.current(Algorithm::Rs256).is_none());
    }

    #[test]
    fn a_rotated_out_key_stays_published_until_its_tokens_expire() {
        let store = MemoryStore::new();
        let ring = KeyRing::default();
        futures_executor::block_on(ring.ensure(&store, Algorithm::EdDsa, [1; 12], at(0), || ed(1))).expect("first");
        let until = retired_until(at(100), Duration::from_secs(600));
        assert_eq!(until, at(100 + 600 + 60 + 300), "the lifetime, one refresh and the leeway");
        let keys = futures_executor::block_on(ring.rotate(&store, ed(2).expect("key"), [2; 12], until, at(100)));
        let keys = keys.expect("rotated");
        assert_eq!(keys.current(Algorithm::EdDsa).map(|k| k.kid()), Some("k2"));
        let kids: Vec<_> = keys.jwks().keys.iter().map(|k| k.kid.clone().unwrap_or_default()).collect();
        assert_eq!(kids, ["k2", "k1"], "the new key first, the old one still published");
        // Another instance that loaded before the rotation keeps signing with k1 until its next load.
        let gone = futures_executor::block_on(ring.reload(&store, until)).expect("reload");
        assert_eq!(gone.jwks().keys.len(), 1, "unpublished once its tokens have expired");
        futures_executor::block_on(store.purge(until)).expect("purge");
        let records = futures_executor::block_on(store.signing_keys()).expect("records");
        assert_eq!(records.iter().map(|r| r.kid.as_str()).collect::<Vec<_>>(), ["k2"], "and then forgotten");
    }

    #[test]
    fn keys_are_refreshed_from_the_store_after_a_minute() {
        let store = MemoryStore::new();
        let (a, b) = (KeyRing::default(), KeyRing::default());
        futures_executor::block_on(a.ensure(&store, Algorithm::EdDsa, [1; 12], at(0), || ed(1))).expect("a");
        let seen = futures_executor::block_on(b.get(&store, at(0))).expect("b");
        futures_executor::block_on(a.rotate(&store, ed(2).expect("key"), [2; 12], at(10_000), at(1))).expect("rotate");
        let kid = |k: Arc<SigningKeys>| k.current(Algorithm::EdDsa).map(|k| k.kid().to_owned());
        assert_eq!(kid(seen), Some("k1".into()));
        assert_eq!(kid(futures_executor::block_on(b.get(&store, at(59))).expect("b")), Some("k1".into()));
        assert_eq!(kid(futures_executor::block_on(b.get(&store, at(60))).expect("b")), Some("k2".into()));
    }

    #[test]
    fn sealed_keys_need_their_key_encryption_key() {
        let store = MemoryStore::new();
        let sealer = || KeySealer::new(&[7; 32]).expect("sealer");
        let sealed = KeyRing::new(Some(sealer()));
        futures_executor::block_on(sealed.ensure(&store, Algorithm::EdDsa, [1; 12], at(0), || ed(1))).expect("a");
        let record = futures_executor::block_on(store.signing_keys()).expect("records").remove(0);
        let der = ed(1).expect("key").to_pkcs8().expect("der");
        assert!(KeySealer::is_sealed(&record.private_key), "stored sealed");
        assert!(!record.private_key.windows(16).any(|w| w == &der[der.len() - 16..]), "no plain key bytes stored");
        assert!(!format!("{record:?}").contains(&format!("{:?}", &record.private_key[..8])), "Debug redacts it");
        let plain = KeyRing::default();
        assert!(matches!(futures_executor::block_on(plain.get(&store, at(0))), Err(KeyError::Key { .. })));
        let wrong = KeyRing::new(Some(KeySealer::new(&[8; 32]).expect("sealer")));
        assert!(matches!(futures_executor::block_on(wrong.get(&store, at(0))), Err(KeyError::Key { .. })));
        let right = KeyRing::new(Some(sealer()));
        let keys = futures_executor::block_on(right.get(&store, at(0))).expect("opens");
        assert_eq!(keys.current(Algorithm::EdDsa).map(|k| k.public_jwk()), Some(ed(1).expect("key").public_jwk()));
        // A sealed key moved under another kid does not open (the kid is the associated data).
        let mut moved = record.clone();
        moved.kid = "k9".into();
        assert!(SigningKeys::from_records(&[moved], Some(&sealer()), at(0)).is_err());
        // Keys stored before sealing was turned on are still read.
        let before = KeyRing::default().record(&ed(3).expect("key"), [0; 12], at(0)).expect("record");
        assert!(SigningKeys::from_records(&[before], Some(&sealer()), at(0)).is_ok());
    }

    #[test]
    fn the_key_encryption_key_is_32_bytes_of_base64() {
        assert!(KeySealer::from_base64("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=").is_ok());
        assert!(KeySealer::from_base64("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc").is_ok());
        assert!(KeySealer::from_base64("c2hvcnQ=").is_err());
        assert!(KeySealer::from_base64("not base64!").is_err());
        assert_eq!(format!("{:?}", KeySealer::new(&[7; 32]).expect("sealer")), "KeySealer([redacted])");
    }

    #[test]
    fn rfc8414_2_the_server_publishes_its_keys_at_jwks_uri() {
        use rand_core::SeedableRng;
        let server = || {
            let config = crate::server::ServerConfig::new("https://as.example");
            let rng = std::sync::Mutex::new(rand_chacha::ChaCha20Rng::seed_from_u64(1));
            crate::server::AuthorizationServer::new(config, MemoryStore::new(), rng)
        };
        let plain = server();
        assert_eq!(plain.metadata().jwks_uri.as_deref(), Some("https://as.example/jwks"));
        let ensured = plain.ensure_signing_key(Algorithm::EdDsa, at(0), || ed(1));
        futures_executor::block_on(ensured).expect("a key");
        let r = futures_executor::block_on(plain.serve(
            crate::server::Endpoint::Jwks,
            http::Request::new(Vec::new()),
            at(0),
        ));
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-cache");
        let jwks: JwkSet = serde_json::from_slice(r.body()).expect("a JWK Set");
        assert_eq!(jwks.keys, [ed(1).expect("key").public_jwk()]);
        // A key that cannot be read (sealed, and this server has no key-encryption key) is the server's fault.
        let sealed = server().with_key_sealer(KeySealer::new(&[7; 32]).expect("sealer"));
        futures_executor::block_on(sealed.ensure_signing_key(Algorithm::EdDsa, at(0), || ed(2))).expect("a key");
        let record = futures_executor::block_on(sealed.store().signing_keys()).expect("records").remove(0);
        let without = server();
        futures_executor::block_on(without.store().create_signing_key(record)).expect("copied");
        let r = futures_executor::block_on(without.jwks_response(at(0)));
        assert_eq!(r.status(), 500);
        assert!(String::from_utf8_lossy(r.body()).contains("server_error"));
    }
}
