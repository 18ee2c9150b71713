//! JWS compact serialization (RFC 7515 §3.1, §5.2, §7.1): the header, the checks on it, and verification against a
//! key set.

use serde::{Deserialize, Serialize};

use super::{Algorithm, JoseError, Jwk, JwkSet, unb64};

/// The longest compact JWS accepted: id_tokens, JWT access tokens and DPoP proofs are a few hundred bytes to a few
/// kilobytes; anything far longer is refused before it is decoded.
pub const MAX_JWS_BYTES: usize = 16 * 1024;

/// The JOSE header of a JWS (RFC 7515 §4.1): the members this crate reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The algorithm, as the token states it (checked against the caller's list before any key is used).
    pub alg: String,
    /// The signing key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The media type of the whole token: `JWT`, `at+jwt` (RFC 9068), `dpop+jwt` (RFC 9449).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// A public key carried in the header (DPoP proofs carry theirs, RFC 9449 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
    /// Critical extensions (RFC 7515 §4.1.11); none is understood, so a header with `crit` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<serde_json::Value>,
}

impl Header {
    /// Whether `typ` is `expected`, compared as RFC 7515 §4.1.9 says: without case, and with an omitted
    /// `application/` prefix (`at+jwt` is `application/at+jwt`).
    pub fn typ_is(&self, expected: &str) -> bool {
        let bare = |t: &str| {
            let t = t.to_ascii_lowercase();
            t.strip_prefix("application/").map(str::to_owned).unwrap_or(t)
        };
        self.typ.as_deref().is_some_and(|t| bare(t) == bare(expected))
    }
}

/// A JWS whose signature verified: its header, the algorithm and the payload's bytes.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The header.
    pub header: Header,
    /// The header's `alg`, one the caller allowed.
    pub algorithm: Algorithm,
    /// The key that verified it.
    pub key: Jwk,
    /// The payload, decoded.
    pub payload: Vec<u8>,
}

/// Verifies a compact JWS (RFC 7515 §5.2) with the keys of `keys`: the `alg` must be one of `allowed`; the key is
/// the one named by `kid`, or without `kid` any key that fits the `alg`. A header with `crit` is refused. The
/// payload is returned as bytes; claims are [`Validation`](super::Validation)'s business.
pub fn verify(token: &str, keys: &JwkSet, allowed: &[Algorithm]) -> Result<Verified, JoseError> {
    let (header, algorithm, input, signature) = parse(token, allowed)?;
    let candidates: Vec<&Jwk> = match &header.kid {
        Some(kid) => keys.keys.iter().filter(|k| k.kid.as_deref() == Some(kid.as_str())).collect(),
        None => keys.keys.iter().filter(|k| k.fits(algorithm)).collect(),
    };
    if candidates.is_empty() {
        return Err(JoseError::UnknownKey(header.kid));
    }
    let key = candidates
        .into_iter()
        .find(|k| k.verify(algorithm, input.as_bytes(), &signature).is_ok())
        .ok_or(JoseError::Signature)?
        .clone();
    let payload = unb64(input.split_once('.').map(|(_, p)| p).unwrap_or_default(), "payload")?;
    Ok(Verified { header, algorithm, key, payload })
}

/// Verifies a compact JWS with the key its own header carries (`jwk`), as DPoP proofs are checked
/// (RFC 9449 §4.3): the caller learns which key signed, and decides whether that key is the right one.
pub fn verify_self_signed(token: &str, allowed: &[Algorithm]) -> Result<Verified, JoseError> {
    let (header, algorithm, input, signature) = parse(token, allowed)?;
    let key = header.jwk.clone().ok_or(JoseError::Malformed("the header has no jwk"))?;
    key.verify(algorithm, input.as_bytes(), &signature)?;
    let payload = unb64(input.split_once('.').map(|(_, p)| p).unwrap_or_default(), "payload")?;
    Ok(Verified { header, algorithm, key, payload })
}

/// Splits and decodes a compact JWS: the header (checked: allowed `alg`, no `crit`), the signing input, the
/// signature.
fn parse<'t>(token: &'t str, allowed: &[Algorithm]) -> Result<(Header, Algorithm, &'t str, Vec<u8>), JoseError> {
    if token.len() > MAX_JWS_BYTES {
        return Err(JoseError::Malformed("too long"));
    }
    let (input, signature) = token.rsplit_once('.').ok_or(JoseError::Malformed("not three parts"))?;
    let (header, payload) = input.split_once('.').ok_or(JoseError::Malformed("not three parts"))?;
    if payload.contains('.') {
        return Err(JoseError::Malformed("not three parts"));
    }
    let header: Header =
        serde_json::from_slice(&unb64(header, "header")?).map_err(|_| JoseError::Malformed("header"))?;
    let algorithm: Algorithm = header.alg.parse()?;
    if !allowed.contains(&algorithm) {
        return Err(JoseError::Algorithm(header.alg));
    }
    if header.crit.is_some() {
        return Err(JoseError::Critical);
    }
    Ok((header, algorithm, input, unb64(signature, "signature")?))
}
