//! DPoP (RFC 9449): proofs of possession that bind tokens to a client's key, so a stolen token is useless without
//! the private key. Both sides, with no I/O:
//!
//! - the client's [`DpopKey`] signs a fresh [proof](DpopKey::proof) for every request (its time and randomness are
//!   the caller's), and [`DpopNonces`] remembers each server's `DPoP-Nonce` (§8);
//! - a server [checks a proof](check_proof) (§4.3): its syntax, its signature with the key it carries, `typ`,
//!   `htm`, `htu`, `iat` within a window, `ath` at a resource (§7), and the key's RFC 7638 thumbprint (`jkt`) is
//!   what tokens are bound to (§6). Replays of a `jti` are the store's to refuse ([`Proof::replay_id`]); a
//!   server's stateless [`NonceIssuer`] makes and checks nonces.
//!
//! ```
//! # #[cfg(feature = "os-rng")] {
//! use std::time::{Duration, SystemTime};
//! use oauth2_core::dpop::{DpopKey, Expected, check_proof};
//! use oauth2_core::jose::Algorithm;
//! use oauth2_core::random::OsRng;
//!
//! let key = DpopKey::generate(Algorithm::Es256, &mut OsRng)?;
//! let now = SystemTime::now();
//! let proof = key.proof("POST", "https://as.example/token", None, None, now, &mut OsRng)?;
//!
//! // The server's side: the proof is for this request, and names the key the token is bound to.
//! let checked = check_proof(proof.as_bytes(), &Expected::new("POST", "https://as.example/token", now))?;
//! assert_eq!(checked.jkt, key.thumbprint());
//! // The same proof at another endpoint is refused.
//! assert!(check_proof(proof.as_bytes(), &Expected::new("POST", "https://as.example/par", now)).is_err());
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jose::{Algorithm, Header, JoseError, Jwk, SigningKey, b64, unb64, verify_self_signed};
use crate::random::{CryptoRng, random_token};
use crate::secret::SecretHash;

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const PROOF_TYP: &str = "dpop+jwt";

/// The request header that carries a proof (§4.1), lower case as `http` names headers.
pub const DPOP: &str = "dpop";

/// The response header that carries a server's nonce (§8).
pub const DPOP_NONCE: &str = "dpop-nonce";

/// The authorization scheme of a DPoP-bound access token at a resource (§7.1).
pub const SCHEME: &str = "DPoP";

/// The `token_type` of a DPoP-bound access token (§5).
pub const TOKEN_TYPE: &str = "DPoP";

/// The algorithms a server accepts proofs in by default, and advertises (`dpop_signing_alg_values_supported`).
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256];

/// How far a proof's `iat` may be from the server's clock by default (§11.1: a short window; ±60 s).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// The longest `jti` accepted (§4.2 asks for 96 random bits at least; a few dozen characters).
pub const MAX_JTI_BYTES: usize = 128;

/// The longest nonce accepted or remembered (§8: a server's nonce is short).
pub const MAX_NONCE_BYTES: usize = 256;

/// Why a proof was refused: each is `invalid_dpop_proof` (§7.1), but [`DpopError::UseNonce`], which is
/// `use_dpop_nonce` (§8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The proof is malformed, for another request, too old, or signed by another key than it carries.
    #[error("invalid DPoP proof: {0}")]
    Invalid(&'static str),
    /// The server requires its nonce, and the proof has none or a stale one (§8).
    #[error("the DPoP proof must carry the server's current nonce")]
    UseNonce,
}

impl From<JoseError> for DpopError {
    fn from(e: JoseError) -> Self {
        DpopError::Invalid(match e {
            JoseError::Signature => "the signature does not verify with the proof's key",
            JoseError::Algorithm(_) => "the algorithm is not allowed",
            JoseError::Critical => "critical header extensions are not understood",
            JoseError::Key(_) => "the proof's key is unusable",
            _ => "not a well-formed JWS",
        })
    }
}

