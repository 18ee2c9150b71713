//! The authorization endpoint (RFC 6749 §3.1, §4.1.1–4.1.2, §4.2.1–4.2.2) with PKCE (RFC 7636) and `iss`
//! (RFC 9207). Validation happens in two phases, each a plain function: until the client and redirect URI are
//! known good ([`trusted_redirect`]), errors are shown as a page and never redirected (RFC 6749 §4.1.2.1, no open
//! redirect); after that ([`check_request`]), errors go back to the client.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ErrorCode, ErrorResponse, OAuthError};
use crate::form::FormParams;
use crate::grant::ResponseType;
use crate::pkce::{PkceChallenge, PkceMethod};
use crate::reply::redirect;
use crate::scope::Scope;
use crate::secret::SecretHash;
use crate::server::rules::lifetime::later;
use crate::server::rules::redirect_uri::redirect_uri_allowed;
use crate::server::rules::resource;
use crate::server::store::{CodeRecord, Grant, RegisteredClient, Store};
use crate::server::{AuthorizationServer, ServerConfig};

/// A validated authorization request: what the app shows on its consent page, then passes back to
/// [`approve`](AuthorizationServer::approve) or [`deny`](AuthorizationServer::deny). Serializable, to keep in the
/// user's session while they log in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// The client asking.
    pub client_id: String,
    /// Its display name, if registered.
    pub client_name: Option<String>,
    /// Where the answer goes (validated).
    pub redirect_uri: String,
    /// Whether the request named the redirect URI (then the token request must repeat it, §4.1.3).
    pub redirect_uri_given: bool,
    /// `code` or `token`.
    pub response_type: ResponseType,
    /// The scope asked for (the client's registered scopes when omitted).
    pub scope: Scope,
    /// The client's `state`, returned unchanged.
    pub state: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: Option<PkceChallenge>,
    /// OpenID Connect's `nonce` (OIDC Core §3.1.2.1), carried into the id_token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// OpenID Connect's `login_hint`: who the client believes is logging in, for the login page to offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// OpenID Connect's `max_age`, in seconds. The login of this request is fresh, so it is met whatever its
    /// value, and the id_token always carries `auth_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// OpenID Connect's `prompt` values (`login`, `consent`, `select_account`). `prompt=none` never reaches the
    /// app: it is answered `login_required`, since the user logs in at every authorization request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt: Vec<String>,
    /// The resources the tokens are for (RFC 8707 §2), the client's to ask for; empty: the issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The thumbprint of the DPoP key the code is bound to (RFC 9449 §10, `dpop_jkt`; or the key of the proof that
    /// came with the pushed request): the token request must bring a proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// Why an authorization request was refused. Its `Display` says why, naming the client or redirect URI it
/// refused (escaped), for the app's log; [`into_response`](Self::into_response) is what to send.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted, so the user sees an error page (`400`) and is not redirected.
    #[error("{0}")]
    Page(String),
    /// The store failed before the client could be checked: an error page (`503`), no redirect.
    #[error("{0}")]
    Unavailable(String),
    /// The error goes back to the client's redirect URI; this is the `302` to send.
    #[error("redirect with {}", .error)]
    Redirect {
        /// The error sent.
        error: ErrorResponse,
        /// The redirect response.
        location: String,
    },
}

impl AuthorizeError {
    /// The response to send: a small error page (`400`, or `503` when the store failed), or the `302` back to the
    /// client. Apps with their own look can render [`Page`](Self::Page) and [`Unavailable`](Self::Unavailable)
    /// themselves.
    pub fn into_response(self) -> http::Response<Vec<u8>> {
        let page = |status: http::StatusCode, message: &str| {
            let body = format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <title>Authorization error</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;\
                 margin:4rem auto;padding:0 1rem;color:#222}}h1{{font-size:1.4rem}}</style></head><body><main>\
                 <h1>Authorization error</h1><p>{}</p></main></body></html>",
                crate::html::escape(message)
            );
            crate::html::response(status, body)
        };
        match self {
            Self::Page(message) => page(http::StatusCode::BAD_REQUEST, &message),
            Self::Unavailable(message) => page(http::StatusCode::SERVICE_UNAVAILABLE, &message),
            Self::Redirect { location, .. } => redirect(&location),
        }
    }
}

