//! Using a Bearer token (RFC 6750 §2.1) and reading a resource server's challenge (RFC 6750 §3, RFC 7235 §4.1).

use http::HeaderValue;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};

use super::{Token, TokenType};
use crate::error::ErrorCode;
use crate::scope::Scope;

/// An access token that cannot be sent in an `Authorization` header (it has spaces or control characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the access token has characters an Authorization header cannot carry")]
pub struct InvalidTokenValue;

impl Token {
    /// The `Authorization` header value for this token: `Bearer <token>` (RFC 6750 §2.1), marked sensitive so HTTP
    /// libraries keep it out of logs. Tokens of another type are sent with their own scheme name.
    pub fn authorization_header(&self) -> Result<HeaderValue, InvalidTokenValue> {
        let token = self.access_token.secret();
        if token.is_empty() || !token.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(InvalidTokenValue);
        }
        let scheme = match &self.token_type {
            TokenType::Bearer => "Bearer",
            TokenType::Other(s) => s.as_str(),
        };
        let mut value = HeaderValue::try_from(format!("{scheme} {token}")).map_err(|_| InvalidTokenValue)?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Sets the `Authorization` header of `request` to this token.
    pub fn authorize<B>(&self, request: &mut http::Request<B>) -> Result<(), InvalidTokenValue> {
        request.headers_mut().insert(AUTHORIZATION, self.authorization_header()?);
        Ok(())
    }
}

/// One challenge of a `WWW-Authenticate` header (RFC 7235 §4.1): a scheme with a token68 or parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedChallenge {
    /// The auth scheme, such as `Bearer` or `Basic`.
    pub scheme: String,
    /// The token68 form, if used instead of parameters.
    pub token68: Option<String>,
    /// The auth-params, names lowercased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl ParsedChallenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A `WWW-Authenticate` value that does not follow RFC 7235 §4.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed WWW-Authenticate header at byte {0}")]
pub struct InvalidChallenge(pub usize);

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Result<String, InvalidChallenge> {
        // Caller saw the opening quote.
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(InvalidChallenge(self.i)),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or(InvalidChallenge(self.i))?;
                    out.push(c);
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
    /// Whether an auth-param (`token BWS "=" BWS value`, not a token68's padding) starts here.
    fn at_param(&self) -> bool {
        let mut j = self.i;
        while self.s.get(j).copied().is_some_and(is_tchar) {
            j += 1;
        }
        if j == self.i {
            return false;
        }
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if self.s.get(j) != Some(&b'=') {
            return false;
        }
        j += 1;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        matches!(self.s.get(j), Some(c) if *c == b'"' || is_tchar(*c) && *c != b'=')
    }
}

/// Parses a `WWW-Authenticate` header value into its challenges (RFC 7235 §4.1).
///
/// ```
/// use oauth2_core::client::parse_challenges;
/// let c = parse_challenges(r#"Bearer realm="example", error="invalid_token", error_description="expired""#).unwrap();
/// assert_eq!(c[0].scheme, "Bearer");
/// assert_eq!(c[0].param("error"), Some("invalid_token"));
/// ```
pub fn parse_challenges(value: &str) -> Result<Vec<ParsedChallenge>, InvalidChallenge> {
    let mut c = Cursor { s: value.as_bytes(), i: 0 };
    let mut out = Vec::new();
    loop {
        c.skip_ws_and_commas();
        if c.peek().is_none() {
            return Ok(out);
        }
        let scheme = c.token().ok_or(InvalidChallenge(c.i))?;
        let mut challenge = ParsedChallenge { scheme, token68: None, params: Vec::new() };
        let had_space = matches!(c.peek(), Some(b' ' | b'\t'));
        c.skip_ws();
        if had_space && !c.at_param() && c.peek().is_some_and(is_token68_char) {
            // token68: a run of token68 characters and trailing '=' padding, then end or a comma.
            let start = c.i;
            while c.peek().is_some_and(is_token68_char) {
                c.i += 1;
            }
            while c.peek() == Some(b'=') {
                c.i += 1;
            }
            let t68 = String::from_utf8_lossy(&c.s[start..c.i]).into_owned();
            c.skip_ws();
            match c.peek() {
                None | Some(b',') => challenge.token68 = Some(t68),
                // Not token68 after all: a new challenge's scheme follows (e.g. `Negotiate, Basic`). Rewind.
                _ => c.i = start,
            }
        } else {
            while c.at_param() {
                let name = c.token().ok_or(InvalidChallenge(c.i))?.to_ascii_lowercase();
                c.skip_ws();
                c.i += 1; // '=' checked by at_param
                c.skip_ws();
                let value =
                    if c.peek() == Some(b'"') { c.quoted()? } else { c.token().ok_or(InvalidChallenge(c.i))? };
                challenge.params.push((name, value));
                c.skip_ws();
                match c.peek() {
                    Some(b',') => {
                        c.skip_ws_and_commas();
                    }
                    None => break,
                    Some(_) => return Err(InvalidChallenge(c.i)),
                }
            }
        }
        out.push(challenge);
        if c.peek().is_some_and(|b| !matches!(b, b' ' | b'\t' | b',') && !is_tchar(b)) {
            return Err(InvalidChallenge(c.i));
        }
    }
}

