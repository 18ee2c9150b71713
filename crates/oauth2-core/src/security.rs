//! Transport rules: endpoints must use TLS, except on the loopback interface (RFC 6749 §3.1, §3.2; RFC 8252 §8.3).

use std::net::IpAddr;
use url::{Host, Url};

/// An endpoint that is not `https`, nor `http` on a loopback address, and was not explicitly allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing the non-TLS endpoint {url}: use https, a loopback address, or opt in to insecure http")]
pub struct InsecureEndpoint {
    /// The refused URL.
    pub url: String,
}

/// Whether `url`'s host is a loopback address: `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Accepts `https` URLs, `http` URLs on loopback, and any `http` URL when `allow_insecure_http` is set.
pub fn check_endpoint(url: &Url, allow_insecure_http: bool) -> Result<(), InsecureEndpoint> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        _ => Err(InsecureEndpoint { url: url.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(u: &str, allow: bool) -> bool {
        check_endpoint(&Url::parse(u).unwrap(), allow).is_ok()
    }

    #[test]
    fn rfc6749_3_2_token_endpoint_requires_tls() {
        assert!(check("https://as.example/token", false));
        assert!(!check("http://as.example/token", false));
        assert!(check("http://as.example/token", true));
        assert!(!check("ftp://as.example/token", true));
    }

    #[test]
    fn rfc8252_8_3_loopback_http_is_allowed() {
        assert!(check("http://127.0.0.1:8080/token", false));
        assert!(check("http://127.5.0.1/token", false));
        assert!(check("http://[::1]:9/token", false));
        assert!(check("http://localhost:9/token", false));
        assert!(check("http://LOCALHOST/token", false));
        assert!(!check("http://localhost.evil.example/token", false));
        assert!(!check("http://10.0.0.1/token", false));
    }
}
