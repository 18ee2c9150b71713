//! JWT access tokens at a resource server that stands alone (RFC 9068 §4): what a token must be, checked against
//! the issuer's keys, with no call to the issuer. Fetching and caching those keys is the caller's I/O
//! (`oauth2-reqwest` does it from the issuer's metadata).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::jose::{Algorithm, JoseError, JwkSet, MAX_LEEWAY, Validation};
use crate::resource::{AccessGrant, Audience};
use crate::scope::Scope;

/// The header `typ` of a JWT access token (RFC 9068 §2.1); `application/at+jwt` is accepted too (RFC 7515 §4.1.9).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The checks of RFC 9068 §4 for the JWT access tokens of one issuer at one resource server: the signature with one
/// of the pinned algorithms (never `none`, never HMAC), `typ: at+jwt`, `iss`, an `aud` that names this resource,
/// `exp`, `iat` and `nbf` within a leeway (30 s unless set, at most [`MAX_LEEWAY`]), and the claims a grant is
/// made of (`sub`, `client_id`, `jti`).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use oauth2_core::jose::{Algorithm, JwkSet, SigningKey};
/// use oauth2_core::resource::JwtCheck;
///
/// let key = SigningKey::ed25519_from_seed("k1", &[7; 32])?;
/// let now = SystemTime::now();
/// let secs = now.duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
/// let token = key.sign(Some("at+jwt"), &serde_json::json!({
///     "iss": "https://as.example", "aud": "https://api.example", "sub": "alice", "client_id": "app",
///     "scope": "read", "jti": "j-1", "iat": secs, "exp": secs + 300,
/// }))?;
/// let keys = JwkSet { keys: vec![key.public_jwk()] };
/// let check = JwtCheck::new("https://as.example", "https://api.example", &[Algorithm::EdDsa]);
/// let grant = check.verify(&token, &keys, now)?;
/// assert_eq!((grant.subject.as_deref(), &*grant.client_id), (Some("alice"), "app"));
/// assert!(check.verify(&token, &keys, now + Duration::from_secs(400)).is_err(), "expired");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtCheck {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
}

/// The claims a grant is made of.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    client_id: String,
    #[serde(default)]
    scope: Option<String>,
    #[allow(dead_code)]
    jti: String,
    exp: f64,
    aud: Audience,
    #[serde(default)]
    cnf: Option<crate::introspection::Confirmation>,
}

impl JwtCheck {
    /// Tokens of `issuer` for `audience` (this resource's identifier, RFC 8707), signed with one of `algorithms`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, algorithms: &[Algorithm]) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            algorithms: algorithms.to_vec(),
            leeway: Duration::from_secs(30),
        }
    }

    /// Also accepts tokens for `audience` (another name of this resource, or the issuer itself when this resource
    /// is one of the issuer's own and takes tokens that name no resource).
    pub fn also_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The clock skew tolerated; at most [`MAX_LEEWAY`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies `token` with `keys` at `now` and returns what it grants. The subject is `sub`, except for a token
    /// whose `sub` is its `client_id` (RFC 9068 §2.2.1: a client acting for itself), which has none.
    /// [`JoseError::UnknownKey`] says the token names a key `keys` lacks: fetch them again (rate-limited) and retry.
    pub fn verify(&self, token: &str, keys: &JwkSet, now: SystemTime) -> Result<AccessGrant, JoseError> {
        let (_, claims) = Validation::new(&self.issuer, "", &self.algorithms, now)
            .any_audience()
            .leeway(self.leeway)
            .typ(ACCESS_TOKEN_TYP)
            .check(token, keys)?;
        let claims: Claims = serde_json::from_value(serde_json::Value::Object(claims))
            .map_err(|_| JoseError::Malformed("an access token needs sub, client_id, jti, exp and aud"))?;
        let audience = claims.aud.into_vec();
        if !audience.iter().any(|a| self.audiences.contains(a)) {
            return Err(JoseError::Audience);
        }
        let subject = (claims.sub != claims.client_id).then(|| Arc::from(claims.sub));
        // `exp` was checked finite and not negative.
        let expires_at = UNIX_EPOCH + Duration::from_secs_f64(claims.exp.min(1e12));
        let scope = Scope::parse(claims.scope.as_deref().unwrap_or(""));
        // RFC 7800 §3.1: a token bound in a way that cannot be checked here is no Bearer token.
        let jkt = match &claims.cnf {
            None => None,
            Some(cnf) => Some(Arc::from(
                cnf.checkable_jkt().ok_or(JoseError::Malformed("the token's cnf is not a DPoP key's jkt"))?,
            )),
        };
        Ok(AccessGrant::new(subject, Arc::from(claims.client_id), Arc::new(scope), expires_at)
            .with_audience(audience)
            .with_jkt(jkt))
    }
}

