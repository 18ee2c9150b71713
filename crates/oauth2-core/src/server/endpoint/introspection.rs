//! The introspection endpoint (RFC 7662 §2): parse → authenticate a confidential client → look the token up →
//! decide what this client may see.

use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;

use crate::error::OAuthError;
use crate::introspection::Introspection;
use crate::reply::json_response;
use crate::secret::SecretHash;
use crate::server::rules::request::form_of;
use crate::server::rules::resource;
use crate::server::store::{RegisteredClient, Store, TokenRecord};
use crate::server::{AuthorizationServer, ClientId, with_client};

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl<S: Store> AuthorizationServer<S> {
    /// Introspects a token for an authenticated client (RFC 7662 §2). A client sees only tokens issued to it;
    /// unknown, expired, revoked, used and foreign tokens are all `{"active": false}`.
    pub async fn introspect<B: AsRef<[u8]>>(
        &self,
        request: http::Request<B>,
        now: SystemTime,
    ) -> http::Response<Vec<u8>> {
        let mut client = None;
        let response = match self.introspect_inner(&request, now, &mut client).await {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(e) => e.into_response(),
        };
        with_client(response, client)
    }

    async fn introspect_inner<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
        seen: &mut Option<ClientId>,
    ) -> Result<Introspection, OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = self.authenticate_client(request.headers(), &params).await?;
        *seen = Some(ClientId(client.id.clone()));
        if !client.is_confidential() {
            // A bare client_id proves nothing; introspection must not become a token oracle (RFC 7662 §2.1, §4).
            return Err(OAuthError::invalid_client(
                "introspection needs client authentication: a public client cannot introspect (RFC 7662 section 2.1)",
            ));
        }
        let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let found = match self.live_access(token, now).await? {
            Some(live) => Some((live.record, Kind::Access(live.jwt.map(|(jti, _)| jti)))),
            None => {
                let hash = SecretHash::of(token);
                self.store.refresh_token(&hash).await?.filter(|(_, used)| !used).map(|(r, _)| (r, Kind::Refresh))
            }
        };
        Ok(introspection_of(&client, found, &self.config.issuer, now))
    }
}

/// Which kind of token a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An access token; a JWT with its `jti`.
    Access(Option<String>),
    Refresh,
}

/// Whether `client` may learn of `record` (RFC 7662 §2.1, design.md §4): a token issued to it, or, for a
/// resource server, an access token whose audience names it (see [`resource::names`]).
fn may_see(client: &RegisteredClient, record: &TokenRecord, kind: &Kind) -> bool {
    record.grant.client_id == client.id
        || (client.resource_server
            && client.is_confidential()
            && matches!(kind, Kind::Access(_))
            && resource::names(client, &record.grant.resources))
}

/// What `client` may learn of a token the lookup `found` (RFC 7662 §2.2): a live token it may see
/// ([`may_see`]), in full; anything else (unknown, expired, revoked, spent, another client's) only
/// `{"active": false}`.
pub(crate) fn introspection_of(
    client: &RegisteredClient,
    found: Option<(TokenRecord, Kind)>,
    issuer: &str,
    now: SystemTime,
) -> Introspection {
    let Some((record, kind)) = found.filter(|(r, kind)| r.expires_at > now && may_see(client, r, kind)) else {
        return Introspection::inactive();
    };
    let mut info = Introspection::inactive();
    info.active = true;
    info.scope = Some(record.grant.scope.clone());
    info.client_id = Some(record.grant.client_id.clone());
    info.username = record.grant.subject.clone();
    // RFC 9068 §2.2.1: a client acting for itself is the subject of its tokens.
    info.sub = Some(record.grant.subject.unwrap_or_else(|| record.grant.client_id.clone()));
    info.aud = Some(resource::audience(issuer, &record.grant.resources));
    // RFC 7662 §2.2: `token_type` is an access token type (RFC 6749 §7.1); a refresh token has none.
    // RFC 9449 §6.2: a DPoP-bound token says so, and names its key.
    if let Kind::Access(jti) = kind {
        info.token_type = Some(if record.grant.jkt.is_some() { "DPoP" } else { "Bearer" }.into());
        info.cnf = record.grant.jkt.clone().map(crate::introspection::Confirmation::jkt);
        info.jti = jti;
    }
    info.exp = Some(unix(record.expires_at));
    info.iat = Some(unix(record.issued_at));
    info.iss = Some(issuer.to_owned());
    info
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::server::store::{Grant, GrantId};

    fn record(client: &str, expires_at: SystemTime) -> TokenRecord {
        let grant = Grant {
            id: GrantId::from_bytes([1; 16]),
            client_id: client.into(),
            subject: Some("alice".into()),
            scope: crate::Scope::parse("read"),
            auth_time: None,
            resources: Vec::new(),
            jkt: None,
        };
        TokenRecord { grant, issued_at: expires_at - Duration::from_secs(60), expires_at }
    }

    #[test]
    fn rfc7662_2_2_a_client_sees_its_live_tokens_and_nothing_else() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let web = RegisteredClient::confidential("web", "s");
        let live = introspection_of(
            &web,
            Some((record("web", now + Duration::from_secs(5)), Kind::Access(None))),
            "https://as",
            now,
        );
        assert!(live.active && live.token_type.as_deref() == Some("Bearer") && live.sub.as_deref() == Some("alice"));
        assert_eq!(live.exp, Some(1_700_000_005));
        let refresh = introspection_of(
            &web,
            Some((record("web", now + Duration::from_secs(5)), Kind::Refresh)),
            "https://as",
            now,
        );
        assert!(refresh.active && refresh.token_type.is_none(), "a refresh token has no token_type");
        for found in [
            None,
            Some((record("other", now + Duration::from_secs(5)), Kind::Access(None))),
            Some((record("web", now), Kind::Access(None))),
        ] {
            assert_eq!(introspection_of(&web, found, "https://as", now), Introspection::inactive());
        }
    }
}