/// What a proof must match: the request it came with, and the server's rules.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The request's method, compared exactly with `htm` (§4.3 step 8).
    pub method: &'a str,
    /// The request's URL as this server is reached at, compared with `htu` without query and fragment (§4.3
    /// step 9).
    pub url: &'a str,
    /// At a resource, the access token the request presents: the proof's `ath` must be its hash (§4.3 step 12).
    pub access_token: Option<&'a str>,
    /// The server's clock.
    pub now: SystemTime,
    /// How far `iat` may be from `now`, either way.
    pub window: Duration,
    /// The algorithms accepted.
    pub algorithms: &'a [Algorithm],
}

impl<'a> Expected<'a> {
    /// A proof of `method` at `url` at `now`, with the default window and algorithms, and no access token.
    pub fn new(method: &'a str, url: &'a str, now: SystemTime) -> Self {
        Self { method, url, access_token: None, now, window: DEFAULT_WINDOW, algorithms: &ALGORITHMS }
    }

    /// At a resource: the proof must be for `access_token` (`ath`).
    pub fn access_token(mut self, access_token: &'a str) -> Self {
        self.access_token = Some(access_token);
        self
    }
}

/// A proof that passed [`check_proof`]: the key's thumbprint, and what the server remembers or checks next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's key: what a token is bound to (`cnf.jkt`, §6).
    pub jkt: String,
    /// The proof's unique id.
    pub jti: String,
    /// When it was made (`iat`), in whole seconds.
    pub issued_at: SystemTime,
    /// The server nonce it carries, if any (§8).
    pub nonce: Option<String>,
}

impl Proof {
    /// What a store remembers of this proof to refuse its replay (§11.1): the SHA-256 of its key's thumbprint and
    /// its `jti` (a `jti` is unique per key).
    pub fn replay_id(&self) -> SecretHash {
        SecretHash::of(&format!("{}.{}", self.jkt, self.jti))
    }

    /// Until when it must be remembered: past `iat` plus the window, it is refused as too old anyway.
    pub fn remember_until(&self, window: Duration) -> SystemTime {
        self.issued_at.checked_add(window + Duration::from_secs(1)).unwrap_or(self.issued_at)
    }
}

/// The claims of a proof (§4.2).
#[derive(Deserialize)]
struct Claims {
    jti: Option<Value>,
    htm: Option<Value>,
    htu: Option<Value>,
    iat: Option<Value>,
    ath: Option<Value>,
    nonce: Option<Value>,
}

fn string<'v>(value: &'v Option<Value>, missing: &'static str) -> Result<&'v str, DpopError> {
    value.as_ref().and_then(Value::as_str).ok_or(DpopError::Invalid(missing))
}

/// Checks one `DPoP` header value against the request it came with (RFC 9449 §4.3), but for `jti` replay (the
/// store's, with [`Proof::replay_id`]) and the server's nonce (its [`NonceIssuer`]'s, with [`Proof::nonce`]).
pub fn check_proof(value: &[u8], expected: &Expected<'_>) -> Result<Proof, DpopError> {
    let token = std::str::from_utf8(value).map_err(|_| DpopError::Invalid("not a well-formed JWS"))?;
    // Step 2, 4, 5, 6: a JWS of an allowed asymmetric algorithm, whose signature verifies with the key it carries.
    let verified = verify_self_signed(token, expected.algorithms)?;
    if !verified.header.typ_is(PROOF_TYP) {
        return Err(DpopError::Invalid("typ is not dpop+jwt"));
    }
    // Step 7: the key is public. The parsed header drops private members, so the raw one is read for them.
    if carries_private_key(token) {
        return Err(DpopError::Invalid("the jwk is a private key"));
    }
    let claims: Claims = serde_json::from_slice(&verified.payload)
        .map_err(|_| DpopError::Invalid("the claims are not a JSON object"))?;
    let jti = string(&claims.jti, "jti is missing")?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(DpopError::Invalid("jti is empty or too long"));
    }
    // Step 8: the method, exactly.
    if string(&claims.htm, "htm is missing")? != expected.method {
        return Err(DpopError::Invalid("htm is not this request's method"));
    }
    // Step 9: the URL, without query and fragment, normalized.
    if !htu_matches(string(&claims.htu, "htu is missing")?, expected.url) {
        return Err(DpopError::Invalid("htu is not this request's URL"));
    }
    // Step 11: made within the window.
    let iat = claims.iat.as_ref().and_then(Value::as_f64).filter(|t| t.is_finite() && *t >= 0.0);
    let iat = iat.ok_or(DpopError::Invalid("iat is missing"))?;
    let now = expected.now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    if (iat - now).abs() > expected.window.as_secs_f64() {
        return Err(DpopError::Invalid("iat is outside the accepted window"));
    }
    // Step 12: at a resource, for this access token.
    if let Some(token) = expected.access_token {
        let ath = string(&claims.ath, "ath is missing")?;
        if !crate::secret::constant_time_eq(ath.as_bytes(), access_token_hash(token).as_bytes()) {
            return Err(DpopError::Invalid("ath is not the hash of the access token"));
        }
    }
    let nonce = match &claims.nonce {
        None => None,
        Some(Value::String(n)) if n.len() <= MAX_NONCE_BYTES => Some(n.clone()),
        Some(_) => return Err(DpopError::Invalid("nonce is malformed")),
    };
    Ok(Proof {
        jkt: verified.key.thumbprint()?,
        jti: jti.to_owned(),
        issued_at: UNIX_EPOCH + Duration::from_secs(iat as u64),
        nonce,
    })
}

