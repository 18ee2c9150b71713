//! A resource server that stands alone: [`RemoteVerifier`] checks the access tokens an API receives against their
//! issuer, found from its metadata. JWT access tokens (RFC 9068) are checked with the issuer's JWK Set (fetched,
//! cached, fetched again on an unknown `kid` at most once a minute); opaque tokens by RFC 7662 introspection as a
//! registered resource server. Answers are kept in a bounded [`TokenCache`] by the token's hash, until the token
//! expires and at most [`MAX_CACHE_AGE`] (so a revocation reaches this API within that time).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use oauth2_core::StoreError;
use oauth2_core::jose::{Algorithm, JoseError, JwkSet};
use oauth2_core::resource::{AccessGrant, AccessTokenVerifier, Audience, BearerToken, JwtCheck, TokenCache};
use oauth2_core::{Client, Scope};

use crate::{Error, JWKS_REFETCH_EVERY, execute, fetch_metadata};

/// The longest a verified token's answer is kept: a revocation at the issuer is seen within it.
pub const MAX_CACHE_AGE: Duration = Duration::from_secs(60);

/// Tokens whose answers are kept at most, unless set.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// Checks access tokens against a remote issuer (see the [module docs](self)). Build with
/// [`RemoteVerifier::builder`], hand to an adapter's guard (`oauth2_axum::RequireScope::new`, ...).
///
/// ```no_run
/// # async fn run() -> Result<(), oauth2_reqwest::Error> {
/// use oauth2_core::resource::ResourceServer;
/// use oauth2_reqwest::resource::RemoteVerifier;
/// let verifier = RemoteVerifier::builder("https://as.example", "https://api.example")
///     .introspection("api", "api-secret") // for opaque tokens too
///     .discover()
///     .await?;
/// let grant = ResourceServer::new("api")
///     .check_headers(&verifier, &http::HeaderMap::new(), &oauth2_core::Scope::from("read"), std::time::SystemTime::now())
///     .await;
/// assert!(grant.is_err(), "no token");
/// # Ok(()) }
/// ```
pub struct RemoteVerifier {
    http: reqwest::Client,
    issuer: String,
    /// The audiences a token must name one of.
    audiences: Vec<String>,
    jwt: Option<(JwtCheck, String)>,
    keys: RwLock<Option<Arc<JwkSet>>>,
    /// When an unknown `kid` last made the keys be fetched again, and when a fetch last failed; held while a fetch
    /// runs (one at a time).
    refetched: tokio::sync::Mutex<Fetches>,
    introspection: Option<Client>,
    cache: TokenCache,
}

impl std::fmt::Debug for RemoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteVerifier")
            .field("jwt", &self.jwt.as_ref().map(|(check, uri)| (check.issuer(), uri)))
            .field("introspection", &self.introspection.is_some())
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

/// The times that bound the JWK Set's fetches.
#[derive(Debug, Default)]
struct Fetches {
    refetched: Option<Instant>,
    failed: Option<Instant>,
}

/// How long a JWK Set fetch may take: requests wait for it.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// After a failed fetch, requests that need the keys fail at once for this long instead of each trying again.
const JWKS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How to build a [`RemoteVerifier`].
#[derive(Debug)]
pub struct RemoteVerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    introspection: Option<(String, oauth2_core::ClientSecret)>,
    capacity: usize,
    http: Option<reqwest::Client>,
    allow_insecure_http: bool,
}

impl RemoteVerifier {
    /// A verifier for the tokens of `issuer` meant for `audience` (this API's resource identifier, RFC 8707).
    /// JWTs signed with RS256, ES256 or EdDSA are accepted unless [`algorithms`](RemoteVerifierBuilder::algorithms)
    /// pins fewer; opaque tokens only with [`introspection`](RemoteVerifierBuilder::introspection).
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> RemoteVerifierBuilder {
        RemoteVerifierBuilder {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            algorithms: Algorithm::ALL.to_vec(),
            introspection: None,
            capacity: DEFAULT_CACHE_CAPACITY,
            http: None,
            allow_insecure_http: false,
        }
    }

