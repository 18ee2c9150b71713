//! The session: tokens from every grant, authorized requests, automatic single-flight refresh.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http::header::AUTHORIZATION;
use oauth2_core::client::{BearerChallenge, Introspection, TokenTypeHint};
use oauth2_core::random::OsRng;
use oauth2_core::{Client, Password, PendingAuthorization, Scope, Token};
use reqwest::{IntoUrl, Method};
use url::Url;

use crate::{Error, execute, http_client};

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
    renewal: Renewal,
    /// The last renewal failure: the token it was for and when it happened. Requests that were already waiting for
    /// that attempt share its failure instead of each trying again; requests that come later try again.
    failed: Option<Failure>,
}

struct Failure {
    stale: Token,
    at: Instant,
    error: Arc<Error>,
}

struct Inner {
    client: Client,
    http: reqwest::Client,
    state: Mutex<TokenState>,
    refresh_lock: tokio::sync::Mutex<()>,
    on_refresh: Option<TokenCallback>,
    margin: Duration,
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
    inner: Arc<Inner>,
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
}

impl SessionBuilder {
    /// The reqwest client to use (default: [`http_client`]). Configure yours not to follow redirects.
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

    /// How long before expiry to refresh (default 30 s).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Builds the session.
    pub fn build(self) -> Session {
        Session {
            inner: Arc::new(Inner {
                client: self.client,
                http: self.http.unwrap_or_else(http_client),
                state: Mutex::new(TokenState { token: self.token, renewal: Renewal::RefreshToken, failed: None }),
                refresh_lock: tokio::sync::Mutex::new(()),
                on_refresh: self.on_refresh,
                margin: self.margin,
            }),
        }
    }
}

impl Session {
    /// A session for `client` with the default HTTP client and settings.
    pub fn new(client: Client) -> Self {
        Self::builder(client).build()
    }

    /// Configures a session for `client`.
    pub fn builder(client: Client) -> SessionBuilder {
        SessionBuilder { client, http: None, token: None, on_refresh: None, margin: Duration::from_secs(30) }
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
    }

    /// Forgets the token (for logout). Revoke it first with [`revoke`](Self::revoke) if the server supports it.
    pub fn clear_token(&self) {
        let mut st = self.lock();
        st.token = None;
        st.failed = None;
    }

