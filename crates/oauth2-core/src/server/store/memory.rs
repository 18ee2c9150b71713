//! [`MemoryStore`]: clients, codes and tokens in memory, for single-process servers, demos and tests.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{
    Attempts, ClientStore, CodeRecord, CodeUse, DeviceCodeRecord, DeviceDecision, DeviceStatus, DeviceStore, Grant,
    GrantId, GrantStore, KeyRecord, KeyStore, Maintenance, PushedRequestRecord, PushedRequestStore, RegisteredClient,
    ReplayStore, Rotation, ThrottlePolicy, ThrottleStore, TokenRecord,
};
use crate::error::StoreError;
use crate::resource::{AccessGrant, AccessTokenVerifier, BearerToken};
use crate::scope::Scope;
use crate::secret::SecretHash;

/// One shard per value of a key byte: a growing map rehashes 1/256 of the tokens.
const SHARDS: usize = 256;

/// A store for clients and grants in memory, correct under concurrency: every [`GrantStore`] guarantee holds with
/// any number of threads.
///
/// Shaped for a token endpoint under load:
/// - **Sharded.** 256 shards, each behind its own mutex, picked by a byte of the token's hash. A lock is held for
///   one map operation, and a map that grows rehashes 1/256 of the tokens, never all of them at once.
/// - **Compact.** A token is its 32-byte hash and a 40-byte entry stored inline: grant id, times as u64
///   nanoseconds, and a shared pointer to its (client, subject, scope), which is interned per shard. No allocation
///   per token (BENCHMARKS.md has the bytes per live token, measured).
/// - **Swept as it grows.** Before a map grows, it drops what has expired, and grows only if that left it more than
///   half full.
///   Memory stays flat under a steady load with no background task, and no request waits for a full sweep.
///   [`purge_expired`](Self::purge_expired) sweeps everything at once (shard by shard), and also forgets revoked
///   grant ids once none of their tokens can still be alive.
/// - **Revocation is a deny-list.** Revoking a grant family records its id; its tokens stop being found at once and
///   are dropped by later sweeps. Revoking costs the same with a million tokens stored as with ten.
pub struct MemoryStore {
    clients: RwLock<HashMap<String, Arc<RegisteredClient>>>,
    /// Throttled keys, at most [`MAX_THROTTLED`].
    throttle: Mutex<HashMap<SecretHash, (Attempts, SystemTime)>>,
    /// Signing keys, oldest first.
    keys: Mutex<Vec<KeyRecord>>,
    /// Revoked JWT access tokens that have no entry (by their `jti`), until they expire.
    denied: Mutex<HashMap<SecretHash, SystemTime>>,
    /// Device authorizations (RFC 8628), at most [`MAX_DEVICE_CODES`].
    devices: Mutex<Devices>,
    /// Pushed authorization requests (RFC 9126) by the hash of their `request_uri`, at most [`MAX_PUSHED`].
    pushed: Mutex<HashMap<SecretHash, PushedRequestRecord>>,
    /// DPoP proofs seen (RFC 9449 §11.1), until they are too old to be accepted: [`PROOF_SHARDS`] maps by the
    /// first byte of the id, at most [`MAX_PROOFS`] in all.
    proofs: Box<[Mutex<HashMap<SecretHash, SystemTime>>]>,
    shards: Box<[Mutex<Shard>]>,
    /// Revoked grant families, with the store clock when they were revoked and a sequence number.
    revoked: RwLock<HashMap<GrantId, Revoked>>,
    /// Revocations so far: the sequence numbers of [`Revoked`].
    revocations: AtomicU64,
    /// The revoked-list size at which `revoke_grant` purges (it doubles each time, so purging stays amortized).
    purge_at: AtomicU64,
    /// The latest `issued_at` seen: the store's own clock, for sweeping and for forgetting revocations.
    clock: AtomicU64,
    /// The longest token lifetime seen (nanoseconds).
    longest_lifetime: AtomicU64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (codes, access, refresh) = self.counts();
        f.debug_struct("MemoryStore")
            .field("clients", &self.clients.read().unwrap_or_else(PoisonError::into_inner).len())
            .field("codes", &codes)
            .field("access_tokens", &access)
            .field("refresh_tokens", &refresh)
            .finish_non_exhaustive()
    }
}

/// When a grant family was revoked: the store clock then, and the revocation's sequence number (a purge forgets
/// only revocations older than its own start, whose tokens every shard's sweep has seen).
#[derive(Debug, Clone, Copy)]
struct Revoked {
    at: Nanos,
    seq: u64,
}

