//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3, §3.2.1).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;

use super::reply::OAuthError;
use super::store::{ClientStore, RegisteredClient, SecretHash};
use crate::form::FormParams;

/// The credentials a request presented.
enum Presented {
    Basic(String, String),
    Post(String, String),
    /// `client_id` only: a public client.
    None(String),
    Nothing,
}

/// Decodes one form-encoded part of Basic credentials (RFC 6749 §2.3.1): `+` is a space, `%XX` a byte. Every
/// other character, `&` and `=` included, stands for itself. Invalid UTF-8 is `None`.
fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|c| c.into_owned())
}

fn presented(headers: &http::HeaderMap, params: &FormParams) -> Result<Presented, OAuthError> {
    let mut basic = None;
    let mut auths = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = auths.next() {
        if auths.next().is_some() {
            return Err(OAuthError::invalid_request("more than one Authorization header"));
        }
        let value = value.to_str().map_err(|_| OAuthError::invalid_client(true))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::invalid_client(false));
        }
        let decoded = STANDARD.decode(rest.trim()).map_err(|_| OAuthError::invalid_client(true))?;
        let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client(true))?;
        let (id, secret) = decoded.split_once(':').ok_or_else(|| OAuthError::invalid_client(true))?;
        let decode = |s| form_decode(s).ok_or_else(|| OAuthError::invalid_client(true));
        basic = Some((decode(id)?, decode(secret)?));
    }
    let body_secret = params.get("client_secret");
    match (basic, params.get("client_id"), body_secret) {
        (Some(_), _, Some(_)) => {
            Err(OAuthError::invalid_request("use one client authentication method, not two (RFC 6749 §2.3)"))
        }
        (Some((id, secret)), body_id, None) => {
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request("client_id in the body differs from the Basic credentials"));
            }
            Ok(Presented::Basic(id, secret))
        }
        (None, Some(id), Some(secret)) => Ok(Presented::Post(id.to_owned(), secret.to_owned())),
        (None, Some(id), None) => Ok(Presented::None(id.to_owned())),
        (None, None, Some(_)) => Err(OAuthError::invalid_request("client_secret without client_id")),
        (None, None, None) => Ok(Presented::Nothing),
    }
}

/// Authenticates the client of a request: a confidential client by its secret (Basic or body, never both), a
/// public client by its `client_id` alone. Unknown clients and wrong secrets are both `invalid_client` (401).
pub(crate) async fn authenticate<S: ClientStore>(
    store: &S,
    headers: &http::HeaderMap,
    params: &FormParams,
) -> Result<RegisteredClient, OAuthError> {
    let (id, secret, basic) = match presented(headers, params)? {
        Presented::Basic(id, secret) => (id, Some(secret), true),
        Presented::Post(id, secret) => (id, Some(secret), false),
        Presented::None(id) => (id, None, false),
        Presented::Nothing => return Err(OAuthError::invalid_client(false)),
    };
    let client = store.client(&id).await?;
    let ok = match (&client, &secret) {
        (Some(c), Some(s)) => c.secret_hash.as_ref().is_some_and(|h| h.matches(s)),
        (Some(c), None) => !c.is_confidential(),
        (None, Some(s)) => {
            // Spend the same hashing work for unknown clients, so timing does not reveal which ids exist.
            let _ = SecretHash::of(s);
            false
        }
        (None, None) => false,
    };
    match client {
        Some(c) if ok => Ok(c),
        _ => Err(OAuthError::invalid_client(basic)),
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn rfc6749_2_3_1_basic_parts_are_form_decoded_without_splitting_on_ampersand() {
        assert_eq!(form_decode("a+b%2Bc%25").as_deref(), Some("a b+c%"));
        assert_eq!(form_decode("abc&def=g").as_deref(), Some("abc&def=g"));
        assert_eq!(form_decode("%FF"), None);
    }
}
