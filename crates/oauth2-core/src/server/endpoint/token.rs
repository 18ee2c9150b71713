//! The token endpoint (RFC 6749 §3.2): parse the form → authenticate the client → dispatch on `grant_type`. Each
//! grant looks up what it needs, decides with a plain function below ([`check_code`], [`refresh_scope`],
//! [`grant_allowed`]), and makes one atomic write.

use std::net::IpAddr;
use std::time::SystemTime;

use http::StatusCode;

use crate::error::{ErrorCode, OAuthError};
use crate::form::FormParams;
use crate::grant::GrantType;
use crate::pkce::PkceVerifier;
use crate::reply::{json_bytes_response, push_decimal, push_json_string};
use crate::scope::Scope;
use crate::secret::{AccessToken, RefreshToken, SecretHash};
use crate::server::dpop::key_matches;
use crate::server::rules::lifetime::later;
use crate::server::rules::redirect_uri::redirect_uri_allowed;
use crate::server::rules::request::form_of;
use crate::server::rules::resource;
use crate::server::rules::scope::decide_scope;
use crate::server::store::{CodeRecord, CodeUse, Grant, RegisteredClient, Rotation, Store, TokenRecord};
use crate::server::{AuthorizationServer, ClientAddress, ClientId, ServerConfig, with_client};

/// Who tokens are issued to: the authenticated client, and the thumbprint of the DPoP key they are bound to, if the
/// request came with a proof.
#[derive(Clone, Copy)]
pub(crate) struct Bind<'a> {
    pub(crate) client: &'a RegisteredClient,
    pub(crate) jkt: Option<&'a str>,
}

impl<S: Store> AuthorizationServer<S> {
    /// Answers a token request (RFC 6749 §3.2): authorization code (§4.1.3), password (§4.3), client credentials
    /// (§4.4), refresh (§6) and device code (RFC 8628 §3.4). Success is a §5.1 JSON body; failure a §5.2 error with its status. Every answer
    /// carries `Cache-Control: no-store` and `Pragma: no-cache`.
    pub async fn token<B: AsRef<[u8]>>(&self, request: http::Request<B>, now: SystemTime) -> http::Response<Vec<u8>> {
        let mut client = None;
        let response = match self.token_inner(&request, now, &mut client).await {
            Ok(body) => body.into_response(),
            Err(e) => e.into_response(),
        };
        with_client(self.with_dpop_nonce(response, now), client)
    }