type RevokedMap = HashMap<GrantId, Revoked>;

/// Throttled keys kept at most. When the table is full, stale records go first, then unlocked ones with a single
/// attempt, then every unlocked one: lockouts in force are the last to go.
const MAX_THROTTLED: usize = 100_000;

/// Device authorizations kept at most: when the table is full, expired ones go, and a new one is refused (503)
/// while every one kept is alive.
const MAX_DEVICE_CODES: usize = 100_000;

/// Pushed authorization requests kept at most: when the table is full, expired ones go, and a new one is refused
/// (503) while every one kept is alive.
/// Each may carry up to about 14 KiB (state, nonce and login_hint of 2 KiB, eight resources), so this bounds them
/// to a few hundred MiB at worst; a few KiB is usual.
const MAX_PUSHED: usize = 20_000;

/// DPoP proof ids remembered at most (some 100 bytes each): when a map is full, expired ones go, and a proof is
/// refused (503) while every one kept is alive. A proof is kept for twice the `iat` window (2 minutes by default),
/// so this is some 8,000 proofs a second.
const MAX_PROOFS: usize = 1 << 20;

/// Maps the proof ids are spread over, so that concurrent token requests seldom wait for each other.
const PROOF_SHARDS: usize = 16;

/// Device authorizations by the hash of their device code (with the hash of their user code), and the user codes'
/// index into them.
#[derive(Debug, Default)]
struct Devices {
    by_device: HashMap<SecretHash, (SecretHash, DeviceCodeRecord)>,
    by_user: HashMap<SecretHash, SecretHash>,
}

impl Devices {
    fn forget_expired(&mut self, now: SystemTime) -> usize {
        let before = self.by_device.len();
        let by_user = &mut self.by_user;
        self.by_device.retain(|_, (user, record)| {
            let keep = record.expires_at > now;
            if !keep {
                by_user.remove(user);
            }
            keep
        });
        before - self.by_device.len()
    }
}

/// Revoked-list size before the first automatic purge.
const PURGE_FLOOR: u64 = 1024;

/// A `SystemTime` as nanoseconds since the Unix epoch: 8 bytes instead of 16, exact from 1970 until 2554.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Nanos(u64);

impl Nanos {
    fn of(t: SystemTime) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Self(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    fn time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }
}

/// A token's hash as a map key. SHA-256 output is uniform, so eight of its bytes are the hash: no hashing work. An
/// attacker cannot crowd a bucket: every stored key is the hash of a secret the server generated, and lookups of
/// chosen keys do not insert.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u8; 32]);

impl Key {
    fn of(hash: &SecretHash) -> Self {
        Self(*hash.as_bytes())
    }

    /// The shard: a byte the in-shard hash does not use, so every shard's table sees uniform hashes.
    fn shard(&self) -> usize {
        usize::from(self.0[0]) % SHARDS
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[8..16]);
        state.write_u64(u64::from_le_bytes(word));
    }
}

/// The hasher for [`Key`]s: passes their eight bytes through.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key::hash` feeds this hasher, through `write_u64`; fold anything else in rather than drop it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeyMap<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

/// Who a token speaks for: shared by every token with the same client, subject and scope, and handed out as is to
/// the resource server.
#[derive(Debug)]
struct Principal {
    client_id: Arc<str>,
    subject: Option<Arc<str>>,
    scope: Arc<Scope>,
    auth_time: Option<Nanos>,
    audience: Arc<[String]>,
    /// The DPoP key its tokens are bound to.
    jkt: Option<Arc<str>>,
}

/// What principals are interned by: the grant's own fields, moved in, so a lookup that hits allocates nothing.
type PrincipalKey = (String, Option<String>, Scope, Option<Nanos>, Vec<String>, Option<String>);

/// A stored access or refresh token, without its key: 40 bytes.
struct Entry {
    grant: GrantId,
    principal: Arc<Principal>,
    issued_at: Nanos,
    expires_at: Nanos,
}

impl Entry {
    fn record(&self) -> TokenRecord {
        let p = &*self.principal;
        TokenRecord {
            grant: Grant {
                id: self.grant,
                client_id: p.client_id.to_string(),
                subject: p.subject.as_deref().map(str::to_owned),
                scope: Scope::clone(&p.scope),
                auth_time: p.auth_time.map(Nanos::time),
                resources: p.audience.to_vec(),
                jkt: p.jkt.as_deref().map(str::to_owned),
            },
            issued_at: self.issued_at.time(),
            expires_at: self.expires_at.time(),
        }
    }

