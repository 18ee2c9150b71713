//! JOSE for OAuth and OpenID Connect: JSON Web Signatures in compact form (RFC 7515), JSON Web Keys and key sets
//! (RFC 7517, RFC 7518 §6, RFC 8037) with their thumbprints (RFC 7638), and the claim checks of JSON Web Tokens
//! (RFC 7519). id_tokens, JWT access tokens and DPoP proofs are built on it.
//!
//! The cryptography is aws-lc-rs's; this module only encodes, decodes and decides. Three algorithms, the ones OAuth
//! deployments use: `RS256` (which OpenID Connect requires), `ES256` and `EdDSA` (Ed25519). Verification pins the
//! algorithms the caller expects, so `none` and HMAC (`HS256` keyed with a public key) are refused by construction:
//! they are not [`Algorithm`]s.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use oauth2_core::jose::{Algorithm, JwkSet, SigningKey, Validation};
//!
//! // Ed25519 keys may come from a seed (RSA and P-256 keys come in as PKCS#8, made outside the core).
//! let key = SigningKey::ed25519_from_seed("2026-12", &[7; 32])?;
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let claims = serde_json::json!({
//!     "iss": "https://as.example", "sub": "alice", "aud": "my-app",
//!     "iat": 1_800_000_000u64, "exp": 1_800_000_300u64,
//! });
//! let jwt = key.sign(Some("JWT"), &claims)?;
//!
//! // The other side knows the issuer's public keys (its JWKS) and what to expect.
//! let keys = JwkSet { keys: vec![key.public_jwk()] };
//! let checked: serde_json::Value =
//!     Validation::new("https://as.example", "my-app", &[Algorithm::Rs256, Algorithm::EdDsa], now).decode(&jwt, &keys)?;
//! assert_eq!(checked["sub"], "alice");
//! # Ok::<(), oauth2_core::jose::JoseError>(())
//! ```

mod jwk;
mod jws;
mod jwt;
mod key;
mod seal;

pub use jwk::{Jwk, JwkSet};
pub use jws::{Header, MAX_JWS_BYTES, Verified, verify, verify_self_signed};
pub use jwt::{MAX_LEEWAY, Validation};
pub use key::SigningKey;
pub use seal::{KeySealer, NONCE_LEN};

use serde::{Deserialize, Serialize};

/// A JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1). Only asymmetric ones: a verifier that holds only public keys
/// can never be tricked into HMAC with one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256; keys of 2048 bits or more.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl Algorithm {
    /// Every algorithm this module signs and verifies.
    pub const ALL: [Algorithm; 3] = [Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa];

    /// The `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = JoseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| JoseError::Algorithm(s.into()))
    }
}

/// Why a JWS or JWT was refused, or a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    /// Not a well-formed compact JWS, JWK or claims set.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The `alg` is not one the caller allows (`none` and `HS256` never are).
    #[error("algorithm {0:?} is not allowed")]
    Algorithm(String),
    /// No key of the set has the token's `kid` (or, without one, fits its `alg`). A verifier that caches a JWKS
    /// refetches it on this error.
    #[error("no key for kid {0:?}")]
    UnknownKey(Option<String>),
    /// The signature does not verify with any candidate key.
    #[error("the signature does not verify")]
    Signature,
    /// The header's `typ` is not the one expected (RFC 7515 §4.1.9, RFC 9068 §4, RFC 9449 §4.2).
    #[error("type {found:?} where {expected} was expected")]
    Type {
        /// What the caller expects, such as `at+jwt`.
        expected: &'static str,
        /// What the header says.
        found: Option<String>,
    },
    /// The header has `crit` (RFC 7515 §4.1.11): no extension is understood here, so the token is refused.
    #[error("critical header extensions are not understood")]
    Critical,
    /// A key that is unusable: bad encoding, wrong curve, too short.
    #[error("unusable key: {0}")]
    Key(&'static str),
    /// `exp` is past (with the leeway).
    #[error("expired")]
    Expired,
    /// `nbf` or `iat` is in the future (with the leeway).
    #[error("not valid yet")]
    NotYetValid,
    /// A required claim is missing or has the wrong type.
    #[error("claim {0} is missing or malformed")]
    Claim(&'static str),
    /// `iss` is not the expected issuer.
    #[error("issuer mismatch")]
    Issuer,
    /// `aud` does not name the expected audience.
    #[error("audience mismatch")]
    Audience,
}

/// OpenID Connect's `at_hash` and `c_hash` of `value` for an ID Token signed with `alg` (OIDC Core §3.1.3.6,
/// §3.3.2.11): base64url of the left half of the hash of its ASCII octets, the hash being the one of `alg` — SHA-256
/// for `RS256` and `ES256`, SHA-512 for `EdDSA` on Ed25519 (as the OpenID Foundation's registry says).
pub fn half_hash(alg: Algorithm, value: &str) -> String {
    use sha2::Digest;
    match alg {
        Algorithm::Rs256 | Algorithm::Es256 => b64(&sha2::Sha256::digest(value.as_bytes())[..16]),
        Algorithm::EdDsa => b64(&sha2::Sha512::digest(value.as_bytes())[..32]),
    }
}

/// base64url without padding (RFC 7515 §2): the only encoding JOSE uses.
pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding, refusing padding, other alphabets and non-canonical trailing bits.
pub(crate) fn unb64(text: &str, what: &'static str) -> Result<Vec<u8>, JoseError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).map_err(|_| JoseError::Malformed(what))
}

#[cfg(test)]
mod tests;
