//! The resource owner's password check (RFC 6749 §4.3.2), shared by the password grant and an app's own login
//! page: the app's verifier, behind the throttle of `rules/throttle.rs`.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::error::{ErrorCode, OAuthError, StoreError};
use crate::server::AuthorizationServer;
use crate::server::rules::throttle::password_key;
use crate::server::store::Store;

/// Why [`AuthorizationServer::verify_password`] refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The username or password is wrong.
    #[error("wrong username or password")]
    Wrong,
    /// Too many attempts for this username from this address: try again after this long. The password was not
    /// checked.
    #[error("too many failed attempts; try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    /// The server has no password verifier ([`AuthorizationServer::with_password_verifier`]).
    #[error("the password grant is not enabled")]
    NotEnabled,
    /// The throttle's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PasswordError> for OAuthError {
    /// The token endpoint's answers: `invalid_grant` for a wrong or throttled password (with `Retry-After` when
    /// throttled), `unsupported_grant_type` when the grant is off.
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Wrong => OAuthError::invalid_grant("wrong username or password"),
            PasswordError::Throttled(wait) => {
                OAuthError::invalid_grant("too many failed attempts; try again later").with_retry_after(wait)
            }
            PasswordError::NotEnabled => {
                OAuthError::new(ErrorCode::UnsupportedGrantType, "the password grant is not enabled")
            }
            PasswordError::Store(e) => e.into(),
        }
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// Checks a resource owner's password with the server's verifier and returns the subject, throttled per
    /// username and client `address` (RFC 6749 §4.3.2, [`ServerConfig::password_throttle`]): each attempt counts
    /// before the password is checked, and a key past its attempts is refused for the lockout without checking.
    /// A success clears the key's attempts. The password grant uses it; so should an app's login page.
    ///
    /// [`ServerConfig::password_throttle`]: crate::server::ServerConfig::password_throttle
    pub async fn verify_password(
        &self,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<String, PasswordError> {
        let verify = self.passwords.as_ref().ok_or(PasswordError::NotEnabled)?;
        let key = password_key(username, address);
        let attempts = self.store.record_attempt(&key, now, &self.config.password_throttle).await?;
        if let Some(wait) = attempts.refused(now) {
            tracing::warn!(address = ?address, "password attempts throttled");
            return Err(PasswordError::Throttled(wait));
        }
        match verify(username, password) {
            Some(subject) => {
                self.store.clear_attempts(&key).await?;
                Ok(subject)
            }
            None => Err(PasswordError::Wrong),
        }
    }
}