    fn access_grant(&self) -> AccessGrant {
        let p = &*self.principal;
        AccessGrant {
            subject: p.subject.clone(),
            client_id: p.client_id.clone(),
            scope: p.scope.clone(),
            expires_at: self.expires_at.time(),
            audience: p.audience.clone(),
            jkt: p.jkt.clone(),
        }
    }
}

#[derive(Default)]
struct Shard {
    codes: KeyMap<(CodeRecord, bool)>,
    access: KeyMap<Entry>,
    /// With whether the refresh token was used (rotated away): kept until it expires, to detect reuse.
    refresh: KeyMap<(Entry, bool)>,
    principals: HashMap<PrincipalKey, Arc<Principal>>,
}

impl Shard {
    fn entry(&mut self, record: TokenRecord) -> Entry {
        let Grant { id, client_id, subject, scope, auth_time, resources, jkt } = record.grant;
        let key = (client_id, subject, scope, auth_time.map(Nanos::of), resources, jkt);
        let principal = match self.principals.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(Principal {
                    client_id: Arc::from(key.0.as_str()),
                    subject: key.1.as_deref().map(Arc::from),
                    scope: Arc::new(key.2.clone()),
                    auth_time: key.3,
                    audience: Arc::from(key.4.as_slice()),
                    jkt: key.5.as_deref().map(Arc::from),
                });
                self.principals.insert(key, p.clone());
                p
            }
        };
        Entry { grant: id, principal, issued_at: Nanos::of(record.issued_at), expires_at: Nanos::of(record.expires_at) }
    }

    /// Drops expired and revoked tokens and expired codes, marks the codes of revoked grants used, and forgets
    /// principals no token points to.
    fn sweep(&mut self, now: Nanos, revoked: &RevokedMap) {
        let live = |e: &Entry| e.expires_at > now && !revoked.contains_key(&e.grant);
        self.access.retain(|_, e| live(e));
        self.refresh.retain(|_, (e, _)| live(e));
        let now = now.time();
        self.codes.retain(|_, (c, _)| c.expires_at > now);
        for (code, used) in self.codes.values_mut() {
            *used |= revoked.contains_key(&code.grant.id);
        }
        self.principals.retain(|_, p| Arc::strong_count(p) > 1);
    }
}

