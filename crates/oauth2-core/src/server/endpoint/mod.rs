//! The endpoints, one file each: each reads as parse → look up → decide (plain functions over what was looked up)
//! → at most one atomic write. [`Endpoint`] lists those an adapter mounts as they are; the authorization endpoint
//! is the app's (its login and consent pages come between [`authorization_request`] and [`approve`]).
//!
//! [`authorization_request`]: super::AuthorizationServer::authorization_request
//! [`approve`]: super::AuthorizationServer::approve

pub(crate) mod authorize;
pub(crate) mod device;
mod introspection;
mod metadata;
pub(crate) mod par;
pub(crate) mod password;
mod revocation;
pub(crate) mod token;
mod userinfo;

use std::time::SystemTime;

use super::AuthorizationServer;
use super::store::Store;

/// An endpoint the server answers by itself, for an adapter to mount at [`path`](AuthorizationServer::path) with
/// [`method`](Endpoint::method) and answer with [`serve`](AuthorizationServer::serve).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The token endpoint (RFC 6749 §3.2), `POST`.
    Token,
    /// The revocation endpoint (RFC 7009 §2), `POST`.
    Revocation,
    /// The introspection endpoint (RFC 7662 §2), `POST`.
    Introspection,
    /// The metadata document (RFC 8414 §3), `GET`.
    Metadata,
    /// The device authorization endpoint (RFC 8628 §3.1), `POST`; mounted once the server offers the device grant.
    DeviceAuthorization,
    /// The pushed authorization request endpoint (RFC 9126 §2), `POST`.
    PushedAuthorization,
    /// The UserInfo endpoint (OIDC Core §5.3), `GET` and `POST`; mounted once the app gives its claims
    /// ([`with_userinfo`](AuthorizationServer::with_userinfo)).
    UserInfo,
    /// The public signing keys, a JWK Set (RFC 7517 §5) at `jwks_uri`, `GET`.
    #[cfg(feature = "jose")]
    Jwks,
    /// The OpenID Provider metadata (OpenID Connect Discovery §4), `GET`.
    #[cfg(feature = "jose")]
    OpenIdConfiguration,
}

impl Endpoint {
    /// Every endpoint, in the order adapters mount them.
    pub const ALL: &'static [Endpoint] = &[
        Self::Token,
        Self::Revocation,
        Self::Introspection,
        Self::Metadata,
        Self::DeviceAuthorization,
        Self::PushedAuthorization,
        Self::UserInfo,
        #[cfg(feature = "jose")]
        Self::Jwks,
        #[cfg(feature = "jose")]
        Self::OpenIdConfiguration,
    ];

    /// The HTTP method it answers.
    pub fn method(self) -> http::Method {
        match self {
            Self::Token
            | Self::Revocation
            | Self::Introspection
            | Self::DeviceAuthorization
            | Self::PushedAuthorization => http::Method::POST,
            Self::Metadata | Self::UserInfo => http::Method::GET,
            #[cfg(feature = "jose")]
            Self::Jwks | Self::OpenIdConfiguration => http::Method::GET,
        }
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// Where `endpoint` is served, from the configuration.
    pub fn path(&self, endpoint: Endpoint) -> String {
        let c = &self.config;
        match endpoint {
            Endpoint::Token => c.token_path.clone(),
            Endpoint::Revocation => c.revocation_path.clone(),
            Endpoint::Introspection => c.introspection_path.clone(),
            Endpoint::Metadata => c.metadata_path(),
            Endpoint::DeviceAuthorization => c.device_authorization_path.clone(),
            Endpoint::PushedAuthorization => c.pushed_authorization_request_path.clone(),
            Endpoint::UserInfo => c.userinfo_path.clone().unwrap_or_else(|| "/userinfo".to_owned()),
            #[cfg(feature = "jose")]
            Endpoint::Jwks => c.jwks_path.clone(),
            #[cfg(feature = "jose")]
            Endpoint::OpenIdConfiguration => c.openid_configuration_path(),
        }
    }

    /// The endpoints this server serves, each with its method and path: what an adapter folds over to mount them.
    pub fn endpoints(&self) -> impl Iterator<Item = (Endpoint, http::Method, String)> + '_ {
        let userinfo = self.userinfo.is_some();
        let device = self.config.grant_types.contains(&crate::grant::GrantType::DeviceCode);
        Endpoint::ALL
            .iter()
            .filter(move |&&e| (e != Endpoint::UserInfo || userinfo) && (e != Endpoint::DeviceAuthorization || device))
            .map(|&e| (e, e.method(), self.path(e)))
            // OIDC Core §5.3.1: the UserInfo endpoint answers POST as well.
            .chain(userinfo.then(|| (Endpoint::UserInfo, http::Method::POST, self.path(Endpoint::UserInfo))))
    }

    /// Answers `request` as `endpoint`: the one entry point adapters need. A request body the adapter could not
    /// read in full within its limits should be answered with [`OAuthError::invalid_request`] instead.
    ///
    /// [`OAuthError::invalid_request`]: crate::OAuthError::invalid_request
    pub async fn serve<B: AsRef<[u8]>>(
        &self,
        endpoint: Endpoint,
        request: http::Request<B>,
        now: SystemTime,
    ) -> http::Response<Vec<u8>> {
        match endpoint {
            Endpoint::Token => self.token(request, now).await,
            Endpoint::Revocation => self.revoke(request, now).await,
            Endpoint::Introspection => self.introspect(request, now).await,
            Endpoint::Metadata => self.metadata_response(),
            Endpoint::DeviceAuthorization => self.device_authorization(request, now).await,
            Endpoint::PushedAuthorization => self.pushed_authorization_request(request, now).await,
            Endpoint::UserInfo => self.userinfo(request.method(), request.headers(), now).await,
            #[cfg(feature = "jose")]
            Endpoint::Jwks => self.jwks_response(now).await,
            #[cfg(feature = "jose")]
            Endpoint::OpenIdConfiguration => self.openid_configuration_response(now).await,
        }
    }
}
