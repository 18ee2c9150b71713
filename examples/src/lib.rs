//! Shared code of the example programs: the demo provider's configuration, login and consent pages and sessions
//! ([`demo`]), used by both `provider-axum` and `provider-actix` so the two differ only in framework glue.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod demo;