/// Makes room for one more entry in `map` (one of `shard`'s maps, chosen by `pick`): when it is full, sweep the
/// shard first. Growing is then left to the table: on the insert that follows, hashbrown rehashes in place, with no
/// new memory, when at most half its slots hold live entries, and doubles otherwise. Each sweep is paid for by at
/// least half the table's size in inserts since the last one, so the cost per insert stays constant.
///
/// Why not decide here from `capacity()`: a sweep erases by leaving tombstones, which `capacity()` does not count
/// as free, so right after a sweep the map looks full and a `reserve` would double a table of tombstones (it did,
/// under a steady load: memory stepped up with no more tokens alive).
fn make_room<V>(shard: &mut Shard, pick: fn(&mut Shard) -> &mut KeyMap<V>, now: Nanos, revoked: &RevokedMap) {
    let map = pick(shard);
    if map.len() < map.capacity() {
        return;
    }
    shard.sweep(now, revoked);
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            clients: RwLock::default(),
            throttle: Mutex::default(),
            keys: Mutex::default(),
            denied: Mutex::default(),
            devices: Mutex::default(),
            pushed: Mutex::default(),
            proofs: (0..PROOF_SHARDS).map(|_| Mutex::default()).collect(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            revoked: RwLock::default(),
            revocations: AtomicU64::new(0),
            purge_at: AtomicU64::new(PURGE_FLOOR),
            clock: AtomicU64::new(0),
            longest_lifetime: AtomicU64::new(0),
        }
    }

    /// Registers (or replaces) a client.
    pub fn add_client(&self, client: RegisteredClient) {
        self.clients.write().unwrap_or_else(PoisonError::into_inner).insert(client.id.clone(), Arc::new(client));
    }

    // Every operation leaves the maps consistent before anything can panic, so a poisoned lock is still sound.
    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        self.shards[key.shard()].lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn revoked(&self) -> std::sync::RwLockReadGuard<'_, RevokedMap> {
        self.revoked.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_revoked(&self, grant: &GrantId) -> bool {
        self.revoked().contains_key(grant)
    }

    fn now(&self) -> Nanos {
        Nanos(self.clock.load(Ordering::Relaxed))
    }

    /// Stores a token under its hash (the caller holds the revocation read lock, so no revocation of its grant can
    /// slip in between the check and the insert).
    fn insert_token(&self, (hash, record): (SecretHash, TokenRecord), refresh: bool, revoked: &RevokedMap) {
        let issued = Nanos::of(record.issued_at);
        self.clock.fetch_max(issued.0, Ordering::Relaxed);
        let lifetime = Nanos::of(record.expires_at).0.saturating_sub(issued.0);
        self.longest_lifetime.fetch_max(lifetime, Ordering::Relaxed);
        let key = Key::of(&hash);
        let mut shard = self.shard(&key);
        let entry = shard.entry(record);
        // Sweep with this token's own issue time, not the store clock: if the server's clock was stepped back, the
        // clock is ahead, and tokens the server still holds live would be dropped.
        if refresh {
            make_room(&mut shard, |s| &mut s.refresh, issued, revoked);
            shard.refresh.insert(key, (entry, false));
        } else {
            make_room(&mut shard, |s| &mut s.access, issued, revoked);
            shard.access.insert(key, entry);
        }
    }

    /// Drops every code and token that expired before `now` and every token of a revoked grant, shard by shard (a
    /// request waits for at most one shard), then forgets revoked grant ids whose tokens have all been swept and
    /// expired. [`revoke_grant`](GrantStore::revoke_grant) runs it by itself each time the revoked list has doubled,
    /// so the list stays bounded without a background task; calling it on a timer returns memory sooner.
    pub fn purge_expired(&self, now: SystemTime) {
        let now = Nanos::of(now);
        // Revocations up to here are in the list during every shard's sweep below, so their tokens are gone after it.
        let before = self.revocations.load(Ordering::SeqCst);
        for shard in self.shards.iter() {
            // The revoked list is read per shard: a revocation waiting for the write lock holds up one shard's
            // sweep, not every request for the length of all of them.
            let revoked = self.revoked();
            shard.lock().unwrap_or_else(PoisonError::into_inner).sweep(now, &revoked);
        }
        // Every token of a grant was stored before it was revoked, so it expired by the store clock at revocation
        // plus the longest lifetime; the id can go once that has passed and a full sweep has seen it.
        let longest = self.longest_lifetime.load(Ordering::Relaxed);
        let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        revoked.retain(|_, r| r.seq >= before || r.at.0.saturating_add(longest) >= now.0);
        let next = u64::try_from(revoked.len()).unwrap_or(u64::MAX).saturating_mul(2).max(PURGE_FLOOR);
        self.purge_at.store(next, Ordering::Relaxed);
    }

    /// How many codes, access tokens and refresh tokens are stored, counting those expired or revoked but not yet
    /// swept (for tests and metrics).
    pub fn counts(&self) -> (usize, usize, usize) {
        self.shards.iter().fold((0, 0, 0), |(c, a, r), shard| {
            let s = shard.lock().unwrap_or_else(PoisonError::into_inner);
            (c + s.codes.len(), a + s.access.len(), r + s.refresh.len())
        })
    }
}

impl ClientStore for MemoryStore {
    async fn client(&self, id: &str) -> Result<Option<Arc<RegisteredClient>>, StoreError> {
        Ok(self.clients.read().unwrap_or_else(PoisonError::into_inner).get(id).cloned())
    }
}

impl GrantStore for MemoryStore {
    async fn store_code(&self, code: SecretHash, record: CodeRecord) -> Result<(), StoreError> {
        let key = Key::of(&code);
        let revoked = self.revoked();
        let mut shard = self.shard(&key);
        // Codes carry no issue time; the store clock (the latest token issue) is the best "now" at hand.
        make_room(&mut shard, |s| &mut s.codes, self.now(), &revoked);
        shard.codes.insert(key, (record, false));
        Ok(())
    }

