//! The store test suite: the guarantees every [`GrantStore`], [`DeviceStore`], [`ThrottleStore`] and [`KeyStore`] must give, as async functions:
//! [`run`] for one store, [`run_shared`] for several handles on one database (two pools standing for two
//! instances). Durable stores call them from their tests; they need no runtime of their own.
//!
//! Its races run 100 operations on one code or refresh token as concurrent futures of one task, so a store that
//! reads, awaits and then writes is caught. Races between threads are the store's own business to test (the
//! in-memory store's are in the server tests, through the token endpoint).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use super::{
    CodeRecord, CodeUse, DeviceCodeRecord, DeviceDecision, DeviceStatus, DeviceStore, Grant, GrantId, GrantStore,
    KeyRecord, KeyStore, Maintenance, PushedRequestRecord, PushedRequestStore, ReplayStore, Rotation, ThrottlePolicy,
    ThrottleStore, TokenRecord,
};
use crate::scope::Scope;
use crate::secret::SecretHash;

/// A grant id named by a short label (its bytes, zero-padded).
fn gid(label: &str) -> GrantId {
    let mut bytes = [0u8; 16];
    for (b, l) in bytes.iter_mut().zip(label.bytes()) {
        *b = l;
    }
    GrantId::from_bytes(bytes)
}

fn grant(id: &str) -> Grant {
    Grant {
        id: gid(id),
        client_id: "c".into(),
        subject: Some("alice".into()),
        scope: Scope::parse("read"),
        // A whole second, so that every store keeps it exactly.
        auth_time: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        // RFC 8707: kept in order, through codes and tokens alike.
        resources: vec!["https://b.example/api".into(), "https://a.example".into()],
        // RFC 9449 §6: the DPoP key a token (or code) is bound to, kept through codes and tokens alike.
        jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
    }
}

fn token(id: &str, now: SystemTime) -> TokenRecord {
    TokenRecord { grant: grant(id), issued_at: now, expires_at: now + Duration::from_secs(60) }
}

/// Polls every future until all are done, each as soon as it can make progress: 100 store calls in flight at once.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, out) in pending.iter_mut().zip(done.iter_mut()) {
            if out.is_none()
                && let Poll::Ready(v) = future.as_mut().poll(cx)
            {
                *out = Some(v);
            }
        }
        if done.iter().all(Option::is_some) { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// The stores a run goes through: one store, or several handles on one shared database ("instances"). Writes
/// go through one and reads through another, and the races are split across all of them.
struct Stores<'s, S>(&'s [&'s S]);

impl<S> Stores<'_, S> {
    /// The store for the `i`-th operation.
    fn at(&self, i: usize) -> &S {
        self.0[i % self.0.len()]
    }
}

/// What the suite checks: every store trait but the clients' (which the app fills as it likes).
pub trait Checked:
    GrantStore + DeviceStore + PushedRequestStore + ReplayStore + ThrottleStore + KeyStore + Maintenance
{
}

impl<S: GrantStore + DeviceStore + PushedRequestStore + ReplayStore + ThrottleStore + KeyStore + Maintenance> Checked
    for S
{
}

type Check<S> = for<'a> fn(&'a Stores<'a, S>, SystemTime) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

fn checks<S: Checked>() -> [(&'static str, Check<S>); 10] {
    [
        ("basics", |s, now| Box::pin(basics(s, now))),
        ("revocation", |s, now| Box::pin(revocation(s, now))),
        ("races", |s, now| Box::pin(races(s, now))),
        ("throttle", |s, now| Box::pin(throttle(s, now))),
        ("maintenance", |s, now| Box::pin(maintenance(s, now))),
        ("signing keys", |s, now| Box::pin(signing_keys(s, now))),
        ("deny-list", |s, now| Box::pin(deny_list(s, now))),
        ("device codes", |s, now| Box::pin(device_codes(s, now))),
        ("pushed requests", |s, now| Box::pin(pushed_requests(s, now))),
        ("dpop proofs", |s, now| Box::pin(dpop_proofs(s, now))),
    ]
}

/// What a run found: the checks that passed, and each one that failed with its broken guarantee.
#[derive(Debug)]
pub struct Report {
    /// The store's name, as printed.
    pub name: String,
    /// How many checks passed.
    pub passed: usize,
    /// Each failed check, with the guarantee it found broken.
    pub failed: Vec<(&'static str, String)>,
}

impl Report {
    /// Panics with every broken guarantee, if any.
    pub fn assert_passed(&self) {
        if !self.failed.is_empty() {
            let lines: Vec<String> = self.failed.iter().map(|(c, why)| format!("{c}: {why}")).collect();
            panic!("store suite [{}] failed:\n{}", self.name, lines.join("\n"));
        }
    }
}

/// A future's panic, caught: the checks assert, and one broken guarantee must not hide the others.
async fn caught<F: Future<Output = ()>>(f: F) -> Result<(), String> {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(|cx| match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.as_mut().poll(cx))) {
        Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".into());
            Poll::Ready(Err(message))
        }
    })
    .await
}

