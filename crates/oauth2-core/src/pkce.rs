//! Proof Key for Code Exchange (RFC 7636): verifiers, challenges and their check.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::random::{CryptoRng, TOKEN_BYTES, random_token};
use crate::secret::constant_time_eq;

/// How a challenge is derived from the verifier (RFC 7636 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PkceMethod {
    /// `BASE64URL(SHA256(verifier))`: the method every client should use.
    S256,
    /// The challenge is the verifier itself. Only for clients that cannot hash; servers accept it only by opt-in.
    #[serde(rename = "plain")]
    Plain,
}

impl PkceMethod {
    /// The `code_challenge_method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }

    /// Parses a `code_challenge_method` value (case-sensitive, as the RFC's registry values are).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "S256" => Some(Self::S256),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }
}

/// A `code_verifier` that does not have RFC 7636 §4.1 syntax (43 to 128 characters of `[A-Za-z0-9-._~]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a code_verifier is 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)")]
pub struct InvalidVerifier;

/// A PKCE `code_verifier`: a high-entropy secret the client keeps until it redeems the code.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PkceVerifier(String);

impl PkceVerifier {
    /// A fresh verifier of 256 random bits (43 base64url characters).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(random_token(rng, TOKEN_BYTES))
    }

    /// Checks a received verifier's syntax (RFC 7636 §4.1).
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidVerifier> {
        let value = value.into();
        if has_pkce_syntax(&value) { Ok(Self(value)) } else { Err(InvalidVerifier) }
    }

    /// The verifier itself, as sent in the token request.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The `code_challenge` for this verifier (RFC 7636 §4.2).
    pub fn challenge(&self, method: PkceMethod) -> String {
        match method {
            PkceMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(self.secret().as_bytes())),
            PkceMethod::Plain => self.secret().to_owned(),
        }
    }

    /// Whether this verifier matches `challenge` under `method` (RFC 7636 §4.6), compared in constant time.
    pub fn matches(&self, challenge: &str, method: PkceMethod) -> bool {
        constant_time_eq(self.challenge(method).as_bytes(), challenge.as_bytes())
    }
}

/// RFC 7636 §4.1 and §4.2 give verifiers and challenges the same syntax: 43 to 128 characters of
/// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
fn has_pkce_syntax(value: &str) -> bool {
    let unreserved = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
    (43..=128).contains(&value.len()) && value.bytes().all(unreserved)
}

/// A `code_challenge` that does not have RFC 7636 §4.2 syntax (43 to 128 characters of `[A-Za-z0-9-._~]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a code_challenge is 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.2)")]
pub struct InvalidChallenge;

/// A `code_challenge` with its method (RFC 7636 §4.2, §4.3), its syntax checked once, here: what an authorization
/// request carries and a code is bound to.
///
/// ```
/// use oauth2_core::pkce::{PkceChallenge, PkceMethod, PkceVerifier};
/// let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")?;
/// let challenge = PkceChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", PkceMethod::S256)?;
/// assert!(challenge.is_satisfied_by(&verifier));
/// assert!(PkceChallenge::new("short", PkceMethod::S256).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ChallengeFields")]
pub struct PkceChallenge {
    #[serde(rename = "code_challenge")]
    value: String,
    #[serde(rename = "code_challenge_method")]
    method: PkceMethod,
}

/// What [`PkceChallenge`] deserializes from, before its syntax is checked.
#[derive(Deserialize)]
struct ChallengeFields {
    code_challenge: String,
    code_challenge_method: PkceMethod,
}

impl TryFrom<ChallengeFields> for PkceChallenge {
    type Error = InvalidChallenge;
    fn try_from(f: ChallengeFields) -> Result<Self, Self::Error> {
        Self::new(f.code_challenge, f.code_challenge_method)
    }
}

impl PkceChallenge {
    /// A received challenge, if it has RFC 7636 §4.2 syntax.
    pub fn new(value: impl Into<String>, method: PkceMethod) -> Result<Self, InvalidChallenge> {
        let value = value.into();
        if has_pkce_syntax(&value) { Ok(Self { value, method }) } else { Err(InvalidChallenge) }
    }

    /// The challenge for `verifier` under `method` (what a client sends).
    pub fn of(verifier: &PkceVerifier, method: PkceMethod) -> Self {
        Self { value: verifier.challenge(method), method }
    }

    /// The `code_challenge` value.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The `code_challenge_method`.
    pub fn method(&self) -> PkceMethod {
        self.method
    }

    /// Whether `verifier` is the one this challenge was made from (RFC 7636 §4.6), compared in constant time.
    pub fn is_satisfied_by(&self, verifier: &PkceVerifier) -> bool {
        verifier.matches(&self.value, self.method)
    }
}

impl std::fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

impl PartialEq for PkceVerifier {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for PkceVerifier {}

impl TryFrom<String> for PkceVerifier {
    type Error = InvalidVerifier;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<PkceVerifier> for String {
    fn from(v: PkceVerifier) -> String {
        v.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn rfc7636_appendix_b_s256_vector() {
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(verifier.challenge(PkceMethod::S256), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(verifier.matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", PkceMethod::S256));
        assert!(!verifier.matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN", PkceMethod::S256));
    }

    #[test]
    fn rfc7636_4_1_verifier_length_and_charset() {
        assert_eq!(PkceVerifier::new("a".repeat(42)), Err(InvalidVerifier));
        assert!(PkceVerifier::new("a".repeat(43)).is_ok());
        assert!(PkceVerifier::new("a".repeat(128)).is_ok());
        assert_eq!(PkceVerifier::new("a".repeat(129)), Err(InvalidVerifier));
        assert_eq!(PkceVerifier::new(format!("{}+", "a".repeat(43))), Err(InvalidVerifier));
        assert!(PkceVerifier::new(format!("{}-._~", "a".repeat(40))).is_ok());
    }

    #[test]
    fn rfc7636_4_1_generated_verifier_has_256_bits() {
        let v = PkceVerifier::generate(&mut ChaCha20Rng::seed_from_u64(1));
        assert_eq!(v.secret().len(), 43);
        assert!(PkceVerifier::new(v.secret()).is_ok());
    }

    #[test]
    fn rfc7636_4_2_plain_challenge_is_the_verifier() {
        let v = PkceVerifier::generate(&mut ChaCha20Rng::seed_from_u64(2));
        assert_eq!(v.challenge(PkceMethod::Plain), v.secret());
    }

    #[test]
    fn rfc7636_4_2_challenge_syntax_is_checked_once_and_survives_serde() {
        let c = PkceChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", PkceMethod::S256).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<PkceChallenge>(&json).unwrap(), c);
        let forged = json.replace("E9Melhoa", "E9Mel+oa");
        assert!(serde_json::from_str::<PkceChallenge>(&forged).is_err(), "a stored challenge is re-checked");
        for bad in ["a".repeat(42), "a".repeat(129), format!("{}=", "a".repeat(43))] {
            assert_eq!(PkceChallenge::new(bad, PkceMethod::S256), Err(InvalidChallenge));
        }
    }

    proptest! {
        #[test]
        fn verifier_parser_never_panics_and_round_trips(s in "\\PC{0,200}") {
            if let Ok(v) = PkceVerifier::new(s.clone()) {
                prop_assert_eq!(v.secret(), s.as_str());
            }
        }
    }
}