/// The longest value of a parameter the answer echoes (`state`; OpenID Connect's `nonce` and `login_hint`), in
/// bytes: a longer one is `invalid_request`, and is not echoed.
pub(crate) const MAX_ECHOED: usize = 2048;

/// The parameters the answer, the tokens or the login page carry back as they were sent.
const ECHOED: [&str; 3] = ["state", "nonce", "login_hint"];

/// OpenID Connect's `prompt` values (OIDC Core §3.1.2.1).
const PROMPTS: [&str; 4] = ["none", "login", "consent", "select_account"];

/// A value from the request, for a message: at most 120 characters, control characters escaped.
fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(120).flat_map(char::escape_debug).collect();
    if value.chars().count() > 120 {
        out.push('…');
    }
    out
}

fn unavailable() -> AuthorizeError {
    AuthorizeError::Unavailable("The authorization server is unavailable; try again later.".into())
}

/// Appends response parameters to the redirect URI: the query for codes and errors of the code flow, the fragment
/// for the implicit flow (§4.2.2). `iss` is always added (RFC 9207 §2).
fn respond_to(redirect_uri: &str, in_fragment: bool, params: &[(&str, &str)]) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else { return redirect_uri.to_owned() };
    if in_fragment {
        let mut f = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            f.append_pair(k, v);
        }
        url.set_fragment(Some(&f.finish()));
    } else {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

/// Phase one (RFC 6749 §3.1.2, §4.1.2.1): where the answer may go for `client`, given the request's
/// `redirect_uri` (`None` when omitted); the URI and whether the request named it. Every refusal is a page.
pub(crate) fn trusted_redirect(
    client: &RegisteredClient,
    given: Option<&str>,
) -> Result<(String, bool), AuthorizeError> {
    let (redirect_uri, given) = match given {
        Some(r) if redirect_uri_allowed(client, r) => (r.to_owned(), true),
        Some(r) => {
            return Err(AuthorizeError::Page(format!(
                "The redirect URI \"{}\" is not registered for the application \"{}\".",
                shown(r),
                shown(&client.id)
            )));
        }
        None => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            _ => {
                return Err(AuthorizeError::Page(format!(
                    "The request must name its redirect URI: the application \"{}\" has {} registered.",
                    shown(&client.id),
                    client.redirect_uris.len()
                )));
            }
        },
    };
    // §3.1.2: an absolute URI without a fragment. A registration that is not one cannot carry the response.
    if !Url::parse(&redirect_uri).is_ok_and(|u| u.fragment().is_none()) {
        return Err(AuthorizeError::Page(format!(
            "The redirect URI \"{}\" registered for the application \"{}\" is not a valid absolute URI.",
            shown(&redirect_uri),
            shown(&client.id)
        )));
    }
    Ok((redirect_uri, given))
}

/// Phase one of a request by `client` (RFC 6749 §4.1.2.1): the trusted redirect URI, and the request as far as an
/// error redirect needs it (`state`, the response mode). Every refusal is a page.
fn started(client: &RegisteredClient, params: &FormParams) -> Result<AuthorizationRequest, AuthorizeError> {
    let (redirect_uri, redirect_uri_given) = trusted_redirect(client, params.get("redirect_uri"))?;
    // From here on, errors are redirected to the (now trusted) redirect URI.
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        redirect_uri,
        redirect_uri_given,
        response_type: if params.get("response_type") == Some("token") {
            ResponseType::Token
        } else {
            ResponseType::Code
        },
        scope: Scope::empty(),
        // A state too long to echo is refused below, and not sent back.
        state: params.get("state").filter(|s| s.len() <= MAX_ECHOED).map(str::to_owned),
        code_challenge: None,
        nonce: None,
        login_hint: None,
        max_age: None,
        prompt: Vec::new(),
        resources: Vec::new(),
        dpop_jkt: None,
    })
}

