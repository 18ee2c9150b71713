//! The resource server (RFC 6750, and RFC 9449 §7 for DPoP-bound tokens): the check of an access token, standing
//! alone. An API that only validates tokens
//! needs a [`ResourceServer`] and something that knows what tokens grant (an [`AccessTokenVerifier`]): the
//! provider's store, an introspection client, a cache. It needs no authorization server.
//!
//! The check is three steps, and the middle one is the caller's I/O:
//! 1. [`ResourceServer::bearer_token`] reads the `Authorization` header (§2.1; never the query string) and hands out
//!    the token, with the [`hash`](BearerToken::hash) a store looks it up by;
//! 2. the caller looks the token up;
//! 3. [`ResourceServer::finish`] decides from what was found, the scope the resource needs and `now`.
//!
//! [`ResourceServer::check`] runs all three with a verifier. [`ResourceServer::check_presented`] does the same with
//! the request's method, path and `DPoP` header too: with [`ResourceServer::dpop`], it takes DPoP-bound tokens under
//! the `DPoP` scheme with a proof of their key (and `ath`); a bound token presented as Bearer is refused everywhere.
//!
//! Verifiers: the provider's store (opaque tokens of the same process or database), the
//! [`AuthorizationServer`](../server/struct.AuthorizationServer.html) itself (its opaque and JWT tokens, revocations
//! seen at once), a [`JwtCheck`] with the issuer's keys (RFC 9068 JWTs, no call to the issuer), or RFC 7662
//! introspection (`oauth2-reqwest`); [`Cached`] puts a bounded [`TokenCache`] in front of any of them.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use oauth2_core::Scope;
//! use oauth2_core::resource::{AccessGrant, ResourceServer};
//!
//! let rs = ResourceServer::new("api");
//! let token = rs.bearer_token([b"Bearer mF_9.B5f-4.1JqM".as_slice()])?;
//! // Look `token.hash()` up wherever tokens live; here, a grant of scope "read" found for it:
//! let now = SystemTime::now();
//! let found = AccessGrant::new(Some("alice".into()), "app".into(), Scope::from("read").into(), now + Duration::from_secs(60));
//! let grant = rs.finish(Some(found), &Scope::from("read"), now)?;
//! assert_eq!(grant.subject.as_deref(), Some("alice"));
//! // Without a token, the answer is a bare challenge (RFC 6750 §3.1).
//! let refused = rs.bearer_token(std::iter::empty()).unwrap_err();
//! assert_eq!(refused.into_response().headers()["www-authenticate"], "Bearer realm=\"api\"");
//! # Ok::<(), oauth2_core::OAuthError>(())
//! ```

mod cache;
#[cfg(feature = "jose")]
mod dpop;
#[cfg(feature = "jose")]
mod jwt;

pub use cache::{Cached, TokenCache};
#[cfg(feature = "jose")]
pub use jwt::{ACCESS_TOKEN_TYP, JwksVerifier, JwtCheck};

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::error::{Challenge, ErrorCode, OAuthError, StoreError};
use crate::scope::Scope;
use crate::secret::SecretHash;

/// What a valid access token grants: who, to which client, for what. Cheap to clone: its strings are shared with
/// the store (the in-memory store hands out the same ones for every token of a client, user and scope).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AccessGrant {
    /// The resource owner (`None` for client credentials).
    pub subject: Option<Arc<str>>,
    /// The client the token was issued to.
    pub client_id: Arc<str>,
    /// The token's scope.
    pub scope: Arc<Scope>,
    /// When it expires.
    pub expires_at: SystemTime,
    /// The resources it is for (RFC 8707; a JWT's `aud`). Empty when the token names none: it is for the
    /// authorization server's own resources (a JWT then says the issuer).
    pub audience: Arc<[String]>,
    /// The thumbprint of the DPoP key the token is bound to (RFC 9449 §6, `cnf.jkt`): then it is accepted only with
    /// a proof signed by that key, under the `DPoP` scheme. `None` for a Bearer token.
    pub jkt: Option<Arc<str>>,
}

