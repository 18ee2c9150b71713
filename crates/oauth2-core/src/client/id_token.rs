//! The id_token a client receives (OpenID Connect Core §3.1.3.7, §12.2) and the UserInfo answer's `sub`
//! (§5.3.2): checked against the issuer's keys, which the caller fetched (the core does no I/O).

use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{Client, PendingAuthorization};
use crate::jose::{Algorithm, JoseError, JwkSet, MAX_LEEWAY, Validation, half_hash};

/// The claims of an id_token that passed every check. Members beyond the standard ones are in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The user, as this issuer names them: the key to a user account is (`iss`, `sub`).
    pub sub: String,
    /// The audiences; this client is one of them.
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time, seconds since the epoch.
    pub iat: u64,
    /// When the user logged in, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// The authorization request's `nonce`, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The party the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// The hash of the access token issued with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Every other claim (`name`, `email`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Aud::deserialize(d)? {
        Aud::One(a) => vec![a],
        Aud::Many(a) => a,
    })
}

/// Why an id_token (or a UserInfo answer) was refused: its code for a CLI is `invalid_id_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// The JWS or its standard claims failed (signature, algorithm, `iss`, `aud`, `exp`, `iat`).
    #[error("{0}")]
    Jose(#[from] JoseError),
    /// The client does not know its issuer (no metadata was given), so `iss` cannot be checked.
    #[error("the issuer is unknown: configure the client from the provider's metadata")]
    NoIssuer,
    /// `nonce` is missing or not the one the authorization request sent (§3.1.3.7 #11).
    #[error("the nonce does not match the authorization request's")]
    Nonce,
    /// `at_hash` does not match the access token issued with it (§3.1.3.6).
    #[error("at_hash does not match the access token")]
    AtHash,
    /// Several audiences and no `azp` naming this client, or an `azp` naming another (§3.1.3.7 #4, #5).
    #[error("azp does not name this client")]
    Azp,
    /// A refreshed id_token or a UserInfo answer speaks of another user than the id_token before it (§12.2,
    /// §5.3.2).
    #[error("sub differs from the id_token's")]
    Subject,
    /// The claims are not an id_token's (`sub` missing, say).
    #[error("malformed claims: {0}")]
    Claims(String),
}

impl IdTokenError {
    /// The short code a command line prints: `invalid_id_token`.
    pub fn code(&self) -> &'static str {
        "invalid_id_token"
    }
}

impl Client {
    /// Validates the id_token of the token response that finished `pending` (OIDC Core §3.1.3.7): signed by one
    /// of `keys` (the issuer's JWKS) with an asymmetric algorithm, from this client's issuer, for this client (and
    /// `azp` when there are several audiences), unexpired and issued no later than now (5 minutes' skew at most),
    /// with the `nonce` the request sent, and `at_hash` matching `access_token` when both are present.
    pub fn validate_id_token(
        &self,
        id_token: &str,
        pending: &PendingAuthorization,
        access_token: Option<&str>,
        keys: &JwkSet,
        now: SystemTime,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let claims = self.checked_id_token(id_token, access_token, keys, now)?;
        if let Some(sent) = &pending.nonce
            && claims.nonce.as_deref() != Some(sent.as_str())
        {
            return Err(IdTokenError::Nonce);
        }
        Ok(claims)
    }

    /// Validates the id_token of a refresh (OIDC Core §12.2): the checks of [`validate_id_token`] but the nonce,
    /// and the same `iss` and `sub` as the id_token of the login, `previous`, when the caller has it (a session
    /// restored from a saved token may not).
    ///
    /// [`validate_id_token`]: Self::validate_id_token
    pub fn validate_refreshed_id_token(
        &self,
        id_token: &str,
        previous: Option<&IdTokenClaims>,
        access_token: Option<&str>,
        keys: &JwkSet,
        now: SystemTime,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let claims = self.checked_id_token(id_token, access_token, keys, now)?;
        if previous.is_some_and(|p| claims.sub != p.sub || claims.iss != p.iss) {
            return Err(IdTokenError::Subject);
        }
        Ok(claims)
    }

    /// Checks a UserInfo answer against the id_token of the login (OIDC Core §5.3.2): its `sub` must be the
    /// id_token's, or the answer may be about someone else and must not be used.
    pub fn check_userinfo(&self, userinfo: &Value, id_token: &IdTokenClaims) -> Result<(), IdTokenError> {
        match userinfo.get("sub").and_then(Value::as_str) {
            Some(sub) if sub == id_token.sub => Ok(()),
            _ => Err(IdTokenError::Subject),
        }
    }