/// Whether the `jwk` of a compact JWS's header has a private member (`d`, or RSA's primes).
fn carries_private_key(token: &str) -> bool {
    let Some((header, _)) = token.split_once('.') else { return true };
    let Ok(bytes) = unb64(header, "header") else { return true };
    let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&bytes) else { return true };
    match header.get("jwk") {
        Some(Value::Object(jwk)) => ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|m| jwk.contains_key(*m)),
        _ => true,
    }
}

/// Whether a proof's `htu` names `url` (RFC 9449 §4.3 step 9): both without query and fragment, the `htu`
/// compared after RFC 3986 §6.2.2 and §6.2.3 normalization (scheme and host case, percent-encoding, dot segments,
/// the default port, an empty path).
///
/// `url` is the request's URL as the server received and routed it, so its path is taken as written, and it must
/// be in normal form already: a path with a dot segment (`/public/../admin`), an escape of an unreserved character
/// (`/%61dmin`), a `\` or a character URL parsing would encode matches no proof. Normalizing it would let a proof
/// for `/admin` be taken where the router saw another path, and perhaps another handler.
pub fn htu_matches(htu: &str, url: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(htu), url::Url::parse(url)) else { return false };
    let routed = path_as_written(url);
    // The path the router saw is its own normal form: neither parsing nor normalizing changes it.
    let in_normal_form = b.path() == routed && normalized_percent_encoding(routed).is_some_and(|n| n == routed);
    // An htu with a `%` that starts no escape names no such path, since a path in normal form has none.
    let same_path = normalized_percent_encoding(a.path()).is_some_and(|n| n == routed);
    in_normal_form
        && same_path
        && a.scheme() == b.scheme()
        && matches!(a.scheme(), "https" | "http")
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.username().is_empty()
        && a.password().is_none()
        && b.username().is_empty()
        && b.password().is_none()
}

/// The path of `url` as written: from the first `/` after the authority to the query or fragment; `/` when empty.
fn path_as_written(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    match path.split(['?', '#']).next().unwrap_or("") {
        "" => "/",
        path => path,
    }
}

/// `path` after RFC 3986 §6.2.2.1–2: an encoded unreserved character is decoded (`%7E` is `~`), and every other
/// escape is written in upper case (`%2f` is `%2F`). A reserved character stays encoded: `%2F` is not `/`. `None`
/// when a `%` starts no escape (`%zz`, `%%32F`): decoding the rest could then turn two paths into one.
fn normalized_percent_encoding(path: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !path.contains('%') {
        return Some(path.into());
    }
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let (hi, lo) = (bytes.get(i + 1).and_then(|b| hex(*b))?, bytes.get(i + 2).and_then(|b| hex(*b))?);
            let decoded = char::from((hi * 16 + lo) as u8);
            if decoded.is_ascii_alphanumeric() || matches!(decoded, '-' | '.' | '_' | '~') {
                out.push(decoded);
            } else {
                out.push_str(&format!("%{:02X}", hi * 16 + lo));
            }
            i += 3;
        } else {
            // The path of a parsed http(s) URL is ASCII, so byte by byte is character by character.
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    Some(out.into())
}

