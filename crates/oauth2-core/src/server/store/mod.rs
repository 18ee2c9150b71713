//! Storage (design.md §2): the client registry, the grant/token store and the signing keys. Each operation that must be atomic is one
//! method, so every implementation gets it right or fails the shared [`suite`]. [`MemoryStore`] is the in-memory
//! implementation; `oauth2-sqlx` has durable ones.

mod memory;
mod records;
pub mod suite;

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

pub use memory::MemoryStore;
pub use records::{
    CodeRecord, CodeUse, DeviceCodeRecord, DeviceDecision, DeviceStatus, Grant, GrantId, InvalidGrantId, KeyRecord,
    MAX_DEVICE_INTERVAL, PushedRequestRecord, RegisteredClient, Rotation, TokenRecord,
};

pub use super::rules::throttle::{Attempts, ThrottlePolicy};
use crate::error::StoreError;
use crate::resource::AccessGrant;
use crate::secret::SecretHash;

/// Everything an [`AuthorizationServer`](super::AuthorizationServer) stores: implemented for every type that
/// implements each store trait.
pub trait Store:
    ClientStore + GrantStore + DeviceStore + PushedRequestStore + ReplayStore + ThrottleStore + KeyStore + Maintenance
{
}

impl<
    S: ClientStore + GrantStore + DeviceStore + PushedRequestStore + ReplayStore + ThrottleStore + KeyStore + Maintenance,
> Store for S
{
}