    async fn token_inner<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
        seen: &mut Option<ClientId>,
    ) -> Result<TokenResponse, OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = self.authenticate_client(request.headers(), &params).await?;
        *seen = Some(ClientId(client.id.clone()));
        let grant = grant_allowed(&self.config, &client, params.get("grant_type"))?;
        // RFC 9449 §5: the proof is checked (and its jti spent) before the grant is looked at.
        let jkt = self.dpop_proof(request, &self.config.token_path, now).await?;
        if client.dpop_bound_access_tokens && jkt.is_none() {
            return Err(super::super::dpop::invalid_proof("this client must send a DPoP proof"));
        }
        let to = Bind { client: &client, jkt: jkt.as_deref() };
        match grant {
            GrantType::AuthorizationCode => self.code_grant(to, &params, now).await,
            GrantType::Password => {
                let address = request.extensions().get::<ClientAddress>().map(|a| a.0);
                self.password_grant(to, &params, address, now).await
            }
            GrantType::ClientCredentials => self.client_credentials_grant(to, &params, now).await,
            GrantType::DeviceCode => self.device_code_grant(to, &params, now).await,
            _ => self.refresh_grant(to, &params, now).await,
        }
    }

    /// The tokens of one issuance: an access token for `access`, and a refresh token for `refresh` when given (a
    /// refresh token keeps the whole grant when the access token was narrowed to less scope or fewer resources).
    /// The access token is bound to the proof's key (RFC 9449 §6), and so is a public client's refresh token (§5);
    /// a confidential client's refresh token is not, as the client authenticates to use it.
    pub(super) async fn records(
        &self,
        mut access: Grant,
        refresh: Option<Grant>,
        to: Bind<'_>,
        now: SystemTime,
    ) -> Result<Issued, OAuthError> {
        let scope = (!access.scope.is_empty()).then(|| access.scope.to_string());
        access.jkt = to.jkt.map(str::to_owned);
        let bound = access.jkt.is_some();
        let refresh = refresh.map(|mut grant| {
            grant.jkt = if to.client.is_confidential() { None } else { to.jkt.map(str::to_owned) };
            let token = self.new_secret();
            let record =
                TokenRecord { grant, issued_at: now, expires_at: later(now, self.config.refresh_token_lifetime) };
            (SecretHash::of(&token), token, record)
        });
        let minted = self.mint_access(access, refresh.is_some(), now).await?;
        let body = TokenResponse {
            token_type: if bound { "DPoP" } else { "Bearer" },
            expires_in: self.config.current_access_token_lifetime().as_secs(),
            // §3.3: a scope has at least one token, so an empty one is left out.
            scope,
            refresh_token: refresh.as_ref().map(|(_, t, _)| RefreshToken::new(t.as_str())),
            access_token: AccessToken::new(minted.token),
            id_token: None,
        };
        Ok(Issued { body, access: minted.stored, refresh: refresh.map(|(h, _, r)| (h, r)) })
    }

    async fn issue(
        &self,
        grant: Grant,
        with_refresh: bool,
        to: Bind<'_>,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let refresh = with_refresh.then(|| grant.clone());
        let issued = self.records(grant, refresh, to, now).await?;
        let Some(access) = issued.access else {
            // A self-contained JWT (client credentials): nothing to store, nothing to revoke as a family.
            return Ok(issued.body);
        };
        if !self.store.store_tokens(access, issued.refresh).await? {
            // The grant was revoked (a replayed code) between the redemption and now.
            return Err(OAuthError::invalid_grant("the grant was revoked"));
        }
        Ok(issued.body)
    }

    /// §4.1.3 with RFC 7636 §4.6: look the code up → [`check_code`] → redeem it and store its tokens in one atomic
    /// step, which also revokes what a replayed code issued (§4.1.2, RFC 9700 §4.2.4).
    async fn code_grant(
        &self,
        to: Bind<'_>,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let client = to.client;
        let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let hash = SecretHash::of(code);
        let (record, used) = self.store.code(&hash).await?.ok_or_else(|| OAuthError::invalid_grant("unknown code"))?;
        check_code(client, &record, used, params, now)?;
        // RFC 9449 §10: a code bound by `dpop_jkt` is redeemed with a proof of that key. A replay goes on, to be
        // detected (and its grant revoked) by the redemption.
        if !used {
            key_matches(record.grant.jkt.as_deref(), to.jkt, "code")?;
        }
        let resources = resource::narrowed(client, &record.grant.resources, resource::requested(params)?)?;
        let grant_id = record.grant.id;
        let nonce = record.nonce;
        let access = Grant { resources, ..record.grant.clone() };
        let refresh = issues_refresh(&self.config, client).then_some(record.grant);
        let mut issued = self.records(access, refresh, to, now).await?;
        // A code's grant has a user, so its access token is always stored.
        let access = issued.access.take().ok_or_else(|| OAuthError::new(ErrorCode::ServerError, "no token record"))?;
        // Signed before the atomic step, so that nothing can fail after the code is spent.
        self.attach_id_token(client, &access.1.grant, nonce.as_deref(), &mut issued.body, now).await?;
        match self.store.redeem_code(&hash, access, issued.refresh).await? {
            CodeUse::Fresh(_) => Ok(issued.body),
            CodeUse::Replayed(_) => {
                tracing::warn!(client_id = %client.id, grant_id = %grant_id, "authorization code replayed; its grant is revoked");
                Err(OAuthError::invalid_grant("the code was already used; its tokens are revoked"))
            }
            _ => Err(OAuthError::invalid_grant("unknown code")),
        }
    }

    /// §4.3: only for clients registered for it, with the app's credential check, throttled per username and
    /// client `address` (§4.3.2).
    async fn password_grant(
        &self,
        to: Bind<'_>,
        params: &FormParams,
        address: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let client = to.client;
        let username = params.get("username").ok_or_else(|| OAuthError::invalid_request("username is required"))?;
        let password = params.get("password").ok_or_else(|| OAuthError::invalid_request("password is required"))?;
        let scope = self.resolve_scope(client, params.get("scope"))?;
        let resources = resource::allowed(client, resource::requested(params)?)?;
        let subject = self.verify_password(username, password, address, now).await?;
        let grant = Grant {
            id: self.new_grant_id(now),
            client_id: client.id.clone(),
            subject: Some(subject),
            scope,
            auth_time: Some(now),
            resources,
            jkt: None,
        };
        self.issue(grant, issues_refresh(&self.config, client), to, now).await
    }

    /// §4.4: confidential clients only; no refresh token unless the client opted in (§4.4.3).
    async fn client_credentials_grant(
        &self,
        to: Bind<'_>,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let client = to.client;
        if !client.is_confidential() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client credentials need a confidential client",
            ));
        }
        let scope = self.resolve_scope(client, params.get("scope"))?;
        let resources = resource::allowed(client, resource::requested(params)?)?;
        let grant = Grant {
            id: self.new_grant_id(now),
            client_id: client.id.clone(),
            subject: None,
            scope,
            auth_time: None,
            resources,
            jkt: None,
        };
        let with_refresh = client.refresh_on_client_credentials && issues_refresh(&self.config, client);
        self.issue(grant, with_refresh, to, now).await
    }

    /// §6 with rotation (RFC 9700 §4.14.2): look the refresh token up → [`refresh_scope`] → rotate it in one
    /// compare-and-swap, which also revokes the whole grant when the token was spent already. The new refresh
    /// token keeps the original scope.
    async fn refresh_grant(
        &self,
        to: Bind<'_>,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let client = to.client;
        let token =
            params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let hash = SecretHash::of(token);
        let (record, used) =
            self.store.refresh_token(&hash).await?.ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
        let scope = refresh_scope(client, &record, used, params.get("scope"), now)?;
        // RFC 9449 §5: a public client's refresh token is used with a proof of the key it is bound to. A reuse goes
        // on, to be detected (and its grant revoked) by the rotation.
        if !used {
            key_matches(record.grant.jkt.as_deref(), to.jkt, "refresh token")?;
        }
        let resources = resource::narrowed(client, &record.grant.resources, resource::requested(params)?)?;
        let grant_id = record.grant.id;
        let access = Grant { scope, resources, ..record.grant.clone() };
        let mut issued = self.records(access, Some(record.grant), to, now).await?;
        let (Some(access), Some(refresh)) = (issued.access.take(), issued.refresh.take()) else {
            return Err(OAuthError::new(ErrorCode::ServerError, "no token record"));
        };
        // OIDC Core §12.2: the same sub and auth_time, and no nonce.
        self.attach_id_token(client, &access.1.grant, None, &mut issued.body, now).await?;
        match self.store.rotate_refresh(&hash, access, refresh).await? {
            Rotation::Rotated => Ok(issued.body),
            Rotation::Reused(_) => {
                tracing::warn!(client_id = %client.id, grant_id = %grant_id, "refresh token reused; its grant is revoked");
                Err(OAuthError::invalid_grant("the refresh token was already used; the grant is revoked"))
            }
            _ => Err(OAuthError::invalid_grant("unknown refresh token")),
        }
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// Adds the id_token to `body` when `grant` has the `openid` scope (OIDC Core §3.1.3.3), signed with the
    /// client's algorithm; `nonce` is the authorization request's. A missing signing key is the server's fault.
    #[cfg(feature = "jose")]
    pub(super) async fn attach_id_token(
        &self,
        client: &RegisteredClient,
        grant: &Grant,
        nonce: Option<&str>,
        body: &mut TokenResponse,
        now: SystemTime,
    ) -> Result<(), OAuthError> {
        use crate::server::rules::id_token;
        // Only for a user's grant: a client acting for itself (client credentials) has no identity to assert.
        if !grant.scope.contains("openid") || grant.subject.is_none() {
            return Ok(());
        }
        let server_error = |why: &dyn std::fmt::Display| {
            tracing::error!(client_id = %client.id, error = %why, "no id_token can be signed");
            OAuthError::new(ErrorCode::ServerError, "the id_token cannot be signed")
        };
        let algorithm = id_token::algorithm(client).map_err(|e| server_error(&e))?;
        let key = self.current_key(algorithm, &client.id, now).await?;
        let claims = id_token::claims(&self.config, grant, nonce, body.access_token.secret(), algorithm, now);
        body.id_token = Some(key.sign(Some("JWT"), &claims).map_err(|e| server_error(&e))?);
        Ok(())
    }

    /// Without the `jose` feature there are no id_tokens.
    #[cfg(not(feature = "jose"))]
    pub(super) async fn attach_id_token(
        &self,
        _client: &RegisteredClient,
        _grant: &Grant,
        _nonce: Option<&str>,
        _body: &mut TokenResponse,
        _now: SystemTime,
    ) -> Result<(), OAuthError> {
        Ok(())
    }
}

