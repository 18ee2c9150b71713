//! `application/x-www-form-urlencoded` parameters with duplicate detection (RFC 6749 §3.1, §3.2: "parameters MUST
//! NOT be included more than once").

/// A parameter that appeared more than once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the parameter `{0}` appears more than once")]
pub struct DuplicateParameter(pub String);

/// Decoded form or query parameters, each name at most once, in the order received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormParams(Vec<(String, String)>);

impl FormParams {
    /// Decodes `input`; a repeated name is an error. Parameters with empty values count as absent (RFC 6749 §3.1)
    /// but still count for the duplicate rule.
    pub fn parse(input: &[u8]) -> Result<Self, DuplicateParameter> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in url::form_urlencoded::parse(input) {
            // A set keeps this linear: a body of many parameters must not cost quadratic time.
            if !seen.insert(k.clone()) {
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

    /// Every parameter, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The parameters as a JSON object of strings.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned()))).collect()
    }
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
    fn rfc6749_3_1_empty_values_are_treated_as_omitted() {
        let p = FormParams::parse(b"scope=&state=xyz").unwrap();
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("state"), Some("xyz"));
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
    }
}
