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
//! A fill (a database read put in the cache) that overlaps an eviction of what it names is dropped, as it may hold
//! what the eviction removed: the read notes the generation (the number of the last eviction) first, and the fill
//! goes in only if none of the evictions since names its token, family or client (the last [`RECENT`] evictions
//! are kept for that; a fill older than those is dropped). So one client revoking its own tokens in a loop costs
//! everyone else nothing: each eviction is a lookup by key, and only fills of what it names are dropped.
//!
//! Both maps are bounded. When the token map is full, expired entries go; if that frees less than a tenth of it,
//! it is emptied (a sweep at most every tenth of the capacity's fills: constant time per fill on average).

use std::collections::{HashMap, HashSet, VecDeque};
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
/// Evictions remembered for the fills that overlap them.
pub(crate) const RECENT: usize = 4096;

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

/// What one eviction removed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Evicted {
    Token([u8; 32]),
    Family(GrantId),
    Client(String),
}

/// The cached entries, under one lock.
#[derive(Debug, Default)]
struct Entries {
    tokens: HashMap<[u8; 32], (AccessGrant, GrantId)>,
    /// The cached tokens of each family, to evict a family by key.
    families: HashMap<GrantId, Vec<[u8; 32]>>,
    clients: HashMap<String, Arc<RegisteredClient>>,
    /// The number of the last eviction.
    generation: u64,
    /// The last [`RECENT`] evictions, oldest first, with their numbers.
    recent: VecDeque<(u64, Evicted)>,
    /// A fill read before this generation is dropped (the cache was emptied, or the evictions since it are no
    /// longer all in `recent`).
    horizon: u64,
}

impl Entries {
    fn record(&mut self, evicted: Evicted) {
        self.generation += 1;
        if self.recent.len() == RECENT
            && let Some((number, _)) = self.recent.pop_front()
        {
            self.horizon = self.horizon.max(number);
        }
        self.recent.push_back((self.generation, evicted));
    }

    /// Whether a fill read at `generation` of what `names` says may go in.
    fn fresh(&self, generation: u64, names: impl Fn(&Evicted) -> bool) -> bool {
        generation >= self.horizon
            && !self.recent.iter().rev().take_while(|(number, _)| *number > generation).any(|(_, e)| names(e))
    }

    fn remove_token(&mut self, hash: &[u8; 32]) {
        if let Some((_, family)) = self.tokens.remove(hash)
            && let Some(hashes) = self.families.get_mut(&family)
        {
            hashes.retain(|h| h != hash);
            if hashes.is_empty() {
                self.families.remove(&family);
            }
        }
    }

    /// Keeps the tokens `keep` says, and the family index in step.
    fn retain_tokens(&mut self, keep: impl Fn(&AccessGrant) -> bool) {
        self.tokens.retain(|_, (grant, _)| keep(grant));
        self.families.clear();
        for (hash, (_, family)) in &self.tokens {
            self.families.entry(*family).or_default().push(*hash);
        }
    }
}