/// Runs every check against `store` (which must start empty of these keys). Panics with the broken guarantees.
pub async fn run<S: Checked>(store: &S, now: SystemTime) {
    run_shared("store", &[store], now).await.assert_passed();
}

/// Runs every check through `stores`: handles on one database (separate pools, say, standing for separate
/// instances), or just one store. Writes go through one and reads through another, and the 100-way races are
/// split across all of them. Prints `store suite [NAME]: N passed, M failed` and returns the report.
pub async fn run_shared<S: Checked>(name: &str, stores: &[&S], now: SystemTime) -> Report {
    assert!(!stores.is_empty(), "the suite needs a store");
    let stores = Stores(stores);
    let mut report = Report { name: name.to_owned(), passed: 0, failed: Vec::new() };
    for (check, body) in checks::<S>() {
        match caught(body(&stores, now)).await {
            Ok(()) => report.passed += 1,
            Err(why) => report.failed.push((check, why)),
        }
    }
    eprintln!("store suite [{name}]: {} passed, {} failed", report.passed, report.failed.len());
    report
}

fn key(kid: &str, algorithm: &str, created_at: SystemTime) -> KeyRecord {
    KeyRecord {
        kid: kid.into(),
        algorithm: algorithm.into(),
        private_key: format!("private key of {kid}").into_bytes(),
        created_at,
        retired_until: None,
    }
}

/// design.md §3: instances that start at once create one key per algorithm; a rotation keeps the old key until its
/// tokens expire, and a purge after that forgets it. Keys come back byte for byte.
async fn signing_keys<S: KeyStore + Maintenance>(s: &Stores<'_, S>, now: SystemTime) {
    // The suite's own algorithm names, so that a store shared with a running server is not disturbed.
    let (alg, other_alg) = ("suite-A", "suite-B");
    let created =
        join_all((0..20).map(|i| s.at(i).create_signing_key(key(&format!("suite-k{i}"), alg, now))).collect());
    let created: Vec<KeyRecord> = created.await.into_iter().map(|r| r.expect("create")).collect();
    let winner = &created[0];
    assert!(created.iter().all(|k| k == winner), "20 instances starting at once share one key: {created:?}");
    assert_eq!(winner.private_key, format!("private key of {}", winner.kid).into_bytes(), "bytes survive");
    let other = s.at(1).create_signing_key(key("suite-other", other_alg, now)).await.expect("create");
    assert_eq!(other.kid, "suite-other", "each algorithm has its own current key");
    let again = s.at(1).create_signing_key(key("suite-late", alg, now + Duration::from_secs(1))).await.expect("create");
    assert_eq!(again.kid, winner.kid, "a later start finds the key");
    let ours = |keys: Vec<KeyRecord>| keys.into_iter().filter(|k| k.algorithm == alg).collect::<Vec<_>>();
    assert_eq!(ours(s.at(0).signing_keys().await.expect("keys")).len(), 1, "no key is stored twice");

    let later = now + Duration::from_secs(10);
    let until = later + Duration::from_secs(300);
    s.at(0).rotate_signing_key(key("suite-rotated", alg, later), until).await.expect("rotate");
    let keys = ours(s.at(1).signing_keys().await.expect("keys"));
    let kids: Vec<(&str, Option<SystemTime>)> = keys.iter().map(|k| (k.kid.as_str(), k.retired_until)).collect();
    assert_eq!(kids, [("suite-rotated", None), (winner.kid.as_str(), Some(until))], "newest first, the old one kept");
    let found = s.at(1).create_signing_key(key("suite-after", alg, later)).await.expect("create");
    assert_eq!(found.kid, "suite-rotated", "the rotated-in key is the current one");
    assert!(s.at(0).rotate_signing_key(key("suite-rotated", alg, later), until).await.is_err(), "kids are unique");

    s.at(0).purge(until - Duration::from_secs(1)).await.expect("purge");
    assert_eq!(ours(s.at(1).signing_keys().await.expect("keys")).len(), 2, "kept while its tokens may be alive");
    s.at(0).purge(until + Duration::from_secs(1)).await.expect("purge");
    let kids: Vec<String> = ours(s.at(1).signing_keys().await.expect("keys")).into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, ["suite-rotated"], "forgotten once its tokens have expired; the current key stays");
}