    fn checked_id_token(
        &self,
        id_token: &str,
        access_token: Option<&str>,
        keys: &JwkSet,
        now: SystemTime,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let issuer = self.issuer.as_deref().ok_or(IdTokenError::NoIssuer)?;
        let validation = Validation::new(issuer, &self.client_id, &Algorithm::ALL, now).leeway(MAX_LEEWAY);
        let (verified, claims) = validation.check(id_token, keys)?;
        if ["at+jwt", "dpop+jwt", "logout+jwt"].iter().any(|t| verified.header.typ_is(t)) {
            return Err(JoseError::Type { expected: "JWT", found: verified.header.typ.clone() }.into());
        }
        let claims: IdTokenClaims =
            serde_json::from_value(Value::Object(claims)).map_err(|e| IdTokenError::Claims(e.to_string()))?;
        match &claims.azp {
            Some(azp) if *azp != self.client_id => return Err(IdTokenError::Azp),
            None if claims.aud.len() > 1 => return Err(IdTokenError::Azp),
            _ => {}
        }
        if let (Some(at_hash), Some(token)) = (&claims.at_hash, access_token)
            && *at_hash != half_hash(verified.algorithm, token)
        {
            return Err(IdTokenError::AtHash);
        }
        Ok(claims)
    }
}

