//! Sending the core's `http::Request`s with reqwest, and reading the answers back as `http::Response`s.

use std::time::Duration;

use oauth2_core::client::parse_metadata;
use oauth2_core::metadata::{AuthorizationServerMetadata, discovery_urls};
use oauth2_core::security::check_endpoint;

use crate::Error;

/// Largest response body read from an authorization server (1 MiB): token, metadata and introspection documents are
/// a few KiB, so anything bigger is refused rather than buffered.
pub const MAX_BODY: usize = 1024 * 1024;

/// How long one exchange with the authorization server may take with [`http_client`].
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A reqwest client set up for talking to authorization servers: no redirects followed (a token request must not be
/// re-sent to wherever a 3xx points), a 10 s connect timeout and a 30 s overall timeout.
///
/// Pass your own `reqwest::Client` to [`SessionBuilder::http_client`](crate::SessionBuilder::http_client) for
/// proxies or custom TLS, built with `redirect(reqwest::redirect::Policy::none())` and timeouts as this one is: a
/// client that follows a `307` from a token endpoint re-sends the body (code, verifier, secret) to wherever it
/// points, and [`execute`] can only report that afterwards.
pub fn http_client() -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(TIMEOUT)
        .build()?)
}

/// Sends a request built by `oauth2-core` and returns the response with its body read (at most [`MAX_BODY`] bytes).
///
/// This is the whole adapter: every protocol decision stays in the core. The client's own timeouts apply (those of
/// [`http_client`] are [`TIMEOUT`]); an answer that came from another URL than the one asked (the client followed
/// a redirect) is [`Error::Redirected`], not a response.
pub async fn execute(
    http: &reqwest::Client,
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, Error> {
    let request = reqwest::Request::try_from(request)?;
    let asked = request.url().clone();
    let mut response = http.execute(request).await?;
    if *response.url() != asked {
        return Err(Error::Redirected { from: asked.to_string(), to: response.url().to_string() });
    }
    let mut builder = http::Response::builder().status(response.status()).version(response.version());
    if let Some(headers) = builder.headers_mut() {
        *headers = std::mem::take(response.headers_mut());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Error::BodyTooLarge(MAX_BODY));
        }
        body.extend_from_slice(&chunk);
    }
    builder.body(body).map_err(|_| Error::BodyTooLarge(MAX_BODY))
}

/// Metadata fetched by [`fetch_metadata`], with the response it came from (to show the server's JSON as sent).
#[derive(Debug)]
pub struct Discovered {
    /// The parsed, issuer-checked metadata.
    pub metadata: AuthorizationServerMetadata,
    /// The HTTP response the metadata was read from.
    pub response: http::Response<Vec<u8>>,
}

/// Fetches an authorization server's metadata: RFC 8414 first, then OpenID Connect discovery. The document's
/// `issuer` must equal `issuer` exactly (RFC 8414 §3.3); a mismatch is never retried at the other address.
pub async fn fetch_metadata(
    http: &reqwest::Client,
    issuer: &str,
    allow_insecure_http: bool,
) -> Result<Discovered, Error> {
    let urls = discovery_urls(issuer).map_err(oauth2_core::client::DiscoveryError::from)?;
    let mut last: Option<Error> = None;
    for url in urls {
        check_endpoint(&url, allow_insecure_http)?;
        let mut request = http::Request::new(Vec::new());
        *request.uri_mut() = url.as_str().parse().map_err(|_| Error::InvalidIssuer(issuer.to_owned()))?;
        request.headers_mut().insert(http::header::ACCEPT, http::HeaderValue::from_static("application/json"));
        // A failure at one address (even a timeout) is a reason to try the other, not to give up.
        let response = match execute(http, request).await {
            Ok(r) => r,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        match parse_metadata(issuer, &response) {
            Ok(metadata) => return Ok(Discovered { metadata, response }),
            Err(e @ oauth2_core::client::DiscoveryError::IssuerMismatch { .. }) => return Err(e.into()),
            Err(e) => last = Some(e.into()),
        }
    }
    Err(last.unwrap_or_else(|| Error::InvalidIssuer(issuer.to_owned())))
}

/// Fetches and checks an issuer's metadata ([`fetch_metadata`] over https, or http on loopback).
///
/// ```no_run
/// # async fn run() -> Result<(), oauth2_reqwest::Error> {
/// let http = oauth2_reqwest::http_client()?;
/// let metadata = oauth2_reqwest::discover(&http, "https://accounts.example.com").await?;
/// let client = oauth2_core::Client::builder("my-app").metadata(&metadata).build()?;
/// # Ok(()) }
/// ```
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<AuthorizationServerMetadata, Error> {
    Ok(fetch_metadata(http, issuer, false).await?.metadata)
}