/// Purging drops what expired and nothing else; the store answers a ping.
async fn maintenance<S: GrantStore + Maintenance>(s: &Stores<'_, S>, now: SystemTime) {
    let (live, old) = (SecretHash::of("suite-purge-live"), SecretHash::of("suite-purge-old"));
    let mut short = token("g-purge-old", now);
    short.expires_at = now + Duration::from_secs(1);
    let mut long = token("g-purge-live", now);
    long.expires_at = now + Duration::from_secs(3600);
    assert!(s.at(0).store_tokens((old, short), None).await.expect("store"));
    assert!(s.at(0).store_tokens((live, long), None).await.expect("store"));
    s.at(1).purge(now + Duration::from_secs(2)).await.expect("purge");
    assert!(s.at(0).access_token(&old).await.expect("get").is_none(), "an expired token is purged");
    assert!(s.at(0).access_token(&live).await.expect("get").is_some(), "a live token is not");
    s.at(1).ping().await.expect("the store answers a ping");
}

/// RFC 9068 tokens the store holds nothing of are revoked by a deny-list entry: seen by every instance at once, kept
/// until the token expires, and forgotten by a purge after that.
async fn deny_list<S: GrantStore + Maintenance>(s: &Stores<'_, S>, now: SystemTime) {
    let (jti, other) = (SecretHash::of("suite-jti"), SecretHash::of("suite-jti-other"));
    assert!(!s.at(0).token_denied(&jti).await.expect("read"), "nothing is denied at first");
    s.at(0).deny_token(&jti, now + Duration::from_secs(60)).await.expect("deny");
    s.at(0).deny_token(&jti, now + Duration::from_secs(60)).await.expect("denying twice is no error");
    assert!(s.at(1).token_denied(&jti).await.expect("read"), "a denied jti is denied at every instance");
    assert!(!s.at(1).token_denied(&other).await.expect("read"), "and no other");
    s.at(1).purge(now + Duration::from_secs(30)).await.expect("purge");
    assert!(s.at(0).token_denied(&jti).await.expect("read"), "kept until the token expires");
    s.at(1).purge(now + Duration::from_secs(61)).await.expect("purge");
    assert!(!s.at(0).token_denied(&jti).await.expect("read"), "forgotten after it expired");
}

/// RFC 6749 §4.3.2: every attempt counts, concurrent ones included, and a success clears the key.
async fn throttle<S: ThrottleStore>(s: &Stores<'_, S>, now: SystemTime) {
    let policy = ThrottlePolicy::new(10, Duration::from_secs(900), Duration::from_secs(60));
    let key = SecretHash::of("suite-throttle");
    let outcomes = join_all((0..100).map(|i| s.at(i).record_attempt(&key, now, &policy)).collect()).await;
    let let_through = outcomes.iter().filter(|a| matches!(a, Ok(a) if a.refused(now).is_none())).count();
    assert_eq!(let_through, 10, "exactly 10 of 100 concurrent attempts are let through: {outcomes:?}");
    let later = s.at(1).record_attempt(&key, now + Duration::from_secs(30), &policy).await.expect("attempt");
    assert_eq!(later.refused(now + Duration::from_secs(30)), Some(Duration::from_secs(30)), "the lockout holds");
    let apart = s.at(0).record_attempt(&SecretHash::of("suite-throttle-other"), now, &policy).await.expect("attempt");
    assert_eq!((apart.count, apart.refused(now)), (1, None), "keys are counted apart");
    s.at(0).clear_attempts(&key).await.expect("clear");
    let fresh = s.at(1).record_attempt(&key, now + Duration::from_secs(31), &policy).await.expect("attempt");
    assert_eq!((fresh.count, fresh.refused(now)), (1, None), "a cleared key starts again");
}