/// Which grant a token request is for (RFC 6749 §4, §5.2): `grant_type` is required; a grant the server does not
/// offer is `unsupported_grant_type` (the implicit grant never comes here); one the client is not registered
/// for is `unauthorized_client`.
pub(crate) fn grant_allowed(
    config: &ServerConfig,
    client: &RegisteredClient,
    grant_type: Option<&str>,
) -> Result<GrantType, OAuthError> {
    let grant_type = grant_type.ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let grant = match GrantType::parse(grant_type) {
        Some(g) if g != GrantType::Implicit && config.grant_types.contains(&g) => g,
        _ => return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type")),
    };
    if !client.allows(grant) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type"));
    }
    Ok(grant)
}

/// Whether a refresh token goes with `client`'s tokens: the client is registered for the refresh grant and the
/// server offers it (a refresh token the token endpoint would then refuse is worse than none).
pub(super) fn issues_refresh(config: &ServerConfig, client: &RegisteredClient) -> bool {
    client.allows(GrantType::RefreshToken) && config.grant_types.contains(&GrantType::RefreshToken)
}

/// Whether `client` may redeem the code `record` (`used` if it was redeemed before) with the token request's
/// `params` at `now` (RFC 6749 §4.1.3, RFC 7636 §4.6). The client binding comes first: another client's replay
/// must not revoke the owner's grant, so it is refused here. A used code passes, so that the atomic redemption
/// that follows detects the replay and revokes in the same step; an unused one must be unexpired, name the same
/// redirect URI as the authorization request, and come with the verifier of its challenge (and none without one).
pub(crate) fn check_code(
    client: &RegisteredClient,
    record: &CodeRecord,
    used: bool,
    params: &FormParams,
    now: SystemTime,
) -> Result<(), OAuthError> {
    if record.grant.client_id != client.id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if used {
        return Ok(());
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code expired"));
    }
    match (&record.redirect_uri, params.get("redirect_uri")) {
        (Some(expected), Some(given)) if expected == given => {}
        (Some(_), _) => return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request")),
        (None, Some(given)) if !redirect_uri_allowed(client, given) => {
            return Err(OAuthError::invalid_grant("redirect_uri is not registered"));
        }
        (None, _) => {}
    }
    match (&record.challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !PkceVerifier::new(verifier).is_ok_and(|v| challenge.is_satisfied_by(&v)) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => return Err(OAuthError::invalid_grant("code_verifier sent for a code issued without PKCE")),
        (None, None) => {}
    }
    Ok(())
}

