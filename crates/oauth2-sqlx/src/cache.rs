//! What an instance keeps in memory in front of its database: verified access tokens and registered clients.
//!
//! Every transaction that makes a cached answer wrong (a family or an access token revoked, a client registered,
//! changed or removed) writes a row to the feed `oauth2_changes` beside its change, and every instance reads the
//! feed (a poll, in the background, every [`POLL_EVERY`] while it is busy) and evicts what the rows name. The
//! rule that bounds staleness: the cache answers only while the last poll that succeeded **began** less than
//! [`MAX_STALENESS`] ago. A change committed anywhere at T is read by every poll that begins after T, so from
//! T + [`MAX_STALENESS`] on no instance answers from before it; an instance that cannot read the feed (its
//! database is down) stops answering from the cache within that second too.
//!
//! A fill (a database read put in the cache) that overlaps an eviction is dropped, as it may hold what the
//! eviction removed: the read notes the generation first, and the fill goes in only if no eviction bumped it
//! since. Both maps are bounded: when the token map is full, expired entries go, and if it is still full nothing
//! more is cached (the database answers).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use oauth2_core::resource::AccessGrant;
use oauth2_core::server::store::{GrantId, RegisteredClient};

/// How often a busy instance reads the feed.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(200);
/// How old the last successful poll may be (counted from when it began) for the cache to answer.
pub(crate) const MAX_STALENESS: Duration = Duration::from_secs(1);
/// How long the feed's rows are kept. An instance whose last poll is older than half of this drops its cache
/// whole, as rows it has not read may have been purged.
pub(crate) const RETENTION: Duration = Duration::from_secs(600);
/// Rows one poll reads at most; beyond that, the cache is dropped whole rather than read row by row.
pub(crate) const POLL_LIMIT: usize = 10_000;
/// Registered clients cached at most.
const MAX_CLIENTS: usize = 10_000;

/// One row of the feed: what it names is stale.
#[derive(Debug, Clone, Default)]
pub(crate) struct Change {
    /// The row's number (0 for a change of this instance's, evicted before the feed is read).
    pub(crate) seq: i64,
    /// A revoked family: its tokens go.
    pub(crate) grant: Option<GrantId>,
    /// A registered, changed or removed client: it goes, with its tokens.
    pub(crate) client: Option<String>,
    /// A revoked access token (its SHA-256).
    pub(crate) token: Option<[u8; 32]>,
}

/// Where this instance is in the feed.
#[derive(Debug)]
struct Feed {
    /// The position the next poll reads from (a seq in SQLite, a transaction id in PostgreSQL).
    position: i64,
    /// Rows the last poll read: PostgreSQL reads some again, and they are not new.
    seen: HashSet<i64>,
    /// When the last successful poll began.
    synced_at: Option<Instant>,
}

/// The cache: see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Cache {
    capacity: usize,
    tokens: RwLock<HashMap<[u8; 32], (AccessGrant, GrantId)>>,
    clients: RwLock<HashMap<String, Arc<RegisteredClient>>>,
    /// Bumped, under the maps' write locks, by every eviction.
    generation: AtomicU64,
    feed: Mutex<Feed>,
    polling: AtomicBool,
    /// When the last successful poll began, as nanoseconds since `epoch` (0: never), for a check without a lock.
    synced_nanos: AtomicU64,
    epoch: Instant,
}

/// The right to run the next poll; dropping it (the poll done, failed or cancelled) lets another one start.
#[derive(Debug)]
pub(crate) struct PollTurn(Arc<Cache>);

impl Drop for PollTurn {
    fn drop(&mut self) {
        self.0.polling.store(false, Ordering::Release);
    }
}