    async fn redeem_code(
        &self,
        code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<CodeUse, StoreError> {
        // No `.await` in here: the call runs to its end once started, the revocation of a replay included.
        let replayed = {
            let revoked = self.revoked();
            let key = Key::of(code);
            let mut shard = self.shard(&key);
            match shard.codes.get_mut(&key) {
                None => return Ok(CodeUse::Unknown),
                Some((record, used)) if *used || revoked.contains_key(&record.grant.id) => {
                    *used = true;
                    record.grant.id
                }
                Some((record, used)) => {
                    *used = true;
                    let record = record.clone();
                    drop(shard);
                    self.insert_token(access, false, &revoked);
                    if let Some(refresh) = refresh {
                        self.insert_token(refresh, true, &revoked);
                    }
                    return Ok(CodeUse::Fresh(record));
                }
            }
        };
        // A replay: revoke the family before answering (the shard and read locks are released first).
        self.revoke_family(&replayed);
        Ok(CodeUse::Replayed(replayed))
    }

    async fn code(&self, code: &SecretHash) -> Result<Option<(CodeRecord, bool)>, StoreError> {
        let key = Key::of(code);
        let found = self.shard(&key).codes.get(&key).cloned();
        Ok(found.map(|(record, used)| {
            let used = used || self.is_revoked(&record.grant.id);
            (record, used)
        }))
    }

    async fn store_tokens(
        &self,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<bool, StoreError> {
        let revoked = self.revoked();
        if revoked.contains_key(&access.1.grant.id) {
            return Ok(false);
        }
        self.insert_token(access, false, &revoked);
        if let Some(refresh) = refresh {
            self.insert_token(refresh, true, &revoked);
        }
        Ok(true)
    }

    async fn refresh_token(&self, token: &SecretHash) -> Result<Option<(TokenRecord, bool)>, StoreError> {
        let key = Key::of(token);
        let found = self.shard(&key).refresh.get(&key).map(|(e, used)| (e.record(), *used));
        Ok(found.filter(|(r, _)| !self.is_revoked(&r.grant.id)))
    }

    async fn rotate_refresh(
        &self,
        old: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: (SecretHash, TokenRecord),
    ) -> Result<Rotation, StoreError> {
        // No `.await` in here: the call runs to its end once started, the revocation of a reuse included.
        let reused = {
            let revoked = self.revoked();
            let key = Key::of(old);
            let mut shard = self.shard(&key);
            match shard.refresh.get_mut(&key) {
                Some((e, _)) if revoked.contains_key(&e.grant) => return Ok(Rotation::Unknown),
                None => return Ok(Rotation::Unknown),
                Some((e, used)) if *used => e.grant,
                Some((_, used)) => {
                    *used = true;
                    drop(shard);
                    if revoked.contains_key(&access.1.grant.id) {
                        return Ok(Rotation::Unknown);
                    }
                    self.insert_token(access, false, &revoked);
                    self.insert_token(refresh, true, &revoked);
                    return Ok(Rotation::Rotated);
                }
            }
        };
        self.revoke_family(&reused);
        Ok(Rotation::Reused(reused))
    }

    async fn access_token(&self, token: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let key = Key::of(token);
        let found = self.shard(&key).access.get(&key).map(Entry::record);
        Ok(found.filter(|r| !self.is_revoked(&r.grant.id)))
    }

    async fn access_grant(&self, token: &SecretHash) -> Result<Option<AccessGrant>, StoreError> {
        let key = Key::of(token);
        let found = self.shard(&key).access.get(&key).map(|e| (e.grant, e.access_grant()));
        Ok(found.filter(|(grant, _)| !self.is_revoked(grant)).map(|(_, g)| g))
    }

    async fn revoke_access_token(&self, token: &SecretHash) -> Result<(), StoreError> {
        let key = Key::of(token);
        self.shard(&key).access.remove(&key);
        Ok(())
    }

    async fn revoke_grant(&self, grant: &GrantId) -> Result<(), StoreError> {
        self.revoke_family(grant);
        Ok(())
    }

    async fn deny_token(&self, jti: &SecretHash, expires_at: SystemTime) -> Result<(), StoreError> {
        let mut denied = self.denied.lock().unwrap_or_else(PoisonError::into_inner);
        if denied.len() == denied.capacity() {
            // Before the table grows, what expired goes: the list holds live tokens only, at most one entry each.
            let now = self.now().time();
            denied.retain(|_, until| *until > now);
        }
        denied.insert(*jti, expires_at);
        Ok(())
    }

    async fn token_denied(&self, jti: &SecretHash) -> Result<bool, StoreError> {
        Ok(self.denied.lock().unwrap_or_else(PoisonError::into_inner).contains_key(jti))
    }
}

impl ReplayStore for MemoryStore {
    async fn first_use(&self, id: &SecretHash, until: SystemTime, now: SystemTime) -> Result<bool, StoreError> {
        let shard = usize::from(id.as_bytes()[0]) % PROOF_SHARDS;
        let mut seen = self.proofs[shard].lock().unwrap_or_else(PoisonError::into_inner);
        crate::resource::first_proof_use_in(&mut seen, MAX_PROOFS / PROOF_SHARDS, id, until, now)
    }
}

impl PushedRequestStore for MemoryStore {
    async fn store_pushed_request(
        &self,
        request_uri: SecretHash,
        record: PushedRequestRecord,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut pushed = self.pushed.lock().unwrap_or_else(PoisonError::into_inner);
        if pushed.len() >= MAX_PUSHED {
            pushed.retain(|_, r| r.expires_at > now);
            if pushed.len() >= MAX_PUSHED {
                return Err(StoreError::new("too many pushed authorization requests are waiting"));
            }
        }
        pushed.insert(request_uri, record);
        Ok(())
    }

    async fn take_pushed_request(
        &self,
        request_uri: &SecretHash,
        client_id: &str,
        now: SystemTime,
    ) -> Result<Option<PushedRequestRecord>, StoreError> {
        let mut pushed = self.pushed.lock().unwrap_or_else(PoisonError::into_inner);
        let usable = pushed.get(request_uri).is_some_and(|r| r.client_id == client_id && r.expires_at > now);
        Ok(if usable { pushed.remove(request_uri) } else { None })
    }
}

impl DeviceStore for MemoryStore {
    async fn store_device_code(
        &self,
        device_code: SecretHash,
        user_code: SecretHash,
        record: DeviceCodeRecord,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        if devices.by_device.len() >= MAX_DEVICE_CODES {
            devices.forget_expired(now);
            if devices.by_device.len() >= MAX_DEVICE_CODES {
                return Err(StoreError::new("too many device authorizations are waiting"));
            }
        }
        if let Some(other) = devices.by_user.get(&user_code)
            && devices.by_device.get(other).is_some_and(|(_, r)| r.expires_at > now)
        {
            return Ok(false);
        }
        if let Some(old) = devices.by_user.insert(user_code, device_code) {
            devices.by_device.remove(&old);
        }
        devices.by_device.insert(device_code, (user_code, record));
        Ok(true)
    }

    async fn device_code_by_user_code(&self, user_code: &SecretHash) -> Result<Option<DeviceCodeRecord>, StoreError> {
        let devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let device = devices.by_user.get(user_code);
        Ok(device.and_then(|d| devices.by_device.get(d)).map(|(_, record)| record.clone()))
    }

    async fn decide_device_code(
        &self,
        user_code: &SecretHash,
        decision: DeviceDecision,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(device) = devices.by_user.get(user_code).copied() else { return Ok(false) };
        let Some((_, record)) = devices.by_device.get_mut(&device) else { return Ok(false) };
        if record.status != DeviceStatus::Pending || record.expires_at <= now {
            return Ok(false);
        }
        record.status = match decision {
            DeviceDecision::Approve(grant) => DeviceStatus::Approved(grant),
            DeviceDecision::Deny => DeviceStatus::Denied,
        };
        Ok(true)
    }

    async fn poll_device_code(
        &self,
        device_code: &SecretHash,
        client_id: &str,
        now: SystemTime,
    ) -> Result<Option<(DeviceCodeRecord, bool)>, StoreError> {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((_, record)) = devices.by_device.get_mut(device_code).filter(|(_, r)| r.client_id == client_id) else {
            return Ok(None);
        };
        let (after, too_soon) = record.clone().after_poll(now);
        *record = after.clone();
        Ok(Some((after, too_soon)))
    }

    async fn redeem_device_code(
        &self,
        device_code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<bool, StoreError> {
        // No `.await` in here: once the status is Redeemed, the tokens are stored.
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((_, record)) = devices.by_device.get_mut(device_code) else { return Ok(false) };
        if !matches!(record.status, DeviceStatus::Approved(_)) {
            return Ok(false);
        }
        record.status = DeviceStatus::Redeemed;
        drop(devices);
        let revoked = self.revoked();
        self.insert_token(access, false, &revoked);
        if let Some(refresh) = refresh {
            self.insert_token(refresh, true, &revoked);
        }
        Ok(true)
    }
}

impl Maintenance for MemoryStore {
    async fn purge(&self, now: SystemTime) -> Result<u64, StoreError> {
        let (codes, access, refresh) = self.counts();
        self.purge_expired(now);
        let (c, a, r) = self.counts();
        self.throttle.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, (_, forget_at)| *forget_at > now);
        self.denied.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, until| *until > now);
        let devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner).forget_expired(now);
        let pushed = {
            let mut pushed = self.pushed.lock().unwrap_or_else(PoisonError::into_inner);
            let before = pushed.len();
            pushed.retain(|_, r| r.expires_at > now);
            before - pushed.len()
        };
        let proofs: usize = self
            .proofs
            .iter()
            .map(|shard| {
                let mut seen = shard.lock().unwrap_or_else(PoisonError::into_inner);
                let before = seen.len();
                seen.retain(|_, kept| *kept > now);
                before - seen.len()
            })
            .sum();
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let before = keys.len();
        keys.retain(|k| k.retired_until.is_none_or(|until| until > now));
        let forgotten = before - keys.len();
        Ok(u64::try_from((codes - c) + (access - a) + (refresh - r) + forgotten + devices + pushed + proofs)
            .unwrap_or(u64::MAX))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self.keys.lock().unwrap_or_else(PoisonError::into_inner).iter().rev().cloned().collect())
    }

    async fn create_signing_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = keys.iter().find(|k| k.algorithm == key.algorithm && k.retired_until.is_none()) {
            return Ok(current.clone());
        }
        if keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::new("a signing key with this kid exists"));
        }
        let key = KeyRecord { retired_until: None, ..key };
        keys.push(key.clone());
        Ok(key)
    }

    async fn rotate_signing_key(&self, key: KeyRecord, retired_until: SystemTime) -> Result<(), StoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::new("a signing key with this kid exists"));
        }
        for old in keys.iter_mut().filter(|k| k.algorithm == key.algorithm && k.retired_until.is_none()) {
            old.retired_until = Some(retired_until);
        }
        keys.push(KeyRecord { retired_until: None, ..key });
        Ok(())
    }
}