impl AccessGrant {
    /// A grant for `client_id` on behalf of `subject`, with `scope`, until `expires_at` (for stores that build one),
    /// naming no resource.
    pub fn new(subject: Option<Arc<str>>, client_id: Arc<str>, scope: Arc<Scope>, expires_at: SystemTime) -> Self {
        Self { subject, client_id, scope, expires_at, audience: no_audience(), jkt: None }
    }

    /// Bound to the DPoP key of thumbprint `jkt` (RFC 9449 §6), or not.
    pub fn with_jkt(mut self, jkt: Option<Arc<str>>) -> Self {
        self.jkt = jkt;
        self
    }

    /// With the resources it is for.
    pub fn with_audience(mut self, audience: impl Into<Arc<[String]>>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Whether it is for `resource` (RFC 8707): named in its audience. A resource server that is not the issuer
    /// checks this; a token naming no resource is for the issuer's resources only.
    pub fn is_for(&self, resource: &str) -> bool {
        self.audience.iter().any(|a| a == resource)
    }
}

/// An `aud` claim, or the `aud` of an introspection answer (RFC 7519 §4.1.3, RFC 7662 §2.2): one string or an
/// array of strings.
///
/// ```
/// use oauth2_core::resource::Audience;
/// let one: Audience = serde_json::from_str(r#""https://api.example""#)?;
/// let two: Audience = serde_json::from_str(r#"["https://a.example", "https://b.example"]"#)?;
/// assert_eq!((one.into_vec().len(), two.into_vec().len()), (1, 2));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences, in order.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(a) => vec![a],
            Self::Many(all) => all,
        }
    }
}

/// An empty audience, shared per thread: an `Arc` of nothing still allocates, and a Bearer check that names no
/// resource should not.
pub(crate) fn no_audience() -> Arc<[String]> {
    thread_local! {
        static EMPTY: Arc<[String]> = Arc::from(Vec::new());
    }
    EMPTY.with(Arc::clone)
}

/// The access token a request presented, borrowed from its `Authorization` header: under the `Bearer` scheme
/// (RFC 6750), or under `DPoP` (RFC 9449 §7.1), with a proof.
#[derive(Clone, Copy)]
pub struct BearerToken<'h> {
    value: &'h str,
    dpop: bool,
}

impl std::fmt::Debug for BearerToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

impl<'h> BearerToken<'h> {
    /// The token itself (to send to an introspection endpoint, say).
    pub fn secret(&self) -> &'h str {
        self.value
    }

    /// The SHA-256 of the token: what stores index tokens by.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.value)
    }

    /// Whether it came under the `DPoP` scheme (RFC 9449 §7.1).
    pub fn is_dpop(&self) -> bool {
        self.dpop
    }
}

