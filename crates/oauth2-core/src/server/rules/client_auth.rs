//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3, §3.2.1).

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;

use crate::error::OAuthError;
use crate::form::FormParams;
use crate::secret::SecretHash;
use crate::server::store::{ClientStore, RegisteredClient};

fn bad_basic() -> OAuthError {
    OAuthError::invalid_client("malformed Basic credentials")
}

/// The credentials a request presented, borrowed from it where nothing had to be decoded.
enum Presented<'a> {
    Basic(Cow<'a, str>, Cow<'a, str>),
    Post(&'a str, &'a str),
    /// `client_id` only: a public client.
    None(&'a str),
    Nothing,
}

/// Decodes one form-encoded part of Basic credentials (RFC 6749 §2.3.1): `+` is a space, `%XX` a byte. Every
/// other character, `&` and `=` included, stands for itself. Invalid UTF-8 is `None`.
fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['+', '%']) {
        return Some(Cow::Borrowed(s));
    }
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|c| Cow::Owned(c.into_owned()))
}

/// The `id:secret` of a Basic header, base64-decoded into `buf` when it fits (credentials usually do), else onto
/// the heap.
fn basic_credentials<'b>(encoded: &str, buf: &'b mut [u8; 256]) -> Option<Cow<'b, str>> {
    let bytes = match STANDARD.decode_slice(encoded, &mut buf[..]) {
        Ok(n) => Cow::Borrowed(&buf[..n]),
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => Cow::Owned(STANDARD.decode(encoded).ok()?),
        Err(base64::DecodeSliceError::DecodeError(_)) => return None,
    };
    match bytes {
        Cow::Borrowed(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
        Cow::Owned(v) => String::from_utf8(v).ok().map(Cow::Owned),
    }
}

fn presented<'a>(
    headers: &http::HeaderMap,
    params: &'a FormParams,
    buf: &'a mut [u8; 256],
) -> Result<Presented<'a>, OAuthError> {
    let mut basic = None;
    let mut auths = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = auths.next() {
        if auths.next().is_some() {
            return Err(OAuthError::invalid_request("more than one Authorization header"));
        }
        let value = value.to_str().map_err(|_| bad_basic())?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
        let decoded = basic_credentials(rest.trim(), buf).ok_or_else(bad_basic)?;
        let (id, secret) = match decoded {
            Cow::Borrowed(d) => {
                let (id, secret) = d.split_once(':').ok_or_else(bad_basic)?;
                let decode = |s| form_decode(s).ok_or_else(bad_basic);
                (decode(id)?, decode(secret)?)
            }
            Cow::Owned(d) => {
                let (id, secret) = d.split_once(':').ok_or_else(bad_basic)?;
                let decode = |s| form_decode(s).map(|c| Cow::Owned(c.into_owned())).ok_or_else(bad_basic);
                (decode(id)?, decode(secret)?)
            }
        };
        basic = Some((id, secret));
    }
    let body_secret = params.get("client_secret");
    match (basic, params.get("client_id"), body_secret) {
        (Some(_), _, Some(_)) => {
            Err(OAuthError::invalid_request("use one client authentication method, not two (RFC 6749 section 2.3)"))
        }
        (Some((id, secret)), body_id, None) => {
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request("client_id in the body differs from the Basic credentials"));
            }
            Ok(Presented::Basic(id, secret))
        }
        (None, Some(id), Some(secret)) => Ok(Presented::Post(id, secret)),
        (None, Some(id), None) => Ok(Presented::None(id)),
        (None, None, Some(_)) => Err(OAuthError::invalid_request("client_secret without client_id")),
        (None, None, None) => Ok(Presented::Nothing),
    }
}

/// Why a client was refused, for the operator's log (never for the peer, which gets `invalid_client` alone).
fn log_failure(id: &str, why: &str) {
    tracing::info!(client_id = %id.escape_debug(), why, "client authentication failed");
}

/// Authenticates the client of a form-posting request (RFC 6749 §2.3, §3.2.1): a confidential client by its
/// secret (Basic or body, never both), a public client by its `client_id` alone. Unknown clients and wrong
/// secrets are both `invalid_client` (401, with a `Basic` challenge).
pub(crate) async fn authenticate<S: ClientStore>(
    store: &S,
    headers: &http::HeaderMap,
    params: &FormParams,
) -> Result<std::sync::Arc<RegisteredClient>, OAuthError> {
    let mut buf = [0u8; 256];
    let (id, secret) = match presented(headers, params, &mut buf)? {
        Presented::Basic(id, secret) => (id, Some(secret)),
        Presented::Post(id, secret) => (Cow::Borrowed(id), Some(Cow::Borrowed(secret))),
        Presented::None(id) => (Cow::Borrowed(id), None),
        Presented::Nothing => {
            return Err(OAuthError::invalid_client("client authentication is required (RFC 6749 section 3.2.1)"));
        }
    };
    let client = store.client(&id).await?;
    let refused = match (&client, &secret) {
        (Some(c), Some(s)) if c.secret_hash.as_ref().is_some_and(|h| h.matches(s)) => None,
        (Some(c), None) if !c.is_confidential() => None,
        (Some(c), Some(_)) if !c.is_confidential() => Some("a secret for a public client"),
        (Some(_), Some(_)) => Some("wrong secret"),
        (Some(_), None) => Some("a confidential client sent no secret"),
        (None, secret) => {
            // Spend the same hashing work for unknown clients, so timing does not reveal which ids exist.
            if let Some(s) = secret {
                let _ = SecretHash::of(s);
            }
            Some("unknown client")
        }
    };
    match (client, refused) {
        (Some(c), None) => Ok(c),
        (_, why) => {
            log_failure(&id, why.unwrap_or("refused"));
            Err(OAuthError::invalid_client("client authentication failed"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use base64::Engine;

    use super::{basic_credentials, form_decode};

    #[test]
    fn rfc6749_2_3_1_long_basic_credentials_decode_too() {
        // Past the stack buffer the decoding moves to the heap; the result is the same.
        let secret = "s".repeat(400);
        let header = base64::engine::general_purpose::STANDARD.encode(format!("id:{secret}"));
        let mut buf = [0u8; 256];
        let decoded = basic_credentials(&header, &mut buf).expect("valid base64 and UTF-8");
        assert!(matches!(decoded, Cow::Owned(_)));
        assert_eq!(decoded, format!("id:{secret}"));
        let short = base64::engine::general_purpose::STANDARD.encode("id:s3cret");
        assert!(matches!(basic_credentials(&short, &mut buf), Some(Cow::Borrowed("id:s3cret"))));
        assert_eq!(basic_credentials("not base64!", &mut buf), None);
        let latin1 = base64::engine::general_purpose::STANDARD.encode(b"id:\xff");
        assert_eq!(basic_credentials(&latin1, &mut buf), None, "invalid UTF-8");
    }

    #[test]
    fn rfc6749_2_3_1_basic_parts_are_form_decoded_without_splitting_on_ampersand() {
        assert_eq!(form_decode("a+b%2Bc%25").as_deref(), Some("a b+c%"));
        assert_eq!(form_decode("abc&def=g").as_deref(), Some("abc&def=g"));
        assert!(matches!(form_decode("plain"), Some(Cow::Borrowed("plain"))), "nothing to decode, nothing copied");
        assert_eq!(form_decode("%FF"), None);
    }
}