impl ThrottleStore for MemoryStore {
    async fn record_attempt(
        &self,
        key: &SecretHash,
        now: SystemTime,
        policy: &ThrottlePolicy,
    ) -> Result<Attempts, StoreError> {
        let mut table = self.throttle.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= MAX_THROTTLED && !table.contains_key(key) {
            table.retain(|_, (_, forget_at)| *forget_at > now);
            if table.len() >= MAX_THROTTLED {
                table.retain(|_, (a, _)| a.refused(now).is_some() || a.count > 1);
            }
            if table.len() >= MAX_THROTTLED {
                table.retain(|_, (a, _)| a.refused(now).is_some());
            }
        }
        let (entry, forget_at) = table.entry(*key).or_insert((Attempts::default(), now));
        *entry = entry.after_attempt(now, policy);
        // When nothing of the record matters any more: its window and its lockout are over.
        let window_end = entry.window_start.map(|start| crate::server::rules::lifetime::later(start, policy.window));
        *forget_at = window_end.into_iter().chain(entry.locked_until).max().unwrap_or(now);
        Ok(*entry)
    }

    async fn clear_attempts(&self, key: &SecretHash) -> Result<(), StoreError> {
        self.throttle.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
        Ok(())
    }
}

impl AccessTokenVerifier for MemoryStore {
    async fn verify(&self, token: &BearerToken<'_>, _now: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
        self.access_grant(&token.hash()).await
    }