/// The cache: see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Cache {
    capacity: usize,
    entries: RwLock<Entries>,
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
            entries: RwLock::new(Entries::default()),
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

    /// The generation a fill must give back (read it before the database).
    pub(crate) fn generation(&self) -> u64 {
        read(&self.entries).generation
    }

    /// Applies a poll that began at `started`, read `rows` (more than [`POLL_LIMIT`] if `truncated`) and ends at
    /// `position`. Everything goes when rows may have been missed: the poll was truncated, the last one is older
    /// than half the feed's retention, or the position went back (the database was restored or replaced).
    pub(crate) fn apply(&self, started: Instant, position: i64, rows: &[Change], truncated: bool) {
        let mut feed = self.feed.lock().unwrap_or_else(PoisonError::into_inner);
        let lapsed = feed.synced_at.is_none_or(|at| started.saturating_duration_since(at) > RETENTION / 2);
        if truncated || lapsed || position < feed.position {
            self.clear();
        } else {
            let new: Vec<&Change> = rows.iter().filter(|c| !feed.seen.contains(&c.seq)).collect();
            if !new.is_empty() {
                self.evict(new.into_iter());
            }
        }
        feed.seen = rows.iter().map(|c| c.seq).collect();
        feed.position = position;
        if feed.synced_at.is_none_or(|at| at < started) {
            feed.synced_at = Some(started);
            let nanos = u64::try_from(started.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
            self.synced_nanos.store(nanos.max(1), Ordering::Release);
        }
    }

    /// Drops what `changes` name (a change of this instance's, at once; the feed brings it to the others): a token
    /// or a family by key, a client with its tokens.
    pub(crate) fn evict<'c>(&self, changes: impl Iterator<Item = &'c Change>) {
        let mut entries = write(&self.entries);
        for change in changes {
            if let Some(hash) = change.token {
                entries.record(Evicted::Token(hash));
                entries.remove_token(&hash);
            }
            if let Some(family) = change.grant {
                entries.record(Evicted::Family(family));
                for hash in entries.families.remove(&family).unwrap_or_default() {
                    entries.tokens.remove(&hash);
                }
            }
            if let Some(client) = &change.client {
                entries.record(Evicted::Client(client.clone()));
                entries.clients.remove(client);
                if entries.tokens.values().any(|(g, _)| *g.client_id == **client) {
                    entries.retain_tokens(|g| *g.client_id != **client);
                }
            }
        }
    }

    /// Drops everything, and every fill read before.
    fn clear(&self) {
        let mut entries = write(&self.entries);
        entries.generation += 1;
        entries.horizon = entries.generation;
        entries.recent.clear();
        entries.tokens.clear();
        entries.families.clear();
        entries.clients.clear();
    }

    /// The cached grant of the access token `hash`.
    pub(crate) fn token(&self, hash: &[u8; 32]) -> Option<AccessGrant> {
        read(&self.entries).tokens.get(hash).map(|(grant, _)| grant.clone())
    }

    /// Caches the grant of the access token `hash` of `family`, read at `generation`, unless an eviction of the
    /// token, its family or its client came since. A full map loses its tokens expired at `now`, or everything.
    pub(crate) fn fill_token(
        &self,
        generation: u64,
        hash: [u8; 32],
        grant: AccessGrant,
        family: GrantId,
        now: SystemTime,
    ) {
        let mut entries = write(&self.entries);
        let names = |e: &Evicted| match e {
            Evicted::Token(h) => *h == hash,
            Evicted::Family(f) => *f == family,
            Evicted::Client(c) => **c == *grant.client_id,
        };
        if !entries.fresh(generation, names) {
            return;
        }
        if entries.tokens.len() >= self.capacity {
            entries.retain_tokens(|g| g.expires_at > now);
            if entries.tokens.len() >= self.capacity - self.capacity / 10 {
                entries.tokens.clear();
                entries.families.clear();
            }
        }
        entries.tokens.insert(hash, (grant, family));
        entries.families.entry(family).or_default().push(hash);
    }

    /// The cached registration of client `id`.
    pub(crate) fn client(&self, id: &str) -> Option<Arc<RegisteredClient>> {
        read(&self.entries).clients.get(id).cloned()
    }

    /// Caches client `id`'s registration, read at `generation`, unless an eviction of it came since or the map is
    /// full.
    pub(crate) fn fill_client(&self, generation: u64, client: Arc<RegisteredClient>) {
        let mut entries = write(&self.entries);
        let names = |e: &Evicted| matches!(e, Evicted::Client(c) if *c == client.id);
        if entries.fresh(generation, names) && entries.clients.len() < MAX_CLIENTS {
            entries.clients.insert(client.id.clone(), client);
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
    fn a_full_cache_drops_its_expired_tokens_or_else_everything() {
        let cache = Cache::new(10);
        let now = SystemTime::now();
        let family = GrantId::from_bytes([1; 16]);
        for i in 0..10u8 {
            let mut g = grant("a");
            if i < 5 {
                g.expires_at = now; // expired at `now + 1 s` below
            }
            cache.fill_token(cache.generation(), [i; 32], g, family, now);
        }
        let later = now + Duration::from_secs(1);
        cache.fill_token(cache.generation(), [10; 32], grant("a"), family, later);
        assert!(cache.token(&[0; 32]).is_none() && cache.token(&[5; 32]).is_some(), "the expired went, the live stay");
        assert!(cache.token(&[10; 32]).is_some());
        for i in 11..16u8 {
            cache.fill_token(cache.generation(), [i; 32], grant("a"), family, later);
        }
        assert!(cache.token(&[15; 32]).is_some() && cache.token(&[5; 32]).is_none(), "full of live ones: emptied");
    }

    #[test]
    fn an_eviction_drops_only_the_fills_of_what_it_names() {
        let cache = Cache::new(10);
        let before = cache.generation();
        for i in 0..100u8 {
            cache.evict([Change { token: Some([i; 32]), ..Change::default() }].iter());
        }
        let (f1, f2) = (GrantId::from_bytes([1; 16]), GrantId::from_bytes([2; 16]));
        cache.fill_token(before, [200; 32], grant("b"), f2, SystemTime::now());
        assert!(cache.token(&[200; 32]).is_some(), "another client's revocations in a loop cost this fill nothing");
        cache.evict([Change { grant: Some(f1), ..Change::default() }].iter());
        cache.fill_token(before, [201; 32], grant("b"), f1, SystemTime::now());
        assert!(cache.token(&[201; 32]).is_none(), "its family was evicted after the read");
        cache.fill_token(before, [50; 32], grant("b"), f2, SystemTime::now());
        assert!(cache.token(&[50; 32]).is_none(), "the token itself was evicted after the read");
        // Older than every eviction remembered: dropped, whatever it names.
        let old = cache.generation();
        for i in 0..RECENT {
            let hash: [u8; 32] = std::array::from_fn(|b| (i >> (8 * (b % 4))) as u8 ^ 0x55);
            cache.evict([Change { token: Some(hash), ..Change::default() }].iter());
        }
        cache.evict([Change { token: Some([9; 32]), ..Change::default() }].iter());
        cache.fill_token(old, [202; 32], grant("b"), f2, SystemTime::now());
        assert!(cache.token(&[202; 32]).is_none());
    }

    #[test]
    fn a_feed_position_that_goes_back_drops_everything() {
        let cache = Cache::new(10);
        let start = Instant::now();
        cache.apply(start, 100, &[], false);
        cache.fill_token(cache.generation(), [1; 32], grant("a"), GrantId::from_bytes([1; 16]), SystemTime::now());
        cache.apply(start + POLL_EVERY, 100, &[], false);
        assert!(cache.token(&[1; 32]).is_some());
        cache.apply(start + POLL_EVERY * 2, 40, &[], false);
        assert!(cache.token(&[1; 32]).is_none(), "a restored database: rows before the old position were never read");
    }
}
