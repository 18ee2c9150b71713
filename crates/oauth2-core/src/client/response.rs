//! Reading the authorization server's answers: token responses (RFC 6749 §5.1), error responses (§5.2), and the
//! lenient mode for providers that depart from them.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde_json::{Map, Value};

use super::{Client, Token, TokenType};
use crate::error::{ErrorCode, ErrorResponse};
use crate::form::FormParams;
use crate::scope::Scope;
use crate::secret::{AccessToken, RefreshToken};

/// Longest body excerpt kept in an error.
const EXCERPT: usize = 200;

/// What the authorization server's answer to a token, revocation or introspection request meant, when it was not
/// success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The server answered with an RFC 6749 §5.2 error.
    #[error("{error} (HTTP {status})")]
    Provider {
        /// The HTTP status (400 or 401 for a compliant server).
        status: StatusCode,
        /// The error it sent.
        error: ErrorResponse,
    },
    /// The answer is not what the RFC says: wrong status, not JSON, a required field missing or mistyped.
    #[error("unexpected response (HTTP {status}): {reason}; body: {excerpt:?}")]
    UnexpectedResponse {
        /// The HTTP status.
        status: StatusCode,
        /// What was wrong.
        reason: String,
        /// The start of the body (at most 200 characters, trimmed).
        excerpt: String,
    },
}

impl ResponseError {
    /// The RFC error code, or `unexpected_response`.
    pub fn code(&self) -> &str {
        match self {
            Self::Provider { error, .. } => error.error.as_str(),
            Self::UnexpectedResponse { .. } => "unexpected_response",
        }
    }

    /// The description for people: the provider's `error_description`, or what we found wrong.
    pub fn description(&self) -> String {
        match self {
            Self::Provider { error, status } => {
                error.error_description.clone().unwrap_or_else(|| format!("the server answered HTTP {status}"))
            }
            Self::UnexpectedResponse { status, reason, excerpt } => {
                format!("{reason} (HTTP {status}; body: {excerpt:?})")
            }
        }
    }

    /// The provider's error response, if it sent one.
    pub fn error_response(&self) -> Option<&ErrorResponse> {
        match self {
            Self::Provider { error, .. } => Some(error),
            Self::UnexpectedResponse { .. } => None,
        }
    }
}

/// Fields whose values are secrets: never copied into an error.
const SECRET_FIELDS: [&str; 7] =
    ["access_token", "refresh_token", "id_token", "client_secret", "password", "code", "code_verifier"];

/// The start of a body for an error message, with the values of secret fields replaced, at any depth: a malformed
/// token response still carries a live token, and error messages end up in logs. A body that cannot be read
/// field by field (truncated JSON, say) is withheld whole if it names a secret field at all.
fn excerpt_of(body: &[u8]) -> String {
    fn redact(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if SECRET_FIELDS.contains(&key.as_str()) {
                        *v = Value::String("[redacted]".into());
                    } else {
                        redact(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(redact),
            _ => {}
        }
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            redact(&mut value);
            value.to_string()
        }
        Err(_) => match FormParams::parse(body) {
            Ok(form) if form.iter().any(|(k, _)| SECRET_FIELDS.contains(&k)) => {
                let mut value = Value::Object(form.to_json());
                redact(&mut value);
                value.to_string()
            }
            _ => {
                let raw = String::from_utf8_lossy(body);
                // A field, not the bare word: an HTML error page saying "Error code 520" keeps its excerpt.
                let names = |f: &str| raw.contains(&format!("\"{f}\"")) || raw.contains(&format!("{f}="));
                if SECRET_FIELDS.iter().any(|field| names(field)) {
                    return "[withheld: the body names a secret field but could not be parsed to redact it]".into();
                }
                raw.into_owned()
            }
        },
    };
    text.trim().chars().take(EXCERPT).collect()
}

pub(crate) fn unexpected(response: &http::Response<Vec<u8>>, reason: impl Into<String>) -> ResponseError {
    ResponseError::UnexpectedResponse {
        status: response.status(),
        reason: reason.into(),
        excerpt: excerpt_of(response.body()),
    }
}

