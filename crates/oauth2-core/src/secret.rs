//! Secret newtypes (client secrets, tokens, codes, state, passwords) and [`SecretHash`], what stores keep instead.
//!
//! Their `Debug` never shows the value (so a logged struct cannot leak it), equality is constant-time, and the only
//! way to read the value is the explicit [`secret`](AccessToken::secret) accessor.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Compares two byte strings in constant time (for equal lengths; the length itself is not secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value received from elsewhere (a peer, a store, the user).
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself. Every read of a secret goes through this method, so it is easy to audit.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}
    };
}

secret_type!(
    /// A client's secret (RFC 6749 §2.3.1).
    ClientSecret
);
secret_type!(
    /// A private key as a JSON Web Key (a client's DPoP key, RFC 9449): keep it where only its owner reads it.
    PrivateJwk
);
secret_type!(
    /// An access token (RFC 6749 §1.4).
    AccessToken
);
secret_type!(
    /// A refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret_type!(
    /// An authorization code (RFC 6749 §1.3.1).
    AuthorizationCode
);
secret_type!(
    /// The `state` value that binds an authorization response to the browser that started it (RFC 6749 §10.12).
    State
);
secret_type!(
    /// A resource owner's password (RFC 6749 §4.3).
    Password
);

/// The SHA-256 of a secret, code or token: what stores keep instead of the value. 32 bytes, `Copy`; serialized as
/// base64url without padding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes `secret`.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        constant_time_eq(&Self::of(secret).0, &self.0)
    }

    /// The digest's bytes (safe to log or index by: they do not reveal the secret).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A hash read back from a store (the bytes [`as_bytes`](Self::as_bytes) gave).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretHash({}…)", URL_SAFE_NO_PAD.encode(&self.0[..6]))
    }
}

impl Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        bytes.try_into().map(Self).map_err(|_| serde::de::Error::custom("a SecretHash is 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let token = AccessToken::new("very-secret-value");
        let shown = format!("{token:?} {:?}", ClientSecret::new("s3cret"));
        assert!(!shown.contains("very-secret-value"));
        assert!(!shown.contains("s3cret"));
        assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(RefreshToken::new("abc"), RefreshToken::new("abc"));
        assert_ne!(RefreshToken::new("abc"), RefreshToken::new("abd"));
        assert_ne!(RefreshToken::new("abc"), RefreshToken::new("abcd"));
    }

    #[test]
    fn serializes_as_plain_string() {
        let json = serde_json::to_string(&State::new("xyz")).unwrap();
        assert_eq!(json, "\"xyz\"");
        let back: State = serde_json::from_str(&json).unwrap();
        assert_eq!(back.secret(), "xyz");
    }
}