/// Remembers the DPoP proofs seen (RFC 9449 §11.1), by [`Proof::replay_id`](crate::dpop::Proof::replay_id), for as
/// long as they could be accepted: a proof is used once across every instance sharing the store.
pub trait ReplayStore: Send + Sync {
    /// Remembers `id` until `until` and returns `true`, unless it is remembered already (unexpired at `now`):
    /// then `false`, changing nothing. Atomic: of concurrent calls with one `id`, one gets `true`. A store that is
    /// full (of unexpired ids) fails.
    fn first_use(
        &self,
        id: &SecretHash,
        until: SystemTime,
        now: SystemTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Keeps pushed authorization requests (RFC 9126) by the hash of their `request_uri`, each for one use by its
/// client. Each method is atomic across every instance sharing the store: of any number of concurrent uses of a
/// `request_uri`, one at most gets the request.
pub trait PushedRequestStore: Send + Sync {
    /// Stores a pushed request made at `now`. A store that is full (of unexpired requests) fails.
    fn store_pushed_request(
        &self,
        request_uri: SecretHash,
        record: PushedRequestRecord,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes and returns the request of `request_uri` if it is `client_id`'s and unexpired at `now`; `None`
    /// (changing nothing) otherwise: unknown, used, expired, or another client's.
    fn take_pushed_request(
        &self,
        request_uri: &SecretHash,
        client_id: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<PushedRequestRecord>, StoreError>> + Send;
}

/// Keeps device authorizations (RFC 8628) by the hashes of their device code and user code. Each method is atomic
/// across every instance sharing the store: of any number of concurrent polls one at most is on time, and a device
/// code's tokens are issued once.
pub trait DeviceStore: Send + Sync {
    /// Stores a new device authorization made at `now`; `false` (storing nothing) when one unexpired at `now` has
    /// the same user code, so the server draws another.
    fn store_device_code(
        &self,
        device_code: SecretHash,
        user_code: SecretHash,
        record: DeviceCodeRecord,
        now: SystemTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The authorization of a user code, whatever its status (the server checks status and expiry).
    fn device_code_by_user_code(
        &self,
        user_code: &SecretHash,
    ) -> impl Future<Output = Result<Option<DeviceCodeRecord>, StoreError>> + Send;

    /// Records the user's answer if the authorization of `user_code` is still pending and unexpired at `now`;
    /// `false` (changing nothing) otherwise.
    fn decide_device_code(
        &self,
        user_code: &SecretHash,
        decision: DeviceDecision,
        now: SystemTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Atomically applies [`DeviceCodeRecord::after_poll`] to the authorization of `device_code` if it is
    /// `client_id`'s, and returns the record after it and whether the poll was too soon. `None` (changing nothing)
    /// for an unknown code or another client's.
    fn poll_device_code(
        &self,
        device_code: &SecretHash,
        client_id: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<(DeviceCodeRecord, bool)>, StoreError>> + Send;

    /// Atomically: if the authorization of `device_code` is approved, mark it redeemed and store its tokens, in
    /// one step; `false` (storing nothing) otherwise. Exactly one of any number of concurrent calls succeeds, and
    /// a refused one revokes nothing (RFC 8628 has no replay rule: a device may poll again).
    fn redeem_device_code(
        &self,
        device_code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// What keeps a store healthy and bounded, for the app's (or the adapter's) periodic task and health check.
pub trait Maintenance: Send + Sync {
    /// Deletes what can no longer be used at `now` (expired codes and tokens, forgotten families, stale throttle
    /// records, signing keys retired until before `now`), in bounded steps, and returns how much went. Never part of a token request.
    fn purge(&self, now: SystemTime) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Whether the store answers: for a health check, which bounds its wait.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Counts attempts at something guessable (passwords, user codes), per key, under a [`ThrottlePolicy`]: the
/// state behind the throttle, shared by every instance that shares the store.
pub trait ThrottleStore: Send + Sync {
    /// Atomically applies [`Attempts::after_attempt`] to the record of `key` (a new one if there is none) and
    /// returns the result: concurrent attempts all count, on every instance.
    fn record_attempt(
        &self,
        key: &SecretHash,
        now: SystemTime,
        policy: &ThrottlePolicy,
    ) -> impl Future<Output = Result<Attempts, StoreError>> + Send;

    /// Forgets the attempts of `key` (it succeeded).
    fn clear_attempts(&self, key: &SecretHash) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Keeps the signing keys (design.md §3): one current key per algorithm, and the keys rotated out, kept until the
/// tokens they signed have expired. Each method is atomic across every instance sharing the store.
pub trait KeyStore: Send + Sync {
    /// Every key kept, current and rotated out, newest first.
    fn signing_keys(&self) -> impl Future<Output = Result<Vec<KeyRecord>, StoreError>> + Send;

    /// Stores `key` as its algorithm's current key if the algorithm has none, and returns the current key: `key`,
    /// or the one another instance stored first. Instances that start at once end up sharing one key.
    fn create_signing_key(&self, key: KeyRecord) -> impl Future<Output = Result<KeyRecord, StoreError>> + Send;

    /// Makes `key` its algorithm's current key, and keeps the one it replaces (its public key stays published)
    /// until `retired_until`, in one step.
    fn rotate_signing_key(
        &self,
        key: KeyRecord,
        retired_until: SystemTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Looks up registered clients.
pub trait ClientStore: Send + Sync {
    /// The client registered as `id`. Shared, so a lookup on every token request copies nothing.
    fn client(&self, id: &str) -> impl Future<Output = Result<Option<Arc<RegisteredClient>>, StoreError>> + Send;
}

/// Stores codes and tokens. Implementations must make each method atomic.
pub trait GrantStore: Send + Sync {
    /// Stores a new code under its hash.
    fn store_code(&self, code: SecretHash, record: CodeRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Atomically: if the code is unused, mark it used and store the tokens issued for it, in one step. A second
    /// call for the same code stores nothing, **revokes the code's grant family** (as
    /// [`revoke_grant`](Self::revoke_grant) does) and returns [`CodeUse::Replayed`], all in the same atomic step:
    /// a caller whose future is dropped after this call started cannot leave the replayed grant alive. Exactly one
    /// of any number of concurrent calls sees [`CodeUse::Fresh`], and a code is never spent without its tokens
    /// being stored.
    fn redeem_code(
        &self,
        code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> impl Future<Output = Result<CodeUse, StoreError>> + Send;

    /// The code's record and whether it was used, without using it (to check bindings before spending it).
    fn code(&self, code: &SecretHash) -> impl Future<Output = Result<Option<(CodeRecord, bool)>, StoreError>> + Send;

    /// Stores an access token and optionally a refresh token (a new issuance), atomically refusing (returning
    /// `false`, storing nothing) if their grant was revoked, so a replay racing a first redemption cannot leave
    /// live tokens behind.
    fn store_tokens(
        &self,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The refresh token's record, and whether it was already used.
    fn refresh_token(
        &self,
        token: &SecretHash,
    ) -> impl Future<Output = Result<Option<(TokenRecord, bool)>, StoreError>> + Send;

    /// Compare-and-swap: if `old` is unused, mark it used and store the new tokens, all at once. If `old` was
    /// already used, store nothing, **revoke its grant family** in the same atomic step (RFC 9700 §4.14.2) and
    /// return [`Rotation::Reused`]. Exactly one of any number of concurrent calls with the same `old` sees
    /// [`Rotation::Rotated`], and after such a race no token of the family is live, the winner's included.
    fn rotate_refresh(
        &self,
        old: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: (SecretHash, TokenRecord),
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// The access token's record, if it exists and was not revoked.
    fn access_token(&self, token: &SecretHash) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;

    /// What a live access token grants, for the resource server (RFC 6750): [`access_token`](Self::access_token)
    /// reduced to who, which client and what scope. The default builds it from `access_token`; a store that keeps
    /// these shared can hand them out without copying, as [`MemoryStore`] does.
    fn access_grant(&self, token: &SecretHash) -> impl Future<Output = Result<Option<AccessGrant>, StoreError>> + Send {
        async move { Ok(self.access_token(token).await?.map(TokenRecord::into_access_grant)) }
    }

    /// Revokes one access token.
    fn revoke_access_token(&self, token: &SecretHash) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes every code and token of a grant family: from now on its tokens are not found, its codes count as
    /// used, and a later [`store_tokens`](Self::store_tokens) or [`rotate_refresh`](Self::rotate_refresh) for it is
    /// refused, for as long as any code or token of it could still be alive (a store may forget the revocation
    /// after that).
    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes a JWT access token that the store holds no record of (the self-contained tokens of client
    /// credentials, RFC 9068: see [`AccessTokenFormat::Jwt`](crate::server::AccessTokenFormat::Jwt)), by the hash of
    /// its `jti`: a deny-list entry, kept at least until `expires_at`, when the token is refused anyway.
    fn deny_token(
        &self,
        jti: &SecretHash,
        expires_at: SystemTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether [`deny_token`](Self::deny_token) revoked `jti`.
    fn token_denied(&self, jti: &SecretHash) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