async fn basics<S: GrantStore>(s: &Stores<'_, S>, now: SystemTime) {
    let (store, other) = (s.at(0), s.at(1));
    // Codes are single-use: the first redemption spends the code and stores its tokens at once; a second is a
    // replay that stores nothing.
    let code = SecretHash::of("suite-code");
    let record = CodeRecord {
        grant: grant("g-code"),
        redirect_uri: None,
        challenge: None,
        nonce: Some("n-0S6_WzA2Mj".into()),
        expires_at: now,
    };
    store.store_code(code, record.clone()).await.expect("store_code");
    let peek = other.code(&code).await.expect("code").map(|(_, used)| used);
    assert_eq!(peek, Some(false), "code() shows an unused code");
    let (ca, cr) = (SecretHash::of("suite-code-at"), SecretHash::of("suite-code-rt"));
    let first = store.redeem_code(&code, (ca, token("g-code", now)), Some((cr, token("g-code", now))));
    assert_eq!(first.await.expect("redeem"), CodeUse::Fresh(record), "first use is fresh");
    let stored = other.access_token(&ca).await.expect("get").expect("its tokens are stored with it");
    assert_eq!(stored.grant, grant("g-code"), "the grant comes back whole, auth_time included");
    assert!(other.refresh_token(&cr).await.expect("get").is_some());
    let again = store.redeem_code(&code, (SecretHash::of("suite-code-at2"), token("g-code", now)), None).await;
    assert_eq!(again.expect("redeem"), CodeUse::Replayed(gid("g-code")), "second use is a replay");
    assert!(
        other.access_token(&SecretHash::of("suite-code-at2")).await.expect("get").is_none(),
        "a replay stores nothing"
    );
    // RFC 6749 §4.1.2: the replay revoked what the code issued, within the same call (design.md §2).
    assert!(other.access_token(&ca).await.expect("get").is_none(), "a replay revokes the code's access token");
    assert!(other.refresh_token(&cr).await.expect("get").is_none(), "a replay revokes the code's refresh token");
    let unknown = store.redeem_code(&SecretHash::of("nope"), (SecretHash::of("z"), token("g", now)), None).await;
    assert_eq!(unknown.expect("redeem"), CodeUse::Unknown);

    // Tokens are found by hash; revoking one access token leaves the others.
    let (a1, a2, r1) = (SecretHash::of("suite-a1"), SecretHash::of("suite-a2"), SecretHash::of("suite-r1"));
    assert!(store.store_tokens((a1, token("g1", now)), Some((r1, token("g1", now)))).await.expect("store"));
    assert!(store.store_tokens((a2, token("g2", now)), None).await.expect("store"));
    let peek = other.code(&code).await.expect("code").map(|(_, used)| used);
    assert_eq!(peek, Some(true), "code() shows a used code");
    assert_eq!(other.access_token(&a1).await.expect("get"), Some(token("g1", now)), "stored whole");
    assert_eq!(other.refresh_token(&r1).await.expect("get"), Some((token("g1", now), false)), "stored whole");
    store.revoke_access_token(&a2).await.expect("revoke");
    assert!(other.access_token(&a2).await.expect("get").is_none(), "revoked access token is gone");
    assert!(other.access_token(&a1).await.expect("get").is_some(), "other tokens stay");

    // Rotation is compare-and-swap: once, then reuse is reported with its grant.
    let (a3, r2) = (SecretHash::of("suite-a3"), SecretHash::of("suite-r2"));
    let rotated = store.rotate_refresh(&r1, (a3, token("g1", now)), (r2, token("g1", now))).await;
    assert_eq!(rotated.expect("rotate"), Rotation::Rotated);
    assert_eq!(other.refresh_token(&r1).await.expect("get").map(|(_, used)| used), Some(true), "old one is spent");
    assert!(other.access_token(&a3).await.expect("get").is_some(), "the rotation stored its access token");
    let again = store
        .rotate_refresh(&r1, (SecretHash::of("x"), token("g1", now)), (SecretHash::of("y"), token("g1", now)))
        .await;
    assert_eq!(again.expect("rotate"), Rotation::Reused(gid("g1")));
    assert!(other.access_token(&SecretHash::of("x")).await.expect("get").is_none(), "a failed swap stores nothing");
    // RFC 9700 §4.14.2: the reuse revoked the whole family within the same call, the rotation's tokens included.
    for h in [&a1, &a3] {
        assert!(other.access_token(h).await.expect("get").is_none(), "a reuse revokes the family's access tokens");
    }
    assert!(other.refresh_token(&r2).await.expect("get").is_none(), "a reuse revokes the family's refresh tokens");
    assert_eq!(
        store
            .rotate_refresh(
                &SecretHash::of("nope"),
                (SecretHash::of("x"), token("g1", now)),
                (SecretHash::of("y"), token("g1", now))
            )
            .await
            .expect("rotate"),
        Rotation::Unknown
    );

    // Revoking a grant revokes its whole family and nothing else.
    let (a4, a5, r4) = (SecretHash::of("suite-a4"), SecretHash::of("suite-a5"), SecretHash::of("suite-r4"));
    assert!(store.store_tokens((a4, token("g3", now)), Some((r4, token("g3", now)))).await.expect("store"));
    assert!(store.store_tokens((a5, token("g3", now)), None).await.expect("store"));
    assert!(store.store_tokens((SecretHash::of("suite-other"), token("g9", now)), None).await.expect("store"));
    store.revoke_grant(&gid("g3")).await.expect("revoke grant");
    for h in [&a4, &a5] {
        assert!(other.access_token(h).await.expect("get").is_none(), "family access tokens revoked");
    }
    assert!(other.refresh_token(&r4).await.expect("get").is_none(), "family refresh tokens revoked");
    let late = store.store_tokens((SecretHash::of("suite-late"), token("g3", now)), None).await.expect("store");
    assert!(!late, "tokens of a revoked grant are refused, atomically");
    assert!(other.access_token(&SecretHash::of("suite-late")).await.expect("get").is_none());
    assert!(other.access_token(&SecretHash::of("suite-other")).await.expect("get").is_some(), "other grants stay");
}

