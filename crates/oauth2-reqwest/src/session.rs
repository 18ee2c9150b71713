//! The session: tokens from every grant, authorized requests, automatic single-flight refresh.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http::header::AUTHORIZATION;
use oauth2_core::client::{BearerChallenge, DeviceAuthorization, DevicePoll, DeviceStep};
use oauth2_core::dpop::DpopKey;
use oauth2_core::introspection::{Introspection, TokenTypeHint};
use oauth2_core::random::OsRng;
use oauth2_core::{Client, Password, PendingAuthorization, Scope, Token};
use reqwest::{IntoUrl, Method};
use url::Url;

use crate::{DpopSigner, Error, execute, http_client};

type TokenCallback = Arc<dyn Fn(&Token) + Send + Sync>;

/// How an expired token can be replaced.
#[derive(Clone)]
enum Renewal {
    /// Only by its refresh token, if it has one.
    RefreshToken,
    /// By asking for a new client-credentials token (that grant issues no refresh token, §4.4.3).
    ClientCredentials(Scope),
}

struct TokenState {
    token: Option<Token>,
    /// Bumped whenever the token changes. A refresh lands only on the generation it started from, so a logout or a
    /// `set_token` during a refresh wins, and waiters can tell that a refresh already happened (even when a server
    /// returns the same access token with a new refresh token).
    generation: u64,
    /// When the session obtained the current token itself, to bound the early-refresh margin by its lifetime.
    /// `None` for a token handed in (restored from storage), whose lifetime is unknown.
    obtained_at: Option<SystemTime>,
    renewal: Renewal,
    /// The last renewal failure. Requests that were already waiting for that attempt share it instead of each
    /// trying again; requests that come later try again.
    failed: Option<Failure>,
}

struct Failure {
    generation: u64,
    at: Instant,
    error: Arc<Error>,
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) http: reqwest::Client,
    state: Mutex<TokenState>,
    refresh_lock: tokio::sync::Mutex<()>,
    on_refresh: Option<TokenCallback>,
    margin: Duration,
    allow_insecure_http: bool,
    par: bool,
    dpop: Option<DpopSigner>,
    pub(crate) jwks: tokio::sync::Mutex<crate::oidc::JwksCache>,
    pub(crate) id_token: Mutex<Option<oauth2_core::client::IdTokenClaims>>,
}

/// A device flow under way (RFC 8628): the codes to show, and [`wait`](Self::wait), which polls for the token.
pub struct DeviceFlow {
    session: Session,
    /// What to show the user: [`verification_uri`](DeviceAuthorization::verification_uri) and
    /// [`user_code`](DeviceAuthorization::user_code), or
    /// [`verification_uri_complete`](DeviceAuthorization::verification_uri_complete) as a link or QR code.
    pub codes: DeviceAuthorization,
    received_at: SystemTime,
}

impl std::fmt::Debug for DeviceFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceFlow").field("codes", &self.codes).finish_non_exhaustive()
    }
}

impl DeviceFlow {
    /// Polls the token endpoint at the server's interval (growing by 5 s at each `slow_down`, backing off when the
    /// server cannot be reached) until the user answers or the codes expire. The token goes to the session, which
    /// refreshes it like any other. Drop the future to cancel: nothing is left behind.
    pub async fn wait(self) -> Result<Token, Error> {
        let client = &self.session.inner.client;
        let mut poll = DevicePoll::new(&self.codes, self.received_at);
        loop {
            let wait = poll.next_poll_at().duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(wait).await;
            let request = client.device_token_request(&self.codes)?;
            let step = match self.session.send(request).await {
                Ok(response) => poll.on_response(client, response, SystemTime::now()),
                Err(Error::Http(e)) => {
                    tracing::debug!(error = %e, "device token request failed; backing off");
                    poll.on_unreachable(SystemTime::now())
                }
                Err(e) => return Err(e),
            };
            match step {
                DeviceStep::PollAt(_) => {}
                DeviceStep::Token(token) => {
                    self.session.store(token.clone(), Renewal::RefreshToken);
                    return Ok(token);
                }
                DeviceStep::Failed(e) => return Err(e.into()),
                _ => return Err(Error::NoToken),
            }
        }
    }
}