    fn store(&self, token: Token, renewal: Renewal) {
        let mut st = self.lock();
        st.token = Some(token);
        st.renewal = renewal;
        st.failed = None;
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Error> {
        execute(&self.inner.http, request).await
    }

    // ---- grants ----

    /// Starts an authorization code request with PKCE and `state`: send the user to the URL, keep the pending value
    /// in their session. For extra parameters use the core builder:
    /// `session.client().authorization_request(&mut OsRng).param("prompt", "consent").build()`.
    pub fn authorization_url(&self, scope: impl Into<Scope>) -> Result<(Url, PendingAuthorization), Error> {
        Ok(self.inner.client.authorization_request(&mut OsRng).scope(scope).build()?)
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
        self.store(token.clone(), Renewal::RefreshToken);
        Ok(token)
    }

    /// Starts an implicit grant request (legacy, RFC 9700 §2.1.2: prefer [`authorization_url`](Self::authorization_url)).
    pub fn implicit_url(&self, scope: impl Into<Scope>) -> Result<(Url, PendingAuthorization), Error> {
        Ok(self.inner.client.implicit_request(&mut OsRng).scope(scope).build()?)
    }

    /// Reads the token from an implicit grant callback URL's fragment; the session keeps it.
    pub fn finish_implicit(&self, pending: &PendingAuthorization, callback_url: &str) -> Result<Token, Error> {
        let token = self.inner.client.finish_implicit(pending, callback_url, SystemTime::now())?;
        self.store(token.clone(), Renewal::RefreshToken);
        Ok(token)
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

    /// Refreshes the token now (RFC 6749 §6), optionally for a narrower scope, and passes it to the callback.
    pub async fn refresh(&self, scope: impl Into<Scope>) -> Result<Token, Error> {
        let scope = scope.into();
        let _guard = self.inner.refresh_lock.lock().await;
        let current = self.token().ok_or(Error::NoToken)?;
        let refresh_token = current.refresh_token.as_ref().ok_or(Error::TokenExpired)?;
        let request = self.inner.client.refresh_request(refresh_token, &scope)?;
        let token =
            self.inner.client.parse_refresh_response(self.send(request).await?, &current, &scope, SystemTime::now())?;
        self.adopt_refreshed(token.clone());
        Ok(token)
    }

    fn adopt_refreshed(&self, token: Token) {
        {
            let mut st = self.lock();
            st.token = Some(token.clone());
            st.failed = None;
        }
        tracing::debug!(client_id = self.inner.client.client_id(), "access token refreshed");
        if let Some(cb) = &self.inner.on_refresh {
            cb(&token);
        }
    }

    /// Revokes a token (RFC 7009). Revoking a refresh token usually revokes its access tokens too.
    pub async fn revoke(&self, token: &str, hint: Option<TokenTypeHint>) -> Result<(), Error> {
        let request = self.inner.client.revocation_request(token, hint)?;
        Ok(self.inner.client.parse_revocation_response(self.send(request).await?)?)
    }

    /// Asks the server whether a token is active (RFC 7662).
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
    pub async fn execute(&self, mut request: reqwest::Request) -> Result<reqwest::Response, Error> {
        let token = self.usable_token().await?;
        // A retry needs a copy of the request; streaming bodies cannot be copied, and then there is no retry.
        let retry = request.try_clone();
        request.headers_mut().insert(AUTHORIZATION, token.authorization_header()?);
        let response = self.inner.http.execute(request).await?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let rejected = BearerChallenge::from_headers(response.headers()).is_some_and(|c| c.is_invalid_token());
        let Some(mut retry) = retry.filter(|_| rejected && self.can_renew(&token)) else {
            return Ok(response);
        };
        tracing::debug!("access token rejected as invalid_token; refreshing once and retrying");
        let fresh = self.renew(&token).await?;
        retry.headers_mut().insert(AUTHORIZATION, fresh.authorization_header()?);
        Ok(self.inner.http.execute(retry).await?)
    }

    fn can_renew(&self, token: &Token) -> bool {
        token.refresh_token.is_some() || matches!(self.lock().renewal, Renewal::ClientCredentials(_))
    }

    /// The token to send now: the current one, or a renewed one when it expires within the margin.
    async fn usable_token(&self) -> Result<Token, Error> {
        let token = self.token().ok_or(Error::NoToken)?;
        let now = SystemTime::now();
        if !token.expires_within(now, self.inner.margin) {
            return Ok(token);
        }
        if self.can_renew(&token) {
            return self.renew_early(token, now).await;
        }
        // Nothing to renew with: a token that is merely close to expiry is still worth sending.
        if token.is_expired(now) { Err(Error::TokenExpired) } else { Ok(token) }
    }

    /// Renews ahead of expiry; if that fails while the token is still valid, the request goes out with it anyway
    /// (a passing outage of the authorization server should not fail calls that would succeed).
    async fn renew_early(&self, token: Token, now: SystemTime) -> Result<Token, Error> {
        match self.renew(&token).await {
            Ok(fresh) => Ok(fresh),
            Err(error) if !token.is_expired(now) => {
                tracing::warn!(code = error.code(), "early refresh failed; using the token until it expires");
                Ok(token)
            }
            Err(error) => Err(error),
        }
    }

    /// Replaces `stale` with a fresh token, once for all concurrent callers that hold the same stale token.
    async fn renew(&self, stale: &Token) -> Result<Token, Error> {
        let waiting_since = Instant::now();
        let _guard = self.inner.refresh_lock.lock().await;
        let renewal = {
            let st = self.lock();
            match &st.token {
                // Someone renewed while we waited for the lock: use theirs.
                Some(current) if current.access_token != stale.access_token => return Ok(current.clone()),
                None => return Err(Error::NoToken),
                Some(_) => {}
            }
            if let Some(f) = &st.failed
                && f.stale.access_token == stale.access_token
                && f.at >= waiting_since
            {
                return Err(Error::RefreshFailed(f.error.clone()));
            }
            st.renewal.clone()
        };
        let result = match (&stale.refresh_token, &renewal) {
            (Some(refresh_token), _) => match self.inner.client.refresh_request(refresh_token, Scope::empty()) {
                Ok(request) => match self.send(request).await {
                    Ok(response) => self
                        .inner
                        .client
                        .parse_refresh_response(response, stale, &Scope::empty(), SystemTime::now())
                        .map_err(Error::from),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.into()),
            },
            (None, Renewal::ClientCredentials(scope)) => self.fetch_client_credentials(scope).await,
            (None, Renewal::RefreshToken) => Err(Error::TokenExpired),
        };
        match result {
            Ok(token) => {
                self.adopt_refreshed(token.clone());
                Ok(token)
            }
            Err(error) => {
                tracing::warn!(code = error.code(), "refreshing the access token failed");
                let error = Arc::new(error);
                self.lock().failed = Some(Failure { stale: stale.clone(), at: Instant::now(), error: error.clone() });
                Err(Error::RefreshFailed(error))
            }
        }
    }
}

/// A request being built; [`send`](Self::send) attaches the token and handles refresh.
#[must_use]
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
