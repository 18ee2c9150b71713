//! The scope rule (RFC 6749 §3.3, §6), one function for every grant: what a `scope` parameter asks for, and what a
//! request gets.

use crate::error::{ErrorCode, OAuthError};
use crate::scope::Scope;

pub(crate) fn scope_refused() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidScope, "unknown scope, or one this client may not ask for")
}

/// A `scope` parameter as sent (RFC 6749 §3.3): `None` when omitted **or blank** (a scope has at least one token,
/// so `scope=%20` asks for nothing in particular), `invalid_scope` when a token has characters §3.3 does not allow.
pub(crate) fn requested_scope(raw: Option<&str>) -> Result<Option<Scope>, OAuthError> {
    let requested = raw.map(Scope::parse).filter(|s| !s.is_empty());
    match requested {
        Some(s) if !s.is_valid_syntax() => Err(scope_refused()),
        other => Ok(other),
    }
}

/// The one rule for every grant's scope (RFC 6749 §3.3, §6): omitted or blank means all of `allowed`; a malformed
/// one, or one wider than `allowed`, is `invalid_scope`; a narrower one is granted as asked. `allowed` is the
/// client's registration for a new grant, and the original grant's scope for a refresh.
pub(crate) fn decide_scope(raw: Option<&str>, allowed: &Scope) -> Result<Scope, OAuthError> {
    match requested_scope(raw)? {
        None => Ok(allowed.clone()),
        Some(s) if s.is_subset_of(allowed) => Ok(s),
        Some(_) => Err(scope_refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(raw: Option<&str>) -> Result<String, String> {
        decide_scope(raw, &Scope::parse("read write")).map(|s| s.to_string()).map_err(|e| e.code().to_string())
    }

    #[test]
    fn rfc6749_3_3_omitted_or_blank_means_everything_allowed() {
        for raw in [None, Some(""), Some(" "), Some("   ")] {
            assert_eq!(decided(raw), Ok("read write".into()), "{raw:?}");
        }
    }

    #[test]
    fn rfc6749_3_3_narrower_is_granted_and_wider_or_malformed_refused() {
        assert_eq!(decided(Some("write")), Ok("write".into()));
        assert_eq!(decided(Some("write  read read")), Ok("write read".into()));
        assert_eq!(decided(Some("read admin")), Err("invalid_scope".into()));
        assert_eq!(decided(Some("re\"ad")), Err("invalid_scope".into()));
        assert_eq!(requested_scope(Some("a\\b")).map_err(|e| e.code().clone()), Err(ErrorCode::InvalidScope));
    }
}
