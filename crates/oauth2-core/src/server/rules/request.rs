//! The request rules every form-posting endpoint shares (RFC 6749 §3.2, §3.1): POST, the form media type, a
//! bounded body, no repeated parameter.

use crate::error::OAuthError;
use crate::form::FormParams;

/// Checks the parts every form-posting endpoint shares: POST, form content type, bounded body, no repeated
/// parameter (RFC 6749 §3.2).
pub(crate) fn form_of<B: AsRef<[u8]>>(request: &http::Request<B>, max: usize) -> Result<FormParams, OAuthError> {
    if request.method() != http::Method::POST {
        return Err(OAuthError::invalid_request("use POST"));
    }
    let media = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let body = request.body().as_ref();
    if body.len() > max {
        return Err(OAuthError::invalid_request("the request body is too large"));
    }
    FormParams::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))
}