/// A [`JwtCheck`] with the issuer's keys as the app holds them: an [`AccessTokenVerifier`](crate::resource::AccessTokenVerifier) for JWT access tokens
/// with no I/O (the app fetches the JWK Set and hands it over with [`set_keys`](Self::set_keys); `oauth2-reqwest`'s
/// `RemoteVerifier` does that part). A token it cannot verify is not found.
///
/// ```
/// # futures_executor::block_on(async {
/// use std::time::SystemTime;
/// use oauth2_core::jose::{Algorithm, JwkSet, SigningKey};
/// use oauth2_core::resource::{AccessTokenVerifier, JwksVerifier, JwtCheck, ResourceServer};
/// let key = SigningKey::ed25519_from_seed("k1", &[7; 32])?;
/// let check = JwtCheck::new("https://as.example", "https://api.example", &[Algorithm::EdDsa]);
/// let verifier = JwksVerifier::new(check, JwkSet { keys: vec![key.public_jwk()] });
/// let token = ResourceServer::new("api").bearer_token([b"Bearer not.a.jwt".as_slice()])?;
/// assert_eq!(verifier.verify(&token, SystemTime::now()).await?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct JwksVerifier {
    check: JwtCheck,
    keys: std::sync::RwLock<Arc<JwkSet>>,
}

impl JwksVerifier {
    /// Checks tokens with `check` against `keys`.
    pub fn new(check: JwtCheck, keys: JwkSet) -> Self {
        Self { check, keys: std::sync::RwLock::new(Arc::new(keys)) }
    }

    /// Replaces the keys (after fetching the issuer's JWK Set again).
    pub fn set_keys(&self, keys: JwkSet) {
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
    }

    /// The check.
    pub fn check(&self) -> &JwtCheck {
        &self.check
    }
}