fn media_type(response: &http::Response<Vec<u8>>) -> String {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The body as a JSON object. Strict: `application/json` (or `+json`) only. Lenient: also a JSON body under another
/// media type, and form-encoded bodies (as some providers send by default).
pub(crate) fn body_object(
    response: &http::Response<Vec<u8>>,
    lenient: bool,
) -> Result<Map<String, Value>, ResponseError> {
    let media = media_type(response);
    let is_json = media == "application/json" || media.ends_with("+json");
    if is_json || lenient {
        match serde_json::from_slice::<Value>(response.body()) {
            Ok(Value::Object(map)) => return Ok(map),
            Ok(_) => return Err(unexpected(response, "the body is JSON but not an object")),
            Err(_) if is_json => return Err(unexpected(response, "the body is not valid JSON")),
            Err(_) => {}
        }
        if let Ok(form) = FormParams::parse(response.body())
            && (form.get("access_token").is_some() || form.get("error").is_some())
        {
            return Ok(form.to_json());
        }
        return Err(unexpected(response, "the body is neither JSON nor a form"));
    }
    Err(unexpected(response, format!("expected application/json, got {:?}", media)))
}

/// Reads an error body (RFC 6749 §5.2) from a non-success response.
pub(crate) fn error_from(response: &http::Response<Vec<u8>>, lenient: bool) -> ResponseError {
    match body_object(response, lenient) {
        Ok(map) => match error_of(&map) {
            Some(error) => ResponseError::Provider { status: response.status(), error },
            None => unexpected(response, "an error status without an `error` field"),
        },
        Err(e) => e,
    }
}

pub(crate) fn error_of(map: &Map<String, Value>) -> Option<ErrorResponse> {
    let code = map.get("error")?.as_str()?;
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(ErrorResponse {
        error: ErrorCode::parse(code),
        error_description: text("error_description"),
        error_uri: text("error_uri"),
    })
}

/// Whether `status` counts as success: 200 exactly (RFC 6749 §5.1), any 2xx when lenient.
pub(crate) fn is_success(status: StatusCode, lenient: bool) -> bool {
    status == StatusCode::OK || (lenient && status.is_success())
}

/// Builds a [`Token`] from the fields of a §5.1 response. `lenient` accepts `expires_in` as a string and a missing
/// `token_type`.
pub(crate) fn token_from_fields(
    mut fields: Map<String, Value>,
    now: SystemTime,
    lenient: bool,
) -> Result<Token, String> {
    let access_token = match fields.remove("access_token") {
        Some(Value::String(s)) if !s.is_empty() => AccessToken::new(s),
        Some(_) => return Err("`access_token` is not a non-empty string".into()),
        None => return Err("`access_token` is missing".into()),
    };
    let token_type = match fields.remove("token_type") {
        Some(Value::String(s)) if !s.trim().is_empty() => TokenType::parse(s.trim()),
        // Lenient: absent, null or empty all mean the usual Bearer.
        None | Some(Value::Null) if lenient => TokenType::Bearer,
        Some(Value::String(_)) if lenient => TokenType::Bearer,
        Some(_) => return Err("`token_type` is not a non-empty string".into()),
        None => return Err("`token_type` is missing".into()),
    };
    let expires_in = match fields.remove("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(s) => Some(s),
            None if lenient => match n.as_f64() {
                Some(f) if f >= 0.0 => Some(f as u64),
                _ => return Err("`expires_in` is negative".into()),
            },
            None => return Err("`expires_in` is not a non-negative integer".into()),
        },
        Some(Value::String(s)) if lenient => {
            Some(s.trim().parse::<u64>().map_err(|_| format!("`expires_in` {s:?} is not a number of seconds"))?)
        }
        Some(_) => return Err("`expires_in` is not a number".into()),
    };
    let refresh_token = match fields.remove("refresh_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(RefreshToken::new(s)),
        Some(_) => return Err("`refresh_token` is not a non-empty string".into()),
    };
    let scope = match fields.remove("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Scope::parse(&s)),
        Some(Value::Array(a)) if lenient => Some(a.iter().filter_map(Value::as_str).collect()),
        Some(_) => return Err("`scope` is not a string".into()),
    };
    // An expiry too far away to represent means "effectively never".
    let expires_at = expires_in.and_then(|s| now.checked_add(Duration::from_secs(s)));
    Ok(Token { access_token, token_type, expires_at, refresh_token, scope, extra: fields })
}

impl Client {
    /// Parses the token endpoint's answer (RFC 6749 §5.1, §5.2). `now` is when the response arrived: the token's
    /// expiry is `now + expires_in`.
    pub fn parse_token_response(
        &self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Result<Token, ResponseError> {
        let response = self.prepare(response);
        if !is_success(response.status(), self.lenient) {
            return Err(error_from(&response, self.lenient));
        }
        let fields = body_object(&response, self.lenient)?;
        if let Some(error) = error_of(&fields) {
            if self.lenient {
                return Err(ResponseError::Provider { status: response.status(), error });
            }
            return Err(unexpected(&response, format!("a success status with an error body ({})", error.error)));
        }
        token_from_fields(fields, now, self.lenient).map_err(|reason| unexpected(&response, reason))
    }

    /// Parses the answer to a refresh request (RFC 6749 §6): when the server issues no new refresh token the old
    /// one is kept; when it omits `scope`, the granted scope is the one `requested` (§5.1), or the previous token's
    /// scope if the request named none.
    pub fn parse_refresh_response(
        &self,
        response: http::Response<Vec<u8>>,
        previous: &Token,
        requested: &Scope,
        now: SystemTime,
    ) -> Result<Token, ResponseError> {
        let mut token = self.parse_token_response(response, now)?;
        if token.refresh_token.is_none() {
            token.refresh_token = previous.refresh_token.clone();
        }
        if token.scope.is_none() {
            token.scope = if requested.is_empty() { previous.scope.clone() } else { Some(requested.clone()) };
        }
        Ok(token)
    }
}
