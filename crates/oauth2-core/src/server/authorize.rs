//! The authorization endpoint (RFC 6749 §3.1, §4.1.1–4.1.2, §4.2.1–4.2.2) with PKCE (RFC 7636) and `iss`
//! (RFC 9207). Validation happens in two phases: until the client and redirect URI are known good, errors are shown
//! as a page and never redirected (RFC 6749 §4.1.2.1, no open redirect); after that, errors go back to the client.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use url::Url;

use super::AuthorizationServer;
use super::reply::redirect;
use super::store::{ClientStore, CodeRecord, Grant, GrantStore, GrantType, RegisteredClient, SecretHash, TokenRecord};
use super::token::later;
use crate::client::ResponseType;
use crate::error::{ErrorCode, ErrorResponse};
use crate::form::FormParams;
use crate::pkce::PkceMethod;
use crate::scope::Scope;

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
    /// The PKCE challenge and method.
    pub code_challenge: Option<(String, PkceMethod)>,
}

/// Why an authorization request was refused.
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
                html_escape(message)
            );
            let mut r = http::Response::new(body.into_bytes());
            *r.status_mut() = status;
            let h = r.headers_mut();
            h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/html; charset=utf-8"));
            h.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
            h.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
            h.insert(
                "content-security-policy",
                http::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
            );
            r
        };
        match self {
            Self::Page(message) => page(http::StatusCode::BAD_REQUEST, &message),
            Self::Unavailable(message) => page(http::StatusCode::SERVICE_UNAVAILABLE, &message),
            Self::Redirect { location, .. } => redirect(&location),
        }
    }
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Whether `given` is an allowed redirect URI for `client`: an exact string match (RFC 9700 §4.1.1), or for a native
/// client a loopback URI that differs from a registered one only in its port (RFC 8252 §7.3). The strings are
/// compared with the port cut out and **nothing else normalised**: `/x/../cb`, `%2e%2e`, `127.1`, `0x7f.1`, an
/// upper-case scheme or a tab inside are all different strings, and port 0 is refused.
pub fn redirect_uri_allowed(client: &RegisteredClient, given: &str) -> bool {
    if client.redirect_uris.iter().any(|r| r == given) {
        return true;
    }
    if !client.native {
        return false;
    }
    let Some(given) = without_loopback_port(given) else { return false };
    client.redirect_uris.iter().any(|r| without_loopback_port(r).is_some_and(|r| r == given))
}

/// `uri` with its port cut out, if it is an `http` URI on a loopback host written as RFC 8252 §7.3 and §8.3 write
/// them (`127.0.0.1`, `[::1]`, `localhost`); `None` otherwise. A port, when written, is 1 to 65535 in decimal
/// without leading zeros.
fn without_loopback_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let host_end =
        if rest.starts_with('[') { rest.find(']')? + 1 } else { rest.find([':', '/', '?', '#']).unwrap_or(rest.len()) };
    let (host, rest) = rest.split_at(host_end);
    if !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
        return None;
    }
    let after = match rest.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
            let port = &port_and_rest[..digits];
            let valid = !port.starts_with('0') && port.parse::<u16>().is_ok_and(|p| p != 0);
            if !valid {
                return None;
            }
            &port_and_rest[digits..]
        }
        None => rest,
    };
    if !(after.is_empty() || after.starts_with(['/', '?', '#'])) {
        return None;
    }
    // The whole string must be a URI that parses as it is written, with nothing a parser would drop or rewrite
    // silently (tabs and newlines are removed by URL parsers, so they would not reach the comparison otherwise).
    if uri.bytes().any(|b| b.is_ascii_control() || b == b' ') || Url::parse(uri).is_err() {
        return None;
    }
    Some(format!("http://{host}{after}"))
}

fn pkce_challenge_valid(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c))
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

impl<S: ClientStore + GrantStore> AuthorizationServer<S> {
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

    /// Validates an authorization request from its query string (RFC 6749 §4.1.1, §4.2.1). On success the app
    /// authenticates the user, asks consent (showing `client_name` and `scope`), then calls
    /// [`approve`](Self::approve) or [`deny`](Self::deny).
    pub async fn authorization_request(&self, query: &str) -> Result<AuthorizationRequest, AuthorizeError> {
        let params = FormParams::parse(query.as_bytes())
            .map_err(|e| AuthorizeError::Page(format!("The request is malformed: {e}.")))?;
        let client_id =
            params.get("client_id").ok_or_else(|| AuthorizeError::Page("The request names no client.".into()))?;
        let client = self
            .store
            .client(client_id)
            .await
            .map_err(|_| {
                AuthorizeError::Unavailable("The authorization server is unavailable; try again later.".into())
            })?
            .ok_or_else(|| AuthorizeError::Page("The application asking for access is not registered here.".into()))?;
        let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
            Some(r) if redirect_uri_allowed(&client, r) => (r.to_owned(), true),
            Some(_) => {
                return Err(AuthorizeError::Page(
                    "The redirect URI does not match the one registered for this application.".into(),
                ));
            }
            None => match client.redirect_uris.as_slice() {
                [only] => (only.clone(), false),
                _ => return Err(AuthorizeError::Page("The request must name its redirect URI.".into())),
            },
        };
        // §3.1.2: an absolute URI without a fragment. A registration that is not one cannot carry the response.
        if !Url::parse(&redirect_uri).is_ok_and(|u| u.fragment().is_none()) {
            return Err(AuthorizeError::Page(
                "The redirect URI registered for this application is not a valid absolute URI.".into(),
            ));
        }