/// What a request presents to a resource: its method and path (what a DPoP proof names), and the values of its
/// `Authorization` and `DPoP` headers (at most two of each are looked at: one is right, two are refused).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "jose"), allow(dead_code))]
pub struct Presented<'h> {
    method: &'h str,
    path: &'h str,
    authorization: (Option<&'h [u8]>, bool),
    dpop: (Option<&'h [u8]>, bool),
}

/// The first item and whether there is another.
fn first_and_more<T>(items: impl IntoIterator<Item = T>) -> (Option<T>, bool) {
    let mut items = items.into_iter();
    let first = items.next();
    (first, items.next().is_some())
}

impl<'h> Presented<'h> {
    /// A request of `method` to `path` (its query is ignored) with these header values.
    pub fn new(
        method: &'h str,
        path: &'h str,
        authorization: impl IntoIterator<Item = &'h [u8]>,
        dpop: impl IntoIterator<Item = &'h [u8]>,
    ) -> Self {
        Self { method, path, authorization: first_and_more(authorization), dpop: first_and_more(dpop) }
    }

    /// A request of `method` to `uri` with `headers`.
    pub fn from_http(method: &'h http::Method, uri: &'h http::Uri, headers: &'h http::HeaderMap) -> Self {
        Self::new(
            method.as_str(),
            uri.path(),
            headers.get_all(http::header::AUTHORIZATION).iter().map(http::HeaderValue::as_bytes),
            headers.get_all("dpop").iter().map(http::HeaderValue::as_bytes),
        )
    }

    /// Only `Authorization` values: a request that cannot carry a DPoP proof (the Bearer-only checks).
    fn bearer_only(authorization: impl IntoIterator<Item = &'h [u8]>) -> Self {
        Self::new("", "", authorization, std::iter::empty())
    }
}

/// Whether the proof `id` is new in `seen` (then it is kept until `until`), which holds at most `cap` proofs: when
/// every one is live, a new one is an error (503) rather than a live one forgotten, which could then be replayed.
/// The one bookkeeping of the process-local map and of `MemoryStore`'s shards.
pub(crate) fn first_proof_use_in(
    seen: &mut std::collections::HashMap<SecretHash, SystemTime>,
    cap: usize,
    id: &SecretHash,
    until: SystemTime,
    now: SystemTime,
) -> Result<bool, StoreError> {
    if seen.get(id).is_some_and(|kept| *kept > now) {
        return Ok(false);
    }
    if seen.len() >= cap {
        seen.retain(|_, kept| *kept > now);
        if seen.len() >= cap {
            return Err(StoreError::new("too many DPoP proofs are remembered"));
        }
    }
    seen.insert(*id, until);
    Ok(true)
}

/// Knows what access tokens grant: a store, an introspection client, a cache in front of either.
pub trait AccessTokenVerifier: Send + Sync {
    /// What `token` grants if it is known and not revoked; `None` if not. Expiry and scope are
    /// [`ResourceServer::finish`]'s to check; an `Err` means the lookup itself failed (the store is down).
    fn verify(
        &self,
        token: &BearerToken<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<AccessGrant>, StoreError>> + Send;

    /// Remembers the DPoP proof `id` until `until` (RFC 9449 §11.1): `Some(true)` the first time, `Some(false)` for
    /// a replay, across every instance that shares what this verifier keeps. `None` (the default): this verifier
    /// keeps nothing, and the [`ResourceServer`] remembers proofs in its own process.
    fn first_proof_use(
        &self,
        id: &SecretHash,
        until: SystemTime,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send {
        let _ = (id, until, now);
        std::future::ready(Ok(None))
    }
}

impl<V: AccessTokenVerifier + ?Sized> AccessTokenVerifier for Arc<V> {
    fn verify(
        &self,
        token: &BearerToken<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<AccessGrant>, StoreError>> + Send {
        (**self).verify(token, now)
    }

    fn first_proof_use(
        &self,
        id: &SecretHash,
        until: SystemTime,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send {
        (**self).first_proof_use(id, until, now)
    }
}

/// The proof algorithms a resource takes (RFC 9449 §7.1 `algs`).
#[cfg(feature = "jose")]
const ALGS: [&str; 3] = ["ES256", "EdDSA", "RS256"];
#[cfg(not(feature = "jose"))]
const ALGS: [&str; 0] = [];

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, checked byte by byte
/// (a misplaced `=` is left to the lookup, where it simply matches no token). A table: every protected request
/// checks some 43 bytes here.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        c += 1;
    }
    table
};

fn is_b64token_byte(c: u8) -> bool {
    B64TOKEN[usize::from(c)]
}

/// The resource server's side of RFC 6750 and RFC 9449 §7, with no I/O: see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ResourceServer {
    realm: String,
    /// Set: it takes DPoP-bound tokens too.
    #[cfg(feature = "jose")]
    dpop: Option<Arc<dpop::DpopResource>>,
}

impl PartialEq for ResourceServer {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "jose")]
        let same_dpop = match (&self.dpop, &other.dpop) {
            (None, None) => true,
            (Some(a), Some(b)) => a.base == b.base && a.window == b.window,
            _ => false,
        };
        #[cfg(not(feature = "jose"))]
        let same_dpop = true;
        self.realm == other.realm && same_dpop
    }
}

impl Eq for ResourceServer {}

/// Under which scheme a refusal is explained.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

impl ResourceServer {
    /// A resource server whose challenges name `realm`.
    pub fn new(realm: impl Into<String>) -> Self {
        Self {
            realm: realm.into(),
            #[cfg(feature = "jose")]
            dpop: None,
        }
    }

