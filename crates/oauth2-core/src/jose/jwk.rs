//! Public JSON Web Keys (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2), key sets (RFC 7517 §5) and thumbprints (RFC 7638).

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Algorithm, JoseError, b64, unb64};

/// A public key as a JWK: what a JWKS publishes and what a verifier checks signatures with. Members this crate does
/// not use (`x5c`, say) are ignored; a private member (`d`) is never read or written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA`, `EC` or `OKP`; another type is kept but fits no algorithm (RFC 7517 §5: ignored).
    pub kty: String,
    /// The key id, which tokens name in their header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The one algorithm this key is for, when the publisher says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `sig` for a signing key; a key published for `enc` fits no signature.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// The curve (`P-256`, `Ed25519`) of an EC or OKP key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The x coordinate (EC) or the public key (OKP), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The y coordinate of an EC key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The modulus of an RSA key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The public exponent of an RSA key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl Jwk {
    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, base64url. DPoP binds
    /// tokens to it (`cnf.jkt`, RFC 9449 §6).
    pub fn thumbprint(&self) -> Result<String, JoseError> {
        let member = |name: &'static str, value: &Option<String>| -> Result<String, JoseError> {
            let value = value.as_deref().ok_or(JoseError::Key("a required member is missing"))?;
            Ok(format!("{}:{}", json_string(name), json_string(value)))
        };
        let members = match self.kty.as_str() {
            "RSA" => [member("e", &self.e)?, member("kty", &Some("RSA".into()))?, member("n", &self.n)?].join(","),
            "EC" => [
                member("crv", &self.crv)?,
                member("kty", &Some("EC".into()))?,
                member("x", &self.x)?,
                member("y", &self.y)?,
            ]
            .join(","),
            "OKP" => [member("crv", &self.crv)?, member("kty", &Some("OKP".into()))?, member("x", &self.x)?].join(","),
            _ => return Err(JoseError::Key("unknown key type")),
        };
        Ok(b64(Sha256::digest(format!("{{{members}}}").as_bytes())))
    }

    /// Whether this key may verify a signature made with `alg`: its type and curve match, and its `alg` and `use`,
    /// when present, allow it.
    pub fn fits(&self, alg: Algorithm) -> bool {
        let shape = match alg {
            Algorithm::Rs256 => self.kty == "RSA",
            Algorithm::Es256 => self.kty == "EC" && self.crv.as_deref() == Some("P-256"),
            Algorithm::EdDsa => self.kty == "OKP" && self.crv.as_deref() == Some("Ed25519"),
        };
        shape
            && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
            && self.use_.as_deref().is_none_or(|u| u == "sig")
    }

    /// Checks `signature` over `input` made with `alg` (which the key must [fit](Self::fits)).
    pub(crate) fn verify(&self, alg: Algorithm, input: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        if !self.fits(alg) {
            return Err(JoseError::Key("the key does not fit the algorithm"));
        }
        let coordinate = |v: &Option<String>| -> Result<Vec<u8>, JoseError> {
            let bytes = unb64(v.as_deref().ok_or(JoseError::Key("a coordinate is missing"))?, "key coordinate")?;
            if bytes.len() != 32 {
                return Err(JoseError::Key("a coordinate is not 32 bytes"));
            }
            Ok(bytes)
        };
        let verified = match alg {
            Algorithm::Rs256 => {
                let n = unb64(self.n.as_deref().ok_or(JoseError::Key("n is missing"))?, "RSA modulus")?;
                let e = unb64(self.e.as_deref().ok_or(JoseError::Key("e is missing"))?, "RSA exponent")?;
                RsaPublicKeyComponents { n: &n[..], e: &e[..] }.verify(&RSA_PKCS1_2048_8192_SHA256, input, signature)
            }
            Algorithm::Es256 => {
                let mut point = vec![4u8];
                point.extend(coordinate(&self.x)?);
                point.extend(coordinate(&self.y)?);
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(input, signature)
            }
            Algorithm::EdDsa => UnparsedPublicKey::new(&ED25519, coordinate(&self.x)?).verify(input, signature),
        };
        verified.map_err(|_| JoseError::Signature)
    }
}

/// A JSON string literal (for the thumbprint's canonical JSON; RFC 7638 §3.3).
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A JWK Set (RFC 7517 §5): what `jwks_uri` serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys, current first.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}
