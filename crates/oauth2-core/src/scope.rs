//! Scopes (RFC 6749 §3.3): a set of case-sensitive tokens, sent as one space-delimited string.

use serde::{Deserialize, Serialize};

/// A scope: an ordered set of scope tokens without duplicates. An empty scope means "no `scope` parameter".
///
/// ```
/// use oauth2_core::Scope;
/// let scope = Scope::from("read  profile read");
/// assert_eq!(scope.to_string(), "read profile");
/// assert!(scope.contains("profile"));
/// assert!(Scope::from(["read"]).is_subset_of(&scope));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Scope(Vec<String>);

impl Scope {
    /// The empty scope: requests built with it carry no `scope` parameter.
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// Parses a space-delimited scope string; repeated spaces and duplicate tokens are dropped.
    pub fn parse(value: &str) -> Self {
        value.split(' ').filter(|s| !s.is_empty()).collect()
    }

    /// Whether there are no scope tokens.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `token` is in this scope.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    /// The tokens, in the order first given.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether every token has RFC 6749 §3.3 syntax: `1*( %x21 / %x23-5B / %x5D-7E )`.
    pub fn is_valid_syntax(&self) -> bool {
        self.0.iter().all(|t| {
            !t.is_empty() && t.bytes().all(|c| c == 0x21 || (0x23..=0x5B).contains(&c) || (0x5D..=0x7E).contains(&c))
        })
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, token) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
        }
        Ok(())
    }
}

impl<S: Into<String>> FromIterator<S> for Scope {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        /// Up to this many tokens, a scan is cheaper than a set; past it, a set keeps a hostile peer's megabyte of
        /// scope from costing quadratic time.
        const SCAN: usize = 16;
        let mut tokens: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for t in iter {
            let t = t.into();
            if t.is_empty() {
                continue;
            }
            let repeated = if tokens.len() < SCAN {
                tokens.contains(&t)
            } else {
                if seen.is_empty() {
                    seen.extend(tokens.iter().cloned());
                }
                !seen.insert(t.clone())
            };
            if !repeated {
                tokens.push(t);
            }
        }
        Self(tokens)
    }
}

impl From<&str> for Scope {
    fn from(value: &str) -> Self {
        Self::parse(value)
    }
}

impl From<String> for Scope {
    fn from(value: String) -> Self {
        Self::parse(&value)
    }
}

impl From<&String> for Scope {
    fn from(value: &String) -> Self {
        Self::parse(value)
    }
}

impl From<&Scope> for Scope {
    fn from(value: &Scope) -> Self {
        value.clone()
    }
}

impl<const N: usize> From<[&str; N]> for Scope {
    fn from(value: [&str; N]) -> Self {
        value.into_iter().collect()
    }
}

impl From<&[&str]> for Scope {
    fn from(value: &[&str]) -> Self {
        value.iter().copied().collect()
    }
}

impl From<Vec<String>> for Scope {
    fn from(value: Vec<String>) -> Self {
        value.into_iter().collect()
    }
}

impl From<Option<Scope>> for Scope {
    fn from(value: Option<Scope>) -> Self {
        value.unwrap_or_default()
    }
}

impl From<Scope> for String {
    fn from(value: Scope) -> String {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6749_3_3_scope_is_space_delimited_and_order_free() {
        let a = Scope::parse("read write");
        let b = Scope::parse("write read");
        assert!(a.is_subset_of(&b) && b.is_subset_of(&a));
        assert_eq!(a.to_string(), "read write");
    }

    #[test]
    fn rfc6749_3_3_scope_token_syntax() {
        assert!(Scope::parse("read https://x/y").is_valid_syntax());
        assert!(!Scope::parse("quote\"d").is_valid_syntax());
        assert!(!Scope::parse("back\\slash").is_valid_syntax());
        assert!(!Scope::parse("tab\there").is_valid_syntax());
    }

    #[test]
    fn rfc6749_3_3_duplicates_are_dropped_in_long_scopes_too() {
        let mut tokens: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        tokens.extend(["s2".to_owned(), "s39".to_owned(), "new".to_owned()]);
        let scope = Scope::parse(&tokens.join(" "));
        assert_eq!(scope.iter().count(), 41);
        assert_eq!(scope.iter().last(), Some("new"));
    }

    proptest! {
        #[test]
        fn parse_display_round_trips(tokens in proptest::collection::vec("[!#-\\[\\]-~]{1,12}", 0..6)) {
            let scope: Scope = tokens.iter().cloned().collect();
            prop_assert_eq!(Scope::parse(&scope.to_string()), scope);
        }
    }
}