    /// Takes DPoP-bound tokens too (RFC 9449 §7), under the `DPoP` scheme with a proof of their key, at `base`:
    /// the URL clients reach the paths of requests under, which proofs name (`htu`) with the request's path
    /// appended. Usually the origin (`https://api.example`: scheme, host and port), as the adapters give the
    /// request's whole path; a prefix of the path that the app's router strips goes in `base`. Bound tokens are
    /// refused as Bearer tokens, with or without this.
    ///
    /// ```
    /// use oauth2_core::resource::ResourceServer;
    /// let rs = ResourceServer::new("api").dpop("https://api.example");
    /// let refused = rs.bearer_token(std::iter::empty()).unwrap_err().into_response();
    /// let challenges: Vec<_> = refused.headers().get_all("www-authenticate").iter().collect();
    /// assert_eq!(challenges, ["Bearer realm=\"api\"", "DPoP realm=\"api\", algs=\"ES256 EdDSA RS256\""]);
    /// ```
    #[cfg(feature = "jose")]
    pub fn dpop(mut self, base: &str) -> Self {
        self.dpop = Some(Arc::new(dpop::DpopResource::new(base)));
        self
    }

    /// How far a proof's `iat` may be from the clock (default 60 s, at most 5 minutes).
    #[cfg(feature = "jose")]
    pub fn dpop_window(mut self, window: std::time::Duration) -> Self {
        if let Some(dpop) = &self.dpop {
            let mut settings = dpop::DpopResource::new(&dpop.base);
            settings.window = window.clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(300));
            self.dpop = Some(Arc::new(settings));
        }
        self
    }

    /// Whether it takes DPoP-bound tokens.
    pub fn takes_dpop(&self) -> bool {
        #[cfg(feature = "jose")]
        return self.dpop.is_some();
        #[cfg(not(feature = "jose"))]
        false
    }

    /// The realm of its challenges.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn refuse(&self, code: Option<ErrorCode>, description: &str, scope: Option<&Scope>) -> OAuthError {
        self.refuse_as(Scheme::Bearer, code, description, scope)
    }

    /// A refusal whose challenge is of `scheme`: a DPoP one when the request used it (or presented a bound token as
    /// Bearer) and this resource takes DPoP; and both, bare, when the request had no credentials.
    fn refuse_as(
        &self,
        scheme: Scheme,
        code: Option<ErrorCode>,
        description: &str,
        scope: Option<&Scope>,
    ) -> OAuthError {
        let status = match code {
            // RFC 9449 §7.1: a bad proof at a resource is a 401, as a bad token is.
            Some(ErrorCode::InvalidDpopProof) => Some(http::StatusCode::UNAUTHORIZED),
            _ => None,
        };
        let error = OAuthError::new(code.clone().unwrap_or(ErrorCode::InvalidToken), description);
        let error = match status {
            Some(status) => error.with_status(status),
            None => error,
        };
        let bearer = Challenge::Bearer { realm: self.realm.clone(), error: code.clone(), scope: scope.cloned() };
        if !self.takes_dpop() || (scheme == Scheme::Bearer && code.is_some()) {
            return error.with_challenge(bearer);
        }
        let algs = ALGS.join(" ");
        let also_bearer = code.is_none();
        error.with_challenge(Challenge::Dpop {
            realm: self.realm.clone(),
            algs,
            error: code,
            scope: scope.cloned(),
            also_bearer,
        })
    }

    /// Step 1: the Bearer token of a request, from the raw values of its `Authorization` headers (RFC 6750 §2.1:
    /// the header only, never the query string or body). No header, or another scheme: 401 with a bare challenge
    /// (§3.1); two headers or a malformed token: 400 `invalid_request`.
    pub fn bearer_token<'h>(
        &self,
        authorization: impl IntoIterator<Item = &'h [u8]>,
    ) -> Result<BearerToken<'h>, OAuthError> {
        let mut values = authorization.into_iter();
        let Some(value) = values.next() else {
            return Err(self.refuse(None, "no access token", None));
        };
        if values.next().is_some() {
            return Err(self.refuse(Some(ErrorCode::InvalidRequest), "more than one Authorization header", None));
        }
        let value = std::str::from_utf8(value).unwrap_or("");
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        let dpop = scheme.eq_ignore_ascii_case("dpop") && self.takes_dpop();
        if !scheme.eq_ignore_ascii_case("bearer") && !dpop {
            return Err(self.refuse(None, "use the Bearer scheme", None));
        }
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(is_b64token_byte) {
            let scheme = if dpop { Scheme::Dpop } else { Scheme::Bearer };
            return Err(self.refuse_as(scheme, Some(ErrorCode::InvalidRequest), "malformed access token", None));
        }
        Ok(BearerToken { value: token, dpop })
    }

    /// Step 3: decides from what the lookup `found`: unknown, revoked or expired at `now` is 401 `invalid_token`;
    /// a grant without the `required` scope is 403 `insufficient_scope` naming it (RFC 6750 §3.1).
    ///
    /// A DPoP-bound token (RFC 9449 §7.2) is refused here, `invalid_token`: it must come under the `DPoP` scheme,
    /// with a proof, which [`check_presented`](Self::check_presented) checks.
    pub fn finish(
        &self,
        found: Option<AccessGrant>,
        required: &Scope,
        now: SystemTime,
    ) -> Result<AccessGrant, OAuthError> {
        let grant = self.live(Scheme::Bearer, found, now)?;
        self.scoped(Scheme::Bearer, grant, required)
    }

    /// The grant of a live token presented under `scheme`, which must be the scheme of its binding.
    fn live(&self, scheme: Scheme, found: Option<AccessGrant>, now: SystemTime) -> Result<AccessGrant, OAuthError> {
        let grant = match found {
            Some(g) if g.expires_at > now => g,
            _ => {
                let e = "the access token is invalid or expired";
                return Err(self.refuse_as(scheme, Some(ErrorCode::InvalidToken), e, None));
            }
        };
        match (scheme, &grant.jkt) {
            (Scheme::Bearer, Some(_)) => {
                // §7.2: a bound token without its proof is what a thief would send.
                let e = "the access token is bound to a DPoP key: present it under the DPoP scheme with a proof";
                return Err(self.refuse_as(Scheme::Dpop, Some(ErrorCode::InvalidToken), e, None));
            }
            (Scheme::Dpop, None) => {
                let e = "the access token is not DPoP-bound: present it under the Bearer scheme";
                return Err(self.refuse_as(Scheme::Dpop, Some(ErrorCode::InvalidToken), e, None));
            }
            _ => {}
        }
        Ok(grant)
    }

    /// `grant`, if it has the `required` scope.
    fn scoped(&self, scheme: Scheme, grant: AccessGrant, required: &Scope) -> Result<AccessGrant, OAuthError> {
        if !required.is_subset_of(&grant.scope) {
            return Err(self.refuse_as(
                scheme,
                Some(ErrorCode::InsufficientScope),
                "the access token lacks the scope this resource needs",
                Some(required),
            ));
        }
        Ok(grant)
    }

    /// The whole check, with `verifier` doing the lookup: [`bearer_token`](Self::bearer_token), then
    /// [`AccessTokenVerifier::verify`], then [`finish`](Self::finish). A failed lookup is 503
    /// `temporarily_unavailable`.
    pub async fn check<'h, V: AccessTokenVerifier + ?Sized>(
        &self,
        verifier: &V,
        authorization: impl IntoIterator<Item = &'h [u8]>,
        required: &Scope,
        now: SystemTime,
    ) -> Result<AccessGrant, OAuthError> {
        self.check_presented(verifier, &Presented::bearer_only(authorization), required, now).await
    }

    /// The whole check of what a request presents (RFC 6750 §2.1, RFC 9449 §7): a Bearer token, or, when this
    /// resource [takes DPoP](Self::dpop), a DPoP-bound token with its proof. The proof is checked first (§4.3, with
    /// `ath`; a bad one is `invalid_dpop_proof`, 401), then the token is looked up, then the proof's key must be the
    /// token's (`invalid_token`), then the proof is remembered (a replay is refused), and last the scope is checked:
    /// a token shown without its key says nothing of what it grants.
    pub async fn check_presented<V: AccessTokenVerifier + ?Sized>(
        &self,
        verifier: &V,
        presented: &Presented<'_>,
        required: &Scope,
        now: SystemTime,
    ) -> Result<AccessGrant, OAuthError> {
        let token = match presented.authorization {
            (None, _) => return Err(self.refuse(None, "no access token", None)),
            (Some(_), true) => {
                return Err(self.refuse(Some(ErrorCode::InvalidRequest), "more than one Authorization header", None));
            }
            (Some(value), false) => self.bearer_token([value])?,
        };
        if !token.dpop {
            let found = verifier.verify(&token, now).await?;
            return self.finish(found, required, now);
        }
        #[cfg(feature = "jose")]
        return self.check_dpop(verifier, presented, token, required, now).await;
        #[cfg(not(feature = "jose"))]
        unreachable!("without jose no token is taken under the DPoP scheme")
    }

    #[cfg(feature = "jose")]
    async fn check_dpop<V: AccessTokenVerifier + ?Sized>(
        &self,
        verifier: &V,
        presented: &Presented<'_>,
        token: BearerToken<'_>,
        required: &Scope,
        now: SystemTime,
    ) -> Result<AccessGrant, OAuthError> {
        use crate::dpop::{Expected, check_proof};
        let Some(settings) = &self.dpop else {
            return Err(self.refuse(None, "use the Bearer scheme", None));
        };
        let bad_proof = |why: &str| self.refuse_as(Scheme::Dpop, Some(ErrorCode::InvalidDpopProof), why, None);
        let value = match presented.dpop {
            (None, _) => return Err(bad_proof("a DPoP proof is required")),
            (Some(_), true) => return Err(bad_proof("more than one DPoP header")),
            (Some(value), false) => value,
        };
        let url = settings.url(presented.path);
        let expected = Expected { window: settings.window, ..Expected::new(presented.method, &url, now) };
        let proof =
            check_proof(value, &expected.access_token(token.secret())).map_err(|e| bad_proof(&e.to_string()))?;
        let found = verifier.verify(&token, now).await?;
        let grant = self.live(Scheme::Dpop, found, now)?;
        // The key before the scope: without the key, a token tells nothing of what it grants (§7.2).
        if grant.jkt.as_deref() != Some(proof.jkt.as_str()) {
            let e = "the DPoP proof is not signed by the key the access token is bound to";
            return Err(self.refuse_as(Scheme::Dpop, Some(ErrorCode::InvalidToken), e, None));
        }
        let (id, until) = (proof.replay_id(), proof.remember_until(settings.window));
        let first = match verifier.first_proof_use(&id, until, now).await? {
            Some(first) => first,
            None => settings.seen.first_use(&id, until, now)?,
        };
        if !first {
            return Err(bad_proof("the DPoP proof was used before"));
        }
        self.scoped(Scheme::Dpop, grant, required)
    }

    /// [`check`](Self::check) with the request's headers.
    pub async fn check_headers<V: AccessTokenVerifier + ?Sized>(
        &self,
        verifier: &V,
        headers: &http::HeaderMap,
        required: &Scope,
        now: SystemTime,
    ) -> Result<AccessGrant, OAuthError> {
        let values = headers.get_all(http::header::AUTHORIZATION).iter().map(http::HeaderValue::as_bytes);
        self.check(verifier, values, required, now).await
    }
}