/// The scope of the access token a refresh by `client` gets (RFC 6749 §6), for the refresh token `record` (`used`
/// if it was rotated away before) and the request's `scope`. Another client's token is refused (a spent one must
/// not let it revoke the owner's grant); a used one passes with the original scope, so the atomic rotation that
/// follows detects the reuse and revokes in the same step; an unused one must be unexpired, and the scope may
/// narrow, never widen (blank means the original scope).
pub(crate) fn refresh_scope(
    client: &RegisteredClient,
    record: &TokenRecord,
    used: bool,
    requested: Option<&str>,
    now: SystemTime,
) -> Result<Scope, OAuthError> {
    if record.grant.client_id != client.id {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
    if used {
        return Ok(record.grant.scope.clone());
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token expired"));
    }
    decide_scope(requested, &record.grant.scope)
}

/// A successful token response as the server sends it (RFC 6749 §5.1): what every grant of the token endpoint
/// answers, and what an app's own grant (a token exchange, say) can answer too. Its `Debug` shows no token.
///
/// ```
/// use oauth2_core::server::TokenResponse;
/// let response = TokenResponse::new("2YotnFZFEjr1zCsicMWpAA", 3600).scope("read");
/// assert!(!format!("{response:?}").contains("2YotnFZFEjr1zCsicMWpAA"));
/// let response = response.into_response();
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// assert!(response.body().starts_with(br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// `Bearer` (RFC 6750).
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The granted scope, when it is not empty.
    pub scope: Option<String>,
    /// A refresh token, if one was issued.
    pub refresh_token: Option<RefreshToken>,
    /// An OpenID Connect id_token (OIDC Core §3.1.3.3), when the grant has the `openid` scope.
    pub id_token: Option<String>,
}

impl TokenResponse {
    /// A Bearer token response for `access_token`, expiring in `expires_in` seconds.
    pub fn new(access_token: impl Into<String>, expires_in: u64) -> Self {
        Self {
            access_token: AccessToken::new(access_token),
            token_type: "Bearer",
            expires_in,
            scope: None,
            refresh_token: None,
            id_token: None,
        }
    }

