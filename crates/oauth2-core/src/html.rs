//! HTML answers: the one place that sets the headers every page of an authorization server needs, for the core's
//! error pages and an app's login and consent pages alike.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};

/// Escapes text for HTML element content and quoted attribute values: `& < > " '`.
///
/// ```
/// assert_eq!(oauth2_core::html::escape("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;");
/// ```
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The Content-Security-Policy of every page: nothing loads from anywhere, inline styles only, and no other site
/// may frame it (clickjacking on a consent button). No `form-action`: browsers apply it to the redirect that
/// follows a consent POST, which goes to the client's origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// An HTML page response: `text/html; charset=utf-8`, `Cache-Control: no-store` (pages carry CSRF tokens and
/// personal data), `X-Frame-Options: DENY` and a Content-Security-Policy that loads nothing from anywhere, allows
/// inline styles only and forbids framing. `body` is the whole document.
///
/// ```
/// let page = oauth2_core::html::response(http::StatusCode::OK, "<!doctype html><p>Hi</p>".into());
/// assert_eq!(page.headers()["x-frame-options"], "DENY");
/// ```
pub fn response(status: StatusCode, body: String) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(body.into_bytes());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("content-security-policy", HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_every_character_that_can_break_out() {
        assert_eq!(super::escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
        assert_eq!(super::escape("plain é"), "plain é");
    }
}