#[cfg(all(test, feature = "os-rng"))]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::jose::SigningKey;
    use crate::random::OsRng;

    const ISSUER: &str = "https://as.example";
    const NOW: u64 = 1_800_000_000;
    const ACCESS: &str = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn key() -> SigningKey {
        SigningKey::from_private_jwk(include_str!("../jose/vectors/rfc8037_a1_ed25519.json")).unwrap()
    }

    fn client() -> Client {
        let metadata = crate::metadata::AuthorizationServerMetadata {
            issuer: ISSUER.into(),
            authorization_endpoint: Some(format!("{ISSUER}/authorize")),
            token_endpoint: Some(format!("{ISSUER}/token")),
            ..Default::default()
        };
        Client::builder("rp").secret("s").metadata(&metadata).redirect_uri("https://rp.example/cb").build().unwrap()
    }

    fn pending(c: &Client) -> PendingAuthorization {
        c.authorization_request(&mut OsRng).scope("openid profile").build().unwrap().1
    }

    fn claims(nonce: &str) -> Value {
        json!({
            "iss": ISSUER, "sub": "alice", "aud": "rp", "azp": "rp", "iat": NOW, "exp": NOW + 600,
            "auth_time": NOW, "nonce": nonce, "at_hash": half_hash(Algorithm::EdDsa, ACCESS), "name": "Alice",
        })
    }

    fn keys() -> JwkSet {
        JwkSet { keys: vec![key().public_jwk()] }
    }

    fn sign(claims: &Value) -> String {
        key().sign(Some("JWT"), claims).unwrap()
    }

    #[test]
    fn oidc_core_3_1_2_1_an_openid_request_sends_a_fresh_nonce_and_keeps_it() {
        let c = client();
        let (url, p) = c.authorization_request(&mut OsRng).scope("openid").build().unwrap();
        let nonce = p.nonce.clone().expect("kept in the pending value");
        assert!(nonce.len() >= 22, "at least 128 bits");
        assert!(url.query_pairs().any(|(k, v)| k == "nonce" && v == nonce.as_str()), "{url}");
        let (_, other) = c.authorization_request(&mut OsRng).scope("openid").build().unwrap();
        assert_ne!(other.nonce, p.nonce, "one nonce per request");
        let (url, plain) = c.authorization_request(&mut OsRng).scope("read").build().unwrap();
        assert!(plain.nonce.is_none() && !url.query_pairs().any(|(k, _)| k == "nonce"), "no nonce without openid");
    }

    #[test]
    fn oidc_core_3_1_3_7_a_valid_id_token_gives_its_claims() {
        let c = client();
        let p = pending(&c);
        let token = sign(&claims(p.nonce.as_deref().unwrap()));
        let got = c.validate_id_token(&token, &p, Some(ACCESS), &keys(), now()).unwrap();
        assert_eq!((got.sub.as_str(), got.aud.as_slice(), got.auth_time), ("alice", &["rp".to_owned()][..], Some(NOW)));
        assert_eq!(got.extra["name"], "Alice");
        // Five minutes of skew either way, and no more.
        let skewed = now() + Duration::from_secs(600 + 299);
        assert!(c.validate_id_token(&token, &p, Some(ACCESS), &keys(), skewed).is_ok());
        let late = now() + Duration::from_secs(600 + 301);
        assert_eq!(c.validate_id_token(&token, &p, Some(ACCESS), &keys(), late), Err(JoseError::Expired.into()));
        let early = now() - Duration::from_secs(301);
        assert_eq!(c.validate_id_token(&token, &p, Some(ACCESS), &keys(), early), Err(JoseError::NotYetValid.into()));
    }

    #[test]
    fn oidc_core_3_1_3_7_every_broken_rule_is_refused() {
        let c = client();
        let p = pending(&c);
        let nonce = p.nonce.clone().unwrap();
        let check = |claims: Value| c.validate_id_token(&sign(&claims), &p, Some(ACCESS), &keys(), now());
        let with = |name: &str, value: Value| {
            let mut c = claims(&nonce);
            c[name] = value;
            c
        };
        assert_eq!(check(claims("another-nonce")), Err(IdTokenError::Nonce));
        let mut no_nonce = claims(&nonce);
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(no_nonce), Err(IdTokenError::Nonce));
        assert_eq!(check(with("iss", json!("https://evil.example"))), Err(JoseError::Issuer.into()));
        assert_eq!(check(with("aud", json!("other-rp"))), Err(JoseError::Audience.into()));
        assert_eq!(check(with("azp", json!("other-rp"))), Err(IdTokenError::Azp));
        let mut many = with("aud", json!(["rp", "other-rp"]));
        many.as_object_mut().unwrap().remove("azp");
        assert_eq!(check(many), Err(IdTokenError::Azp), "several audiences need azp");
        assert_eq!(
            check(with("at_hash", json!(half_hash(Algorithm::EdDsa, "another token")))),
            Err(IdTokenError::AtHash)
        );
        assert!(matches!(check(with("sub", json!(7))), Err(IdTokenError::Claims(_))));
        // Signed by a key the issuer does not publish: the kid is unknown (a JWKS cache refetches, then refuses).
        let stranger =
            SigningKey::ed25519_from_seed("stranger", &[9; 32]).unwrap().sign(None, &claims(&nonce)).unwrap();
        assert!(matches!(
            c.validate_id_token(&stranger, &p, Some(ACCESS), &keys(), now()),
            Err(IdTokenError::Jose(JoseError::UnknownKey(_)))
        ));
        // A JWT access token of the same issuer, for this client, is not an id_token (RFC 8725 §3.11).
        let at_jwt = key().sign(Some("at+jwt"), &claims(&nonce)).unwrap();
        assert!(matches!(
            c.validate_id_token(&at_jwt, &p, None, &keys(), now()),
            Err(IdTokenError::Jose(JoseError::Type { .. }))
        ));
        // alg none is refused whatever it says.
        let none = format!(
            "{}.{}.",
            crate::jose::b64(json!({"alg": "none"}).to_string()),
            crate::jose::b64(claims(&nonce).to_string())
        );
        assert!(matches!(
            c.validate_id_token(&none, &p, None, &keys(), now()),
            Err(IdTokenError::Jose(JoseError::Algorithm(_)))
        ));
        // Without the issuer's metadata the client cannot check iss.
        let bare = Client::builder("rp")
            .authorization_endpoint("https://as.example/authorize")
            .token_endpoint("https://as.example/token")
            .build()
            .unwrap();
        assert_eq!(
            bare.validate_id_token(&sign(&claims(&nonce)), &p, None, &keys(), now()),
            Err(IdTokenError::NoIssuer)
        );
    }

    #[test]
    fn oidc_core_12_2_and_5_3_2_later_answers_must_speak_of_the_same_user() {
        let c = client();
        let p = pending(&c);
        let first = c.validate_id_token(&sign(&claims(p.nonce.as_deref().unwrap())), &p, None, &keys(), now()).unwrap();
        let mut refreshed = claims("");
        refreshed.as_object_mut().unwrap().remove("nonce");
        assert!(c.validate_refreshed_id_token(&sign(&refreshed), Some(&first), Some(ACCESS), &keys(), now()).is_ok());
        refreshed["sub"] = json!("mallory");
        let mallory = sign(&refreshed);
        assert_eq!(
            c.validate_refreshed_id_token(&mallory, Some(&first), None, &keys(), now()),
            Err(IdTokenError::Subject)
        );
        // Without the login's claims (a restored session) the checks but `sub` still apply.
        assert!(c.validate_refreshed_id_token(&mallory, None, None, &keys(), now()).is_ok());
        refreshed["aud"] = json!("other-rp");
        let stranger = sign(&refreshed);
        assert_eq!(
            c.validate_refreshed_id_token(&stranger, None, None, &keys(), now()),
            Err(JoseError::Audience.into())
        );
        assert!(c.check_userinfo(&json!({"sub": "alice", "name": "Alice"}), &first).is_ok());
        assert_eq!(c.check_userinfo(&json!({"sub": "mallory"}), &first), Err(IdTokenError::Subject));
        assert_eq!(c.check_userinfo(&json!({"name": "no sub"}), &first), Err(IdTokenError::Subject));
    }
}
