//! The rules the endpoints apply, each a plain function over values (no store, no I/O): which redirect URIs match,
//! how clients authenticate, what a request form must look like, what scope and
//! resources a request gets, when things expire.

#[cfg(feature = "jose")]
pub(crate) mod access_token;
pub(crate) mod client_auth;
#[cfg(feature = "jose")]
pub(crate) mod id_token;
pub(crate) mod lifetime;
pub(crate) mod redirect_uri;
pub(crate) mod request;
pub(crate) mod resource;
pub(crate) mod scope;
pub(crate) mod throttle;
pub(crate) mod user_code;