/// Phase two (RFC 6749 §4.1.1, §4.2.1, RFC 7636 §4.3): completes `request` (client and redirect URI already
/// trusted) from `params`, or says which error goes back to the client. `scope` is the server's scope decision for
/// the request's `scope` parameter.
pub(crate) fn check_request(
    config: &ServerConfig,
    client: &RegisteredClient,
    params: &FormParams,
    scope: Result<Scope, OAuthError>,
    mut request: AuthorizationRequest,
) -> Result<AuthorizationRequest, ErrorResponse> {
    let fail = |code, text: &str| Err(ErrorResponse::new(code).with_description(text));
    if ECHOED.iter().any(|name| params.get(name).is_some_and(|v| v.len() > MAX_ECHOED)) {
        return fail(ErrorCode::InvalidRequest, "state, nonce and login_hint are at most 2048 bytes");
    }
    let response_type = match params.get("response_type") {
        None => return fail(ErrorCode::InvalidRequest, "response_type is required"),
        Some("code") => ResponseType::Code,
        Some("token") => ResponseType::Token,
        Some(_) => return fail(ErrorCode::UnsupportedResponseType, "use response_type=code"),
    };
    let grant = response_type.grant();
    if !config.grant_types.contains(&grant) {
        return fail(ErrorCode::UnsupportedResponseType, "this server does not offer this response_type");
    }
    if !client.allows(grant) {
        return fail(ErrorCode::UnauthorizedClient, "this client may not use this response_type");
    }
    request.scope = scope.map_err(|e| e.response().clone())?;
    request.resources =
        resource::requested(params).and_then(|r| resource::allowed(client, r)).map_err(|e| e.response().clone())?;
    if response_type == ResponseType::Code {
        match (params.get("code_challenge"), params.get("code_challenge_method")) {
            (None, Some(_)) => return fail(ErrorCode::InvalidRequest, "code_challenge_method without code_challenge"),
            (None, None) if !client.is_confidential() => {
                return fail(ErrorCode::InvalidRequest, "PKCE is required (code_challenge, S256)");
            }
            (None, None) => {}
            (Some(challenge), method) => {
                // RFC 7636 §4.3: an omitted method means plain.
                let method = match PkceMethod::parse(method.unwrap_or("plain")) {
                    Some(PkceMethod::Plain) if !client.allow_plain_pkce => {
                        return fail(ErrorCode::InvalidRequest, "code_challenge_method must be S256");
                    }
                    Some(m) => m,
                    None => return fail(ErrorCode::InvalidRequest, "unsupported code_challenge_method"),
                };
                let Ok(challenge) = PkceChallenge::new(challenge, method) else {
                    return fail(ErrorCode::InvalidRequest, "malformed code_challenge");
                };
                request.code_challenge = Some(challenge);
            }
        }
    }
    // RFC 9449 §10: the code is bound to a DPoP key; its thumbprint is a SHA-256, base64url.
    if let Some(jkt) = params.get("dpop_jkt") {
        let well_formed = jkt.len() == 43 && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed || response_type != ResponseType::Code {
            return fail(ErrorCode::InvalidRequest, "dpop_jkt must be a key thumbprint, with response_type=code");
        }
        request.dpop_jkt = Some(jkt.to_owned());
    }
    // OpenID Connect Core §3.1.2.1.
    request.nonce = params.get("nonce").map(str::to_owned);
    request.login_hint = params.get("login_hint").map(str::to_owned);
    if let Some(max_age) = params.get("max_age") {
        let Ok(max_age) = max_age.parse::<u64>() else {
            return fail(ErrorCode::InvalidRequest, "max_age must be a number of seconds");
        };
        request.max_age = Some(max_age);
    }
    if let Some(prompt) = params.get("prompt") {
        let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
        if values.iter().any(|v| !PROMPTS.contains(v)) {
            return fail(ErrorCode::InvalidRequest, "prompt has an unknown value");
        }
        if values.contains(&"none") && values.len() > 1 {
            return fail(ErrorCode::InvalidRequest, "prompt=none cannot be combined with other values");
        }
        if values == ["none"] {
            // §3.1.2.6: no page may be shown, and this server shows a login page at every request.
            return fail(ErrorCode::LoginRequired, "the user must log in, and prompt=none allows no page");
        }
        request.prompt = values.into_iter().map(str::to_owned).collect();
    }
    Ok(request)
}

