//! # oauth2-testkit: test support for the toolkit
//!
//! [`StubServer`] is a small, scriptable OAuth 2.0 authorization server and resource on `127.0.0.1:0`, for testing
//! clients over real HTTP. It is written independently of `oauth2-core` (its own form parsing, PKCE check and
//! Basic decoding), so a client bug cannot hide behind the same bug in the server.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod stub;

pub use stub::{
    CLIENT_ID, CLIENT_SECRET, PASSWORD, PUBLIC_CLIENT_ID, RecordedRequest, StubServer, StubState, USERNAME,
};