/// An OAuth 2.0 client session: gets tokens with any grant, sends requests with the token attached, and refreshes
/// it when needed.
///
/// Cheap to clone: clones share the token, so refresh happens once for all of them. Refresh happens
/// - before a request, when the token expires within the margin (30 s by default);
/// - once after a `401` whose `WWW-Authenticate: Bearer` challenge says `invalid_token`, then the request is retried.
///
/// Concurrent requests that find the same stale token wait for one refresh. Each refreshed token is passed to the
/// [`on_refresh`](SessionBuilder::on_refresh) callback so the app can save it. A failed refresh is an
/// [`Error::RefreshFailed`] (shared by the requests that waited for it; later requests try again); the session never
/// starts a new authorization on its own. An early refresh that fails while the token is still valid is logged and
/// the request goes out with the current token.
///
/// A session holds one token: one per user in a web app (they can share one `reqwest::Client`), or one for a
/// backend service.
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("client", &self.inner.client).field("margin", &self.inner.margin).finish()
    }
}

/// Configures a [`Session`]; see [`Session::builder`].
#[must_use]
pub struct SessionBuilder {
    client: Client,
    http: Option<reqwest::Client>,
    token: Option<Token>,
    on_refresh: Option<TokenCallback>,
    margin: Duration,
    allow_insecure_http: bool,
    par: bool,
    dpop: Option<DpopKey>,
}

impl std::fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionBuilder")
            .field("client", &self.client)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl SessionBuilder {
    /// The reqwest client to use (default: [`http_client`]), for proxies or custom TLS. Build yours with
    /// `redirect(reqwest::redirect::Policy::none())` and a timeout: token requests must not follow redirects (a
    /// client that does is refused with [`Error::Redirected`] once it has), and its timeouts are the ones used.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// A token saved earlier, to resume with.
    pub fn token(mut self, token: Token) -> Self {
        self.token = Some(token);
        self
    }

    /// Called with every refreshed token, so the app can save it.
    pub fn on_refresh(mut self, callback: impl Fn(&Token) + Send + Sync + 'static) -> Self {
        self.on_refresh = Some(Arc::new(callback));
        self
    }

    /// How long before expiry to refresh (default 30 s, and never more than half the token's lifetime, so a
    /// short-lived token is not refreshed on every request).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Allows sending the token to plain-http URLs on hosts other than loopback (RFC 6750 §5.3 says not to).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Pushes every authorization request first (RFC 9126): [`start_authorization`](Session::start_authorization)
    /// then posts it to the server's pushed authorization request endpoint, and the browser carries only
    /// `client_id` and the `request_uri`. A session does this by itself when the server's metadata says
    /// `require_pushed_authorization_requests: true`; a per-client requirement cannot be seen beforehand: set this.
    pub fn par(mut self, yes: bool) -> Self {
        self.par = yes;
        self
    }

    /// Proves possession of `key` (RFC 9449): every token request and pushed authorization request carries a fresh
    /// DPoP proof, so the tokens are bound to the key (`token_type: DPoP`); every API call with such a token sends
    /// `Authorization: DPoP` and a proof with `ath`. A server's nonce (`DPoP-Nonce`) is remembered per server, and a
    /// `use_dpop_nonce` answer is retried once with it. Refreshes keep the key, as a public client's refresh token
    /// requires. Keep the key with the token ([`DpopKey::to_private_jwk`]) to resume later.
    ///
    /// ```
    /// use oauth2_core::dpop::DpopKey;
    /// use oauth2_core::jose::Algorithm;
    /// let client = oauth2_core::Client::builder("app").token_endpoint("https://as.example/token").build()?;
    /// let key = DpopKey::generate(Algorithm::Es256, &mut oauth2_core::random::OsRng)?;
    /// let session = oauth2_reqwest::Session::builder(client).dpop(key).build()?;
    /// assert!(session.dpop_key().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// Builds the session. Fails only if the default HTTP client cannot be built (no TLS backend).
    pub fn build(self) -> Result<Session, Error> {
        let http = match self.http {
            Some(http) => http,
            None => http_client()?,
        };
        let state = TokenState {
            token: self.token,
            generation: 0,
            obtained_at: None,
            renewal: Renewal::RefreshToken,
            failed: None,
        };
        Ok(Session {
            inner: Arc::new(Inner {
                client: self.client,
                http,
                state: Mutex::new(state),
                refresh_lock: tokio::sync::Mutex::new(()),
                on_refresh: self.on_refresh,
                jwks: tokio::sync::Mutex::default(),
                id_token: Mutex::new(None),
                margin: self.margin,
                allow_insecure_http: self.allow_insecure_http,
                par: self.par,
                dpop: self.dpop.map(DpopSigner::new),
            }),
        })
    }
}

