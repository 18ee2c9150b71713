//! The cache in front of the database, across two instances (two stores on one database): it answers, and what is
//! revoked or removed through one instance stops being answered by the other within one second, also while the
//! database is down.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use oauth2_core::StoreError;
use oauth2_core::resource::{AccessTokenVerifier, ResourceServer};
use oauth2_core::scope::Scope;
use oauth2_core::secret::SecretHash;
use oauth2_core::server::store::{ClientStore, Grant, GrantId, GrantStore, RegisteredClient, TokenRecord};
use oauth2_sqlx::{PgStore, SqliteStore};
use oauth2_testkit::postgres::{Cluster, database};

fn sqlite_url() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("cache-{}-{}.sqlite", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_file(&path);
    format!("sqlite:{}", path.display())
}

fn record(family: GrantId, client: &str) -> TokenRecord {
    let now = SystemTime::now();
    TokenRecord {
        grant: Grant {
            id: family,
            client_id: client.into(),
            subject: None,
            scope: Scope::parse("read"),
            auth_time: None,
            resources: Vec::new(),
            jkt: None,
        },
        issued_at: now,
        expires_at: now + Duration::from_secs(3600),
    }
}

async fn verify<V: AccessTokenVerifier>(store: &V, token: &str) -> Result<bool, StoreError> {
    let header = format!("Bearer {token}");
    let bearer = ResourceServer::new("test").bearer_token([header.as_bytes()]).expect("a Bearer header");
    Ok(store.verify(&bearer, SystemTime::now()).await?.is_some())
}

async fn verified<V: AccessTokenVerifier>(store: &V, token: &str) -> bool {
    verify(store, token).await.expect("verify")
}

