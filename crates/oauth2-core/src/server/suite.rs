//! The store test suite: the guarantees every [`GrantStore`] must give, as one async function.
//! Durable stores call it from their tests; it needs no runtime of its own.

use std::time::{Duration, SystemTime};

use super::store::{CodeRecord, CodeUse, Grant, GrantId, GrantStore, Rotation, SecretHash, TokenRecord};
use crate::scope::Scope;

fn grant(id: &str) -> Grant {
    Grant { id: GrantId(id.into()), client_id: "c".into(), subject: Some("alice".into()), scope: Scope::parse("read") }
}

fn token(id: &str, now: SystemTime) -> TokenRecord {
    TokenRecord { grant: grant(id), issued_at: now, expires_at: now + Duration::from_secs(60) }
}

/// Runs every check against `store` (which must start empty of these keys). Panics with the broken guarantee.
pub async fn run<S: GrantStore>(store: &S, now: SystemTime) {
    // Codes are single-use: the first redemption spends the code and stores its tokens at once; a second is a
    // replay that stores nothing.
    let code = SecretHash::of("suite-code");
    let record = CodeRecord { grant: grant("g-code"), redirect_uri: None, challenge: None, expires_at: now };
    store.store_code(code.clone(), record.clone()).await.expect("store_code");
    let peek = store.code(&code).await.expect("code").map(|(_, used)| used);
    assert_eq!(peek, Some(false), "code() shows an unused code");
    let (ca, cr) = (SecretHash::of("suite-code-at"), SecretHash::of("suite-code-rt"));
    let first = store.redeem_code(&code, (ca.clone(), token("g-code", now)), Some((cr.clone(), token("g-code", now))));
    assert_eq!(first.await.expect("redeem"), CodeUse::Fresh(record), "first use is fresh");
    assert!(store.access_token(&ca).await.expect("get").is_some(), "its tokens are stored with it");
    assert!(store.refresh_token(&cr).await.expect("get").is_some());
    let again = store.redeem_code(&code, (SecretHash::of("suite-code-at2"), token("g-code", now)), None).await;
    assert_eq!(again.expect("redeem"), CodeUse::Replayed(GrantId("g-code".into())), "second use is a replay");
    assert!(
        store.access_token(&SecretHash::of("suite-code-at2")).await.expect("get").is_none(),
        "a replay stores nothing"
    );
    let unknown = store.redeem_code(&SecretHash::of("nope"), (SecretHash::of("z"), token("g", now)), None).await;
    assert_eq!(unknown.expect("redeem"), CodeUse::Unknown);

    // Tokens are found by hash; revoking one access token leaves the others.
    let (a1, a2, r1) = (SecretHash::of("suite-a1"), SecretHash::of("suite-a2"), SecretHash::of("suite-r1"));
    assert!(
        store.store_tokens((a1.clone(), token("g1", now)), Some((r1.clone(), token("g1", now)))).await.expect("store")
    );
    assert!(store.store_tokens((a2.clone(), token("g2", now)), None).await.expect("store"));
    let peek = store.code(&code).await.expect("code").map(|(_, used)| used);
    assert_eq!(peek, Some(true), "code() shows a used code");
    assert!(store.access_token(&a1).await.expect("get").is_some());
    assert_eq!(store.refresh_token(&r1).await.expect("get").map(|(_, used)| used), Some(false));
    store.revoke_access_token(&a2).await.expect("revoke");
    assert!(store.access_token(&a2).await.expect("get").is_none(), "revoked access token is gone");
    assert!(store.access_token(&a1).await.expect("get").is_some(), "other tokens stay");

    // Rotation is compare-and-swap: once, then reuse is reported with its grant.
    let (a3, r2) = (SecretHash::of("suite-a3"), SecretHash::of("suite-r2"));
    let rotated = store.rotate_refresh(&r1, (a3.clone(), token("g1", now)), (r2.clone(), token("g1", now))).await;
    assert_eq!(rotated.expect("rotate"), Rotation::Rotated);
    assert_eq!(store.refresh_token(&r1).await.expect("get").map(|(_, used)| used), Some(true), "old one is spent");
    let again = store
        .rotate_refresh(&r1, (SecretHash::of("x"), token("g1", now)), (SecretHash::of("y"), token("g1", now)))
        .await;
    assert_eq!(again.expect("rotate"), Rotation::Reused(GrantId("g1".into())));
    assert!(store.access_token(&SecretHash::of("x")).await.expect("get").is_none(), "a failed swap stores nothing");
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
    assert!(store.store_tokens((SecretHash::of("suite-other"), token("g9", now)), None).await.expect("store"));
    store.revoke_grant(&GrantId("g1".into())).await.expect("revoke grant");
    for h in [&a1, &a3] {
        assert!(store.access_token(h).await.expect("get").is_none(), "family access tokens revoked");
    }
    assert!(store.refresh_token(&r2).await.expect("get").is_none(), "family refresh tokens revoked");
    let late = store.store_tokens((SecretHash::of("suite-late"), token("g1", now)), None).await.expect("store");
    assert!(!late, "tokens of a revoked grant are refused, atomically");
    assert!(store.access_token(&SecretHash::of("suite-late")).await.expect("get").is_none());
    assert!(store.access_token(&SecretHash::of("suite-other")).await.expect("get").is_some(), "other grants stay");
}