impl<S: Store> AuthorizationServer<S> {
    fn error_redirect(&self, request: &AuthorizationRequest, error: ErrorResponse) -> AuthorizeError {
        let mut params = vec![("error", error.error.as_str())];
        if let Some(d) = &error.error_description {
            params.push(("error_description", d));
        }
        if let Some(s) = &request.state {
            params.push(("state", s));
        }
        params.push(("iss", &self.config.issuer));
        let location = respond_to(&request.redirect_uri, request.response_type == ResponseType::Token, &params);
        AuthorizeError::Redirect { error, location }
    }

    /// Validates an authorization request from its query string (RFC 6749 §4.1.1, §4.2.1): parse → look the client
    /// up → check the redirect URI → check the rest. On success the app authenticates the user, asks consent
    /// (showing `client_name` and `scope`), then calls [`approve`](Self::approve) or [`deny`](Self::deny).
    ///
    /// A query with `client_id` and `request_uri` names a request pushed to `/par` (RFC 9126 §4): its pushed
    /// parameters are used and any others in the query are ignored. The `request_uri` works once, for the client
    /// that pushed it, until it expires at `now`; otherwise the answer is an error page (the redirect URI cannot be
    /// trusted then). A client that must push its requests
    /// ([`RegisteredClient::require_pushed_authorization_requests`], or
    /// [`ServerConfig::require_pushed_authorization_requests`]) is refused any other request with `invalid_request`.
    pub async fn authorization_request(
        &self,
        query: &str,
        now: SystemTime,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        if query.len() > self.config.max_body_bytes {
            return Err(AuthorizeError::Page("The request is too large.".into()));
        }
        let params = FormParams::parse(query.as_bytes())
            .map_err(|e| AuthorizeError::Page(format!("The request is malformed: {}.", shown(&e.to_string()))))?;
        let client_id =
            params.get("client_id").ok_or_else(|| AuthorizeError::Page("The request names no client.".into()))?;
        let client = self.store.client(client_id).await.map_err(|_| unavailable())?.ok_or_else(|| {
            AuthorizeError::Page(format!("The application \"{}\" is not registered here.", shown(client_id)))
        })?;
        if let Some(request_uri) = params.get("request_uri") {
            return self.pushed_request(&client, request_uri, now).await;
        }
        if client.require_pushed_authorization_requests || self.config.require_pushed_authorization_requests {
            // Before any other check: whatever else is wrong with it, this request should not have been sent.
            let request = started(&client, &params)?;
            let e = ErrorResponse::new(ErrorCode::InvalidRequest)
                .with_description("this client must push its authorization requests (RFC 9126)");
            return Err(self.error_redirect(&request, e));
        }
        self.validate(&client, &params)
    }

    /// Checks the parameters of an authorization request by `client`, from the query or from `/par`: first the
    /// redirect URI (a refusal is a page), then the rest (a refusal goes back to the client).
    pub(crate) fn validate(
        &self,
        client: &RegisteredClient,
        params: &FormParams,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let request = started(client, params)?;
        let scope = self.resolve_scope(client, params.get("scope"));
        check_request(&self.config, client, params, scope, request.clone())
            .map_err(|error| self.error_redirect(&request, error))
    }

