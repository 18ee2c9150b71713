//! Authorization requests and their callbacks: the code grant with PKCE (RFC 6749 §4.1, RFC 7636) and the legacy
//! implicit grant (§4.2), with `state` (§10.12) and `iss` (RFC 9207) checks.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{Client, RequestError, Token, checked_scope, response};
use crate::error::ErrorResponse;
use crate::form::FormParams;
use crate::grant::ResponseType;
use crate::pkce::{PkceChallenge, PkceMethod, PkceVerifier};
use crate::random::{CryptoRng, TOKEN_BYTES, random_token};
use crate::scope::Scope;
use crate::secret::{AuthorizationCode, State, constant_time_eq};

const RESERVED: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
];

/// An authorization request's URL being built: scope and extra parameters, then [`build`](Self::build) gives the
/// URL to send the browser to and the [`PendingAuthorization`] to keep.
#[must_use]
pub struct AuthorizationUrlBuilder<'a> {
    client: &'a Client,
    response_type: ResponseType,
    state: State,
    verifier: Option<(PkceVerifier, PkceMethod)>,
    scope: Scope,
    redirect_uri: Option<Url>,
    params: Vec<(String, String)>,
    /// Sent when the scope has `openid` (OIDC Core §3.1.2.1).
    nonce: String,
}

impl std::fmt::Debug for AuthorizationUrlBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // State and verifier are secrets with redacted Debug of their own.
        f.debug_struct("AuthorizationUrlBuilder")
            .field("client_id", &self.client.client_id)
            .field("response_type", &self.response_type)
            .field("state", &self.state)
            .field("scope", &self.scope)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl AuthorizationUrlBuilder<'_> {
    /// The scope to ask for (RFC 6749 §3.3). Without it the server applies its default.
    pub fn scope(mut self, scope: impl Into<Scope>) -> Self {
        self.scope = scope.into();
        self
    }

    /// An extra parameter a provider understands, such as `access_type=offline` or `prompt=consent`. Setting the
    /// same name again replaces the value: a request must not repeat a parameter (RFC 6749 §3.1).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match self.params.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.params.push((name, value)),
        }
        self
    }

    /// A redirect URI for this request only, such as a loopback URI whose port is known only now (RFC 8252 §7.3).
    pub fn redirect_uri(mut self, uri: Url) -> Self {
        self.redirect_uri = Some(uri);
        self
    }

    /// The URL to send the user's browser to, and the pending value to keep (in the user's session) until the
    /// callback comes back.
    pub fn build(self) -> Result<(Url, PendingAuthorization), RequestError> {
        let endpoint = self
            .client
            .authorization_endpoint
            .clone()
            .ok_or(RequestError::MissingEndpoint("authorization_endpoint"))?;
        let (params, pending) = self.parts()?;
        let mut url = endpoint;
        url.query_pairs_mut().extend_pairs(&params);
        Ok((url, pending))
    }

    /// The request to push instead (RFC 9126 §2.1): the same parameters, client-authenticated, in a POST to the
    /// pushed authorization request endpoint, and the pending value to keep. Send it, read the answer with
    /// [`Client::parse_pushed_authorization_response`], then send the browser to
    /// [`Client::pushed_authorization_url`].
    ///
    /// ```
    /// # use oauth2_core::{Client, random::OsRng};
    /// # use std::time::SystemTime;
    /// let client = Client::builder("app")
    ///     .secret("s3cret")
    ///     .authorization_endpoint("https://as.example/authorize")
    ///     .pushed_authorization_request_endpoint("https://as.example/par")
    ///     .redirect_uri("https://app.example/callback")
    ///     .build()?;
    /// let (push, pending) = client.authorization_request(&mut OsRng).scope("read").build_pushed()?;
    /// assert_eq!(push.uri(), "https://as.example/par");
    /// // ... POST it; the server answers 201:
    /// let answer = http::Response::builder().status(201).header("content-type", "application/json").body(
    ///     br#"{"request_uri":"urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c","expires_in":60}"#.to_vec(),
    /// )?;
    /// let pushed = client.parse_pushed_authorization_response(answer, SystemTime::now())?;
    /// let url = client.pushed_authorization_url(&pushed)?;
    /// assert_eq!(url.query(), Some("client_id=app&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A6esc_11ACC5bwc014ltc14eY22c"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build_pushed(self) -> Result<(http::Request<Vec<u8>>, PendingAuthorization), RequestError> {
        let client = self.client;
        let endpoint = client
            .pushed_authorization_request_endpoint
            .clone()
            .ok_or(RequestError::MissingEndpoint("pushed_authorization_request_endpoint"))?;
        let (mut params, pending) = self.parts()?;
        // Client authentication adds `client_id` to the body itself, except with Basic (RFC 9126 §2.1's example
        // still names the client there).
        if client.auth_method != super::ClientAuthMethod::ClientSecretBasic || client.secret.is_none() {
            params.retain(|(k, _)| *k != "client_id");
        }
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Ok((client.authenticated_post(&endpoint, &pairs), pending))
    }

    /// The request's parameters, in order, and the pending value.
    fn parts(self) -> Result<(Vec<(String, String)>, PendingAuthorization), RequestError> {
        let scope = checked_scope(self.scope)?;
        if let Some((name, _)) = self.params.iter().find(|(n, _)| RESERVED.contains(&n.as_str())) {
            return Err(RequestError::ReservedParameter(name.clone()));
        }
        let redirect_uri = self.redirect_uri.or_else(|| self.client.redirect_uri.clone());
        let mut params = vec![
            ("response_type", self.response_type.as_str().to_owned()),
            ("client_id", self.client.client_id.clone()),
        ];
        if let Some(r) = &redirect_uri {
            params.push(("redirect_uri", r.as_str().to_owned()));
        }
        if !scope.is_empty() {
            params.push(("scope", scope.to_string()));
        }
        params.push(("state", self.state.secret().to_owned()));
        if let Some((verifier, method)) = &self.verifier {
            params.push(("code_challenge", PkceChallenge::of(verifier, *method).as_str().to_owned()));
            params.push(("code_challenge_method", method.as_str().to_owned()));
        }
        if scope.contains("openid") {
            params.push(("nonce", self.nonce.clone()));
        }
        let mut params: Vec<(String, String)> = params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        params.extend(self.params);
        let pending = PendingAuthorization {
            response_type: self.response_type,
            state: self.state,
            pkce_verifier: self.verifier.map(|(v, _)| v),
            redirect_uri: redirect_uri.map(String::from),
            nonce: scope.contains("openid").then_some(self.nonce),
            scope,
        };
        Ok((params, pending))
    }
}

