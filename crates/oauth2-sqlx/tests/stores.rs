//! The durable stores against real databases: the store suite on SQLite, on PostgreSQL and on two pools of one
//! PostgreSQL database (two "instances"); migrations; a lost database; a killed process; the client registry.
//! PostgreSQL is a throw-away cluster this test binary starts itself (oauth2-testkit's `postgres`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauth2_core::grant::GrantType;
use oauth2_core::http;
use oauth2_core::scope::Scope;
use oauth2_core::secret::SecretHash;
use oauth2_core::server::store::{
    ClientStore, Grant, GrantId, GrantStore, RegisteredClient, ThrottlePolicy, ThrottleStore, TokenRecord, suite,
};
use oauth2_sqlx::{PgStore, SqliteStore};
use oauth2_testkit::postgres::{Cluster, database};

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A fresh SQLite file under the test target directory.
fn sqlite_url() -> (String, PathBuf) {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("stores-{}-{}.sqlite", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_file(&path);
    (format!("sqlite:{}", path.display()), path)
}

fn token(grant: u8, at: SystemTime, lifetime: u64) -> TokenRecord {
    TokenRecord {
        grant: Grant {
            id: GrantId::from_bytes([grant; 16]),
            client_id: "c".into(),
            subject: Some("alice".into()),
            scope: Scope::parse("read"),
            auth_time: None,
            resources: Vec::new(),
            jkt: None,
        },
        issued_at: at,
        expires_at: at + Duration::from_secs(lifetime),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_sqlite() {
    let (url, _) = sqlite_url();
    let store = SqliteStore::connect(&url).await.unwrap();
    suite::run_shared("sqlite", &[&store], now()).await.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_postgres() {
    let store = PgStore::connect(&database()).await.unwrap();
    suite::run_shared("postgres", &[&store], now()).await.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_across_two_pools_of_one_postgres_database() {
    let url = database();
    let (a, b) = (PgStore::connect(&url).await.unwrap(), PgStore::connect(&url).await.unwrap());
    suite::run_shared("postgres-2-pools", &[&a, &b], now()).await.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6749_4_3_2_throttle_state_is_shared_by_instances() {
    let url = database();
    let (a, b) = (PgStore::connect(&url).await.unwrap(), PgStore::connect(&url).await.unwrap());
    let policy = ThrottlePolicy::PASSWORD;
    let key = SecretHash::of("shared-key");
    for i in 0..10 {
        let store = if i % 2 == 0 { &a } else { &b };
        assert!(store.record_attempt(&key, now(), &policy).await.unwrap().refused(now()).is_none());
    }
    let through_b = b.record_attempt(&key, now(), &policy).await.unwrap();
    assert!(through_b.refused(now()).is_some(), "failures recorded through one pool are seen through the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_append_only() {
    // Each released migration's checksum, one `VERSION SHA384` line per migration. A change to a released
    // migration fails here (sqlx would refuse the database as VersionMismatch); a new migration is appended, with
    // its line added to the file.
    let released = [
        ("sqlite", include_str!("../migrations/sqlite.sha384"), sqlx::migrate!("migrations/sqlite")),
        ("postgres", include_str!("../migrations/postgres.sha384"), sqlx::migrate!("migrations/postgres")),
    ];
    for (name, sums, migrator) in released {
        let lines: Vec<(i64, &str)> = sums
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(v, sum)| (v.parse().expect("a version"), sum.trim()))
            .collect();
        assert_eq!(lines.len(), migrator.iter().count(), "{name}: every migration has its checksum line");
        for (version, checksum) in lines {
            let migration = migrator.iter().find(|m| m.version == version).expect("a released migration is gone");
            let hex: String = migration.checksum.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, checksum, "{name} migration {version} changed after release");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_migrate_once() {
    let (url, _) = sqlite_url();
    let (a, b) = tokio::join!(SqliteStore::connect(&url), SqliteStore::connect(&url));
    a.unwrap();
    b.unwrap();
    let url = database();
    let (a, b) = tokio::join!(PgStore::connect(&url), PgStore::connect(&url));
    a.unwrap();
    let b = b.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(b.pool()).await.unwrap();
    let migrations = sqlx::migrate!("migrations/postgres").iter().count();
    assert_eq!(applied, i64::try_from(migrations).unwrap(), "one row per migration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_version_is_refused() {
    let url = database();
    let store = PgStore::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let refused = PgStore::connect(&url).await.unwrap_err();
    assert!(refused.message().contains("newer than this program"), "{refused}");
    let (url, _) = sqlite_url();
    let store = SqliteStore::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let refused = SqliteStore::connect(&url).await.unwrap_err();
    assert!(refused.message().contains("newer than this program"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_an_error_within_the_acquire_timeout_and_the_pool_recovers() {
    let cluster = Cluster::new().unwrap();
    let url = cluster.create_database().unwrap();
    let store = PgStore::connect_with(&url, 4, Duration::from_secs(2)).await.unwrap();
    let (at, _) = (SecretHash::of("lost-at"), ());
    assert!(store.store_tokens((at, token(1, now(), 600)), None).await.unwrap());
    cluster.stop();
    let started = Instant::now();
    let failed = store.access_token(&at).await;
    assert!(failed.is_err(), "a lost database is a StoreError");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "and fails within the acquire timeout: {:?}",
        started.elapsed()
    );
    assert!(store.ping().await.is_err());
    cluster.start().unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if store.access_token(&at).await.is_ok_and(|t| t.is_some()) {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the pool reconnects when the database is back");
}

/// The child of the crash tests: issues access and refresh tokens as fast as it can, in waves of [`WAVE`] at once
/// (so the writer stores them in batches), and says `acked N` once every issuance up to N is stored, until it is
/// killed. A no-op unless started by the parent test.
/// Issuances the crash child runs at once.
const WAVE: u32 = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(url) = std::env::var("OAUTH2_SQLX_CRASH_CHILD") else { return };
    macro_rules! burst {
        ($store:expr) => {{
            let store = $store;
            for wave in 0u32.. {
                let mut issuances = tokio::task::JoinSet::new();
                for i in wave * WAVE..(wave + 1) * WAVE {
                    let store = store.clone();
                    issuances.spawn(async move {
                        let rec = |lifetime| {
                            let mut t = token(0, now(), lifetime);
                            let mut id = [0u8; 16];
                            id[..4].copy_from_slice(&i.to_le_bytes());
                            t.grant.id = GrantId::from_bytes(id);
                            t
                        };
                        let (a, r) =
                            (SecretHash::of(&format!("crash-at-{i}")), SecretHash::of(&format!("crash-rt-{i}")));
                        assert!(store.store_tokens((a, rec(600)), Some((r, rec(6000)))).await.unwrap());
                    });
                }
                while let Some(done) = issuances.join_next().await {
                    done.unwrap();
                }
                println!("acked {}", (wave + 1) * WAVE - 1);
            }
        }};
    }
    if url.starts_with("sqlite:") {
        burst!(SqliteStore::connect(&url).await.unwrap());
    } else {
        burst!(PgStore::connect(&url).await.unwrap());
    }
}

/// Starts the child on `url`, kills it with SIGKILL after `acks` acknowledged issuances, and returns how many it
/// acknowledged.
fn kill_in_the_middle(url: &str, acks: u32) -> u32 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("OAUTH2_SQLX_CRASH_CHILD", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("acked ").and_then(|n| n.parse::<u32>().ok()) {
            last = Some(n);
            if n + 1 >= acks {
                child.kill().unwrap();
                break;
            }
        }
    }
    let _ = child.wait();
    last.map_or(0, |n| n + 1)
}

async fn check_after_crash<S: GrantStore>(store: &S, acked: u32) {
    assert!(acked > 0, "the child acknowledged nothing");
    for i in 0..acked {
        let a = store.access_token(&SecretHash::of(&format!("crash-at-{i}"))).await.unwrap();
        let r = store.refresh_token(&SecretHash::of(&format!("crash-rt-{i}"))).await.unwrap();
        assert!(a.is_some() && r.is_some(), "issuance {i} was acknowledged but is not all there");
    }
    // The issuances in flight when the process died are each all there or not there at all.
    for i in acked..acked + WAVE {
        let a = store.access_token(&SecretHash::of(&format!("crash-at-{i}"))).await.unwrap();
        let r = store.refresh_token(&SecretHash::of(&format!("crash-rt-{i}"))).await.unwrap();
        assert_eq!(a.is_some(), r.is_some(), "issuance {i} is half-written");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_in_a_burst_of_issuances_leaves_nothing_half_written() {
    let (url, _) = sqlite_url();
    drop(SqliteStore::connect(&url).await.unwrap());
    let acked = tokio::task::spawn_blocking({
        let url = url.clone();
        move || kill_in_the_middle(&url, 300)
    })
    .await
    .unwrap();
    check_after_crash(&SqliteStore::connect(&url).await.unwrap(), acked).await;

    let url = database();
    drop(PgStore::connect(&url).await.unwrap());
    let acked = tokio::task::spawn_blocking({
        let url = url.clone();
        move || kill_in_the_middle(&url, 300)
    })
    .await
    .unwrap();
    check_after_crash(&PgStore::connect(&url).await.unwrap(), acked).await;
}

/// 100 issuances at once (stored in batches by the writer task), one of them into a revoked family: that one alone
/// is refused, every other is stored whole.
async fn concurrent_issuances<S: GrantStore + Clone + 'static>(store: S) {
    let revoked = GrantId::from_bytes([200; 16]);
    store.revoke_grant(&revoked).await.unwrap();
    let mut issuances = tokio::task::JoinSet::new();
    for i in 0..100u8 {
        let store = store.clone();
        issuances.spawn(async move {
            let mut t = token(i, now(), 600);
            if i == 50 {
                t.grant.id = revoked;
            }
            let (a, r) = (SecretHash::of(&format!("batch-at-{i}")), SecretHash::of(&format!("batch-rt-{i}")));
            (i, store.store_tokens((a, t.clone()), Some((r, t))).await.unwrap())
        });
    }
    while let Some(done) = issuances.join_next().await {
        let (i, stored) = done.unwrap();
        assert_eq!(stored, i != 50, "issuance {i}");
        let a = store.access_token(&SecretHash::of(&format!("batch-at-{i}"))).await.unwrap();
        let r = store.refresh_token(&SecretHash::of(&format!("batch-rt-{i}"))).await.unwrap();
        assert_eq!((a.is_some(), r.is_some()), (stored, stored), "issuance {i} is stored whole or not at all");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_issuances_are_each_stored_whole_and_a_revoked_family_alone_refused() {
    concurrent_issuances(SqliteStore::connect(&sqlite_url().0).await.unwrap()).await;
    concurrent_issuances(PgStore::connect(&database()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_registry_adds_replaces_lists_and_removes() {
    let (url, _) = sqlite_url();
    let store = SqliteStore::connect(&url).await.unwrap();
    let web = RegisteredClient::confidential("web", "s").grant_types([GrantType::AuthorizationCode]).scopes("read");
    store.put_client(&web).await.unwrap();
    store.put_client(&web.clone().scopes("read write")).await.unwrap();
    let found = store.client("web").await.unwrap().unwrap();
    assert_eq!(found.scopes, Scope::parse("read write"), "replaced");
    store.put_client(&RegisteredClient::public("cli")).await.unwrap();
    let ids: Vec<String> = store.clients().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["cli", "web"]);
    // A removed client's tokens stop working.
    let mut t = token(5, now(), 600);
    t.grant.client_id = "web".into();
    let at = SecretHash::of("web-token");
    assert!(store.store_tokens((at, t.clone()), None).await.unwrap());
    assert!(store.remove_client("web").await.unwrap());
    assert!(store.client("web").await.unwrap().is_none());
    assert!(store.access_token(&at).await.unwrap().is_none(), "its tokens went with it");
    assert!(
        !store.store_tokens((SecretHash::of("late"), t.clone()), None).await.unwrap(),
        "and its grants are revoked"
    );
    // An issuance that authenticated the client before its removal (or through an instance whose cache still had
    // it) stores a token into a fresh family: the resource check refuses it all the same.
    t.grant.id = GrantId::from_bytes([6; 16]);
    assert!(store.store_tokens((SecretHash::of("raced"), t), None).await.unwrap());
    assert!(store.access_grant(&SecretHash::of("raced")).await.unwrap().is_none(), "its client is gone");
    // sync: exactly the given clients; one registered as it was writes nothing to the change feed.
    store.sync_clients(&[RegisteredClient::public("new")]).await.unwrap();
    let ids: Vec<String> = store.clients().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["new"]);
    let changes = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM oauth2_changes").fetch_one(store.pool()).await.unwrap()
    };
    let before = changes().await;
    store.sync_clients(&[RegisteredClient::public("new")]).await.unwrap();
    assert_eq!(changes().await, before, "an instance starting with the same clients evicts nothing anywhere");
    store.sync_clients(&[RegisteredClient::public("new").scopes("read")]).await.unwrap();
    assert_eq!(changes().await, before + 1, "a changed registration is a change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_expired_keeps_the_tables_bounded_in_batches() {
    for store_kind in ["sqlite", "postgres"] {
        let (sqlite, pg);
        let store: &dyn Purge = if store_kind == "sqlite" {
            sqlite = SqliteStore::connect(&sqlite_url().0).await.unwrap();
            &sqlite
        } else {
            pg = PgStore::connect(&database()).await.unwrap();
            &pg
        };
        store.fill().await;
        let purged = store.purge(now() + Duration::from_secs(120)).await;
        // 250 short-lived access tokens and their 250 families go; the 10 long-lived tokens (one family) stay.
        assert_eq!(purged, 500, "[{store_kind}]");
        assert_eq!(store.purge(now() + Duration::from_secs(120)).await, 0, "[{store_kind}] nothing left to purge");
    }
}

/// The purge test, over either store.
trait Purge {
    fn fill(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
    fn purge(&self, at: SystemTime) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send + '_>>;
}

macro_rules! purge_for {
    ($t:ty) => {
        impl Purge for $t {
            fn fill(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
                Box::pin(async move {
                    for i in 0..250u32 {
                        let mut t = token(0, now(), 60);
                        let mut id = [7u8; 16];
                        id[..4].copy_from_slice(&i.to_le_bytes());
                        t.grant.id = GrantId::from_bytes(id);
                        assert!(self.store_tokens((SecretHash::of(&format!("short-{i}")), t), None).await.unwrap());
                    }
                    for i in 0..10 {
                        let t = token(9, now(), 3600);
                        assert!(self.store_tokens((SecretHash::of(&format!("long-{i}")), t), None).await.unwrap());
                    }
                })
            }
            fn purge(&self, at: SystemTime) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send + '_>> {
                Box::pin(async move { self.purge_expired(at, 100).await.unwrap() })
            }
        }
    };
}
purge_for!(SqliteStore);
purge_for!(PgStore);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9449_11_1_a_dpop_proof_is_used_once_across_two_instances_on_postgres() {
    use oauth2_core::dpop::DpopKey;
    use oauth2_core::jose::Algorithm;
    use oauth2_core::random::OsRng;
    use oauth2_core::server::{AuthorizationServer, OsTokenGenerator, ServerConfig};
    let url = database();
    let (a, b) = (PgStore::connect(&url).await.unwrap(), PgStore::connect(&url).await.unwrap());
    let client =
        RegisteredClient::confidential("dpop-svc", "x").grant_types([GrantType::ClientCredentials]).scopes("read");
    a.put_client(&client).await.unwrap();
    let server = |store| AuthorizationServer::new(ServerConfig::new("https://as.example"), store, OsTokenGenerator);
    let (one, two) = (server(a), server(b));
    let key = DpopKey::generate(Algorithm::Es256, &mut OsRng).unwrap();
    let at = SystemTime::now();
    let proof = key.proof("POST", "https://as.example/token", None, None, at, &mut OsRng).unwrap();
    let request = || {
        http::Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", &proof)
            .body(b"grant_type=client_credentials&client_id=dpop-svc&client_secret=x".to_vec())
            .unwrap()
    };
    let first = one.token(request(), at).await;
    assert_eq!(first.status(), 200, "{}", String::from_utf8_lossy(first.body()));
    let replay = two.token(request(), at).await;
    assert_eq!(replay.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(replay.body()).unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "the other instance saw it: {body}");
    // Two resource instances that check tokens against the database itself share what they remember too.
    let token: serde_json::Value = serde_json::from_slice(first.body()).unwrap();
    let token = token["access_token"].as_str().unwrap();
    let call = key.proof("GET", "https://api.example/photos", Some(token), None, at, &mut OsRng).unwrap();
    let authorization = format!("DPoP {token}");
    let instance = || oauth2_core::resource::ResourceServer::new("api").dpop("https://api.example");
    let presented =
        oauth2_core::resource::Presented::new("GET", "/photos", [authorization.as_bytes()], [call.as_bytes()]);
    let scope = oauth2_core::Scope::parse("read");
    assert!(instance().check_presented(one.store(), &presented, &scope, at).await.is_ok());
    let replay = instance().check_presented(two.store(), &presented, &scope, at).await.unwrap_err();
    assert_eq!(replay.code().as_str(), "invalid_dpop_proof", "the proof was spent in the database");
}