    /// The request pushed as `request_uri` (RFC 9126 §4), taken from the store (it works once) if it is `client`'s
    /// and unexpired, and if it still holds for the client's registration.
    async fn pushed_request(
        &self,
        client: &RegisteredClient,
        request_uri: &str,
        now: SystemTime,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let refused = || {
            AuthorizeError::Page(
                "The request_uri is unknown, was used already, has expired, or is another application's; start \
                 again from the application."
                    .into(),
            )
        };
        if !request_uri.starts_with(super::par::REQUEST_URI_PREFIX) || request_uri.len() > MAX_ECHOED {
            return Err(refused());
        }
        let taken = self.store.take_pushed_request(&SecretHash::of(request_uri), &client.id, now).await;
        let request = taken.map_err(|_| unavailable())?.ok_or_else(refused)?.request;
        // The registration may have changed since it was pushed.
        self.revalidate(&request).await?;
        Ok(request)
    }

    /// The user allowed the request: issue a code (or, for the implicit grant, a token) and redirect back with it,
    /// `state` and `iss`. `granted` may narrow the scope asked for; `None` grants all of it. `subject` identifies
    /// the user, who logged in for this request (OpenID Connect's `auth_time` is `now`); an app that keeps login
    /// sessions says when the user logged in with [`approve_with_login`](Self::approve_with_login).
    pub async fn approve(
        &self,
        request: &AuthorizationRequest,
        subject: &str,
        granted: Option<Scope>,
        now: SystemTime,
    ) -> Result<http::Response<Vec<u8>>, AuthorizeError> {
        self.approve_with_login(request, subject, granted, now, now).await
    }

    /// [`approve`](Self::approve) for a user who logged in at `logged_in_at` (the id_token's `auth_time`). A login
    /// older than the request's `max_age` is refused with `login_required` (OIDC Core §3.1.2.1): the app should
    /// have asked the user to log in again.
    pub async fn approve_with_login(
        &self,
        request: &AuthorizationRequest,
        subject: &str,
        granted: Option<Scope>,
        logged_in_at: SystemTime,
        now: SystemTime,
    ) -> Result<http::Response<Vec<u8>>, AuthorizeError> {
        self.revalidate(request).await?;
        if let Some(max_age) = request.max_age
            && now.duration_since(logged_in_at).is_ok_and(|age| age.as_secs() > max_age)
        {
            let e = ErrorResponse::new(ErrorCode::LoginRequired).with_description("the login is older than max_age");
            return Err(self.error_redirect(request, e));
        }
        let scope = match granted {
            Some(g) if g.is_subset_of(&request.scope) => g,
            Some(_) => {
                let e = ErrorResponse::new(ErrorCode::InvalidScope).with_description("granted more than was asked");
                return Err(self.error_redirect(request, e));
            }
            None => request.scope.clone(),
        };
        // The user logged in for this very request (design.md §4): that login's time is `auth_time`.
        let grant = Grant {
            id: self.new_grant_id(now),
            client_id: request.client_id.clone(),
            subject: Some(subject.to_owned()),
            scope: scope.clone(),
            auth_time: Some(logged_in_at),
            resources: request.resources.clone(),
            jkt: request.dpop_jkt.clone(),
        };
        let scope_s = scope.to_string();
        let store_failed = |_| {
            self.error_redirect(
                request,
                ErrorResponse::new(ErrorCode::TemporarilyUnavailable).with_description("storage unavailable"),
            )
        };
        let mut params: Vec<(&str, &str)> = Vec::new();
        let (code, access, expires_in);
        match request.response_type {
            ResponseType::Code => {
                code = self.new_secret();
                let record = CodeRecord {
                    grant,
                    redirect_uri: request.redirect_uri_given.then(|| request.redirect_uri.clone()),
                    challenge: request.code_challenge.clone(),
                    nonce: request.nonce.clone(),
                    expires_at: later(now, self.config.code_lifetime),
                };
                self.store.store_code(SecretHash::of(&code), record).await.map_err(store_failed)?;
                params.push(("code", &code));
            }
            ResponseType::Token => {
                let minted = self.mint_access(grant, true, now).await.map_err(|e| {
                    self.error_redirect(request, ErrorResponse::new(e.code().clone()).with_description("no token"))
                })?;
                access = minted.token;
                if let Some(stored) = minted.stored {
                    self.store.store_tokens(stored, None).await.map_err(store_failed)?;
                }
                expires_in = self.config.current_access_token_lifetime().as_secs().to_string();
                params.extend([
                    ("access_token", access.as_str()),
                    ("token_type", "Bearer"),
                    ("expires_in", expires_in.as_str()),
                ]);
                if !scope_s.is_empty() {
                    params.push(("scope", scope_s.as_str()));
                }
            }
        }
        if let Some(s) = &request.state {
            params.push(("state", s));
        }
        params.push(("iss", &self.config.issuer));
        Ok(redirect(&respond_to(&request.redirect_uri, request.response_type == ResponseType::Token, &params)))
    }