/// What the client keeps between sending the user away and the callback: `state`, the PKCE verifier, the redirect
/// URI and scope used. Serializable, so a web app can keep it in the user's session.
///
/// It holds secrets (the verifier): keep it server-side or in an encrypted session, never in a plain cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// `code` or `token`.
    pub response_type: ResponseType,
    /// The `state` sent; the callback must return it unchanged.
    pub state: State,
    /// The PKCE verifier, sent with the code at the token endpoint.
    pub pkce_verifier: Option<PkceVerifier>,
    /// The redirect URI sent, which the token request must repeat (§4.1.3).
    pub redirect_uri: Option<String>,
    /// The scope asked for; when the server's response omits `scope`, this is what was granted (§5.1).
    pub scope: Scope,
    /// The `nonce` sent with an OpenID Connect request (scope `openid`), which its id_token must carry back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// Why a callback (the redirect back from the authorization server) was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// `state` is missing or differs from the one sent: the response may be forged (CSRF, RFC 6749 §10.12).
    #[error("the callback's state does not match the request's (possible CSRF)")]
    StateMismatch,
    /// `iss` names another authorization server (a mix-up attack, RFC 9207 §2.4).
    #[error("the callback's iss `{received}` is not the expected issuer `{expected}`")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The `iss` received.
        received: String,
    },
    /// `iss` is required (RFC 9207 §2.4) but absent.
    #[error("the callback has no iss parameter, which this authorization server always sends")]
    MissingIssuer,
    /// The authorization server returned an error (RFC 6749 §4.1.2.1, §4.2.2.1).
    #[error("the authorization server refused: {0}")]
    Provider(ErrorResponse),
    /// A success response without `code` (§4.1.2).
    #[error("the callback has no code")]
    MissingCode,
    /// A parameter appears twice, or the implicit grant's token is malformed.
    #[error("malformed callback: {0}")]
    Malformed(String),
    /// The token request could not be built.
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl CallbackError {
    /// A short code for the error: the provider's RFC code, or one of ours (`state_mismatch`, `issuer_mismatch`,
    /// `missing_issuer`, `missing_code`, `invalid_callback`, `invalid_request`).
    pub fn code(&self) -> &str {
        match self {
            Self::StateMismatch => "state_mismatch",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::MissingIssuer => "missing_issuer",
            Self::Provider(e) => e.error.as_str(),
            Self::MissingCode => "missing_code",
            Self::Malformed(_) => "invalid_callback",
            Self::Request(_) => "invalid_request",
        }
    }
}

