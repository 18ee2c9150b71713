//! Pushed authorization requests, client side (RFC 9126): the request is
//! [`AuthorizationUrlBuilder::build_pushed`](super::AuthorizationUrlBuilder::build_pushed); the answer is parsed
//! here, and the URL the browser then gets carries only `client_id` and the `request_uri` (§4).

use std::time::{Duration, SystemTime};

use serde_json::Value;
use url::Url;

use super::response::{body_object, error_from, error_of, unexpected};
use super::{Client, RequestError, ResponseError};

/// The pushed authorization response (RFC 9126 §2.2): where the request now lives, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushedAuthorization {
    /// The reference the browser carries to the authorization endpoint.
    pub request_uri: String,
    /// When the reference stops working (`now + expires_in`).
    pub expires_at: SystemTime,
}

impl Client {
    /// Parses the pushed authorization response (RFC 9126 §2.2) that arrived at `now`: `201 Created` (any 2xx when
    /// lenient) with `request_uri` and `expires_in`, both required; an error is the RFC 6749 §5.2 JSON error.
    pub fn parse_pushed_authorization_response(
        &self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Result<PushedAuthorization, ResponseError> {
        let response = self.prepare(response);
        let status = response.status();
        let ok = status == http::StatusCode::CREATED || (self.lenient && status.is_success());
        if !ok {
            return Err(if status.is_success() {
                unexpected(&response, format!("status {status}, not 201 Created"))
            } else {
                error_from(&response, self.lenient)
            });
        }
        let mut fields = body_object(&response, self.lenient)?;
        if let Some(error) = error_of(&fields) {
            return Err(ResponseError::Provider { status, error });
        }
        let request_uri = match fields.remove("request_uri") {
            Some(Value::String(uri)) if !uri.is_empty() => uri,
            Some(Value::String(_)) => return Err(unexpected(&response, "`request_uri` is empty")),
            Some(_) => return Err(unexpected(&response, "`request_uri` is not a string")),
            None => return Err(unexpected(&response, "`request_uri` is missing")),
        };
        let expires_in = match fields.remove("expires_in") {
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => n.as_u64().unwrap_or(0),
            Some(Value::String(s)) if self.lenient && s.parse::<u64>().is_ok_and(|n| n > 0) => s.parse().unwrap_or(0),
            Some(_) => return Err(unexpected(&response, "`expires_in` is not a positive number of seconds")),
            None => return Err(unexpected(&response, "`expires_in` is missing")),
        };
        // A day at most: no pushed request lives that long, and the sum cannot overflow.
        Ok(PushedAuthorization { request_uri, expires_at: now + Duration::from_secs(expires_in.min(86_400)) })
    }

    /// The URL to send the browser to for a pushed request (RFC 9126 §4): the authorization endpoint with only
    /// `client_id` and `request_uri`.
    pub fn pushed_authorization_url(&self, pushed: &PushedAuthorization) -> Result<Url, RequestError> {
        let mut url =
            self.authorization_endpoint.clone().ok_or(RequestError::MissingEndpoint("authorization_endpoint"))?;
        url.query_pairs_mut().append_pair("client_id", &self.client_id).append_pair("request_uri", &pushed.request_uri);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(secret: Option<&str>, method: Option<crate::client::ClientAuthMethod>) -> Client {
        let mut b = Client::builder("app")
            .authorization_endpoint("https://as.example/authorize")
            .pushed_authorization_request_endpoint("https://as.example/par")
            .redirect_uri("https://app.example/cb");
        if let Some(s) = secret {
            b = b.secret(s);
        }
        if let Some(m) = method {
            b = b.auth_method(m);
        }
        b.build().unwrap()
    }

    fn answer(status: u16, body: &str) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    fn form(request: &http::Request<Vec<u8>>) -> crate::form::FormParams {
        crate::form::FormParams::parse(request.body()).unwrap()
    }

    #[test]
    fn rfc9126_2_1_the_push_carries_the_authorization_request_client_authenticated() {
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(7);
        let basic = client(Some("s3cret"), None);
        let (push, pending) = basic
            .authorization_request(&mut rng)
            .scope("openid read")
            .param("prompt", "consent")
            .build_pushed()
            .unwrap();
        assert_eq!((push.method().as_str(), push.uri().to_string().as_str()), ("POST", "https://as.example/par"));
        assert_eq!(push.headers()["content-type"], "application/x-www-form-urlencoded");
        assert!(push.headers()["authorization"].to_str().unwrap().starts_with("Basic "));
        let p = form(&push);
        assert_eq!(p.get("response_type"), Some("code"));
        assert_eq!(p.get("client_id"), Some("app"), "named in the body as RFC 9126 §2.1's example does");
        assert_eq!(p.get("redirect_uri"), Some("https://app.example/cb"));
        assert_eq!(p.get("scope"), Some("openid read"));
        assert_eq!(p.get("state"), Some(pending.state.secret()));
        assert_eq!(p.get("code_challenge_method"), Some("S256"));
        assert!(p.get("code_challenge").is_some() && p.get("nonce") == pending.nonce.as_deref());
        assert_eq!(p.get("prompt"), Some("consent"));
        // Posted credentials and public clients name the client once, through client authentication.
        let post = client(Some("s3cret"), Some(crate::client::ClientAuthMethod::ClientSecretPost));
        let (push, _) = post.authorization_request(&mut rng).build_pushed().unwrap();
        assert_eq!((form(&push).get("client_id"), form(&push).get("client_secret")), (Some("app"), Some("s3cret")));
        let public = client(None, None);
        let (push, _) = public.authorization_request(&mut rng).build_pushed().unwrap();
        assert_eq!(form(&push).get("client_id"), Some("app"));
        let none = Client::builder("app").authorization_endpoint("https://as.example/a").build().unwrap();
        let e = none.authorization_request(&mut rng).build_pushed().unwrap_err();
        assert!(matches!(e, RequestError::MissingEndpoint("pushed_authorization_request_endpoint")));
    }

    #[test]
    fn rfc9126_2_2_the_answer_is_parsed_and_4_the_url_carries_only_client_id_and_request_uri() {
        let c = client(None, None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let ok = answer(201, r#"{"request_uri":"urn:ietf:params:oauth:request_uri:bwc4JK","expires_in":60}"#);
        let pushed = c.parse_pushed_authorization_response(ok, now).unwrap();
        assert_eq!(pushed.request_uri, "urn:ietf:params:oauth:request_uri:bwc4JK");
        assert_eq!(pushed.expires_at, now + Duration::from_secs(60));
        let url = c.pushed_authorization_url(&pushed).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [("client_id".into(), "app".into()), ("request_uri".into(), pushed.request_uri.clone())],
            "nothing else travels through the browser"
        );
        assert_eq!(url.path(), "/authorize");
        let refused = answer(400, r#"{"error":"invalid_request","error_description":"redirect_uri"}"#);
        let e = c.parse_pushed_authorization_response(refused, now).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        for bad in [
            r#"{"expires_in":60}"#,
            r#"{"request_uri":"u"}"#,
            r#"{"request_uri":5,"expires_in":60}"#,
            r#"{"request_uri":"u","expires_in":0}"#,
            r#"{"request_uri":"u","expires_in":"60"}"#,
        ] {
            assert!(c.parse_pushed_authorization_response(answer(201, bad), now).is_err(), "{bad}");
        }
        let strict = c.parse_pushed_authorization_response(answer(200, r#"{"request_uri":"u","expires_in":60}"#), now);
        assert!(strict.is_err(), "§2.2: the answer is 201");
        let lenient =
            Client::builder("app").authorization_endpoint("https://as.example/a").lenient(true).build().unwrap();
        let r =
            lenient.parse_pushed_authorization_response(answer(200, r#"{"request_uri":"u","expires_in":"60"}"#), now);
        assert_eq!(r.unwrap().expires_at, now + Duration::from_secs(60), "lenient: 2xx and numbers as strings");
    }

    #[test]
    fn rfc9126_5_the_metadata_gives_the_endpoint_and_the_requirement() {
        let metadata: crate::metadata::AuthorizationServerMetadata = serde_json::from_str(
            r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/authorize",
                "pushed_authorization_request_endpoint":"https://as.example/par",
                "require_pushed_authorization_requests":true,"response_types_supported":["code"]}"#,
        )
        .unwrap();
        let c = Client::builder("app").metadata(&metadata).build().unwrap();
        assert_eq!(c.pushed_authorization_request_endpoint().map(Url::as_str), Some("https://as.example/par"));
        assert!(c.requires_pushed_authorization_requests());
        let plain: crate::metadata::AuthorizationServerMetadata =
            serde_json::from_str(r#"{"issuer":"https://as.example","response_types_supported":["code"]}"#).unwrap();
        assert!(!plain.require_pushed_authorization_requests, "false when absent");
        let asked =
            Client::builder("app").require_pushed_authorization_requests(true).metadata(&plain).build().unwrap();
        assert!(asked.requires_pushed_authorization_requests(), "the metadata does not take a requirement away");
    }
}
