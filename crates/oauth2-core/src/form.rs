//! `application/x-www-form-urlencoded` parameters with duplicate detection (RFC 6749 §3.1, §3.2: "parameters MUST
//! NOT be included more than once").

/// A parameter that appeared more than once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the parameter `{0}` appears more than once")]
pub struct DuplicateParameter(pub String);

/// The one parameter that may repeat: RFC 8707's `resource` (§2: "the client MAY use the resource parameter
/// multiple times"), the one exception to RFC 6749 §3.1's rule.
pub const REPEATABLE: &str = "resource";

/// Decoded form or query parameters, each name at most once (except [`REPEATABLE`]), in the order received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormParams(Vec<(String, String)>);

impl FormParams {
    /// Decodes `input`; a repeated name other than [`REPEATABLE`] is an error. Parameters with empty values count as absent (RFC 6749 §3.1)
    /// but still count for the duplicate rule.
    pub fn parse(input: &[u8]) -> Result<Self, DuplicateParameter> {
        /// Up to this many parameters, a scan of those before is cheaper than a set.
        const SCAN: usize = 16;
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in pairs(input) {
            // Past a few parameters a set keeps this linear: a body of many must not cost quadratic time.
            let repeated = if k == REPEATABLE {
                false
            } else if out.len() < SCAN {
                out.iter().any(|(name, _)| *name == k)
            } else {
                if seen.is_empty() {
                    seen.extend(out.iter().map(|(name, _)| name.clone()));
                }
                !seen.insert(k.to_string())
            };
            if repeated {
                return Err(DuplicateParameter(k.into_owned()));
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(out))
    }

    /// The value of `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of `name`, in the order received (for [`REPEATABLE`]; others have at most one).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// Every parameter, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The parameters as a JSON object of strings.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned()))).collect()
    }
}

/// The name-value pairs of an `application/x-www-form-urlencoded` byte string, as the WHATWG URL standard parses
/// them (what `url::form_urlencoded::parse` does): split on `&`, skip empty pieces, split at the first `=`, `+` is
/// a space, `%XX` a byte, invalid UTF-8 replaced. Pieces with nothing to decode are only checked, not rewritten.
fn pairs(input: &[u8]) -> impl Iterator<Item = (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
    input.split(|&b| b == b'&').filter(|piece| !piece.is_empty()).map(|piece| {
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &piece[piece.len()..]),
        };
        (decode_component(name), decode_component(value))
    })
}

fn decode_component(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    if !bytes.iter().any(|&b| b == b'+' || b == b'%') {
        return String::from_utf8_lossy(bytes);
    }
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(|&h| hex(h)), bytes.get(i + 2).and_then(|&l| hex(l))) {
                (Some(h), Some(l)) => {
                    // Two hex digits make one byte: h * 16 + l < 256.
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// Encodes parameters as a form body or query string.
pub fn encode<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6749_3_1_duplicate_parameters_are_rejected() {
        assert_eq!(FormParams::parse(b"a=1&b=2&a=3"), Err(DuplicateParameter("a".into())));
        assert_eq!(FormParams::parse(b"a=&a=1"), Err(DuplicateParameter("a".into())));
    }

    #[test]
    fn rfc8707_2_resource_is_the_one_parameter_that_may_repeat() {
        let p =
            FormParams::parse(b"resource=https%3A%2F%2Fa.example&scope=x&resource=https%3A%2F%2Fb.example").unwrap();
        assert_eq!(p.get_all("resource").collect::<Vec<_>>(), ["https://a.example", "https://b.example"]);
        assert_eq!(p.get_all("scope").collect::<Vec<_>>(), ["x"]);
        // Past the scan limit too.
        let mut body: Vec<String> = (0..20).map(|i| format!("p{i}=v")).collect();
        body.extend(["resource=https://a".into(), "resource=https://b".into()]);
        assert_eq!(FormParams::parse(body.join("&").as_bytes()).unwrap().get_all("resource").count(), 2);
        assert!(FormParams::parse(b"resource=a&scope=x&scope=y").is_err(), "others still may not");
    }

    #[test]
    fn rfc6749_3_1_empty_values_are_treated_as_omitted() {
        let p = FormParams::parse(b"scope=&state=xyz").unwrap();
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("state"), Some("xyz"));
    }

    #[test]
    fn rfc6749_3_1_duplicates_are_found_in_long_bodies_too() {
        // Past the scan limit the set takes over; a repeat of an early name must still be caught.
        let mut body: Vec<String> = (0..40).map(|i| format!("p{i}=v")).collect();
        body.push("p3=again".into());
        assert_eq!(FormParams::parse(body.join("&").as_bytes()), Err(DuplicateParameter("p3".into())));
        body.pop();
        body.push("p39=again".into());
        assert_eq!(FormParams::parse(body.join("&").as_bytes()), Err(DuplicateParameter("p39".into())));
    }

    proptest! {
        #[test]
        fn encode_then_parse_round_trips(map in proptest::collection::btree_map("\\PC{1,10}", "\\PC{0,20}", 0..8)) {
            let body = encode(map.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let parsed = FormParams::parse(body.as_bytes()).unwrap();
            let back: Vec<(String, String)> = parsed.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            let want: Vec<(String, String)> = map.into_iter().collect();
            prop_assert_eq!(back, want);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = FormParams::parse(&bytes);
        }

        #[test]
        fn decoding_agrees_with_the_url_crate(
            bytes in proptest::collection::vec(prop_oneof![
                Just(b'&'), Just(b'='), Just(b'+'), Just(b'%'), Just(b'a'), Just(b'F'), Just(b'7'), Just(0xC3), Just(0xA9), any::<u8>()
            ], 0..60)
        ) {
            let ours: Vec<(String, String)> = pairs(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let theirs: Vec<(String, String)> =
                url::form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            prop_assert_eq!(ours, theirs);
        }
    }
}