    /// The user denied the request: redirect back with `access_denied` (§4.1.2.1).
    pub async fn deny(&self, request: &AuthorizationRequest) -> http::Response<Vec<u8>> {
        if let Err(e) = self.revalidate(request).await {
            return e.into_response();
        }
        let e = ErrorResponse::new(ErrorCode::AccessDenied).with_description("the user denied the request");
        self.error_redirect(request, e).into_response()
    }

    /// Checks a request coming back from the app against the registration again: it may have been stored where
    /// the user could edit it (a cookie), and must not become an open redirect, a scope escalation or a PKCE
    /// downgrade (RFC 6749 §10.15, RFC 9700 §4.1).
    async fn revalidate(&self, request: &AuthorizationRequest) -> Result<(), AuthorizeError> {
        let client = self.store.client(&request.client_id).await.map_err(|_| unavailable())?.ok_or_else(|| {
            AuthorizeError::Page(format!("The application \"{}\" is not registered here.", shown(&request.client_id)))
        })?;
        // The scope must be one the policy would grant for itself (for the default policy: within the registration).
        let scope = if request.scope.is_empty() {
            Ok(Scope::empty())
        } else {
            self.resolve_scope(&client, Some(&request.scope.to_string()))
        };
        if still_valid(&self.config, &client, request, scope) {
            Ok(())
        } else {
            Err(AuthorizeError::Page("The authorization request was altered; start again from the application.".into()))
        }
    }
}