    /// The cache, to [`forget`](TokenCache::forget) a token this API learns is revoked.
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// The issuer's keys: fetched when none are kept, and again when `stale` (a token named an unknown `kid`: a
    /// rotation at the issuer) at most once per [`JWKS_REFETCH_EVERY`], so that forged tokens naming random kids
    /// cannot make this API a request amplifier. One fetch at a time.
    async fn keys(&self, jwks_uri: &str, stale: bool) -> Result<Arc<JwkSet>, StoreError> {
        let kept = || self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if !stale && let Some(keys) = kept() {
            return Ok(keys);
        }
        let unavailable = |why: String| StoreError::new(format!("the issuer's JWK Set: {why}"));
        let mut fetches = self.refetched.lock().await;
        match kept() {
            Some(keys) if !stale => return Ok(keys),
            Some(keys) if fetches.refetched.is_some_and(|at| at.elapsed() < JWKS_REFETCH_EVERY) => return Ok(keys),
            Some(_) => fetches.refetched = Some(Instant::now()),
            None if fetches.failed.is_some_and(|at| at.elapsed() < JWKS_RETRY_AFTER) => {
                return Err(unavailable("the last fetch failed; trying again shortly".into()));
            }
            None => {}
        }
        let fetched = tokio::time::timeout(JWKS_FETCH_TIMEOUT, async {
            let request = http::Request::get(jwks_uri).body(Vec::new()).map_err(|e| unavailable(e.to_string()))?;
            let response = execute(&self.http, request).await.map_err(|e| unavailable(e.to_string()))?;
            if response.status() != http::StatusCode::OK {
                return Err(unavailable(format!("answered {}", response.status())));
            }
            serde_json::from_slice::<JwkSet>(response.body()).map_err(|e| unavailable(format!("malformed: {e}")))
        })
        .await
        .unwrap_or_else(|_| Err(unavailable("no answer in time".into())));
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                fetches.failed = None;
                *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(keys.clone());
                Ok(keys)
            }
            Err(e) => {
                fetches.failed = Some(Instant::now());
                // Keys kept from before still serve: a refetch that failed is not a reason to refuse every token.
                kept().ok_or(e)
            }
        }
    }

    /// The JWT's grant, and whether a refusal may be cached: not one for a key this API has not seen yet (a
    /// rotation that the next allowed refetch will pick up).
    async fn verify_jwt(
        &self,
        check: &JwtCheck,
        jwks_uri: &str,
        token: &str,
        now: SystemTime,
    ) -> Result<(Option<AccessGrant>, bool), StoreError> {
        match check.verify(token, &*self.keys(jwks_uri, false).await?, now) {
            Ok(grant) => Ok((Some(grant), true)),
            Err(JoseError::UnknownKey(_)) => match check.verify(token, &*self.keys(jwks_uri, true).await?, now) {
                Ok(grant) => Ok((Some(grant), true)),
                Err(JoseError::UnknownKey(_)) => Ok((None, false)),
                Err(_) => Ok((None, true)),
            },
            Err(_) => Ok((None, true)),
        }
    }

    /// The introspection answer for `token`, as a grant when it is an active access token of this issuer for
    /// this API: `aud` must name one of its audiences, as for a JWT (an authorization server may show a resource
    /// server more than the tokens meant for it), and a `token_type` other than Bearer is refused.
    async fn introspect(
        &self,
        client: &Client,
        token: &str,
        now: SystemTime,
    ) -> Result<Option<AccessGrant>, StoreError> {
        let unavailable = |why: String| StoreError::new(format!("introspection: {why}"));
        let request = client.introspection_request(token, None).map_err(|e| unavailable(e.to_string()))?;
        let response = execute(&self.http, request).await.map_err(|e| unavailable(e.to_string()))?;
        let info = client.parse_introspection_response(response).map_err(|e| unavailable(e.to_string()))?;
        // RFC 7662 §2.2: `exp` is optional; without it, the answer holds as long as it is cached.
        let cached_until = now.checked_add(MAX_CACHE_AGE).unwrap_or(now);
        let expires_at = info.exp.map_or(cached_until, |exp| {
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(exp)).unwrap_or(cached_until)
        });
        let Some(client_id) = info.client_id else { return Ok(None) };
        let foreign = info.iss.as_deref().is_some_and(|iss| iss != self.issuer);
        // RFC 9449 §6.2: a DPoP-bound token is one too, with its key (which the resource check then requires).
        // RFC 7800 §3.1: a token bound in a way that cannot be checked here is not taken at all.
        let jkt = match &info.cnf {
            None => None,
            Some(cnf) => match cnf.checkable_jkt() {
                Some(jkt) => Some(Arc::from(jkt)),
                None => return Ok(None),
            },
        };
        let not_bearer = info
            .token_type
            .as_deref()
            .is_some_and(|t| !(t.eq_ignore_ascii_case("bearer") || (jkt.is_some() && t.eq_ignore_ascii_case("dpop"))));
        if !info.active || expires_at <= now || foreign || not_bearer {
            return Ok(None);
        }
        let audience = info
            .aud
            .and_then(|aud| serde_json::from_value::<Audience>(aud).ok())
            .map(Audience::into_vec)
            .unwrap_or_default();
        if !audience.iter().any(|a| self.audiences.contains(a)) {
            return Ok(None);
        }
        // As for a JWT: the subject is the user, and none for a client acting for itself (RFC 9068 §2.2.1).
        let subject = info.sub.or(info.username).filter(|s| *s != client_id).map(Arc::from);
        let scope = Arc::new(info.scope.unwrap_or_else(Scope::empty));
        Ok(Some(
            AccessGrant::new(subject, Arc::from(client_id), scope, expires_at).with_audience(audience).with_jkt(jkt),
        ))
    }
}