/// A Bearer challenge from a resource server (RFC 6750 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The protection space.
    pub realm: Option<String>,
    /// The scope the resource needs.
    pub scope: Option<Scope>,
    /// `invalid_request`, `invalid_token`, `insufficient_scope` (§3.1), or another code. Absent when the request
    /// carried no credentials.
    pub error: Option<ErrorCode>,
    /// Text for the developer.
    pub error_description: Option<String>,
    /// A page about the error.
    pub error_uri: Option<String>,
}

impl BearerChallenge {
    /// The first Bearer challenge of a response's `WWW-Authenticate` headers, if any parses.
    pub fn from_response<B>(response: &http::Response<B>) -> Option<Self> {
        Self::from_headers(response.headers())
    }

    /// The first Bearer challenge in `headers`.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        Self::of_scheme(headers, "Bearer")
    }

    /// The challenge of another scheme with the same parameters, such as `DPoP` (RFC 9449 §7.1), from `headers`.
    pub fn of_scheme(headers: &http::HeaderMap, scheme: &str) -> Option<Self> {
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| parse_challenges(v).ok())
            .flatten()
            .find(|c| c.scheme.eq_ignore_ascii_case(scheme))
            .map(|c| Self {
                realm: c.param("realm").map(str::to_owned),
                scope: c.param("scope").map(Scope::parse),
                error: c.param("error").map(ErrorCode::parse),
                error_description: c.param("error_description").map(str::to_owned),
                error_uri: c.param("error_uri").map(str::to_owned),
            })
    }

    /// Whether the token was rejected as expired, revoked or malformed: the case where refreshing may help.
    pub fn is_invalid_token(&self) -> bool {
        self.error == Some(ErrorCode::InvalidToken)
    }
}

