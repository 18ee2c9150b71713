//! Redirect URI matching (RFC 6749 §3.1.2, RFC 9700 §4.1.1, RFC 8252 §7.3): exact string comparison, and for
//! native apps only the port of a loopback URI may differ.

use url::Url;

use crate::server::store::RegisteredClient;

/// Whether `given` is an allowed redirect URI for `client`: an exact string match (RFC 9700 §4.1.1), or for a native
/// client a loopback URI that differs from a registered one only in its port (RFC 8252 §7.3). The strings are
/// compared with the port cut out and **nothing else normalised**: `/x/../cb`, `%2e%2e`, `127.1`, `0x7f.1`, an
/// upper-case scheme or a tab inside are all different strings, and port 0 is refused.
pub fn redirect_uri_allowed(client: &RegisteredClient, given: &str) -> bool {
    if client.redirect_uris.iter().any(|r| r == given) {
        return true;
    }
    if !client.native {
        return false;
    }
    let Some(given) = without_loopback_port(given) else { return false };
    client.redirect_uris.iter().any(|r| without_loopback_port(r).is_some_and(|r| r == given))
}

/// `uri` with its port cut out, if it is an `http` URI on a loopback host written as RFC 8252 §7.3 and §8.3 write
/// them (`127.0.0.1`, `[::1]`, `localhost`); `None` otherwise. A port, when written, is 1 to 65535 in decimal
/// without leading zeros.
fn without_loopback_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let host_end =
        if rest.starts_with('[') { rest.find(']')? + 1 } else { rest.find([':', '/', '?', '#']).unwrap_or(rest.len()) };
    let (host, rest) = rest.split_at(host_end);
    if !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
        return None;
    }
    let after = match rest.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
            let port = &port_and_rest[..digits];
            let valid = !port.starts_with('0') && port.parse::<u16>().is_ok_and(|p| p != 0);
            if !valid {
                return None;
            }
            &port_and_rest[digits..]
        }
        None => rest,
    };
    if !(after.is_empty() || after.starts_with(['/', '?', '#'])) {
        return None;
    }
    // The whole string must be a URI that parses as it is written, with nothing a parser would drop or rewrite
    // silently (tabs and newlines are removed by URL parsers, so they would not reach the comparison otherwise).
    if uri.bytes().any(|b| b.is_ascii_control() || b == b' ') || Url::parse(uri).is_err() {
        return None;
    }
    Some(format!("http://{host}{after}"))
}

#[cfg(test)]
mod tests {
    use super::redirect_uri_allowed;
    use crate::server::store::RegisteredClient;

    #[test]
    fn rfc8252_7_3_only_the_port_of_a_native_loopback_redirect_may_vary() {
        let native = RegisteredClient::public("n").redirect_uris([
            "http://127.0.0.1/callback",
            "http://[::1]:8080/cb",
            "http://localhost/cb?x=1",
        ]);
        for ok in [
            "http://127.0.0.1:51234/callback",
            "http://127.0.0.1:65535/callback",
            "http://127.0.0.1/callback",
            "http://[::1]:1/cb",
            "http://[::1]/cb",
            "http://localhost:9/cb?x=1",
        ] {
            assert!(redirect_uri_allowed(&native, ok), "{ok} should be allowed");
        }
        for refused in [
            "http://127.0.0.1:51234/x/../callback",
            "http://127.0.0.1:51234/%2e%2e/callback",
            "http://127.0.0.1:51234/%63allback",
            "http://0x7f.1:51234/callback",
            "http://127.1:51234/callback",
            "http://0x7f000001:51234/callback",
            "http://2130706433:51234/callback",
            "HTTP://127.0.0.1:51234/callback",
            "http://127.0.0.1:51234/call\tback",
            "http://127.0.0.1:51234/callback\n",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:051234/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:80x/callback",
            "http://127.0.0.1:51234/callback/",
            "http://127.0.0.1:51234/callback?extra",
            "http://user@127.0.0.1:51234/callback",
            "http://[0:0:0:0:0:0:0:1]:51234/cb",
            "http://LOCALHOST:9/cb?x=1",
            "https://127.0.0.1:51234/callback",
        ] {
            assert!(!redirect_uri_allowed(&native, refused), "{refused:?} must be refused");
        }
    }

    #[test]
    fn rfc9700_4_1_1_other_clients_match_exactly() {
        let confidential = RegisteredClient::confidential("c", "s").redirect_uris(["http://127.0.0.1/callback"]);
        assert!(redirect_uri_allowed(&confidential, "http://127.0.0.1/callback"));
        assert!(!redirect_uri_allowed(&confidential, "http://127.0.0.1:51234/callback"), "only native clients vary");
        let web = RegisteredClient::confidential("w", "s").redirect_uris(["https://app.example/cb"]);
        for refused in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/cb?x",
            "https://app.example:443/cb",
        ] {
            assert!(!redirect_uri_allowed(&web, refused), "{refused}");
        }
    }
}