    /// DPoP proofs at resources that check tokens against this store are remembered in it (RFC 9449 §11.1).
    async fn first_proof_use(
        &self,
        id: &SecretHash,
        until: SystemTime,
        now: SystemTime,
    ) -> Result<Option<bool>, StoreError> {
        self.first_use(id, until, now).await.map(Some)
    }
}

impl MemoryStore {
    /// Puts `grant` on the deny-list: from now on none of its tokens is found and none can be stored. Synchronous,
    /// so the store methods that detect a reuse revoke within the same call.
    fn revoke_family(&self, grant: &GrantId) {
        let size = {
            let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
            // The clock is read under the lock: every token stored before this point has updated it.
            let at = self.now();
            let seq = self.revocations.fetch_add(1, Ordering::SeqCst);
            revoked.entry(*grant).or_insert(Revoked { at, seq });
            u64::try_from(revoked.len()).unwrap_or(u64::MAX)
        };
        if size >= self.purge_at.load(Ordering::Relaxed) {
            self.purge_expired(self.now().time());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(grant: u8, issued: SystemTime, lifetime: u64) -> TokenRecord {
        TokenRecord {
            grant: Grant {
                id: GrantId::from_bytes([grant; 16]),
                client_id: "c".into(),
                subject: None,
                scope: Scope::parse("read"),
                auth_time: None,
                resources: Vec::new(),
                jkt: None,
            },
            issued_at: issued,
            expires_at: issued + Duration::from_secs(lifetime),
        }
    }

    /// The store never waits: every future completes on its first poll.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_util::FutureExt::now_or_never(f).expect("the in-memory store answers without waiting")
    }

    #[test]
    fn entries_stay_compact() {
        // The 200-bytes-per-token budget of issue 5 rests on this size (plus the table's own overhead).
        assert_eq!(std::mem::size_of::<(Key, Entry)>(), 72);
    }

    #[test]
    fn times_round_trip_exactly() {
        let t = UNIX_EPOCH + Duration::new(1_790_000_000, 123_456_789);
        assert_eq!(Nanos::of(t).time(), t);
    }

    #[test]
    fn principals_are_shared_and_forgotten_when_unused() {
        let store = MemoryStore::new();
        let now = SystemTime::now();
        for i in 0..1000 {
            let stored = store.store_tokens((SecretHash::of(&format!("t{i}")), token(1, now, 60)), None);
            assert!(block_on(stored).unwrap());
        }
        let principals: usize = store.shards.iter().map(|s| s.lock().unwrap().principals.len()).sum();
        assert!(principals <= SHARDS, "one principal per shard at most, got {principals}");
        store.purge_expired(now + Duration::from_secs(61));
        let principals: usize = store.shards.iter().map(|s| s.lock().unwrap().principals.len()).sum();
        assert_eq!(principals, 0);
        assert_eq!(store.counts(), (0, 0, 0));
    }

    #[test]
    fn maps_sweep_expired_tokens_instead_of_growing() {
        // A steady load of short-lived tokens: 4000 a "second", each living 10 s, so about 40 000 are alive at any
        // time while 1.2 M are issued over 30 lifetimes. Once warm (four lifetimes) the tables must not grow: memory
        // follows the live set, not the total. (Sweeping leaves tombstones that `capacity()` does not count as free;
        // mistaking them for entries once doubled the tables under exactly this load.)
        let store = MemoryStore::new();
        let start = SystemTime::now();
        let slots = |s: &MemoryStore| -> usize { s.shards.iter().map(|s| s.lock().unwrap().access.capacity()).sum() };
        let (mut warm_peak, mut later_peak) = (0, 0);
        for i in 0..1_200_000u64 {
            let now = start + Duration::from_micros(i * 250);
            let stored = store.store_tokens((SecretHash::of(&i.to_string()), token(1, now, 10)), None);
            assert!(block_on(stored).unwrap());
            if i % 10_000 == 0 {
                let s = slots(&store);
                if i < 160_000 { warm_peak = warm_peak.max(s) } else { later_peak = later_peak.max(s) }
            }
        }
        assert!(later_peak <= warm_peak, "the tables grew from {warm_peak} to {later_peak} slots under a steady load");
        assert!(later_peak < 4 * 40_000, "{later_peak} slots for about 40 000 live tokens");
    }

    #[test]
    fn the_revoked_list_stays_bounded_without_a_purge_timer() {
        // 3000 grants revoked, half of them a lifetime later than the rest: revoke_grant purges by itself as the
        // list doubles, and forgets the first half once their tokens have expired and been swept.
        let store = MemoryStore::new();
        let start = SystemTime::now();
        let id = |i: u32| {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            GrantId::from_bytes(bytes)
        };
        let issue = |i: u32, at: SystemTime| {
            let mut record = token(0, at, 60);
            record.grant.id = id(i);
            assert!(block_on(store.store_tokens((SecretHash::of(&format!("t{i}")), record), None)).unwrap());
        };
        for i in 0..1500 {
            issue(i, start);
        }
        for i in 0..1500 {
            block_on(store.revoke_grant(&id(i))).unwrap();
        }
        for i in 1500..3000 {
            issue(i, start + Duration::from_secs(120));
        }
        for i in 1500..3000 {
            block_on(store.revoke_grant(&id(i))).unwrap();
        }
        let kept = store.revoked().len();
        assert!(kept < 2000, "{kept} revoked ids kept for 1500 live revocations");
        for i in [0, 1499, 1500, 2999] {
            let found = block_on(store.access_token(&SecretHash::of(&format!("t{i}")))).unwrap();
            assert!(found.is_none(), "grant {i}'s token is revoked or swept");
        }
    }

    #[test]
    fn revoked_ids_are_forgotten_once_their_tokens_expired() {
        let store = MemoryStore::new();
        let now = SystemTime::now();
        let at = SecretHash::of("at");
        assert!(block_on(store.store_tokens((at, token(7, now, 60)), None)).unwrap());
        block_on(store.revoke_grant(&GrantId::from_bytes([7; 16]))).unwrap();
        store.purge_expired(now + Duration::from_secs(30));
        assert!(block_on(store.access_token(&at)).unwrap().is_none());
        assert_eq!(store.revoked().len(), 1, "kept while a token of the grant could be alive");
        store.purge_expired(now + Duration::from_secs(61));
        assert_eq!(store.revoked().len(), 0);
    }
}