/// JWTs (a token with two `.`) through the JWK Set, others through introspection; each answer kept in the cache.
/// A failure to reach the issuer is an `Err` (the adapters answer 503 `temporarily_unavailable`), never a grant.
impl AccessTokenVerifier for RemoteVerifier {
    async fn verify(&self, token: &BearerToken<'_>, now: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
        let hash = token.hash();
        if let Some(found) = self.cache.get(&hash, now) {
            return Ok(found);
        }
        let secret = token.secret();
        let (found, keep) = match (&self.jwt, &self.introspection) {
            (Some((check, jwks_uri)), _) if secret.bytes().filter(|&b| b == b'.').count() == 2 => {
                self.verify_jwt(check, jwks_uri, secret, now).await?
            }
            (_, Some(client)) => (self.introspect(client, secret, now).await?, true),
            _ => (None, true),
        };
        if keep {
            self.cache.insert(hash, found.clone(), now.checked_add(MAX_CACHE_AGE).unwrap_or(now), now);
        }
        Ok(found)
    }
}

impl RemoteVerifierBuilder {
    /// Accepts only JWTs signed with these (never `none` or HMAC, whatever is given).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Also accepts tokens for `audience` (see [`JwtCheck::also_audience`]).
    pub fn also_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Checks opaque tokens by introspection, authenticating as the resource server `client_id` (registered with
    /// `resource_server = true` at the issuer, RFC 7662 §2.1).
    pub fn introspection(mut self, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.introspection = Some((client_id.into(), oauth2_core::ClientSecret::new(secret.into())));
        self
    }

    /// Keeps at most `capacity` answers.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Uses this HTTP client (set up as [`http_client`](crate::http_client) is: no redirects, timeouts).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Allows an issuer on plain http beyond loopback (for tests on a private network; never in production).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Reads the issuer's metadata (RFC 8414, else OpenID discovery): `jwks_uri` for JWTs, the introspection
    /// endpoint for opaque tokens. The keys are fetched at the first JWT.
    pub async fn discover(self) -> Result<RemoteVerifier, Error> {
        let http = match self.http {
            Some(http) => http,
            None => crate::http_client()?,
        };
        let metadata = fetch_metadata(&http, &self.issuer, self.allow_insecure_http).await?.metadata;
        if let Some(uri) = &metadata.jwks_uri {
            // The keys decide what this API accepts: an http JWK Set (beyond loopback) would let the network forge
            // any token.
            let url = url::Url::parse(uri).map_err(|_| Error::InvalidIssuer(uri.clone()))?;
            oauth2_core::security::check_endpoint(&url, self.allow_insecure_http)?;
        }
        let jwt = metadata.jwks_uri.clone().map(|uri| {
            let mut check = JwtCheck::new(self.issuer.clone(), self.audiences[0].clone(), &self.algorithms);
            for extra in &self.audiences[1..] {
                check = check.also_audience(extra.clone());
            }
            (check, uri)
        });
        let introspection = match self.introspection {
            None => None,
            Some((id, secret)) => Some(
                Client::builder(id)
                    .secret(secret.secret())
                    .metadata(&metadata)
                    .allow_insecure_http(self.allow_insecure_http)
                    .build()?,
            ),
        };
        if introspection.is_some() && metadata.introspection_endpoint.is_none() {
            return Err(oauth2_core::client::RequestError::MissingEndpoint("introspection_endpoint").into());
        }
        Ok(RemoteVerifier {
            http,
            issuer: self.issuer,
            audiences: self.audiences,
            jwt,
            keys: RwLock::new(None),
            refetched: tokio::sync::Mutex::new(Fetches::default()),
            introspection,
            cache: TokenCache::new(self.capacity),
        })
    }
}