/// Whether a request kept by the app still holds for `client` as registered now (RFC 6749 §10.15): its redirect
/// URI, a grant the server offers and the client may use, its scope as the policy decides it now (`scope`), and
/// PKCE as the registration requires.
pub(crate) fn still_valid(
    config: &ServerConfig,
    client: &RegisteredClient,
    request: &AuthorizationRequest,
    scope: Result<Scope, OAuthError>,
) -> bool {
    let grant = request.response_type.grant();
    let redirect_ok = redirect_uri_allowed(client, &request.redirect_uri)
        && (request.redirect_uri_given || client.redirect_uris.len() == 1);
    let pkce_ok = request.response_type != ResponseType::Code
        || match &request.code_challenge {
            None => client.is_confidential(),
            Some(c) => c.method() == PkceMethod::S256 || client.allow_plain_pkce,
        };
    // As sets: a policy may return the tokens in another order.
    let scope_ok = scope.is_ok_and(|s| s.is_subset_of(&request.scope) && request.scope.is_subset_of(&s));
    // Echoed values stay bounded, and prompt=none never gets this far.
    let oidc_ok = [&request.state, &request.nonce, &request.login_hint]
        .into_iter()
        .all(|v| v.as_ref().is_none_or(|v| v.len() <= MAX_ECHOED))
        && !request.prompt.iter().any(|p| p == "none");
    // The resources too: each as the request form would have accepted it, and still within the registration.
    let resources_ok = request.resources.len() <= resource::MAX_RESOURCES
        && request.resources.iter().all(|r| resource::is_resource(r))
        && resource::allowed(client, request.resources.clone()).is_ok();
    // The server must still offer the grant: a request kept in a cookie could be edited to response_type=token.
    redirect_ok
        && config.grant_types.contains(&grant)
        && client.allows(grant)
        && scope_ok
        && pkce_ok
        && oidc_ok
        && resources_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native() -> RegisteredClient {
        RegisteredClient::public("native").redirect_uris(["http://127.0.0.1/callback"]).scopes("read")
    }

    fn web() -> RegisteredClient {
        RegisteredClient::confidential("web", "s").redirect_uris(["https://app.example/cb", "https://app.example/cb2"])
    }

    fn params(q: &str) -> FormParams {
        FormParams::parse(q.as_bytes()).unwrap()
    }

    fn blank(client: &RegisteredClient, redirect_uri: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: client.id.clone(),
            client_name: None,
            redirect_uri: redirect_uri.into(),
            redirect_uri_given: true,
            response_type: ResponseType::Code,
            scope: Scope::empty(),
            state: None,
            code_challenge: None,
            nonce: None,
            login_hint: None,
            max_age: None,
            prompt: Vec::new(),
            resources: Vec::new(),
            dpop_jkt: None,
        }
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc6749_4_1_2_1_an_untrusted_redirect_is_a_page_naming_what_was_refused() {
        let e = trusted_redirect(&web(), Some("https://evil.example/<cb>")).unwrap_err();
        assert!(matches!(e, AuthorizeError::Page(_)));
        let text = e.to_string();
        assert!(text.contains("https://evil.example/<cb>") && text.contains("\"web\""), "{text}");
        let page = String::from_utf8(e.into_response().body().clone()).unwrap();
        assert!(page.contains("https://evil.example/&lt;cb&gt;"), "escaped on the page: {page}");
        let e = trusted_redirect(&web(), None).unwrap_err();
        assert!(e.to_string().contains("has 2 registered"), "{e}");
        assert_eq!(trusted_redirect(&native(), None).unwrap(), ("http://127.0.0.1/callback".into(), false));
        let control = trusted_redirect(&web(), Some("https://x\n\u{7}")).unwrap_err().to_string();
        assert!(
            !control.contains('\n') && control.contains("\\n"),
            "control characters are escaped for logs: {control}"
        );
    }

    #[test]
    fn rfc6749_4_1_2_1_echoed_values_are_bounded() {
        let config = ServerConfig::new("https://as.example");
        let client = web();
        let check = |q: String| {
            check_request(&config, &client, &params(&q), Ok(Scope::empty()), blank(&client, "https://app.example/cb"))
        };
        assert!(check(format!("response_type=code&state={}", "s".repeat(MAX_ECHOED))).is_ok());
        for name in ["state", "nonce", "login_hint"] {
            let e = check(format!("response_type=code&{name}={}", "s".repeat(MAX_ECHOED + 1))).unwrap_err();
            assert_eq!(e.error, ErrorCode::InvalidRequest, "{name}");
        }
    }

    #[test]
    fn oidc_core_3_1_2_1_nonce_login_hint_max_age_and_prompt_are_read() {
        let config = ServerConfig::new("https://as.example");
        let client = web();
        let check = |q: &str| {
            check_request(&config, &client, &params(q), Ok(Scope::empty()), blank(&client, "https://app.example/cb"))
        };
        let r =
            check("response_type=code&nonce=n-0S6_WzA2Mj&login_hint=alice&max_age=300&prompt=login%20consent").unwrap();
        assert_eq!(r.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert_eq!(r.login_hint.as_deref(), Some("alice"));
        assert_eq!(r.max_age, Some(300));
        assert_eq!(r.prompt, ["login", "consent"]);
        let plain = check("response_type=code").unwrap();
        assert_eq!((plain.nonce, plain.max_age, plain.prompt.len()), (None, None, 0));
        for bad in ["max_age=-1", "max_age=soon", "prompt=bogus", "prompt=none%20login"] {
            let e = check(&format!("response_type=code&{bad}")).unwrap_err();
            assert_eq!(e.error, ErrorCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn oidc_core_3_1_2_6_prompt_none_is_answered_login_required() {
        let config = ServerConfig::new("https://as.example");
        let client = web();
        let q = params("response_type=code&prompt=none&state=xyz");
        let e = check_request(&config, &client, &q, Ok(Scope::empty()), blank(&client, "https://app.example/cb"));
        assert_eq!(e.unwrap_err().error, ErrorCode::LoginRequired);
        // A request kept by the app that claims prompt=none is not approved.
        let mut kept = blank(&client, "https://app.example/cb");
        kept.prompt = vec!["none".into()];
        assert!(!still_valid(&config, &client, &kept, Ok(Scope::empty())));
    }

    #[test]
    fn rfc7636_4_4_1_public_clients_must_send_an_s256_challenge() {
        let config = ServerConfig::new("https://as.example");
        let client = native();
        let check = |q: &str| {
            check_request(
                &config,
                &client,
                &params(q),
                Ok(Scope::parse("read")),
                blank(&client, "http://127.0.0.1:9/callback"),
            )
        };
        let error = |q: &str| check(q).unwrap_err().error;
        assert_eq!(error("response_type=code"), ErrorCode::InvalidRequest, "no challenge");
        assert_eq!(
            error(&format!("response_type=code&code_challenge={CHALLENGE}")),
            ErrorCode::InvalidRequest,
            "plain"
        );
        assert_eq!(
            error("response_type=code&code_challenge=short&code_challenge_method=S256"),
            ErrorCode::InvalidRequest
        );
        assert_eq!(error("response_type=code&code_challenge_method=S256"), ErrorCode::InvalidRequest);
        let ok = check(&format!("response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S256")).unwrap();
        assert_eq!(ok.code_challenge.map(|c| c.method()), Some(PkceMethod::S256));
        assert_eq!(error("response_type=token"), ErrorCode::UnsupportedResponseType, "implicit is off by default");
        assert_eq!(error("response_type=code+id_token"), ErrorCode::UnsupportedResponseType);
    }

    #[test]
    fn rfc6749_10_15_a_kept_request_is_checked_against_the_registration_again() {
        let config = ServerConfig::new("https://as.example");
        let client = native();
        let mut request = blank(&client, "http://127.0.0.1:9/callback");
        request.scope = Scope::parse("read");
        request.code_challenge = Some(PkceChallenge::new(CHALLENGE, PkceMethod::S256).unwrap());
        assert!(still_valid(&config, &client, &request, Ok(Scope::parse("read"))));
        let mut evil = request.clone();
        evil.redirect_uri = "https://evil.example/cb".into();
        assert!(!still_valid(&config, &client, &evil, Ok(Scope::parse("read"))), "open redirect");
        let mut stripped = request.clone();
        stripped.code_challenge = None;
        assert!(!still_valid(&config, &client, &stripped, Ok(Scope::parse("read"))), "PKCE downgrade");
        let mut implicit = request.clone();
        implicit.response_type = ResponseType::Token;
        assert!(!still_valid(&config, &client, &implicit, Ok(Scope::parse("read"))), "a grant not offered");
        assert!(!still_valid(&config, &client, &request, Ok(Scope::parse("read write"))), "the scope changed");
        // RFC 8707: the resources, edited, must still be ones the request form would have taken.
        let mut resources = request.clone();
        resources.resources = vec!["https://api.example".into()];
        assert!(still_valid(&config, &client, &resources, Ok(Scope::parse("read"))));
        for bad in ["https://a.example https://b.example", "https://a.example/\u{0}", "/relative"] {
            resources.resources = vec![bad.into()];
            assert!(!still_valid(&config, &client, &resources, Ok(Scope::parse("read"))), "{bad}");
        }
        resources.resources = (0..9).map(|i| format!("https://r{i}.example")).collect();
        assert!(!still_valid(&config, &client, &resources, Ok(Scope::parse("read"))), "too many");
        let limited = native().resources(["https://api.example"]);
        resources.resources = vec!["https://other.example".into()];
        assert!(!still_valid(&config, &limited, &resources, Ok(Scope::parse("read"))), "outside the registration");
    }
}
