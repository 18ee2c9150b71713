//! JWT access tokens (RFC 9068): their claims as the server writes them, and what the server reads back from one
//! of its own, as plain functions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::resource::Audience;
use crate::scope::Scope;
use crate::server::ServerConfig;
use crate::server::rules::resource::audience;
use crate::server::store::{Grant, GrantId, TokenRecord};

/// The header `typ` of a JWT access token (RFC 9068 §2.1).
pub(crate) const TYP: &str = "at+jwt";

/// What starts the `jti` of a token the store holds no record of (client credentials): a `.` is not in the
/// base64url alphabet of the others, so no stored token's `jti` starts so.
pub(crate) const STATELESS: &str = "s.";

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The claims of the JWT access token `record` with id `jti` (RFC 9068 §2.2): `iss`, `exp`, `aud`, `sub` (the
/// user, or the client itself for client credentials, §2.2.1), `client_id`, `iat`, `jti`, `scope` when not empty
/// (§2.2.3), and `auth_time` for a user's grant (§2.2.1).
pub(crate) fn claims(config: &ServerConfig, record: &TokenRecord, jti: &str) -> Map<String, Value> {
    let grant = &record.grant;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(config.issuer));
    claims.insert("exp".into(), json!(seconds(record.expires_at)));
    claims.insert("aud".into(), audience(&config.issuer, &grant.resources));
    claims.insert("sub".into(), json!(grant.subject.as_deref().unwrap_or(&grant.client_id)));
    claims.insert("client_id".into(), json!(grant.client_id));
    claims.insert("iat".into(), json!(seconds(record.issued_at)));
    claims.insert("jti".into(), json!(jti));
    if !grant.scope.is_empty() {
        claims.insert("scope".into(), json!(grant.scope.to_string()));
    }
    if let Some(auth_time) = grant.auth_time {
        claims.insert("auth_time".into(), json!(seconds(auth_time)));
    }
    // RFC 9449 §6.1: a DPoP-bound token names its key.
    if let Some(jkt) = &grant.jkt {
        claims.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    claims
}

/// The claims the server reads back from a JWT access token of its own.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    pub(crate) jti: String,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) aud: Audience,
    #[serde(default)]
    pub(crate) cnf: Option<crate::introspection::Confirmation>,
}

/// The resources an `aud` names: none when it is the issuer alone (the audience of a token that named none).
fn resources_of(aud: Audience, issuer: &str) -> Vec<String> {
    match aud.into_vec() {
        only_issuer if only_issuer.len() == 1 && only_issuer[0] == issuer => Vec::new(),
        resources => resources,
    }
}

impl Claims {
    /// Whether this token has no record in the store (see [`STATELESS`]).
    pub(crate) fn stateless(&self) -> bool {
        self.jti.starts_with(STATELESS)
    }

    /// The record of a token the store holds none of (client credentials: no subject, no family to revoke).
    pub(crate) fn into_record(self, config: &ServerConfig) -> TokenRecord {
        let at = |s: u64| UNIX_EPOCH.checked_add(Duration::from_secs(s)).unwrap_or(UNIX_EPOCH);
        let id = crate::secret::SecretHash::of(&self.jti);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&id.as_bytes()[..16]);
        TokenRecord {
            grant: Grant {
                id: GrantId::from_bytes(bytes),
                client_id: self.client_id,
                subject: None,
                scope: Scope::parse(self.scope.as_deref().unwrap_or("")),
                auth_time: None,
                resources: resources_of(self.aud, &config.issuer),
                jkt: self.cnf.and_then(|c| c.jkt),
            },
            issued_at: at(self.iat),
            expires_at: at(self.exp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(subject: Option<&str>, resources: &[&str]) -> TokenRecord {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        TokenRecord {
            grant: Grant {
                id: GrantId::from_bytes([1; 16]),
                client_id: "web".into(),
                subject: subject.map(str::to_owned),
                scope: Scope::parse("read profile"),
                auth_time: subject.map(|_| now - Duration::from_secs(5)),
                resources: resources.iter().map(|r| (*r).to_owned()).collect(),
                jkt: None,
            },
            issued_at: now,
            expires_at: now + Duration::from_secs(300),
        }
    }

    #[test]
    fn rfc9068_2_2_the_claims_of_an_access_token() {
        let config = ServerConfig::new("https://as.example");
        let c = claims(&config, &record(Some("alice"), &[]), "j1");
        assert_eq!(c["iss"], "https://as.example");
        assert_eq!(c["sub"], "alice");
        assert_eq!(c["client_id"], "web");
        assert_eq!(c["jti"], "j1");
        assert_eq!(c["scope"], "read profile");
        assert_eq!((c["iat"].as_u64(), c["exp"].as_u64()), (Some(1_800_000_000), Some(1_800_000_300)));
        assert_eq!(c["auth_time"].as_u64(), Some(1_799_999_995));
        assert_eq!(c["aud"], "https://as.example", "without a resource, the audience is the issuer");
    }

    #[test]
    fn rfc9068_2_2_1_client_credentials_name_the_client_as_subject() {
        let config = ServerConfig::new("https://as.example");
        let c = claims(&config, &record(None, &["https://api.example"]), "s.j");
        assert_eq!((c["sub"].as_str(), c.get("auth_time")), (Some("web"), None));
    }

    #[test]
    fn rfc9068_3_aud_is_the_requested_resource_or_resources() {
        let config = ServerConfig::new("https://as.example");
        let one = claims(&config, &record(None, &["https://a.example"]), "j");
        assert_eq!(one["aud"], "https://a.example");
        let two = claims(&config, &record(None, &["https://a.example", "https://b.example"]), "j");
        assert_eq!(two["aud"], json!(["https://a.example", "https://b.example"]));
        // And back.
        let read: Claims = serde_json::from_value(Value::Object(two)).unwrap();
        assert_eq!(read.into_record(&config).grant.resources, ["https://a.example", "https://b.example"]);
        let read: Claims = serde_json::from_value(Value::Object(claims(&config, &record(None, &[]), "s.j"))).unwrap();
        assert!(read.stateless());
        assert!(read.into_record(&config).grant.resources.is_empty(), "the issuer as audience names no resource");
    }
}