impl PollTurn {
    /// The cache this turn polls for.
    pub(crate) fn cache(&self) -> &Cache {
        &self.0
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Cache {
    /// A cache of at most `capacity` access tokens (0: none, and no client either).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tokens: RwLock::new(HashMap::new()),
            clients: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            feed: Mutex::new(Feed { position: 0, seen: HashSet::new(), synced_at: None }),
            polling: AtomicBool::new(false),
            synced_nanos: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn since_sync(&self, now: Instant) -> Option<Duration> {
        let nanos = self.synced_nanos.load(Ordering::Acquire);
        (nanos != 0).then(|| now.saturating_duration_since(self.epoch + Duration::from_nanos(nanos)))
    }

    /// Whether the cache may answer at `now` (its last successful poll began less than [`MAX_STALENESS`] ago).
    pub(crate) fn usable(&self, now: Instant) -> bool {
        self.capacity > 0 && self.since_sync(now).is_some_and(|age| age < MAX_STALENESS)
    }

    /// The turn to poll, if a poll is due at `now` and none is running.
    pub(crate) fn poll_turn(self: &Arc<Self>, now: Instant) -> Option<PollTurn> {
        if self.capacity == 0 || self.since_sync(now).is_some_and(|age| age < POLL_EVERY) {
            return None;
        }
        self.polling
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
            .then(|| PollTurn(Arc::clone(self)))
    }

    /// Where the next poll reads from.
    pub(crate) fn position(&self) -> i64 {
        self.feed.lock().unwrap_or_else(PoisonError::into_inner).position
    }

    /// The generation a fill must still find (read it before the database).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Applies a poll that began at `started`, read `rows` (more than [`POLL_LIMIT`] if `truncated`) and ends at
    /// `position`.
    pub(crate) fn apply(&self, started: Instant, position: i64, rows: &[Change], truncated: bool) {
        let mut feed = self.feed.lock().unwrap_or_else(PoisonError::into_inner);
        let lapsed = feed.synced_at.is_none_or(|at| started.saturating_duration_since(at) > RETENTION / 2);
        let new: Vec<&Change> = rows.iter().filter(|c| !feed.seen.contains(&c.seq)).collect();
        if truncated || lapsed {
            self.clear();
        } else if !new.is_empty() {
            self.evict(new.into_iter());
        }
        feed.seen = rows.iter().map(|c| c.seq).collect();
        feed.position = position;
        if feed.synced_at.is_none_or(|at| at < started) {
            feed.synced_at = Some(started);
            let nanos = u64::try_from(started.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
            self.synced_nanos.store(nanos.max(1), Ordering::Release);
        }
    }

    /// Drops what `changes` name (a change of this instance's, at once; the feed brings it to the others).
    pub(crate) fn evict<'c>(&self, changes: impl Iterator<Item = &'c Change>) {
        let (mut grants, mut clients, mut hashes) = (HashSet::new(), HashSet::new(), HashSet::new());
        for change in changes {
            grants.extend(change.grant);
            clients.extend(change.client.as_deref());
            hashes.extend(change.token);
        }
        let mut tokens = write(&self.tokens);
        let mut registry = write(&self.clients);
        self.generation.fetch_add(1, Ordering::SeqCst);
        if !grants.is_empty() || !clients.is_empty() || !hashes.is_empty() {
            tokens.retain(|hash, (grant, family)| {
                !hashes.contains(hash) && !grants.contains(family) && !clients.contains(&*grant.client_id)
            });
        }
        registry.retain(|id, _| !clients.contains(id.as_str()));
    }

    /// Drops everything.
    fn clear(&self) {
        let mut tokens = write(&self.tokens);
        let mut registry = write(&self.clients);
        self.generation.fetch_add(1, Ordering::SeqCst);
        tokens.clear();
        registry.clear();
    }

    /// The cached grant of the access token `hash`.
    pub(crate) fn token(&self, hash: &[u8; 32]) -> Option<AccessGrant> {
        read(&self.tokens).get(hash).map(|(grant, _)| grant.clone())
    }

    /// Caches the grant of the access token `hash`, read at `generation`, unless an eviction came since or the map
    /// is full of unexpired tokens at `now`.
    pub(crate) fn fill_token(
        &self,
        generation: u64,
        hash: [u8; 32],
        grant: AccessGrant,
        family: GrantId,
        now: SystemTime,
    ) {
        let mut tokens = write(&self.tokens);
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if tokens.len() >= self.capacity {
            tokens.retain(|_, (g, _)| g.expires_at > now);
            if tokens.len() >= self.capacity {
                return;
            }
        }
        tokens.insert(hash, (grant, family));
    }

    /// The cached registration of client `id`.
    pub(crate) fn client(&self, id: &str) -> Option<Arc<RegisteredClient>> {
        read(&self.clients).get(id).cloned()
    }

    /// Caches client `id`'s registration, read at `generation`, unless an eviction came since or the map is full.
    pub(crate) fn fill_client(&self, generation: u64, client: Arc<RegisteredClient>) {
        let mut clients = write(&self.clients);
        if self.generation.load(Ordering::SeqCst) == generation && clients.len() < MAX_CLIENTS {
            clients.insert(client.id.clone(), client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2_core::scope::Scope;

    fn grant(client: &str) -> AccessGrant {
        AccessGrant::new(None, Arc::from(client), Arc::new(Scope::parse("read")), SystemTime::now() + MAX_STALENESS)
    }

    fn synced(cache: &Cache, at: Instant) {
        cache.apply(at, 0, &[], false);
    }

    #[test]
    fn answers_only_within_a_second_of_the_start_of_the_last_poll() {
        let cache = Cache::new(10);
        let start = Instant::now();
        assert!(!cache.usable(start), "never polled");
        synced(&cache, start);
        assert!(cache.usable(start + Duration::from_millis(999)));
        assert!(!cache.usable(start + MAX_STALENESS), "a second after the poll began, the cache no longer answers");
    }

    #[test]
    fn a_fill_that_overlaps_an_eviction_is_dropped() {
        let cache = Cache::new(10);
        let family = GrantId::from_bytes([1; 16]);
        let before = cache.generation();
        cache.evict([Change { grant: Some(family), ..Change::default() }].iter());
        cache.fill_token(before, [7; 32], grant("a"), family, SystemTime::now());
        assert!(cache.token(&[7; 32]).is_none(), "read before the revocation, so it may be stale");
        cache.fill_token(cache.generation(), [7; 32], grant("a"), family, SystemTime::now());
        assert!(cache.token(&[7; 32]).is_some());
    }

    #[test]
    fn a_change_evicts_what_it_names_and_nothing_else() {
        let cache = Cache::new(10);
        let (f1, f2) = (GrantId::from_bytes([1; 16]), GrantId::from_bytes([2; 16]));
        let now = SystemTime::now();
        for (hash, family, client) in [([1; 32], f1, "a"), ([2; 32], f2, "a"), ([3; 32], f2, "b"), ([4; 32], f2, "c")] {
            cache.fill_token(cache.generation(), hash, grant(client), family, now);
        }
        let registration = Arc::new(RegisteredClient::public("b"));
        cache.fill_client(cache.generation(), registration);
        cache.evict([Change { grant: Some(f1), ..Change::default() }].iter());
        assert!(cache.token(&[1; 32]).is_none() && cache.token(&[2; 32]).is_some());
        cache.evict([Change { client: Some("b".into()), ..Change::default() }].iter());
        assert!(cache.token(&[3; 32]).is_none() && cache.client("b").is_none(), "a client goes with its tokens");
        cache.evict([Change { token: Some([2; 32]), ..Change::default() }].iter());
        assert!(cache.token(&[2; 32]).is_none() && cache.token(&[4; 32]).is_some());
    }

    #[test]
    fn rows_read_again_are_not_new_and_a_lapsed_feed_drops_everything() {
        let cache = Cache::new(10);
        let start = Instant::now();
        synced(&cache, start);
        let row = Change { seq: 5, client: Some("a".into()), ..Change::default() };
        cache.apply(start, 1, std::slice::from_ref(&row), false);
        let generation = cache.generation();
        cache.apply(start + POLL_EVERY, 1, std::slice::from_ref(&row), false);
        assert_eq!(cache.generation(), generation, "a row PostgreSQL returns again evicts nothing more");
        cache.fill_token(cache.generation(), [1; 32], grant("z"), GrantId::from_bytes([9; 16]), SystemTime::now());
        cache.apply(start + RETENTION, 1, &[], false);
        assert!(cache.token(&[1; 32]).is_none(), "after a gap of half the retention, rows may be gone: drop all");
    }

    #[test]
    fn a_full_cache_makes_room_from_expired_tokens_only() {
        let cache = Cache::new(1);
        let now = SystemTime::now();
        let family = GrantId::from_bytes([1; 16]);
        cache.fill_token(cache.generation(), [1; 32], grant("a"), family, now);
        cache.fill_token(cache.generation(), [2; 32], grant("a"), family, now);
        assert!(cache.token(&[2; 32]).is_none(), "full of live tokens: not cached");
        cache.fill_token(cache.generation(), [2; 32], grant("a"), family, now + MAX_STALENESS * 2);
        assert!(cache.token(&[1; 32]).is_none() && cache.token(&[2; 32]).is_some(), "the expired one made room");
    }
}