/// The parameters of a callback: the query of a redirect URL, or its fragment for the implicit grant. Accepts a
/// whole URL, a path with its query or fragment (`/callback?code=...`, as a web framework sees the request), or
/// just the query or fragment string.
fn callback_params(callback: &str, response_type: ResponseType) -> Result<FormParams, CallbackError> {
    let raw = match Url::parse(callback) {
        Ok(url) => match response_type {
            ResponseType::Code => url.query().unwrap_or("").to_owned(),
            ResponseType::Token => url.fragment().unwrap_or("").to_owned(),
        },
        Err(_) => {
            let (query, fragment) = match callback.split_once('#') {
                Some((before, fragment)) => (before, Some(fragment)),
                None => (callback, None),
            };
            match response_type {
                // The query is what follows `?`; a string with none is the query itself.
                ResponseType::Code => query.split_once('?').map_or(query, |(_, q)| q).to_owned(),
                ResponseType::Token => fragment.unwrap_or(query).to_owned(),
            }
        }
    };
    FormParams::parse(raw.as_bytes()).map_err(|e| CallbackError::Malformed(e.to_string()))
}

impl Client {
    /// Starts an authorization code request (RFC 6749 §4.1.1) with a fresh `state` and, unless turned off, a PKCE
    /// S256 challenge (RFC 7636 §4.3).
    ///
    /// ```
    /// # use oauth2_core::{Client, random::OsRng};
    /// let client = Client::builder("app")
    ///     .authorization_endpoint("https://as.example/authorize")
    ///     .token_endpoint("https://as.example/token")
    ///     .redirect_uri("http://127.0.0.1:8080/callback")
    ///     .build()?;
    /// let (url, pending) = client.authorization_request(&mut OsRng).scope("read").param("access_type", "offline").build()?;
    /// assert!(url.as_str().contains("code_challenge_method=S256"));
    /// // ... the browser comes back to the redirect URI:
    /// let callback = format!("http://127.0.0.1:8080/callback?code=abc&state={}", pending.state.secret());
    /// let token_request = client.finish_authorization(&pending, &callback)?;
    /// assert_eq!(token_request.method(), "POST");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authorization_request<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> AuthorizationUrlBuilder<'_> {
        let state = State::new(random_token(rng, TOKEN_BYTES));
        let verifier = self.pkce.map(|m| (PkceVerifier::generate(rng), m));
        let nonce = random_token(rng, TOKEN_BYTES);
        self.start(ResponseType::Code, state, verifier, nonce)
    }

    /// Starts an implicit grant request (RFC 6749 §4.2.1). Legacy: RFC 9700 §2.1.2 says clients should use the
    /// code grant with PKCE instead; this exists for servers that offer nothing else.
    pub fn implicit_request<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> AuthorizationUrlBuilder<'_> {
        let state = State::new(random_token(rng, TOKEN_BYTES));
        let nonce = random_token(rng, TOKEN_BYTES);
        self.start(ResponseType::Token, state, None, nonce)
    }

    fn start(
        &self,
        response_type: ResponseType,
        state: State,
        verifier: Option<(PkceVerifier, PkceMethod)>,
        nonce: String,
    ) -> AuthorizationUrlBuilder<'_> {
        AuthorizationUrlBuilder {
            client: self,
            response_type,
            state,
            verifier,
            scope: Scope::empty(),
            redirect_uri: None,
            params: Vec::new(),
            nonce,
        }
    }

    /// Checks a callback's `state`, then `iss`, then `error`: the checks every authorization response gets.
    fn check_callback(&self, pending: &PendingAuthorization, params: &FormParams) -> Result<(), CallbackError> {
        let state = params.get("state").unwrap_or("");
        // An empty pending state (a hand-made or corrupted value) matches nothing: it would accept any callback
        // without a state, which is exactly the CSRF §10.12 guards against.
        let expected = pending.state.secret();
        if expected.is_empty() || !constant_time_eq(state.as_bytes(), expected.as_bytes()) {
            return Err(CallbackError::StateMismatch);
        }
        match (params.get("iss"), &self.issuer) {
            (Some(received), Some(expected)) if received != expected => {
                return Err(CallbackError::IssuerMismatch {
                    expected: expected.clone(),
                    received: received.to_owned(),
                });
            }
            (None, Some(_)) if self.require_issuer => return Err(CallbackError::MissingIssuer),
            _ => {}
        }
        if let Some(error) = params.get("error") {
            return Err(CallbackError::Provider(ErrorResponse {
                error: crate::error::ErrorCode::parse(error),
                error_description: params.get("error_description").map(str::to_owned),
                error_uri: params.get("error_uri").map(str::to_owned),
            }));
        }
        Ok(())
    }

    /// Checks an authorization code callback (RFC 6749 §4.1.2) and returns its code.
    pub fn parse_callback(
        &self,
        pending: &PendingAuthorization,
        callback: &str,
    ) -> Result<AuthorizationCode, CallbackError> {
        if pending.response_type != ResponseType::Code {
            return Err(RequestError::WrongFlow(pending.response_type.as_str()).into());
        }
        let params = callback_params(callback, ResponseType::Code)?;
        self.check_callback(pending, &params)?;
        params.get("code").map(AuthorizationCode::new).ok_or(CallbackError::MissingCode)
    }

    /// The token request that redeems `code` (RFC 6749 §4.1.3, RFC 7636 §4.5).
    pub fn exchange_code(
        &self,
        pending: &PendingAuthorization,
        code: &AuthorizationCode,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let mut params = vec![("grant_type", "authorization_code"), ("code", code.secret())];
        if let Some(r) = &pending.redirect_uri {
            params.push(("redirect_uri", r));
        }
        if let Some(v) = &pending.pkce_verifier {
            params.push(("code_verifier", v.secret()));
        }
        self.token_endpoint_request(&params)
    }

    /// Checks the callback and builds the code exchange: [`parse_callback`](Self::parse_callback) then
    /// [`exchange_code`](Self::exchange_code). Send the request and parse the answer with
    /// [`parse_token_response`](Self::parse_token_response).
    pub fn finish_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &str,
    ) -> Result<http::Request<Vec<u8>>, CallbackError> {
        let code = self.parse_callback(pending, callback)?;
        Ok(self.exchange_code(pending, &code)?)
    }

    /// Checks an implicit grant callback (RFC 6749 §4.2.2): the token is in the URL's fragment.
    pub fn finish_implicit(
        &self,
        pending: &PendingAuthorization,
        callback: &str,
        now: SystemTime,
    ) -> Result<Token, CallbackError> {
        if pending.response_type != ResponseType::Token {
            return Err(RequestError::WrongFlow(pending.response_type.as_str()).into());
        }
        let params = callback_params(callback, ResponseType::Token)?;
        self.check_callback(pending, &params)?;
        let mut fields = params.to_json();
        fields.remove("state");
        fields.remove("iss");
        // Fragment values are strings by nature: a numeric `expires_in` is a number here, whatever the mode.
        if let Some(serde_json::Value::String(e)) = fields.get("expires_in")
            && let Ok(secs) = e.parse::<u64>()
        {
            fields.insert("expires_in".into(), secs.into());
        }
        let mut token = response::token_from_fields(fields, now, self.lenient).map_err(CallbackError::Malformed)?;
        if token.scope.is_none() && !pending.scope.is_empty() {
            token.scope = Some(pending.scope.clone());
        }
        Ok(token)
    }
}