/// Verifies `token` at `store` for `warm` (long enough for its cache to be synced and filled).
async fn warm_up<V: AccessTokenVerifier>(store: &V, token: &str) {
    let until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < until {
        assert!(verified(store, token).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `check` every 10 ms until it is false, asserting that no check begun a second or more after now was true
/// (the guarantee, exactly: a change committed before now is honoured by every answer begun a second later).
/// Returns when the first false check began.
async fn no_answer_a_second_after<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> Duration {
    let start = Instant::now();
    loop {
        let began = start.elapsed();
        if !check().await {
            return began;
        }
        assert!(began < Duration::from_secs(1), "{what}: still answered by a check begun {began:?} after");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The checks, for two instances `a` and `b` on one database, and a way to delete a token row behind their back.
async fn two_instances<S>(a: &S, b: &S, delete_behind_their_back: impl AsyncFn(&[u8]))
where
    S: GrantStore + ClientStore + AccessTokenVerifier + Registry,
{
    // The resource check accepts tokens of registered clients only.
    a.register(RegisteredClient::confidential("svc", "secret")).await;
    // b answers from its cache: with the row deleted behind its back (no change in the feed), b still answers. The
    // cache answers only while its feed is fresh (a poll within the last second), which a loaded machine can miss
    // once: a few tries, each with a token of its own.
    let family = GrantId::from_bytes([1; 16]);
    let mut cached = None;
    for attempt in 0..5 {
        let token = format!("cached-{attempt}");
        a.store_tokens((SecretHash::of(&token), record(family, "svc")), None).await.unwrap();
        warm_up(b, &token).await;
        delete_behind_their_back(SecretHash::of(&token).as_bytes()).await;
        if verified(b, &token).await {
            cached = Some(token);
            break;
        }
    }
    let cached = cached.expect("the cache answers, not the database");
    let grant = b.access_grant(&SecretHash::of(&cached)).await.unwrap();
    assert!(grant.is_some(), "the authorization server's check (access_grant) goes through the cache too");
    assert!(b.access_token(&SecretHash::of(&cached)).await.unwrap().is_none(), "introspection asks the database");

    // A family revoked through a stops being answered by b within one second (the feed).
    let family = GrantId::from_bytes([2; 16]);
    a.store_tokens((SecretHash::of("revoked"), record(family, "svc")), None).await.unwrap();
    warm_up(b, "revoked").await;
    a.revoke_grant(&family).await.unwrap();
    assert!(!verified(a, "revoked").await, "at once where it was revoked");
    no_answer_a_second_after("a family revoked through a, at b", || verified(b, "revoked")).await;

    // RFC 7009 §2: one access token revoked through a, the same.
    let family = GrantId::from_bytes([3; 16]);
    a.store_tokens((SecretHash::of("one"), record(family, "svc")), None).await.unwrap();
    warm_up(b, "one").await;
    a.revoke_access_token(&SecretHash::of("one")).await.unwrap();
    no_answer_a_second_after("an access token revoked through a, at b", || verified(b, "one")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_instances_see_each_others_revocations_within_a_second() {
    let url = sqlite_url();
    let (a, b) = (SqliteStore::connect(&url).await.unwrap(), SqliteStore::connect(&url).await.unwrap());
    let pool = b.pool().clone();
    two_instances(&a, &b, async |hash: &[u8]| {
        sqlx::query("DELETE FROM oauth2_tokens WHERE hash = $1").bind(hash.to_vec()).execute(&pool).await.unwrap();
    })
    .await;
    clients_removed_through_one_instance_go_at_the_other(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_see_each_others_revocations_within_a_second() {
    let url = database();
    let (a, b) = (PgStore::connect(&url).await.unwrap(), PgStore::connect(&url).await.unwrap());
    let pool = b.pool().clone();
    two_instances(&a, &b, async |hash: &[u8]| {
        sqlx::query("DELETE FROM oauth2_tokens WHERE hash = $1").bind(hash.to_vec()).execute(&pool).await.unwrap();
    })
    .await;
    clients_removed_through_one_instance_go_at_the_other(&a, &b).await;
}

/// What the two stores offer beside the traits: registering and removing clients.
trait Registry {
    async fn register(&self, client: RegisteredClient);
    async fn remove(&self, id: &str) -> bool;
}

macro_rules! registry {
    ($store:ty) => {
        impl Registry for $store {
            async fn register(&self, client: RegisteredClient) {
                self.put_client(&client).await.unwrap();
            }
            async fn remove(&self, id: &str) -> bool {
                self.remove_client(id).await.unwrap()
            }
        }
    };
}
registry!(SqliteStore);
registry!(PgStore);

async fn clients_removed_through_one_instance_go_at_the_other<S>(a: &S, b: &S)
where
    S: ClientStore + AccessTokenVerifier + GrantStore + Registry,
{
    a.register(RegisteredClient::confidential("gone", "secret")).await;
    a.store_tokens((SecretHash::of("gone-token"), record(GrantId::from_bytes([4; 16]), "gone")), None).await.unwrap();
    warm_up(b, "gone-token").await;
    assert!(b.client("gone").await.unwrap().is_some());
    assert!(a.remove("gone").await);
    let client_at_b = || async { b.client("gone").await.unwrap().is_some() };
    no_answer_a_second_after("a client removed through a, at b", client_at_b).await;
    assert!(!verified(b, "gone-token").await, "and its tokens with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stops_answering_within_a_second_of_losing_the_database() {
    let cluster = Cluster::new().unwrap();
    let url = cluster.create_database().unwrap();
    let store = Arc::new(PgStore::connect(&url).await.unwrap());
    store.register(RegisteredClient::confidential("svc", "secret")).await;
    store.store_tokens((SecretHash::of("t"), record(GrantId::from_bytes([5; 16]), "svc")), None).await.unwrap();
    warm_up(&*store, "t").await;
    cluster.stop();
    let lost = Instant::now();
    // While the feed cannot be read, nothing revoked meanwhile could be known: past a second, no answer.
    loop {
        match verify(&*store, "t").await {
            Ok(true) => {
                assert!(lost.elapsed() < Duration::from_secs(1), "answered {:?} after the loss", lost.elapsed());
            }
            Ok(false) => panic!("the token is there"),
            Err(_) => break,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(lost.elapsed() < Duration::from_secs(5), "an error within the acquire timeout");
    cluster.start().unwrap();
    let back = Instant::now();
    while !verify(&*store, "t").await.unwrap_or(false) {
        assert!(back.elapsed() < Duration::from_secs(10), "the store recovers by itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