/// What protects a resource: a [`ResourceServer`] (the realm of its challenges), a verifier `V` that knows the
/// tokens, and the scope the resource needs. What a framework's layer or middleware holds, per route. Cheap to
/// clone.
pub struct Guard<V> {
    inner: Arc<(ResourceServer, Arc<V>, Scope)>,
}

impl<V> Clone for Guard<V> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<V> std::fmt::Debug for Guard<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("check", &self.inner.0).field("scope", &self.inner.2).finish_non_exhaustive()
    }
}

impl<V: AccessTokenVerifier> Guard<V> {
    /// Requires `scope` (empty for any valid token) of tokens that `verifier` knows, with `check`'s realm.
    pub fn new(check: ResourceServer, verifier: impl Into<Arc<V>>, scope: impl Into<Scope>) -> Self {
        Self { inner: Arc::new((check, verifier.into(), scope.into())) }
    }

    /// The scope required.
    pub fn scope(&self) -> &Scope {
        &self.inner.2
    }

    /// Checks a request's `Authorization` header values at `now` ([`ResourceServer::check`]).
    pub async fn check<'h>(
        &self,
        authorization: impl IntoIterator<Item = &'h [u8]>,
        now: SystemTime,
    ) -> Result<AccessGrant, OAuthError> {
        let (check, verifier, scope) = &*self.inner;
        check.check(&**verifier, authorization, scope, now).await
    }

    /// Checks what a request presents at `now`, DPoP included ([`ResourceServer::check_presented`]).
    pub async fn check_presented(&self, presented: &Presented<'_>, now: SystemTime) -> Result<AccessGrant, OAuthError> {
        let (check, verifier, scope) = &*self.inner;
        check.check_presented(&**verifier, presented, scope, now).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rs() -> ResourceServer {
        ResourceServer::new("oauth")
    }

    fn grant(scope: &str, expires_at: SystemTime) -> AccessGrant {
        AccessGrant::new(Some("alice".into()), "web".into(), Arc::new(Scope::parse(scope)), expires_at)
    }

    fn challenge(e: &OAuthError) -> String {
        e.www_authenticate().map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }

    #[test]
    fn rfc6750_2_1_b64token_characters() {
        let grammar = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";
        for c in 0..=255u8 {
            assert_eq!(is_b64token_byte(c), grammar.contains(&c), "byte {c:#04x}");
        }
    }

    #[test]
    fn rfc6750_2_1_the_token_comes_from_one_authorization_header() {
        let token = rs().bearer_token([b"Bearer abc.DEF-123".as_slice()]).unwrap();
        assert_eq!(token.secret(), "abc.DEF-123");
        assert_eq!(token.hash(), SecretHash::of("abc.DEF-123"));
        assert_eq!(format!("{token:?}"), "BearerToken([redacted])");
        let scheme_case = rs().bearer_token([b"bEaReR abc".as_slice()]).unwrap();
        assert_eq!(scheme_case.secret(), "abc", "the scheme is case-insensitive");
        let two = rs().bearer_token([b"Bearer a".as_slice(), b"Bearer b".as_slice()]).unwrap_err();
        assert_eq!((two.status(), two.code()), (http::StatusCode::BAD_REQUEST, &ErrorCode::InvalidRequest));
        let malformed = rs().bearer_token([b"Bearer a b".as_slice()]).unwrap_err();
        assert_eq!(malformed.status(), http::StatusCode::BAD_REQUEST);
        assert!(challenge(&malformed).contains("error=\"invalid_request\""));
    }

    #[test]
    fn rfc6750_3_1_no_credentials_get_a_bare_challenge_and_no_body() {
        for refused in [rs().bearer_token(std::iter::empty()), rs().bearer_token([b"Basic eDp5".as_slice()])] {
            let e = refused.unwrap_err();
            assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
            assert_eq!(challenge(&e), "Bearer realm=\"oauth\"");
            assert!(e.into_response().body().is_empty());
        }
    }

    #[test]
    fn rfc6750_3_1_finish_refuses_unknown_expired_and_narrow_grants() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let read = Scope::parse("read");
        assert!(rs().finish(Some(grant("read write", now + Duration::from_secs(1))), &read, now).is_ok());
        for found in [None, Some(grant("read", now))] {
            let e = rs().finish(found, &read, now).unwrap_err();
            assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
            assert!(challenge(&e).contains("error=\"invalid_token\""), "{}", challenge(&e));
        }
        let e = rs().finish(Some(grant("read", now + Duration::from_secs(9))), &Scope::parse("profile"), now);
        let e = e.unwrap_err();
        assert_eq!(e.status(), http::StatusCode::FORBIDDEN);
        assert!(challenge(&e).ends_with(", scope=\"profile\""), "{}", challenge(&e));
    }

    #[test]
    fn rfc6750_3_challenge_values_are_escaped() {
        let e = ResourceServer::new("my \"realm\"").bearer_token([b"Bearer a b".as_slice()]).unwrap_err();
        let c = challenge(&e);
        assert!(c.starts_with("Bearer realm=\"my \\\"realm\\\"\""), "{c}");
    }
}