/// `url` as a proof's `htu`: without query and fragment (§4.2).
fn htu_of(url: &str) -> Result<String, JoseError> {
    let mut url = url::Url::parse(url).map_err(|_| JoseError::Malformed("the request URL"))?;
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.to_string())
}

/// The `ath` of an access token (§4.2): base64url of the SHA-256 of its ASCII octets.
pub fn access_token_hash(access_token: &str) -> String {
    b64(Sha256::digest(access_token.as_bytes()))
}

/// A client's DPoP key: ES256 (P-256) or EdDSA (Ed25519). Its `Debug` shows the algorithm and thumbprint only; an
/// app that keeps it across runs saves [`to_private_jwk`](Self::to_private_jwk) as the secret it is.
pub struct DpopKey {
    key: SigningKey,
    /// The public JWK that goes in every proof's header: the required members only.
    jwk: Jwk,
    jkt: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.key.algorithm())
            .field("jkt", &self.jkt)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl DpopKey {
    fn from_signing_key(key: SigningKey) -> Result<Self, JoseError> {
        if key.algorithm() == Algorithm::Rs256 {
            return Err(JoseError::Algorithm("RS256".into()));
        }
        let mut jwk = key.public_jwk();
        jwk.kid = None;
        jwk.alg = None;
        jwk.use_ = None;
        let jkt = jwk.thumbprint()?;
        Ok(Self { key, jwk, jkt })
    }

    /// A new key: `ES256` (made by aws-lc-rs from the operating system's generator) or `EdDSA` (from `rng`).
    #[cfg(feature = "os-rng")]
    pub fn generate(algorithm: Algorithm, rng: &mut impl CryptoRng) -> Result<Self, JoseError> {
        if algorithm == Algorithm::Rs256 {
            return Err(JoseError::Algorithm("RS256".into()));
        }
        Self::from_signing_key(SigningKey::generate(algorithm, rng)?)
    }

    /// An Ed25519 key from a 32-byte seed (for tests and for keys made elsewhere).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Result<Self, JoseError> {
        Self::from_signing_key(SigningKey::ed25519_from_seed("dpop", seed)?)
    }

    /// A key from a private JWK (`EC` on `P-256`, or `OKP` on `Ed25519`), as [`to_private_jwk`](Self::to_private_jwk)
    /// wrote it.
    pub fn from_private_jwk(json: &str) -> Result<Self, JoseError> {
        Self::from_signing_key(SigningKey::from_private_jwk(json)?)
    }

    /// The private key as a JWK (RFC 7518 §6.2.2, RFC 8037 §2), to keep where only its owner can read it.
    pub fn to_private_jwk(&self) -> Result<crate::secret::PrivateJwk, JoseError> {
        self.key.to_private_jwk().map(crate::secret::PrivateJwk::new)
    }

    /// The algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    /// The public key as it goes in proofs.
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Its RFC 7638 thumbprint: the `jkt` tokens are bound to, and the `dpop_jkt` of an authorization request
    /// (§10).
    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    /// A fresh proof for a request (§4.2): `method` and `url` (its query and fragment are left out), the access
    /// token it presents at a resource (`ath`), the server's `nonce` if it gave one, made at `now`, with a `jti`
    /// of 128 bits from `rng`.
    pub fn proof<R: CryptoRng + ?Sized>(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: SystemTime,
        rng: &mut R,
    ) -> Result<String, JoseError> {
        let header = Header {
            alg: self.key.algorithm().as_str().into(),
            kid: None,
            typ: Some(PROOF_TYP.into()),
            jwk: Some(self.jwk.clone()),
            crit: None,
        };
        let mut claims = serde_json::Map::new();
        claims.insert("jti".into(), random_token(rng, 16).into());
        claims.insert("htm".into(), method.into());
        claims.insert("htu".into(), htu_of(url)?.into());
        claims.insert("iat".into(), now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).into());
        if let Some(token) = access_token {
            claims.insert("ath".into(), access_token_hash(token).into());
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        let payload = serde_json::to_vec(&claims).map_err(|_| JoseError::Malformed("claims"))?;
        self.key.sign_with_header(&header, &payload)
    }
}

