//! Grant and response types (RFC 6749 §1.3, §3.1.1, §4): the names both sides use on the wire.

use serde::{Deserialize, Serialize};

/// A grant type a client may be registered for, and a server may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §4.2 (legacy; RFC 9700 §2.1.2).
    Implicit,
    /// RFC 6749 §4.3 (legacy; RFC 9700 §2.4).
    Password,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §6.
    RefreshToken,
    /// The device authorization grant (RFC 8628 §3.4): `urn:ietf:params:oauth:grant-type:device_code`.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    /// Every grant type this crate knows.
    pub const ALL: [GrantType; 6] = [
        Self::AuthorizationCode,
        Self::Implicit,
        Self::Password,
        Self::ClientCredentials,
        Self::RefreshToken,
        Self::DeviceCode,
    ];

    /// The `grant_type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::Implicit => "implicit",
            Self::Password => "password",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// Parses a `grant_type` name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// What the authorization endpoint is asked to return (RFC 6749 §3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ResponseType {
    /// An authorization code, redeemed at the token endpoint (§4.1).
    Code,
    /// An access token in the redirect's fragment (§4.2). Legacy: RFC 9700 §2.1.2 says not to use it.
    Token,
}

impl ResponseType {
    /// The `response_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Token => "token",
        }
    }

    /// The grant a response type belongs to.
    pub fn grant(self) -> GrantType {
        match self {
            Self::Code => GrantType::AuthorizationCode,
            Self::Token => GrantType::Implicit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GrantType;

    #[test]
    fn rfc6749_4_grant_type_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("Authorization_Code"), None, "names are case-sensitive");
    }

    #[test]
    fn rfc8628_3_4_the_device_grant_is_named_by_its_urn_on_the_wire_and_in_serde() {
        let urn = "urn:ietf:params:oauth:grant-type:device_code";
        assert_eq!(GrantType::parse(urn), Some(GrantType::DeviceCode));
        assert_eq!(serde_json::to_string(&GrantType::DeviceCode).unwrap(), format!("\"{urn}\""));
        assert_eq!(serde_json::from_str::<GrantType>(&format!("\"{urn}\"")).unwrap(), GrantType::DeviceCode);
    }
}
