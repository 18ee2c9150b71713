//! Token revocation requests and answers (RFC 7009 §2).

use super::response::error_from;
use super::{Client, RequestError, ResponseError};
use crate::introspection::TokenTypeHint;

impl Client {
    /// Asks the server to revoke `token` (RFC 7009 §2.1), with client authentication.
    pub fn revocation_request(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        self.token_management_request(&self.revocation_endpoint, "revocation_endpoint", token, hint)
    }

    /// Reads a revocation response: 200 means revoked or unknown, both success (RFC 7009 §2.2).
    pub fn parse_revocation_response(&self, response: http::Response<Vec<u8>>) -> Result<(), ResponseError> {
        let response = self.prepare(response);
        if super::response::is_success(response.status(), self.lenient) {
            Ok(())
        } else {
            Err(error_from(&response, self.lenient))
        }
    }
}