    /// With an id_token.
    pub fn id_token(mut self, id_token: impl Into<String>) -> Self {
        self.id_token = Some(id_token.into());
        self
    }

    /// With the granted scope (left out when empty: RFC 6749 §3.3 scopes have at least one token).
    pub fn scope(mut self, scope: impl std::fmt::Display) -> Self {
        let scope = scope.to_string();
        self.scope = (!scope.is_empty()).then_some(scope);
        self
    }

    /// With a refresh token.
    pub fn refresh_token(mut self, token: impl Into<String>) -> Self {
        self.refresh_token = Some(RefreshToken::new(token));
        self
    }

    /// The `200` JSON response, with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
    pub fn into_response(self) -> http::Response<Vec<u8>> {
        json_bytes_response(StatusCode::OK, self.to_json())
    }

    /// The JSON object, written directly: every token request ends here, and a generic serializer spends more time
    /// escaping these few strings than the rest of the response costs.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(192);
        out.extend_from_slice(b"{\"access_token\":");
        push_json_string(&mut out, self.access_token.secret());
        out.extend_from_slice(b",\"token_type\":");
        push_json_string(&mut out, self.token_type);
        out.extend_from_slice(b",\"expires_in\":");
        push_decimal(&mut out, self.expires_in);
        if let Some(scope) = &self.scope {
            out.extend_from_slice(b",\"scope\":");
            push_json_string(&mut out, scope);
        }
        if let Some(refresh) = &self.refresh_token {
            out.extend_from_slice(b",\"refresh_token\":");
            push_json_string(&mut out, refresh.secret());
        }
        if let Some(id_token) = &self.id_token {
            out.extend_from_slice(b",\"id_token\":");
            push_json_string(&mut out, id_token);
        }
        out.push(b'}');
        out
    }
}

pub(super) struct Issued {
    pub(super) body: TokenResponse,
    /// The access token's record, unless it is a JWT the store keeps nothing of.
    pub(super) access: Option<(SecretHash, TokenRecord)>,
    pub(super) refresh: Option<(SecretHash, TokenRecord)>,
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::pkce::{PkceChallenge, PkceMethod};
    use crate::server::store::GrantId;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn grant(client: &str) -> Grant {
        Grant {
            id: GrantId::from_bytes([3; 16]),
            client_id: client.into(),
            subject: Some("alice".into()),
            scope: Scope::parse("read write"),
            auth_time: None,
            resources: Vec::new(),
            jkt: None,
        }
    }

    fn code(redirect_uri: Option<&str>, challenge: Option<PkceChallenge>) -> CodeRecord {
        CodeRecord {
            grant: grant("web"),
            redirect_uri: redirect_uri.map(str::to_owned),
            challenge,
            nonce: None,
            expires_at: now() + Duration::from_secs(60),
        }
    }

    fn form(s: &str) -> FormParams {
        FormParams::parse(s.as_bytes()).unwrap()
    }

    fn web() -> RegisteredClient {
        RegisteredClient::confidential("web", "s").redirect_uris(["https://app.example/cb"])
    }

    fn refused(r: Result<(), OAuthError>) -> String {
        r.map_or_else(|e| e.description().unwrap_or("").to_owned(), |()| "accepted".into())
    }

    #[test]
    fn rfc6749_4_1_3_a_code_is_bound_to_its_client_redirect_uri_and_lifetime() {
        let record = code(Some("https://app.example/cb"), None);
        let ok = form("redirect_uri=https%3A%2F%2Fapp.example%2Fcb");
        assert!(check_code(&web(), &record, false, &ok, now()).is_ok());
        let other = RegisteredClient::confidential("other", "s");
        assert!(refused(check_code(&other, &record, false, &ok, now())).contains("another client"));
        assert!(refused(check_code(&other, &record, true, &ok, now())).contains("another client"), "even used");
        assert!(refused(check_code(&web(), &record, false, &form(""), now())).contains("redirect_uri"));
        let late = now() + Duration::from_secs(60);
        assert!(refused(check_code(&web(), &record, false, &ok, late)).contains("expired"));
        // A code given without redirect_uri takes any registered one, and only those.
        let bare = code(None, None);
        assert!(check_code(&web(), &bare, false, &form(""), now()).is_ok());
        assert!(
            refused(check_code(&web(), &bare, false, &form("redirect_uri=https%3A%2F%2Fevil"), now()))
                .contains("not registered")
        );
    }