/// What revoking a family does to its codes, tokens and later writes.
async fn revocation<S: GrantStore>(s: &Stores<'_, S>, now: SystemTime) {
    let (store, other) = (s.at(1), s.at(0));
    // A code of a revoked grant counts as used: redeeming it is a replay and stores nothing.
    let code = SecretHash::of("suite-revoked-code");
    let record = CodeRecord { grant: grant("g-rc"), redirect_uri: None, challenge: None, nonce: None, expires_at: now };
    store.store_code(code, record).await.expect("store_code");
    store.revoke_grant(&gid("g-rc")).await.expect("revoke grant");
    assert_eq!(other.code(&code).await.expect("code").map(|(_, used)| used), Some(true), "its code counts as used");
    let at = SecretHash::of("suite-rc-at");
    let redeemed = store.redeem_code(&code, (at, token("g-rc", now)), None).await.expect("redeem");
    assert_eq!(redeemed, CodeUse::Replayed(gid("g-rc")), "redeeming a revoked grant's code is a replay");
    assert!(other.access_token(&at).await.expect("get").is_none(), "and stores nothing");

    // A refresh token of a revoked grant cannot rotate, and the failed rotation stores neither new token.
    let rt = SecretHash::of("suite-rr-rt");
    assert!(
        store
            .store_tokens((SecretHash::of("suite-rr-at"), token("g-rr", now)), Some((rt, token("g-rr", now))))
            .await
            .expect("store")
    );
    store.revoke_grant(&gid("g-rr")).await.expect("revoke grant");
    let (new_at, new_rt) = (SecretHash::of("suite-rr-at2"), SecretHash::of("suite-rr-rt2"));
    let rotated = store.rotate_refresh(&rt, (new_at, token("g-rr", now)), (new_rt, token("g-rr", now))).await;
    assert_eq!(rotated.expect("rotate"), Rotation::Unknown, "a revoked refresh token is unknown");
    assert!(other.access_token(&new_at).await.expect("get").is_none(), "no access token from a revoked grant");
    assert!(other.refresh_token(&new_rt).await.expect("get").is_none(), "no refresh token from a revoked grant");

    // Revoking twice, or a grant with nothing stored, is harmless.
    store.revoke_grant(&gid("g-rr")).await.expect("revoke again");
    store.revoke_grant(&gid("g-none")).await.expect("revoke unknown");
}

