//! Resource indicators (RFC 8707): which resources a request names, whether the client may ask for them, and
//! how a token request narrows what the authorization granted. A token's audience is its resources, or the issuer
//! when it names none.

use crate::error::{ErrorCode, OAuthError};
use crate::form::FormParams;
use crate::server::store::RegisteredClient;

/// The `aud` of a token for `resources` (RFC 8707 §2, RFC 9068 §3): the one resource as a string, several as an
/// array, and the `issuer` when none was named.
pub(crate) fn audience(issuer: &str, resources: &[String]) -> serde_json::Value {
    match resources {
        [] => serde_json::json!(issuer),
        [one] => serde_json::json!(one),
        many => serde_json::json!(many),
    }
}

/// Whether `client`, a resource server, is an audience of a token for `resources` (RFC 7662 §2.1, design.md §4):
/// a token naming no resource is for the issuer's resource servers; one naming resources is for the resource
/// server whose id or registered resources name one of them.
pub(crate) fn names(client: &RegisteredClient, resources: &[String]) -> bool {
    resources.is_empty() || resources.iter().any(|r| *r == client.id || client.resources.contains(r))
}

/// Resources one request may name at most: each becomes an `aud` entry of every token of the grant.
pub(crate) const MAX_RESOURCES: usize = 8;

/// The longest resource URI accepted.
pub(crate) const MAX_RESOURCE_LEN: usize = 1024;

fn invalid_target(why: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, why)
}

/// Whether `value` is a resource RFC 8707 §2 allows, within our bounds: an absolute URI without a fragment, no
/// longer than [`MAX_RESOURCE_LEN`]. A URI has no space or control character (RFC 3986 §2), though `url` would
/// percent-encode them: such a value is refused as it is (stores keep resources space-separated).
pub(crate) fn is_resource(value: &str) -> bool {
    value.len() <= MAX_RESOURCE_LEN
        && !value.contains('#')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && url::Url::parse(value).is_ok_and(|url| url.fragment().is_none())
}

/// The `resource` values of `params` (RFC 8707 §2: each an absolute URI without a fragment; it may repeat),
/// without repeats, in the order given. Anything else is `invalid_target`.
pub(crate) fn requested(params: &FormParams) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for value in params.get_all(crate::form::REPEATABLE) {
        if !is_resource(value) {
            return Err(invalid_target("a resource must be an absolute URI without a fragment, at most 1024 bytes"));
        }
        if !out.iter().any(|r| r == value) {
            if out.len() == MAX_RESOURCES {
                return Err(invalid_target("too many resources"));
            }
            out.push(value.to_owned());
        }
    }
    Ok(out)
}

/// Whether `client` may ask for `resources`: any, unless its registration lists the ones it may (then each must
/// be one of them, compared as strings).
pub(crate) fn allowed(client: &RegisteredClient, resources: Vec<String>) -> Result<Vec<String>, OAuthError> {
    if !client.resources.is_empty() && resources.iter().any(|r| !client.resources.contains(r)) {
        return Err(invalid_target("this client may not ask for this resource"));
    }
    Ok(resources)
}

/// The resources of a token issued to `client` from a grant of `granted` resources (a code's or refresh token's),
/// for a token request that names `requested` (RFC 8707 §2.2): all of the grant's when it names none, else the ones
/// it names, each of which the grant must have. A grant that named none (its audience is the issuer) may be
/// narrowed to any resource the client may ask for: design.md §4 takes `resource` from the authorization request
/// or the token request.
pub(crate) fn narrowed(
    client: &RegisteredClient,
    granted: &[String],
    requested: Vec<String>,
) -> Result<Vec<String>, OAuthError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    if granted.is_empty() {
        return allowed(client, requested);
    }
    if requested.iter().any(|r| !granted.contains(r)) {
        return Err(invalid_target("the grant does not include this resource"));
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> FormParams {
        FormParams::parse(s.as_bytes()).unwrap()
    }

    fn code(r: Result<Vec<String>, OAuthError>) -> ErrorCode {
        r.unwrap_err().code().clone()
    }

    #[test]
    fn rfc8707_2_a_resource_is_an_absolute_uri_without_a_fragment() {
        let ok = requested(&form("resource=https%3A%2F%2Fapi.example%2Fv1&resource=urn%3Aexample%3Aapi")).unwrap();
        assert_eq!(ok, ["https://api.example/v1", "urn:example:api"]);
        for bad in [
            "resource=%2Fapi",
            "resource=api.example",
            "resource=https%3A%2F%2Fapi.example%23f",
            "resource=https%3A%2F%2Fapi.example%2Fa%20b",
            "resource=https%3A%2F%2Fapi.example%2Fa%0A",
        ] {
            assert_eq!(code(requested(&form(bad))), ErrorCode::InvalidTarget, "{bad}");
        }
        let e = requested(&form("resource=%2Fapi")).unwrap_err();
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
        assert!(requested(&form("scope=read")).unwrap().is_empty());
        let repeated = requested(&form("resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fa")).unwrap();
        assert_eq!(repeated, ["https://a"], "a repeat names one resource");
    }

    #[test]
    fn rfc8707_2_requests_are_bounded() {
        let many: Vec<String> = (0..=MAX_RESOURCES).map(|i| format!("resource=https%3A%2F%2Fr{i}")).collect();
        assert_eq!(code(requested(&form(&many.join("&")))), ErrorCode::InvalidTarget);
        let long = format!("resource=https%3A%2F%2F{}", "a".repeat(MAX_RESOURCE_LEN));
        assert_eq!(code(requested(&form(&long))), ErrorCode::InvalidTarget);
    }

    #[test]
    fn rfc8707_2_a_client_may_be_limited_to_its_registered_resources() {
        let open = RegisteredClient::confidential("a", "s");
        assert_eq!(allowed(&open, vec!["https://any".into()]).unwrap(), ["https://any"]);
        let limited = RegisteredClient::confidential("b", "s").resources(["https://api.example"]);
        assert!(allowed(&limited, vec!["https://api.example".into()]).is_ok());
        assert!(allowed(&limited, Vec::new()).is_ok(), "naming none is always allowed: the audience is the issuer");
        assert_eq!(code(allowed(&limited, vec!["https://other.example".into()])), ErrorCode::InvalidTarget);
    }

    #[test]
    fn rfc8707_2_2_a_token_request_narrows_the_granted_resources() {
        let open = RegisteredClient::confidential("a", "s");
        let granted = vec!["https://a".to_owned(), "https://b".to_owned()];
        assert_eq!(narrowed(&open, &granted, Vec::new()).unwrap(), granted);
        assert_eq!(narrowed(&open, &granted, vec!["https://b".into()]).unwrap(), ["https://b"]);
        assert_eq!(code(narrowed(&open, &granted, vec!["https://c".into()])), ErrorCode::InvalidTarget);
        // A grant for the issuer alone may be narrowed to a resource the client may ask for, and only to those.
        assert_eq!(narrowed(&open, &[], vec!["https://c".into()]).unwrap(), ["https://c"]);
        let limited = RegisteredClient::confidential("b", "s").resources(["https://a"]);
        assert_eq!(code(narrowed(&limited, &[], vec!["https://c".into()])), ErrorCode::InvalidTarget);
    }
}
