//! Token introspection requests and answers (RFC 7662 §2).

use super::response::{body_object, error_from, unexpected};
use super::{Client, RequestError, ResponseError};
use crate::introspection::{Introspection, TokenTypeHint};

impl Client {
    /// Asks the server about `token` (RFC 7662 §2.1), with client authentication.
    pub fn introspection_request(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        self.token_management_request(&self.introspection_endpoint, "introspection_endpoint", token, hint)
    }

    /// Reads an introspection response (RFC 7662 §2.2): a JSON object with a boolean `active`.
    pub fn parse_introspection_response(
        &self,
        response: http::Response<Vec<u8>>,
    ) -> Result<Introspection, ResponseError> {
        let response = self.prepare(response);
        if !super::response::is_success(response.status(), self.lenient) {
            return Err(error_from(&response, self.lenient));
        }
        let map = body_object(&response, self.lenient)?;
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| unexpected(&response, format!("not an RFC 7662 introspection response: {e}")))
    }
}