/// Whether an answer asks for a DPoP proof with the server's nonce (§8: `use_dpop_nonce` in the JSON error of an
/// authorization server, §9 in the `DPoP` challenge of a resource) and gives one: then the request is sent once
/// more, with the nonce it gave.
#[cfg(feature = "jose")]
pub fn asks_for_dpop_nonce(status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) -> bool {
    if !headers.contains_key(crate::dpop::DPOP_NONCE) {
        return false;
    }
    let in_body = status == http::StatusCode::BAD_REQUEST
        && serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|v| v.get("error").and_then(serde_json::Value::as_str) == Some("use_dpop_nonce"));
    let in_challenge = status == http::StatusCode::UNAUTHORIZED
        && BearerChallenge::of_scheme(headers, crate::dpop::SCHEME)
            .is_some_and(|c| c.error.as_ref().is_some_and(|e| e.as_str() == "use_dpop_nonce"));
    in_body || in_challenge
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6750_2_1_authorization_header() {
        let token = Token::new("mF_9.B5f-4.1JqM");
        let mut req = http::Request::new(());
        token.authorize(&mut req).unwrap();
        let v = req.headers().get(AUTHORIZATION).unwrap();
        assert_eq!(v, "Bearer mF_9.B5f-4.1JqM");
        assert!(v.is_sensitive());
        assert_eq!(Token::new("has space").authorization_header(), Err(InvalidTokenValue));
        assert_eq!(Token::new("").authorization_header(), Err(InvalidTokenValue));
    }

    #[test]
    fn rfc6750_3_example_challenges() {
        let c = parse_challenges(r#"Bearer realm="example""#).unwrap();
        assert_eq!(
            c,
            vec![ParsedChallenge {
                scheme: "Bearer".into(),
                token68: None,
                params: vec![("realm".into(), "example".into())]
            }]
        );

        let mut headers = http::HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
            ),
        );
        let b = BearerChallenge::from_headers(&headers).unwrap();
        assert!(b.is_invalid_token());
        assert_eq!(b.realm.as_deref(), Some("example"));
        assert_eq!(b.error_description.as_deref(), Some("The access token expired"));
    }

    #[test]
    fn rfc6750_3_1_insufficient_scope_with_scope() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="insufficient_scope", scope="read write""#),
        );
        let b = BearerChallenge::from_headers(&headers).unwrap();
        assert_eq!(b.error, Some(ErrorCode::InsufficientScope));
        assert_eq!(b.scope, Some(Scope::parse("read write")));
    }

    #[test]
    fn rfc7235_4_1_several_challenges_and_token68() {
        let c = parse_challenges(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#)
            .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(c[0].param("type"), Some("1"));
        assert_eq!(c[1].scheme, "Basic");
        let c = parse_challenges("Negotiate abc123==, Bearer").unwrap();
        assert_eq!(c[0].token68.as_deref(), Some("abc123=="));
        assert_eq!(c[1].scheme, "Bearer");
        let c = parse_challenges("Bearer, Basic realm=x").unwrap();
        assert_eq!(c.len(), 2);
        assert!(parse_challenges(r#"Bearer realm="unterminated"#).is_err());
    }

    proptest! {
        #[test]
        fn challenge_parser_never_panics(s in "\\PC{0,120}") {
            let _ = parse_challenges(&s);
        }

        #[test]
        fn challenges_round_trip(params in proptest::collection::vec(("[a-z_]{1,8}", "[ -~]{0,16}"), 1..5)) {
            let rendered: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            let header = format!("Bearer {}", rendered.join(", "));
            let parsed = parse_challenges(&header).unwrap();
            prop_assert_eq!(parsed.len(), 1);
            prop_assert_eq!(&parsed[0].params, &params);
        }
    }

    #[cfg(feature = "jose")]
    #[test]
    fn rfc9449_8_use_dpop_nonce_answers_are_recognized() {
        let answer = |status: u16, body: &str, challenge: Option<&str>, nonce: bool| {
            let mut headers = http::HeaderMap::new();
            if let Some(c) = challenge {
                headers.insert("www-authenticate", c.parse().unwrap());
            }
            if nonce {
                headers.insert(crate::dpop::DPOP_NONCE, "n1".parse().unwrap());
            }
            asks_for_dpop_nonce(http::StatusCode::from_u16(status).unwrap(), &headers, body.as_bytes())
        };
        assert!(answer(400, r#"{"error":"use_dpop_nonce"}"#, None, true));
        assert!(answer(401, "", Some("DPoP error=\"use_dpop_nonce\", algs=\"ES256\""), true));
        assert!(!answer(400, r#"{"error":"use_dpop_nonce"}"#, None, false), "no nonce given");
        assert!(!answer(400, r#"{"error":"invalid_dpop_proof"}"#, None, true));
        assert!(!answer(401, "", Some("Bearer error=\"use_dpop_nonce\""), true), "a DPoP challenge");
    }
}