/// 100 concurrent redemptions of one code and 100 concurrent rotations of one refresh token: exactly one wins, the
/// other 99 are reuses, and the reuses revoke the family: afterwards no token of it is live, the winner's included.
async fn races<S: GrantStore>(s: &Stores<'_, S>, now: SystemTime) {
    let (store, other) = (s.at(0), s.at(1));
    let code = SecretHash::of("suite-race-code");
    let record =
        CodeRecord { grant: grant("g-race-c"), redirect_uri: None, challenge: None, nonce: None, expires_at: now };
    store.store_code(code, record).await.expect("store_code");
    let hashes: Vec<SecretHash> = (0..100).map(|i| SecretHash::of(&format!("suite-race-c-at{i}"))).collect();
    let outcomes = join_all(
        hashes
            .iter()
            .enumerate()
            .map(|(i, h)| s.at(i).redeem_code(&code, (*h, token("g-race-c", now)), None))
            .collect(),
    )
    .await;
    let fresh = outcomes.iter().filter(|o| matches!(o, Ok(CodeUse::Fresh(_)))).count();
    assert_eq!(fresh, 1, "exactly one of 100 concurrent redemptions is fresh: {outcomes:?}");
    let replayed = outcomes.iter().filter(|o| matches!(o, Ok(CodeUse::Replayed(g)) if *g == gid("g-race-c"))).count();
    assert_eq!(replayed, 99, "the others are replays of the code's grant: {outcomes:?}");
    for h in &hashes {
        let live = other.access_token(h).await.expect("get").is_some();
        assert!(!live, "after a race of replays no token of the family is live, the winner's included");
    }

    let rt = SecretHash::of("suite-race-rt");
    assert!(
        store
            .store_tokens((SecretHash::of("suite-race-at"), token("g-race-r", now)), Some((rt, token("g-race-r", now))))
            .await
            .expect("store")
    );
    let pairs: Vec<(SecretHash, SecretHash)> = (0..100)
        .map(|i| (SecretHash::of(&format!("suite-race-r-at{i}")), SecretHash::of(&format!("suite-race-r-rt{i}"))))
        .collect();
    let outcomes = join_all(
        pairs
            .iter()
            .enumerate()
            .map(|(i, (a, r))| s.at(i).rotate_refresh(&rt, (*a, token("g-race-r", now)), (*r, token("g-race-r", now))))
            .collect(),
    )
    .await;
    let rotated = outcomes.iter().filter(|o| matches!(o, Ok(Rotation::Rotated))).count();
    assert_eq!(rotated, 1, "exactly one of 100 concurrent rotations succeeds: {outcomes:?}");
    let reused = outcomes.iter().filter(|o| matches!(o, Ok(Rotation::Reused(g)) if *g == gid("g-race-r"))).count();
    let unknown = outcomes.iter().filter(|o| matches!(o, Ok(Rotation::Unknown))).count();
    // The first reuse revokes the family; later ones may find its refresh token already gone.
    assert!(
        reused >= 1 && reused + unknown == 99,
        "the others see reuse, or the token the reuse revoked: {outcomes:?}"
    );
    let first_access = other.access_token(&SecretHash::of("suite-race-at")).await.expect("get").is_some();
    assert!(!first_access, "after a race of reuses the family's first access token is revoked");
    for (a, r) in &pairs {
        let access = other.access_token(a).await.expect("get").is_some();
        let refresh = other.refresh_token(r).await.expect("get").is_some();
        assert!(!access && !refresh, "after a race of reuses no token of the family is live, the winner's included");
    }
}

fn device(client: &str, now: SystemTime) -> DeviceCodeRecord {
    DeviceCodeRecord {
        client_id: client.into(),
        scope: Scope::parse("read"),
        resources: vec!["https://a.example".into()],
        expires_at: now + Duration::from_secs(600),
        interval: Duration::from_secs(5),
        last_poll: None,
        status: DeviceStatus::Pending,
    }
}

