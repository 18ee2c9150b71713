//! The checks every JWT gets (RFC 7519 §4.1, §7.2): signature with a pinned algorithm, `typ`, `iss`, `aud`, `exp`,
//! `nbf` and `iat` with a bounded leeway. Profile rules (OpenID Connect's `nonce`, `azp`, `at_hash`; RFC 9068's
//! `client_id`) are their callers' business.

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Algorithm, JoseError, JwkSet, jws};

/// The largest clock skew a [`Validation`] tolerates, whatever it is given: five minutes.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// What a JWT must be to be accepted: from `issuer`, for `audience`, signed with one of `algorithms`, valid at
/// `now` give or take the leeway (60 s unless set, at most [`MAX_LEEWAY`]), of type `typ` when one is set.
#[derive(Debug, Clone)]
pub struct Validation<'a> {
    issuer: &'a str,
    /// `None`: any audience (the issuer reading its own access tokens, which it accepts whatever they are for).
    audience: Option<&'a str>,
    algorithms: &'a [Algorithm],
    now: SystemTime,
    leeway: Duration,
    typ: Option<&'static str>,
}

impl<'a> Validation<'a> {
    /// The checks for a token from `issuer` to `audience`, at `now`.
    pub fn new(issuer: &'a str, audience: &'a str, algorithms: &'a [Algorithm], now: SystemTime) -> Self {
        Self { issuer, audience: Some(audience), algorithms, now, leeway: Duration::from_secs(60), typ: None }
    }

    /// Accepts any `aud`: for an issuer reading its own tokens.
    pub(crate) fn any_audience(mut self) -> Self {
        self.audience = None;
        self
    }

    /// The clock skew tolerated on `exp`, `nbf` and `iat`; at most [`MAX_LEEWAY`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Requires the header's `typ` (RFC 9068 §4: `at+jwt`).
    pub fn typ(mut self, typ: &'static str) -> Self {
        self.typ = Some(typ);
        self
    }

    /// Verifies `token` against `keys` and checks its claims; then deserializes them as `T`.
    pub fn decode<T: DeserializeOwned>(&self, token: &str, keys: &JwkSet) -> Result<T, JoseError> {
        let (_, claims) = self.check(token, keys)?;
        serde_json::from_value(Value::Object(claims)).map_err(|_| JoseError::Malformed("claims"))
    }

    /// Verifies `token` against `keys` and checks its claims: the verified JWS and its claims as JSON.
    pub fn check(&self, token: &str, keys: &JwkSet) -> Result<(jws::Verified, Map<String, Value>), JoseError> {
        let verified = jws::verify(token, keys, self.algorithms)?;
        if let Some(expected) = self.typ
            && !verified.header.typ_is(expected)
        {
            return Err(JoseError::Type { expected, found: verified.header.typ.clone() });
        }
        let claims: Map<String, Value> = serde_json::from_slice(&verified.payload)
            .map_err(|_| JoseError::Malformed("claims are not a JSON object"))?;
        self.claims(&claims)?;
        Ok((verified, claims))
    }

    /// The claim checks alone, on claims whose signature was verified.
    fn claims(&self, claims: &Map<String, Value>) -> Result<(), JoseError> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer) {
            return Err(JoseError::Issuer);
        }
        let audience_ok = match (claims.get("aud"), self.audience) {
            (Some(Value::String(aud)), Some(expected)) => aud == expected,
            (Some(Value::Array(auds)), Some(expected)) => auds.iter().any(|a| a.as_str() == Some(expected)),
            (Some(Value::String(_) | Value::Array(_)), None) => true,
            _ => false,
        };
        if !audience_ok {
            return Err(JoseError::Audience);
        }
        let now = seconds(self.now);
        let leeway = self.leeway.as_secs_f64();
        let exp = numeric_date(claims, "exp")?.ok_or(JoseError::Claim("exp"))?;
        if now >= exp + leeway {
            return Err(JoseError::Expired);
        }
        let iat = numeric_date(claims, "iat")?.ok_or(JoseError::Claim("iat"))?;
        if iat > now + leeway {
            return Err(JoseError::NotYetValid);
        }
        if let Some(nbf) = numeric_date(claims, "nbf")?
            && nbf > now + leeway
        {
            return Err(JoseError::NotYetValid);
        }
        Ok(())
    }
}

/// Seconds since the epoch (0 before it).
fn seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A NumericDate claim (RFC 7519 §2: seconds since the epoch, possibly fractional), if present.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, JoseError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(t)),
            _ => Err(JoseError::Claim(name)),
        },
    }
}