        // From here on, errors are redirected to the (now trusted) redirect URI.
        let response_type = match params.get("response_type") {
            Some("token") => ResponseType::Token,
            _ => ResponseType::Code,
        };
        let mut request = AuthorizationRequest {
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            redirect_uri,
            redirect_uri_given,
            response_type,
            scope: Scope::empty(),
            state: params.get("state").map(str::to_owned),
            code_challenge: None,
        };
        let fail = |req: &AuthorizationRequest, code, text: &str| {
            Err(self.error_redirect(req, ErrorResponse::new(code).with_description(text)))
        };
        let grant = match params.get("response_type") {
            None => return fail(&request, ErrorCode::InvalidRequest, "response_type is required"),
            Some("code") => GrantType::AuthorizationCode,
            Some("token") => GrantType::Implicit,
            Some(_) => return fail(&request, ErrorCode::UnsupportedResponseType, "use response_type=code"),
        };
        if !self.config.grant_types.contains(&grant) {
            return fail(&request, ErrorCode::UnsupportedResponseType, "this server does not offer this response_type");
        }
        if !client.allows(grant) {
            return fail(&request, ErrorCode::UnauthorizedClient, "this client may not use this response_type");
        }
        match self.resolve_scope(&client, params.get("scope")) {
            Ok(scope) => request.scope = scope,
            Err(e) => return Err(self.error_redirect(&request, e.error)),
        }
        if grant == GrantType::AuthorizationCode {
            let method = params.get("code_challenge_method");
            match (params.get("code_challenge"), method) {
                (None, Some(_)) => {
                    return fail(&request, ErrorCode::InvalidRequest, "code_challenge_method without code_challenge");
                }
                (None, None) if !client.is_confidential() => {
                    return fail(&request, ErrorCode::InvalidRequest, "PKCE is required (code_challenge, S256)");
                }
                (None, None) => {}
                (Some(challenge), method) => {
                    // RFC 7636 §4.3: an omitted method means plain.
                    let method = match PkceMethod::parse(method.unwrap_or("plain")) {
                        Some(PkceMethod::Plain) if !client.allow_plain_pkce => {
                            return fail(&request, ErrorCode::InvalidRequest, "code_challenge_method must be S256");
                        }
                        Some(m) => m,
                        None => return fail(&request, ErrorCode::InvalidRequest, "unsupported code_challenge_method"),
                    };
                    if !pkce_challenge_valid(challenge) {
                        return fail(&request, ErrorCode::InvalidRequest, "malformed code_challenge");
                    }
                    request.code_challenge = Some((challenge.to_owned(), method));
                }
            }
        }
        Ok(request)
    }

    /// The user allowed the request: issue a code (or, for the implicit grant, a token) and redirect back with it,
    /// `state` and `iss`. `granted` may narrow the scope asked for; `None` grants all of it. `subject` identifies
    /// the user.
    pub async fn approve(
        &self,
        request: &AuthorizationRequest,
        subject: &str,
        granted: Option<Scope>,
        now: SystemTime,
    ) -> Result<http::Response<Vec<u8>>, AuthorizeError> {
        self.revalidate(request).await?;
        let scope = match granted {
            Some(g) if g.is_subset_of(&request.scope) => g,
            Some(_) => {
                let e = ErrorResponse::new(ErrorCode::InvalidScope).with_description("granted more than was asked");
                return Err(self.error_redirect(request, e));
            }
            None => request.scope.clone(),
        };
        let grant = Grant {
            id: self.new_grant_id(),
            client_id: request.client_id.clone(),
            subject: Some(subject.to_owned()),
            scope: scope.clone(),
        };
        let scope_s = scope.to_string();
        let unavailable = |_| {
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
                    expires_at: later(now, self.config.code_lifetime),
                };
                self.store.store_code(SecretHash::of(&code), record).await.map_err(unavailable)?;
                params.push(("code", &code));
            }
            ResponseType::Token => {
                access = self.new_secret();
                let record =
                    TokenRecord { grant, issued_at: now, expires_at: later(now, self.config.access_token_lifetime) };
                self.store.store_tokens((SecretHash::of(&access), record), None).await.map_err(unavailable)?;
                expires_in = self.config.access_token_lifetime.as_secs().to_string();
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
        let page = |m: &str| AuthorizeError::Page(m.to_owned());
        let client = self
            .store
            .client(&request.client_id)
            .await
            .map_err(|_| {
                AuthorizeError::Unavailable("The authorization server is unavailable; try again later.".into())
            })?
            .ok_or_else(|| page("The application asking for access is not registered here."))?;
        let grant = match request.response_type {
            ResponseType::Code => GrantType::AuthorizationCode,
            ResponseType::Token => GrantType::Implicit,
        };
        let redirect_ok = redirect_uri_allowed(&client, &request.redirect_uri)
            && (request.redirect_uri_given || client.redirect_uris.len() == 1);
        let pkce_ok = grant != GrantType::AuthorizationCode
            || match &request.code_challenge {
                None => client.is_confidential(),
                Some((c, m)) => pkce_challenge_valid(c) && (*m == PkceMethod::S256 || client.allow_plain_pkce),
            };
        // The scope must be one the policy would grant for itself (for the default policy: within the registration).
        let scope_ok = request.scope.is_empty()
            || self.resolve_scope(&client, Some(&request.scope.to_string())).is_ok_and(|s| {
                // As sets: a policy may return the tokens in another order.
                s.is_subset_of(&request.scope) && request.scope.is_subset_of(&s)
            });
        // The server must still offer the grant: a request kept in a cookie could be edited to response_type=token.
        let offered = self.config.grant_types.contains(&grant);
        if redirect_ok && offered && client.allows(grant) && scope_ok && pkce_ok {
            Ok(())
        } else {
            Err(page("The authorization request was altered; start again from the application."))
        }
    }
}