/// RFC 8628 (design.md §3): a user code names one live authorization; polls are counted atomically (of 100 at
/// once, one is on time) and `slow_down` grows the interval for good; an answer is given once, to a pending
/// authorization; an approved one is redeemed exactly once, with its tokens, across instances; a purge forgets
/// expired ones.
async fn device_codes<S: GrantStore + DeviceStore + Maintenance>(s: &Stores<'_, S>, now: SystemTime) {
    let (store, other) = (s.at(0), s.at(1));
    let (d1, u1) = (SecretHash::of("suite-device-1"), SecretHash::of("suite-user-1"));
    assert!(store.store_device_code(d1, u1, device("c", now), now).await.expect("store"), "a new user code is stored");
    let taken = store.store_device_code(SecretHash::of("suite-device-x"), u1, device("c", now), now).await;
    assert!(!taken.expect("store"), "a live user code names one authorization");
    assert_eq!(other.device_code_by_user_code(&u1).await.expect("get"), Some(device("c", now)), "kept as given");
    assert_eq!(other.device_code_by_user_code(&SecretHash::of("suite-user-none")).await.expect("get"), None);

    // Polls: another client's or an unknown code changes nothing.
    assert_eq!(other.poll_device_code(&d1, "other", now).await.expect("poll"), None, "another client's code");
    assert_eq!(other.poll_device_code(&SecretHash::of("suite-none"), "c", now).await.expect("poll"), None);
    let (first, soon) = other.poll_device_code(&d1, "c", now).await.expect("poll").expect("known");
    assert!(!soon && first.last_poll == Some(now) && first.interval == Duration::from_secs(5), "{first:?}");
    let (fast, soon) =
        store.poll_device_code(&d1, "c", now + Duration::from_secs(1)).await.expect("poll").expect("known");
    assert!(
        soon && fast.interval == Duration::from_secs(10),
        "§3.5: too soon, and the interval grows by 5 s: {fast:?}"
    );
    let t = now + Duration::from_secs(11);
    let (late, soon) = other.poll_device_code(&d1, "c", t).await.expect("poll").expect("known");
    assert!(!soon && late.interval == Duration::from_secs(10), "the grown interval stays: {late:?}");
    let polls =
        join_all((0..100).map(|i| s.at(i).poll_device_code(&d1, "c", t + Duration::from_secs(10))).collect()).await;
    let on_time = polls.iter().filter(|p| matches!(p, Ok(Some((_, false))))).count();
    assert_eq!(on_time, 1, "of 100 concurrent polls one is on time: {polls:?}");

    // Answers: once, to a pending authorization before it expires.
    let (d2, u2) = (SecretHash::of("suite-device-2"), SecretHash::of("suite-user-2"));
    assert!(store.store_device_code(d2, u2, device("c", now), now).await.expect("store"));
    assert!(other.decide_device_code(&u2, DeviceDecision::Deny, now).await.expect("deny"), "a pending one is denied");
    let again = store.decide_device_code(&u2, DeviceDecision::Approve(grant("g-device")), now).await;
    assert!(!again.expect("approve"), "an answered one is not answered again");
    let denied = store.device_code_by_user_code(&u2).await.expect("get").expect("kept");
    assert_eq!(denied.status, DeviceStatus::Denied);
    assert!(
        !store
            .redeem_device_code(&d2, (SecretHash::of("suite-device-2-at"), token("g-device", now)), None)
            .await
            .expect("redeem")
    );
    let late = store.decide_device_code(&u1, DeviceDecision::Deny, now + Duration::from_secs(600)).await;
    assert!(!late.expect("decide"), "an expired one is not answered");

    // Redemption: exactly one of 100, across instances, with its tokens.
    assert!(store.decide_device_code(&u1, DeviceDecision::Approve(grant("g-device")), now).await.expect("approve"));
    let approved = other.device_code_by_user_code(&u1).await.expect("get").expect("kept");
    assert_eq!(approved.status, DeviceStatus::Approved(grant("g-device")), "the grant comes back as given");
    let hashes: Vec<SecretHash> = (0..100).map(|i| SecretHash::of(&format!("suite-device-at{i}"))).collect();
    let outcomes = join_all(
        hashes
            .iter()
            .enumerate()
            .map(|(i, h)| {
                s.at(i).redeem_device_code(
                    &d1,
                    (*h, token("g-device", now)),
                    Some((SecretHash::of(&format!("suite-device-rt{i}")), token("g-device", now))),
                )
            })
            .collect(),
    )
    .await;
    let winners: Vec<usize> =
        outcomes.iter().enumerate().filter(|(_, o)| matches!(o, Ok(true))).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "exactly one of 100 concurrent redemptions: {outcomes:?}");
    assert!(outcomes.iter().all(Result::is_ok), "the others are refused, not failed: {outcomes:?}");
    for (i, h) in hashes.iter().enumerate() {
        let live = other.access_token(h).await.expect("get").is_some();
        assert_eq!(live, winners == [i], "only the winner's tokens are stored ({i})");
    }
    let refresh = other.refresh_token(&SecretHash::of(&format!("suite-device-rt{}", winners[0]))).await.expect("get");
    assert!(refresh.is_some_and(|(_, used)| !used), "the winner's refresh token is stored with it");
    let redeemed = store.device_code_by_user_code(&u1).await.expect("get").expect("kept");
    assert_eq!(redeemed.status, DeviceStatus::Redeemed);

    // An expired authorization gives its user code up; a purge forgets it.
    let after = now + Duration::from_secs(601);
    assert!(
        store.store_device_code(SecretHash::of("suite-device-3"), u2, device("c", after), after).await.expect("store"),
        "an expired user code is free again"
    );
    store.purge(after + Duration::from_secs(601)).await.expect("purge");
    assert_eq!(other.device_code_by_user_code(&u1).await.expect("get"), None, "purged");
    assert_eq!(other.device_code_by_user_code(&u2).await.expect("get"), None, "purged");
}

