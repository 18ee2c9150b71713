//! # oauth2-testkit: test support for the toolkit
//!
//! [`StubServer`] is a small, scriptable OAuth 2.0 authorization server and resource on `127.0.0.1:0`, for testing
//! clients over real HTTP. It is written independently of `oauth2-core` (its own form parsing, PKCE check and
//! Basic decoding), so a client bug cannot hide behind the same bug in the server.
//!
//! [`scenarios`] is the other half: one table of HTTP scenarios that every provider adapter must pass, against a
//! live server built from [`scenarios::fixture`]. It is the definition of "works on a framework".
//!
//! [`fuzz`] holds the bodies of the fuzz targets in `fuzz/`, so the corpus they find is replayed as a test.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fuzz;
pub mod postgres;
pub mod scenarios;
mod stub;

pub use stub::{
    CLIENT_ID, CLIENT_SECRET, PASSWORD, PUBLIC_CLIENT_ID, RecordedRequest, StubServer, StubState, USERNAME,
};