    #[test]
    fn rfc6749_4_1_2_a_used_code_goes_on_to_the_atomic_redemption() {
        // Whatever else is wrong with the request: the store's redemption detects the replay and revokes.
        let record = code(Some("https://app.example/cb"), None);
        assert!(check_code(&web(), &record, true, &form(""), now() + Duration::from_secs(600)).is_ok());
    }

    #[test]
    fn rfc7636_4_6_the_verifier_must_match_the_challenge() {
        let challenge = PkceChallenge::new(CHALLENGE, PkceMethod::S256).unwrap();
        let record = code(None, Some(challenge));
        assert!(check_code(&web(), &record, false, &form(&format!("code_verifier={VERIFIER}")), now()).is_ok());
        assert!(refused(check_code(&web(), &record, false, &form(""), now())).contains("required"));
        let wrong = format!("code_verifier={}", VERIFIER.replace('d', "e"));
        assert!(refused(check_code(&web(), &record, false, &form(&wrong), now())).contains("does not match"));
        assert!(
            refused(check_code(&web(), &record, false, &form("code_verifier=short"), now())).contains("does not match")
        );
    }

    #[test]
    fn rfc9700_2_1_1_a_verifier_for_a_code_without_challenge_is_refused() {
        let record = code(None, None);
        let e = refused(check_code(&web(), &record, false, &form(&format!("code_verifier={VERIFIER}")), now()));
        assert!(e.contains("without PKCE"), "{e}");
    }

    #[test]
    fn rfc6749_6_refresh_narrows_never_widens_and_blank_keeps_the_scope() {
        let record = TokenRecord { grant: grant("web"), issued_at: now(), expires_at: now() + Duration::from_secs(60) };
        let scope = |requested| refresh_scope(&web(), &record, false, requested, now()).map(|s| s.to_string());
        assert_eq!(scope(None).unwrap(), "read write");
        assert_eq!(scope(Some(" ")).unwrap(), "read write", "blank means omitted");
        assert_eq!(scope(Some("read")).unwrap(), "read");
        assert_eq!(scope(Some("read admin")).unwrap_err().code(), &ErrorCode::InvalidScope);
        let other = RegisteredClient::confidential("other", "s");
        assert!(refresh_scope(&other, &record, true, None, now()).is_err(), "another client, even for a spent token");
        assert!(refresh_scope(&web(), &record, false, None, now() + Duration::from_secs(60)).is_err(), "expired");
        assert_eq!(refresh_scope(&web(), &record, true, Some("admin"), now()).unwrap().to_string(), "read write");
    }

    #[test]
    fn rfc6749_5_2_grant_types_offered_and_registered() {
        let config = ServerConfig::new("https://as.example");
        let web = web();
        assert_eq!(grant_allowed(&config, &web, Some("authorization_code")).unwrap(), GrantType::AuthorizationCode);
        let code = |r: Result<GrantType, OAuthError>| r.unwrap_err().code().clone();
        assert_eq!(code(grant_allowed(&config, &web, None)), ErrorCode::InvalidRequest);
        assert_eq!(code(grant_allowed(&config, &web, Some("password"))), ErrorCode::UnsupportedGrantType);
        assert_eq!(code(grant_allowed(&config, &web, Some("implicit"))), ErrorCode::UnsupportedGrantType);
        assert_eq!(code(grant_allowed(&config, &web, Some("client_credentials"))), ErrorCode::UnauthorizedClient);
    }

    #[test]
    fn rfc6749_5_1_token_body_is_the_json_serde_would_write() {
        let full = TokenResponse::new("2YotnFZFEjr1zCsicMWpAA", 3600)
            .scope("read \"quoted\" \\ tab\t")
            .refresh_token("tGzv3JOkF0XG5Qx2TlKWIA");
        let expected = serde_json::json!({
            "access_token": "2YotnFZFEjr1zCsicMWpAA",
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "read \"quoted\" \\ tab\t",
            "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
        });
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&full.to_json()).unwrap(), expected);
        for n in [0, 7, 10, 3600, u64::MAX] {
            let body = TokenResponse::new("a", n);
            let parsed: serde_json::Value = serde_json::from_slice(&body.to_json()).unwrap();
            assert_eq!(parsed["expires_in"].as_u64(), Some(n));
        }
        let bare = TokenResponse::new("a", 1);
        let parsed: serde_json::Value = serde_json::from_slice(&bare.to_json()).unwrap();
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(3), "absent members are left out: {parsed}");
    }
}
