//! The id_token (OpenID Connect Core §2, §3.1.3.3, §3.1.3.6, §12.2): its signing algorithm per client, and its
//! claims, as plain functions.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::jose::{Algorithm, JoseError, half_hash};
use crate::server::ServerConfig;
use crate::server::rules::lifetime::later;
use crate::server::store::{Grant, RegisteredClient};

/// The algorithm of `client`'s id_tokens: its registered `id_token_signed_response_alg`, else `RS256`
/// (OIDC Core §3.1.3.7: the default, and the one every provider must support).
pub(crate) fn algorithm(client: &RegisteredClient) -> Result<Algorithm, JoseError> {
    client.id_token_signed_response_alg.as_deref().map_or(Ok(Algorithm::Rs256), str::parse)
}

/// Seconds since the epoch (0 before it), as JWT NumericDates are.
fn seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The claims of the id_token for `grant`, issued at `now` beside `access_token`: `iss`, `sub` (the grant's
/// subject), `aud` and `azp` (the client), `iat`, `exp`, `auth_time` (the login of the grant, the same on every
/// refresh), `nonce` when the authorization request had one (never on a refresh, §12.2), and `at_hash` (§3.1.3.6).
pub(crate) fn claims(
    config: &ServerConfig,
    grant: &Grant,
    nonce: Option<&str>,
    access_token: &str,
    algorithm: Algorithm,
    now: SystemTime,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(config.issuer));
    claims.insert("sub".into(), json!(grant.subject.as_deref().unwrap_or(&grant.client_id)));
    claims.insert("aud".into(), json!(grant.client_id));
    claims.insert("azp".into(), json!(grant.client_id));
    claims.insert("iat".into(), json!(seconds(now)));
    claims.insert("exp".into(), json!(seconds(later(now, config.id_token_lifetime))));
    if let Some(auth_time) = grant.auth_time {
        claims.insert("auth_time".into(), json!(seconds(auth_time)));
    }
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert("at_hash".into(), json!(half_hash(algorithm, access_token)));
    claims
}