/// The most servers whose nonce a client remembers.
const MAX_NONCE_SERVERS: usize = 64;

/// A client's nonces, one per server (its origin: scheme, host and port), as the servers gave them in
/// `DPoP-Nonce` (§8). Bounded: past 64 servers, one is forgotten (it asks again).
#[derive(Debug, Clone, Default)]
pub struct DpopNonces {
    by_origin: HashMap<String, String>,
}

fn origin(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|u| u.origin().ascii_serialization())
}

impl DpopNonces {
    /// No nonce yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The nonce to put in a proof for `url`, if its server gave one.
    pub fn get(&self, url: &str) -> Option<&str> {
        self.by_origin.get(&origin(url)?).map(String::as_str)
    }

    /// Remembers the nonce of a response from `url`, if it has one; `true` if it is new.
    pub fn observe(&mut self, url: &str, headers: &http::HeaderMap) -> bool {
        let Some(nonce) = headers.get(DPOP_NONCE).and_then(|v| v.to_str().ok()) else { return false };
        // §8.1: NQCHAR, 1 or more.
        if nonce.is_empty() || nonce.len() > MAX_NONCE_BYTES || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return false;
        }
        let Some(origin) = origin(url) else { return false };
        if self.by_origin.get(&origin).is_some_and(|n| n == nonce) {
            return false;
        }
        if self.by_origin.len() >= MAX_NONCE_SERVERS
            && !self.by_origin.contains_key(&origin)
            && let Some(any) = self.by_origin.keys().next().cloned()
        {
            self.by_origin.remove(&any);
        }
        self.by_origin.insert(origin, nonce.to_owned());
        true
    }
}

/// A server's nonces (§8), stateless: a nonce is a time slot and its HMAC under the server's secret, so every
/// instance with the same secret makes and accepts the same ones, and nothing is stored. A nonce is good in its slot
/// and the next one; answers carry the current one.
pub struct NonceIssuer {
    key: aws_lc_rs::hmac::Key,
    period: Duration,
}

impl std::fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceIssuer").field("period", &self.period).field("key", &"[redacted]").finish()
    }
}

impl NonceIssuer {
    /// Nonces under `secret` (at least 32 bytes of it matter: share it between instances, keep it secret), each
    /// made for a slot of `period` (at least 1 s; 5 minutes is usual).
    pub fn new(secret: &[u8], period: Duration) -> Self {
        Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            period: period.max(Duration::from_secs(1)),
        }
    }

    fn slot(&self, now: SystemTime) -> u64 {
        let seconds = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        seconds / self.period.as_secs().max(1)
    }

    fn for_slot(&self, slot: u64) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.key, &slot.to_be_bytes());
        let mut bytes = slot.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tag.as_ref()[..16]);
        b64(bytes)
    }

    /// The nonce to give clients at `now`.
    pub fn current(&self, now: SystemTime) -> String {
        self.for_slot(self.slot(now))
    }

    /// Whether `nonce` is one this server made for the current slot or the one before.
    pub fn accepts(&self, nonce: &str, now: SystemTime) -> bool {
        let Ok(bytes) = unb64(nonce, "nonce") else { return false };
        let Some(slot) = bytes.get(..8).and_then(|s| <[u8; 8]>::try_from(s).ok()).map(u64::from_be_bytes) else {
            return false;
        };
        let current = self.slot(now);
        (slot == current || slot.checked_add(1) == Some(current))
            && crate::secret::constant_time_eq(nonce.as_bytes(), self.for_slot(slot).as_bytes())
    }
}

#[cfg(test)]
mod tests;