fn pushed(client_id: &str, now: SystemTime) -> PushedRequestRecord {
    let request = crate::server::AuthorizationRequest {
        client_id: client_id.into(),
        client_name: Some("Suite".into()),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_given: true,
        response_type: crate::grant::ResponseType::Code,
        scope: Scope::parse("read"),
        state: Some("suite-state".into()),
        code_challenge: crate::pkce::PkceChallenge::new(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            crate::pkce::PkceMethod::S256,
        )
        .ok(),
        nonce: Some("suite-nonce".into()),
        login_hint: None,
        max_age: Some(60),
        prompt: vec!["consent".into()],
        resources: vec!["https://b.example/api".into(), "https://a.example".into()],
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
    };
    PushedRequestRecord { client_id: client_id.into(), request, expires_at: now + Duration::from_secs(60) }
}

/// RFC 9126 §2.2, §4 (design.md §3): a pushed request comes back as stored, once, to its client, before it
/// expires; of 100 concurrent uses across instances one gets it; a purge forgets expired ones.
async fn pushed_requests<S: PushedRequestStore + Maintenance>(s: &Stores<'_, S>, now: SystemTime) {
    let (store, other) = (s.at(0), s.at(1));
    let uri = SecretHash::of("suite-pushed-1");
    store.store_pushed_request(uri, pushed("c", now), now).await.expect("store");
    assert_eq!(other.take_pushed_request(&uri, "other", now).await.expect("take"), None, "another client's");
    assert_eq!(other.take_pushed_request(&SecretHash::of("suite-pushed-none"), "c", now).await.expect("take"), None);
    let expired = other.take_pushed_request(&uri, "c", now + Duration::from_secs(60)).await.expect("take");
    assert_eq!(expired, None, "an expired one is not given");
    let taken = other.take_pushed_request(&uri, "c", now).await.expect("take");
    assert_eq!(taken, Some(pushed("c", now)), "kept as given, for its client");
    assert_eq!(store.take_pushed_request(&uri, "c", now).await.expect("take"), None, "single use");

    let raced = SecretHash::of("suite-pushed-2");
    store.store_pushed_request(raced, pushed("c", now), now).await.expect("store");
    let takes = join_all((0..100).map(|i| s.at(i).take_pushed_request(&raced, "c", now)).collect()).await;
    let winners = takes.iter().filter(|t| matches!(t, Ok(Some(_)))).count();
    assert_eq!(winners, 1, "of 100 concurrent uses one gets the request: {takes:?}");
    assert!(takes.iter().all(Result::is_ok), "the others are refused, not failed");

    let stale = SecretHash::of("suite-pushed-3");
    store.store_pushed_request(stale, pushed("c", now), now).await.expect("store");
    store.purge(now + Duration::from_secs(61)).await.expect("purge");
    assert_eq!(other.take_pushed_request(&stale, "c", now).await.expect("take"), None, "purged");
}

async fn dpop_proofs<S: ReplayStore + Maintenance>(s: &Stores<'_, S>, now: SystemTime) {
    let (store, other) = (s.at(0), s.at(1));
    let id = SecretHash::of("suite-proof-1");
    let until = now + Duration::from_secs(121);
    assert!(store.first_use(&id, until, now).await.expect("remember"), "a new proof");
    assert!(!other.first_use(&id, until, now).await.expect("remember"), "replayed, at another instance");
    assert!(
        !other.first_use(&id, until, now + Duration::from_secs(120)).await.expect("remember"),
        "replayed within its time"
    );
    assert!(
        other.first_use(&SecretHash::of("suite-proof-2"), until, now).await.expect("remember"),
        "another proof is new"
    );
    let later = until + Duration::from_secs(1);
    assert!(other.first_use(&id, later + Duration::from_secs(121), later).await.expect("remember"), "once forgotten");

    let raced = SecretHash::of("suite-proof-3");
    let uses = join_all((0..100).map(|i| s.at(i).first_use(&raced, until, now)).collect()).await;
    let firsts = uses.iter().filter(|u| matches!(u, Ok(true))).count();
    assert_eq!(firsts, 1, "of 100 concurrent uses one is the first: {uses:?}");
    assert!(uses.iter().all(Result::is_ok), "the others are replays, not failures");

    let stale = SecretHash::of("suite-proof-4");
    assert!(store.first_use(&stale, until, now).await.expect("remember"));
    assert!(store.purge(until + Duration::from_secs(1)).await.expect("purge") >= 1, "purge counts expired proofs");
}