impl Session {
    /// A session for `client` with the default HTTP client and settings.
    pub fn new(client: Client) -> Result<Self, Error> {
        Self::builder(client).build()
    }

    /// Configures a session for `client`.
    pub fn builder(client: Client) -> SessionBuilder {
        SessionBuilder {
            client,
            http: None,
            token: None,
            on_refresh: None,
            margin: Duration::from_secs(30),
            allow_insecure_http: false,
            par: false,
            dpop: None,
        }
    }

    /// The DPoP key, when the session proves possession of one ([`SessionBuilder::dpop`]).
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.inner.dpop.as_ref().map(DpopSigner::key)
    }

    /// The client configuration, for anything the conveniences here do not cover (the core's full API).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The reqwest client in use.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.inner.http
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenState> {
        // The state is replaced whole under the lock, so a panic elsewhere cannot leave it half-written.
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current token, if any.
    pub fn token(&self) -> Option<Token> {
        self.lock().token.clone()
    }

    /// Replaces the token (for example with one loaded from storage).
    pub fn set_token(&self, token: Token) {
        self.store(token, Renewal::RefreshToken);
        self.lock().obtained_at = None;
    }

    /// Forgets the token (for logout). Revoke it first with [`revoke`](Self::revoke) if the server supports it.
    pub fn clear_token(&self) {
        let mut st = self.lock();
        st.token = None;
        st.generation += 1;
        st.failed = None;
    }

    fn store(&self, token: Token, renewal: Renewal) {
        let mut st = self.lock();
        st.token = Some(token);
        st.generation += 1;
        st.obtained_at = Some(SystemTime::now());
        st.renewal = renewal;
        st.failed = None;
    }

    /// Sends a request to the authorization server. With a DPoP key, a token request or pushed authorization
    /// request gets a fresh proof (RFC 9449 §5, §10.1), and is sent once more when the server asks for its nonce.
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Error> {
        match self.inner.dpop.as_ref().filter(|_| self.proves(&request)) {
            Some(dpop) => dpop.execute(&self.inner.http, request, None).await,
            None => execute(&self.inner.http, request).await,
        }
    }

    /// An authorization code request for `scope`; with a DPoP key, the code is bound to it (`dpop_jkt`, RFC 9449
    /// §10), so only this key's holder can redeem it.
    fn code_request(&self, scope: impl Into<Scope>) -> oauth2_core::client::AuthorizationUrlBuilder<'_> {
        let request = self.inner.client.authorization_request(&mut OsRng).scope(scope);
        match &self.inner.dpop {
            Some(dpop) => request.param("dpop_jkt", dpop.key().thumbprint()),
            None => request,
        }
    }

    /// Whether `request` is one a DPoP proof goes with: to the token endpoint or the pushed authorization request
    /// endpoint.
    fn proves(&self, request: &http::Request<Vec<u8>>) -> bool {
        let client = &self.inner.client;
        let Ok(to) = Url::parse(&request.uri().to_string()) else { return false };
        [client.token_endpoint(), client.pushed_authorization_request_endpoint()]
            .into_iter()
            .flatten()
            .any(|endpoint| *endpoint == to)
    }

    // ---- grants ----

    /// Whether this session pushes its authorization requests: [`SessionBuilder::par`], or the server's metadata
    /// requires it (RFC 9126 §5).
    pub fn pushes_authorization_requests(&self) -> bool {
        self.inner.par || self.inner.client.requires_pushed_authorization_requests()
    }

    /// Starts an authorization code request with PKCE and `state`: send the user to the URL, keep the pending value
    /// in their session. It is pushed first (RFC 9126) when the session [pushes its
    /// requests](Self::pushes_authorization_requests), and sent in the URL otherwise.
    ///
    /// ```no_run
    /// # async fn run(session: oauth2_reqwest::Session) -> Result<(), oauth2_reqwest::Error> {
    /// let (url, pending) = session.start_authorization("openid profile").await?;
    /// // redirect the browser to `url`; keep `pending` in the user's session for the callback
    /// # Ok(()) }
    /// ```
    pub async fn start_authorization(&self, scope: impl Into<Scope>) -> Result<(Url, PendingAuthorization), Error> {
        if self.pushes_authorization_requests() {
            self.pushed_authorization_url(scope).await
        } else {
            Ok(self.code_request(scope).build()?)
        }
    }

    /// [`start_authorization`](Self::start_authorization) without I/O, for a session that does not push its
    /// requests: the request travels in the URL. A session that pushes them refuses with [`Error::PushRequired`].
    /// For extra parameters use the core builder:
    /// `session.client().authorization_request(&mut OsRng).param("prompt", "consent").build()`.
    pub fn authorization_url(&self, scope: impl Into<Scope>) -> Result<(Url, PendingAuthorization), Error> {
        if self.pushes_authorization_requests() {
            return Err(Error::PushRequired);
        }
        Ok(self.code_request(scope).build()?)
    }

    /// Pushes an authorization code request with PKCE and `state` to the server (RFC 9126 §2), client-authenticated,
    /// and returns the URL to send the user to, which carries only `client_id` and the `request_uri`, with the
    /// pending value to keep, as for [`authorization_url`](Self::authorization_url). The `request_uri` works once,
    /// and briefly (the server's `expires_in`, often a minute): push when the user is about to go.
    pub async fn pushed_authorization_url(
        &self,
        scope: impl Into<Scope>,
    ) -> Result<(Url, PendingAuthorization), Error> {
        let client = &self.inner.client;
        let (push, pending) = self.code_request(scope).build_pushed()?;
        let response = self.send(push).await?;
        let pushed = client.parse_pushed_authorization_response(response, SystemTime::now())?;
        Ok((client.pushed_authorization_url(&pushed)?, pending))
    }

    /// Checks the callback URL (state, iss, error) and redeems the code for a token, which the session keeps.
    pub async fn finish_authorization(
        &self,
        pending: &PendingAuthorization,
        callback_url: &str,
    ) -> Result<Token, Error> {
        let request = self.inner.client.finish_authorization(pending, callback_url)?;
        let response = self.send(request).await?;
        let mut token = self.inner.client.parse_token_response(response, SystemTime::now())?;
        if token.scope.is_none() && !pending.scope.is_empty() {
            token.scope = Some(pending.scope.clone());
        }
        // OpenID Connect: the id_token is checked before the session takes the token (OIDC Core §3.1.3.7).
        self.check_login_id_token(pending, &token).await?;
        self.store(token.clone(), Renewal::RefreshToken);
        Ok(token)
    }

    /// Starts an implicit grant request (legacy, RFC 9700 §2.1.2: prefer [`authorization_url`](Self::authorization_url)).
    /// A session that pushes its requests refuses with [`Error::PushRequired`], as
    /// [`authorization_url`](Self::authorization_url) does.
    pub fn implicit_url(&self, scope: impl Into<Scope>) -> Result<(Url, PendingAuthorization), Error> {
        if self.pushes_authorization_requests() {
            return Err(Error::PushRequired);
        }
        Ok(self.inner.client.implicit_request(&mut OsRng).scope(scope).build()?)
    }

    /// Reads the token from an implicit grant callback URL's fragment; the session keeps it.
    pub fn finish_implicit(&self, pending: &PendingAuthorization, callback_url: &str) -> Result<Token, Error> {
        let token = self.inner.client.finish_implicit(pending, callback_url, SystemTime::now())?;
        self.store(token.clone(), Renewal::RefreshToken);
        Ok(token)
    }

    /// Starts the device authorization grant (RFC 8628): asks for the codes, which the returned [`DeviceFlow`]
    /// holds for the app to show; its [`wait`](DeviceFlow::wait) polls until the user answers.
    ///
    /// ```no_run
    /// # async fn run(session: oauth2_reqwest::Session) -> Result<(), oauth2_reqwest::Error> {
    /// let flow = session.device_authorization("read").await?;
    /// eprintln!("Open {} and enter {}", flow.codes.verification_uri, flow.codes.user_code);
    /// let token = flow.wait().await?; // the session keeps it, and refreshes it like any other
    /// # Ok(()) }
    /// ```
    pub async fn device_authorization(&self, scope: impl Into<Scope>) -> Result<DeviceFlow, Error> {
        let request = self.inner.client.device_authorization_request(scope)?;
        let response = self.send(request).await?;
        let received_at = SystemTime::now();
        let codes = self.inner.client.parse_device_authorization_response(response, received_at)?;
        Ok(DeviceFlow { session: self.clone(), codes, received_at })
    }

    /// Resource owner password credentials grant (legacy, RFC 9700 §2.4); the session keeps the token.
    pub async fn password(&self, username: &str, password: &str, scope: impl Into<Scope>) -> Result<Token, Error> {
        let request = self.inner.client.password_request(username, &Password::new(password), scope)?;
        let token = self.inner.client.parse_token_response(self.send(request).await?, SystemTime::now())?;
        self.store(token.clone(), Renewal::RefreshToken);
        Ok(token)
    }

    /// Client credentials grant; the session keeps the token and fetches a new one the same way when it expires.
    pub async fn client_credentials(&self, scope: impl Into<Scope>) -> Result<Token, Error> {
        let scope = scope.into();
        let token = self.fetch_client_credentials(&scope).await?;
        self.store(token.clone(), Renewal::ClientCredentials(scope));
        Ok(token)
    }

    async fn fetch_client_credentials(&self, scope: &Scope) -> Result<Token, Error> {
        let request = self.inner.client.client_credentials_request(scope)?;
        let mut token = self.inner.client.parse_token_response(self.send(request).await?, SystemTime::now())?;
        if token.scope.is_none() && !scope.is_empty() {
            token.scope = Some(scope.clone());
        }
        Ok(token)
    }

    /// Refreshes the token now (RFC 6749 §6) for the scope it was granted, and passes it to the callback.
    pub async fn refresh(&self) -> Result<Token, Error> {
        self.refresh_with_scope(Scope::empty()).await
    }

    /// Refreshes the token now for a narrower `scope` (RFC 6749 §6: a refresh may narrow, never widen), and passes
    /// it to the callback. An empty scope asks for the scope originally granted, as [`refresh`](Self::refresh) does.
    pub async fn refresh_with_scope(&self, scope: impl Into<Scope>) -> Result<Token, Error> {
        let scope = scope.into();
        let _guard = self.inner.refresh_lock.lock().await;
        let (current, generation) = {
            let st = self.lock();
            (st.token.clone().ok_or(Error::NoToken)?, st.generation)
        };
        let refresh_token = current.refresh_token.as_ref().ok_or(Error::TokenExpired)?;
        let request = self.inner.client.refresh_request(refresh_token, &scope)?;
        let token =
            self.inner.client.parse_refresh_response(self.send(request).await?, &current, &scope, SystemTime::now())?;
        // Adopted first: the server has rotated the refresh token, and dropping the new one would make the next
        // renewal a reuse that revokes the whole grant. A bad id_token is reported after, and its claims are not kept.
        let (token, _) = self.adopt_refreshed(token, generation)?;
        self.check_refreshed_id_token(&token).await?;
        Ok(token)
    }

    /// Installs a refreshed token if nothing replaced the token since `generation`; otherwise the refresh result is
    /// dropped and the newer state wins. Returns the token now current, with its generation.
    fn adopt_refreshed(&self, token: Token, generation: u64) -> Result<(Token, u64), Error> {
        let adopted = {
            let mut st = self.lock();
            if st.generation != generation {
                tracing::debug!("token changed during refresh; keeping the newer one");
                return Ok((st.token.clone().ok_or(Error::NoToken)?, st.generation));
            }
            st.token = Some(token.clone());
            st.generation += 1;
            st.obtained_at = Some(SystemTime::now());
            st.failed = None;
            st.generation
        };
        tracing::debug!(client_id = self.inner.client.client_id(), "access token refreshed");
        if let Some(cb) = &self.inner.on_refresh {
            cb(&token);
        }
        Ok((token, adopted))
    }

    /// Revokes a token (RFC 7009). Revoking a refresh token usually revokes its access tokens too.
    pub async fn revoke(&self, token: &str, hint: Option<TokenTypeHint>) -> Result<(), Error> {
        let request = self.inner.client.revocation_request(token, hint)?;
        Ok(self.inner.client.parse_revocation_response(self.send(request).await?)?)
    }

    /// Asks the server whether a token is active (RFC 7662). Introspection is for confidential clients: the server
    /// wants the client's credentials (§2.1), and a public client is refused. Our authorization server also shows a
    /// client only the tokens issued to it (any other token is `active: false`), unless the client is registered
    /// as a resource server.
    pub async fn introspect(&self, token: &str, hint: Option<TokenTypeHint>) -> Result<Introspection, Error> {
        let request = self.inner.client.introspection_request(token, hint)?;
        Ok(self.inner.client.parse_introspection_response(self.send(request).await?)?)
    }

    // ---- authorized requests ----

    /// A GET with the token attached.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST with the token attached.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A PUT with the token attached.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A PATCH with the token attached.
    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A DELETE with the token attached.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// Any request with the token attached.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        RequestBuilder { session: self.clone(), inner: self.inner.http.request(method, url) }
    }

    /// Sends any reqwest request with the token attached, refreshing first or once after `invalid_token` as needed.
    /// Plain-http URLs off loopback are refused unless the session allows them (RFC 6750 §5.3).
    pub async fn execute(&self, mut request: reqwest::Request) -> Result<reqwest::Response, Error> {
        oauth2_core::security::check_endpoint(request.url(), self.inner.allow_insecure_http)?;
        let (token, generation) = self.usable_token().await?;
        // A retry needs a copy of the request; streaming bodies cannot be copied, and then there is no retry.
        let retry = request.try_clone();
        self.authorize(&mut request, &token)?;
        let response = self.inner.http.execute(request).await?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(mut retry) = retry else { return Ok(response) };
        let url = retry.url().to_string();
        // RFC 9449 §9: a resource that wants its nonce in the proof says so, once.
        if let Some(dpop) = &self.inner.dpop
            && dpop.observe(&url, response.status(), response.headers(), &[])
        {
            tracing::debug!("the resource asks for its DPoP nonce; sending the request once more");
            self.authorize(&mut retry, &token)?;
            return Ok(self.inner.http.execute(retry).await?);
        }
        let rejected = ["Bearer", oauth2_core::dpop::SCHEME]
            .iter()
            .any(|scheme| BearerChallenge::of_scheme(response.headers(), scheme).is_some_and(|c| c.is_invalid_token()));
        if !(rejected && self.can_renew(&token)) {
            return Ok(response);
        }
        tracing::debug!("access token rejected as invalid_token; refreshing once and retrying");
        let (fresh, _) = self.renew(generation).await?;
        self.authorize(&mut retry, &fresh)?;
        Ok(self.inner.http.execute(retry).await?)
    }

    /// Puts `token` on `request`: `Authorization: Bearer`, or for a DPoP-bound token `Authorization: DPoP` with a
    /// fresh proof of the session's key for this request and token (RFC 9449 §7.1).
    fn authorize(&self, request: &mut reqwest::Request, token: &Token) -> Result<(), Error> {
        request.headers_mut().insert(AUTHORIZATION, token.authorization_header()?);
        let bound =
            matches!(&token.token_type, oauth2_core::client::TokenType::Other(t) if t.eq_ignore_ascii_case("dpop"));
        match &self.inner.dpop {
            Some(dpop) if bound => {
                let proof =
                    dpop.proof(request.method().as_str(), request.url().as_str(), Some(token.access_token.secret()))?;
                request.headers_mut().insert(oauth2_core::dpop::DPOP, proof);
            }
            None if bound => return Err(Error::Dpop("the token is DPoP-bound and the session has no DPoP key".into())),
            _ => {}
        }
        Ok(())
    }

    fn can_renew(&self, token: &Token) -> bool {
        token.refresh_token.is_some() || matches!(self.lock().renewal, Renewal::ClientCredentials(_))
    }

    /// The token to send now, with its generation: the current one, or a renewed one when it expires within the
    /// margin.
    async fn usable_token(&self) -> Result<(Token, u64), Error> {
        let (token, generation, obtained_at) = {
            let st = self.lock();
            (st.token.clone().ok_or(Error::NoToken)?, st.generation, st.obtained_at)
        };
        let now = SystemTime::now();
        let lifetime = match (token.expires_at, obtained_at) {
            (Some(at), Some(obtained)) => at.duration_since(obtained).unwrap_or(Duration::ZERO),
            _ => Duration::MAX,
        };
        let margin = self.inner.margin.min(lifetime / 2);
        if !token.expires_within(now, margin) {
            return Ok((token, generation));
        }
        if self.can_renew(&token) {
            return match self.renew(generation).await {
                // The generation of the token actually handed back: another request's refresh, or a token the app
                // set meanwhile, may be newer than one step on.
                Ok(fresh) => Ok(fresh),
                // An early refresh that failed while the token is still valid: use it (a passing outage of the
                // authorization server should not fail calls that would succeed). The clock is read again: the
                // refresh may have taken a while.
                Err(error) if !token.is_expired(SystemTime::now()) => {
                    tracing::warn!(code = error.code(), "early refresh failed; using the token until it expires");
                    Ok((token, generation))
                }
                Err(error) => Err(error),
            };
        }
        // Nothing to renew with: a token that is merely close to expiry is still worth sending.
        if token.is_expired(now) { Err(Error::TokenExpired) } else { Ok((token, generation)) }
    }

    /// Replaces the token of `generation` with a fresh one, once for all concurrent callers that hold it. Returns
    /// the token now current, with its generation.
    async fn renew(&self, generation: u64) -> Result<(Token, u64), Error> {
        let waiting_since = Instant::now();
        let _guard = self.inner.refresh_lock.lock().await;
        let (current, renewal) = {
            let st = self.lock();
            if st.generation != generation {
                // Refreshed (or replaced) while we waited for the lock: use what is there now.
                return Ok((st.token.clone().ok_or(Error::NoToken)?, st.generation));
            }
            if let Some(f) = &st.failed
                && f.generation == generation
                && f.at >= waiting_since
            {
                return Err(Error::RefreshFailed(f.error.clone()));
            }
            (st.token.clone().ok_or(Error::NoToken)?, st.renewal.clone())
        };
        let result = match (&current.refresh_token, &renewal) {
            (Some(refresh_token), _) => match self.inner.client.refresh_request(refresh_token, Scope::empty()) {
                Ok(request) => match self.send(request).await {
                    Ok(response) => {
                        match self.inner.client.parse_refresh_response(
                            response,
                            &current,
                            &Scope::empty(),
                            SystemTime::now(),
                        ) {
                            Ok(token) => Ok(token),
                            Err(e) => Err(e.into()),
                        }
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.into()),
            },
            (None, Renewal::ClientCredentials(scope)) => self.fetch_client_credentials(scope).await,
            (None, Renewal::RefreshToken) => Err(Error::TokenExpired),
        };
        match result {
            Ok(token) => {
                let adopted = self.adopt_refreshed(token, generation)?;
                // The renewal succeeded whatever its id_token says (see `refresh_with_scope`); a bad one is logged
                // and its claims are dropped, so that UserInfo's `sub` check does not rest on it.
                if let Err(e) = self.check_refreshed_id_token(&adopted.0).await {
                    tracing::warn!(code = e.code(), "the refreshed id_token failed its checks");
                }
                Ok(adopted)
            }
            Err(error) => {
                tracing::warn!(code = error.code(), "refreshing the access token failed");
                let error = Arc::new(error);
                self.lock().failed = Some(Failure { generation, at: Instant::now(), error: error.clone() });
                Err(Error::RefreshFailed(error))
            }
        }
    }
}

/// A request being built; [`send`](Self::send) attaches the token and handles refresh.
#[must_use]
#[derive(Debug)]
pub struct RequestBuilder {
    session: Session,
    inner: reqwest::RequestBuilder,
}

impl RequestBuilder {
    /// Adds a header.
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        http::HeaderName: TryFrom<K>,
        <http::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        http::HeaderValue: TryFrom<V>,
        <http::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|b| b.header(key, value))
    }

    /// Adds query parameters.
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        self.map(|b| b.query(query))
    }

    /// Sets a JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> Self {
        self.map(|b| b.json(json))
    }

    /// Sets a form body.
    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        self.map(|b| b.form(form))
    }

    /// Sets a raw body.
    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        self.map(|b| b.body(body))
    }

    /// Sets a timeout for this request.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|b| b.timeout(timeout))
    }

    /// Applies any other reqwest builder method.
    pub fn map(mut self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Sends the request with the session's token.
    pub async fn send(self) -> Result<reqwest::Response, Error> {
        let request = self.inner.build()?;
        self.session.execute(request).await
    }
}