impl crate::resource::AccessTokenVerifier for JwksVerifier {
    async fn verify(
        &self,
        token: &crate::resource::BearerToken<'_>,
        now: SystemTime,
    ) -> Result<Option<AccessGrant>, crate::error::StoreError> {
        let keys = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        Ok(self.check.verify(token.secret(), &keys, now).ok())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::jose::{SigningKey, b64};

    const ISS: &str = "https://as.example";
    const API: &str = "https://api.example";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn key() -> SigningKey {
        SigningKey::ed25519_from_seed("k1", &[7; 32]).unwrap()
    }

    fn keys() -> JwkSet {
        JwkSet { keys: vec![key().public_jwk()] }
    }

    fn claims() -> Value {
        json!({"iss": ISS, "aud": API, "sub": "alice", "client_id": "app", "scope": "read write", "jti": "j",
               "iat": 1_800_000_000u64, "exp": 1_800_000_300u64})
    }

    fn with(change: impl FnOnce(&mut Value)) -> String {
        let mut c = claims();
        change(&mut c);
        key().sign(Some("at+jwt"), &c).unwrap()
    }

    fn check() -> JwtCheck {
        JwtCheck::new(ISS, API, &[Algorithm::EdDsa, Algorithm::Es256])
    }

    fn refused(token: &str) -> JoseError {
        check().verify(token, &keys(), now()).unwrap_err()
    }

    #[test]
    fn rfc9068_4_a_valid_token_grants_its_claims() {
        let grant = check().verify(&with(|_| {}), &keys(), now()).unwrap();
        assert_eq!((grant.subject.as_deref(), &*grant.client_id), (Some("alice"), "app"));
        assert_eq!(*grant.scope, Scope::parse("read write"));
        assert_eq!(&*grant.audience, [API.to_owned()]);
        assert_eq!(grant.expires_at, now() + Duration::from_secs(300));
        let cc = check().verify(&with(|c| c["sub"] = json!("app")), &keys(), now()).unwrap();
        assert_eq!(cc.subject, None, "RFC 9068 §2.2.1: the client itself");
        let typ = key().sign(Some("application/at+jwt"), &claims()).unwrap();
        assert!(check().verify(&typ, &keys(), now()).is_ok(), "the media type's long form");
    }

    #[test]
    fn rfc9068_4_the_audience_must_name_this_resource() {
        assert!(matches!(refused(&with(|c| c["aud"] = json!("https://other.example"))), JoseError::Audience));
        let many = with(|c| c["aud"] = json!(["https://other.example", API]));
        assert!(check().verify(&many, &keys(), now()).is_ok(), "one of several");
        let for_issuer = with(|c| c["aud"] = json!(ISS));
        assert!(matches!(refused(&for_issuer), JoseError::Audience), "a token for the issuer is not for this API");
        assert!(check().also_audience(ISS).verify(&for_issuer, &keys(), now()).is_ok(), "unless it says so");
    }

    #[test]
    fn rfc9068_4_expired_future_and_foreign_tokens_are_refused() {
        assert!(matches!(refused(&with(|c| c["exp"] = json!(1_799_999_960u64))), JoseError::Expired));
        assert!(matches!(refused(&with(|c| c["iat"] = json!(1_800_000_100u64))), JoseError::NotYetValid));
        assert!(matches!(refused(&with(|c| c["iss"] = json!("https://evil.example"))), JoseError::Issuer));
        assert!(
            refused(&with(|c| c.as_object_mut().unwrap().remove("client_id").map(drop).unwrap_or(())))
                .to_string()
                .contains("client_id")
        );
        let stranger = SigningKey::ed25519_from_seed("k1", &[8; 32]).unwrap().sign(Some("at+jwt"), &claims()).unwrap();
        assert!(matches!(refused(&stranger), JoseError::Signature));
        let unknown = SigningKey::ed25519_from_seed("k2", &[8; 32]).unwrap().sign(Some("at+jwt"), &claims()).unwrap();
        assert!(matches!(refused(&unknown), JoseError::UnknownKey(Some(k)) if k == "k2"), "a refetch is due");
    }

    #[test]
    fn rfc9068_4_another_typ_is_refused() {
        for typ in [Some("JWT"), Some("dpop+jwt"), None] {
            let token = key().sign(typ, &claims()).unwrap();
            assert!(matches!(refused(&token), JoseError::Type { .. }), "{typ:?}");
        }
    }

    #[test]
    fn rfc9068_4_none_hmac_and_unpinned_algorithms_are_refused() {
        let payload = b64(serde_json::to_vec(&claims()).unwrap());
        let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"at+jwt"}"#));
        assert!(check().verify(&none, &keys(), now()).is_err());
        // HS256 keyed with the public key's bytes: the classic confusion. The algorithm is refused first.
        let public = serde_json::to_vec(&key().public_jwk()).unwrap();
        let header = b64(br#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#);
        let input = format!("{header}.{payload}");
        let mac =
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public), input.as_bytes());
        let hs = format!("{input}.{}", b64(mac.as_ref()));
        assert!(matches!(check().verify(&hs, &keys(), now()), Err(JoseError::Algorithm(_))));
        // EdDSA is a real algorithm, but not one this check pins.
        let rs_only = JwtCheck::new(ISS, API, &[Algorithm::Rs256]);
        assert!(rs_only.verify(&with(|_| {}), &keys(), now()).is_err());
    }
}
