//! Private signing keys: made from PKCS#8 (RSA, P-256, Ed25519), an Ed25519 seed, or a private JWK.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde::{Deserialize, Serialize};

use super::{Algorithm, Header, JoseError, Jwk, b64, unb64};

/// A private key that signs JWTs, with its `kid`. Made outside the core (RSA and P-256 keys come in as PKCS#8) or
/// from a seed (Ed25519), since key generation needs randomness the core does not take by itself.
///
/// Its `Debug` shows the `kid` and the algorithm, never the key; [`SigningKey::to_pkcs8`] is the one way out for
/// storage.
pub struct SigningKey {
    kid: String,
    pair: Pair,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .field("private_key", &"[redacted]")
            .finish()
    }
}

const REJECTED: JoseError = JoseError::Key("the private key is malformed or does not fit the algorithm");

impl SigningKey {
    /// A key from its PKCS#8 DER (`openssl genpkey … -outform DER`, or what [`to_pkcs8`](Self::to_pkcs8) gave).
    /// RSA keys must have 2048 to 8192 bits.
    pub fn from_pkcs8(algorithm: Algorithm, kid: impl Into<String>, der: &[u8]) -> Result<Self, JoseError> {
        let pair = match algorithm {
            Algorithm::Rs256 => Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|_| REJECTED)?),
            Algorithm::Es256 => {
                Pair::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|_| REJECTED)?)
            }
            Algorithm::EdDsa => Pair::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| REJECTED)?),
        };
        if let Pair::Rsa(rsa) = &pair
            && rsa.public_modulus_len() < 256
        {
            return Err(JoseError::Key("an RSA key must have at least 2048 bits"));
        }
        Ok(Self { kid: kid.into(), pair })
    }

    /// A new key of `algorithm` with a random `kid`, both from `rng` for Ed25519. RSA (2048-bit) and P-256 keys
    /// are made by aws-lc-rs from the operating system's generator, since it takes no caller generator for them:
    /// hence the `os-rng` feature. An RSA key takes 0.1–1 s to make.
    #[cfg(feature = "os-rng")]
    pub fn generate(algorithm: Algorithm, rng: &mut impl rand_core::CryptoRng) -> Result<Self, JoseError> {
        let mut kid = [0u8; 12];
        rng.fill_bytes(&mut kid);
        let kid = b64(kid);
        let failed = |_| JoseError::Key("key generation failed");
        let pair = match algorithm {
            Algorithm::Rs256 => Pair::Rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?),
            Algorithm::Es256 => Pair::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?),
            Algorithm::EdDsa => {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                return Self::ed25519_from_seed(kid, &seed);
            }
        };
        Ok(Self { kid, pair })
    }

    /// An Ed25519 key from a 32-byte seed (RFC 8032 §5.1.5), such as 32 bytes of the caller's generator.
    pub fn ed25519_from_seed(kid: impl Into<String>, seed: &[u8; 32]) -> Result<Self, JoseError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| REJECTED)?;
        Ok(Self { kid: kid.into(), pair: Pair::Ed(pair) })
    }

    /// A key from a private JWK (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2): `RSA` with `n`, `e`, `d`, `p`, `q`, `dp`,
    /// `dq`, `qi`; `EC` on `P-256` with `x`, `y`, `d`; `OKP` on `Ed25519` with `x`, `d`. The `kid` is the JWK's,
    /// or else its RFC 7638 thumbprint.
    pub fn from_private_jwk(json: &str) -> Result<Self, JoseError> {
        let jwk: PrivateJwk = serde_json::from_str(json).map_err(|_| JoseError::Malformed("private JWK"))?;
        let part = |v: &Option<String>, what: &'static str| -> Result<Vec<u8>, JoseError> {
            unb64(v.as_deref().ok_or(JoseError::Key("a private member is missing"))?, what)
        };
        let public = &jwk.public;
        let pair = match (public.kty.as_str(), public.crv.as_deref()) {
            ("RSA", _) => {
                let (n, e) = (part(&public.n, "n")?, part(&public.e, "e")?);
                let (d, p, q) = (part(&jwk.d, "d")?, part(&jwk.p, "p")?, part(&jwk.q, "q")?);
                let (dp, dq, qi) = (part(&jwk.dp, "dp")?, part(&jwk.dq, "dq")?, part(&jwk.qi, "qi")?);
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents { n: &n[..], e: &e[..] },
                    d: &d[..],
                    p: &p[..],
                    q: &q[..],
                    dP: &dp[..],
                    dQ: &dq[..],
                    qInv: &qi[..],
                };
                Pair::Rsa(RsaKeyPair::from_components(&components).map_err(|_| REJECTED)?)
            }
            ("EC", Some("P-256")) => {
                let mut point = vec![4u8];
                point.extend(part(&public.x, "x")?);
                point.extend(part(&public.y, "y")?);
                let d = part(&jwk.d, "d")?;
                Pair::Ec(
                    EcdsaKeyPair::from_private_key_and_public_key(&ECDSA_P256_SHA256_FIXED_SIGNING, &d, &point)
                        .map_err(|_| REJECTED)?,
                )
            }
            ("OKP", Some("Ed25519")) => {
                let (d, x) = (part(&jwk.d, "d")?, part(&public.x, "x")?);
                Pair::Ed(Ed25519KeyPair::from_seed_and_public_key(&d, &x).map_err(|_| REJECTED)?)
            }
            _ => return Err(JoseError::Key("unsupported key type or curve")),
        };
        let kid = match &public.kid {
            Some(kid) => kid.clone(),
            None => public.thumbprint()?,
        };
        let key = Self { kid, pair };
        if key.public_jwk().thumbprint()? != public.thumbprint()? {
            return Err(REJECTED);
        }
        Ok(key)
    }

    /// The key's id, which every token it signs names in its header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.pair {
            Pair::Rsa(_) => Algorithm::Rs256,
            Pair::Ec(_) => Algorithm::Es256,
            Pair::Ed(_) => Algorithm::EdDsa,
        }
    }

    /// The public half as a JWK with `kid`, `alg` and `use: "sig"`: the entry of the JWKS.
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kty: String::new(),
            kid: Some(self.kid.clone()),
            alg: Some(self.algorithm().as_str().into()),
            use_: Some("sig".into()),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.pair {
            Pair::Rsa(rsa) => {
                let public = rsa.public_key();
                jwk.kty = "RSA".into();
                jwk.n = Some(b64(public.modulus().big_endian_without_leading_zero()));
                jwk.e = Some(b64(public.exponent().big_endian_without_leading_zero()));
            }
            Pair::Ec(ec) => {
                // The uncompressed point: 0x04, then x and y of 32 bytes each.
                let point = ec.public_key().as_ref();
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(b64(&point[1..33]));
                jwk.y = Some(b64(&point[33..65]));
            }
            Pair::Ed(ed) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64(ed.public_key().as_ref()));
            }
        }
        jwk
    }

    /// The private key as PKCS#8 DER, for a store to keep (encrypted, if it can). Handle it as the secret it is.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, JoseError> {
        let failed = |_| JoseError::Key("the key could not be encoded");
        Ok(match &self.pair {
            Pair::Rsa(rsa) => rsa.as_der().map_err(failed)?.as_ref().to_vec(),
            Pair::Ec(ec) => ec.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            Pair::Ed(ed) => ed.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
        })
    }

    /// The private key as a JWK (RFC 7518 §6.2.2, RFC 8037 §2) with its `kid`: `EC` keys and `OKP` keys only (an
    /// RSA key is kept as [PKCS#8](Self::to_pkcs8)). Handle it as the secret it is.
    pub fn to_private_jwk(&self) -> Result<String, JoseError> {
        use aws_lc_rs::encoding::AsBigEndian;
        let failed = |_| JoseError::Key("the key could not be encoded");
        let d = match &self.pair {
            Pair::Rsa(_) => return Err(JoseError::Key("an RSA key is kept as PKCS#8")),
            Pair::Ec(ec) => {
                let d: aws_lc_rs::encoding::EcPrivateKeyBin<'_> = ec.private_key().as_be_bytes().map_err(failed)?;
                b64(d.as_ref())
            }
            Pair::Ed(ed) => {
                let seed = ed.seed().map_err(failed)?;
                let d: aws_lc_rs::encoding::Curve25519SeedBin<'_> = seed.as_be_bytes().map_err(failed)?;
                b64(d.as_ref())
            }
        };
        let mut jwk = serde_json::to_value(self.public_jwk()).map_err(|_| JoseError::Malformed("private JWK"))?;
        if let Some(members) = jwk.as_object_mut() {
            members.insert("d".into(), d.into());
        }
        Ok(jwk.to_string())
    }

    /// Signs `claims` as a compact JWS whose header has this key's `alg` and `kid`, and `typ` when given
    /// (`JWT`, `at+jwt`, `dpop+jwt`).
    pub fn sign(&self, typ: Option<&str>, claims: &impl Serialize) -> Result<String, JoseError> {
        let header = Header {
            alg: self.algorithm().as_str().into(),
            kid: Some(self.kid.clone()),
            typ: typ.map(str::to_owned),
            jwk: None,
            crit: None,
        };
        let payload = serde_json::to_vec(claims).map_err(|_| JoseError::Malformed("claims"))?;
        self.sign_with_header(&header, &payload)
    }

    /// Signs `payload` under `header` (whose `alg` must be this key's) as a compact JWS (RFC 7515 §5.1). DPoP
    /// proofs put the public key in the header instead of a `kid`.
    pub fn sign_with_header(&self, header: &Header, payload: &[u8]) -> Result<String, JoseError> {
        if header.alg != self.algorithm().as_str() {
            return Err(JoseError::Algorithm(header.alg.clone()));
        }
        let header = serde_json::to_vec(header).map_err(|_| JoseError::Malformed("header"))?;
        let input = format!("{}.{}", b64(header), b64(payload));
        Ok(format!("{input}.{}", b64(self.signature(input.as_bytes())?)))
    }

    /// The raw signature over `input` (RFC 7518 §3.3, §3.4: fixed-size r‖s for ECDSA; RFC 8037 §3.1).
    pub(crate) fn signature(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        let failed = |_| JoseError::Key("signing failed");
        // aws-lc-rs takes an RNG argument for API compatibility and does not use it (PKCS#1 v1.5 is deterministic;
        // its ECDSA draws its own nonce).
        let rng = SystemRandom::new();
        Ok(match &self.pair {
            Pair::Rsa(rsa) => {
                let mut signature = vec![0; rsa.public_modulus_len()];
                rsa.sign(&RSA_PKCS1_SHA256, &rng, input, &mut signature).map_err(failed)?;
                signature
            }
            Pair::Ec(ec) => ec.sign(&rng, input).map_err(failed)?.as_ref().to_vec(),
            Pair::Ed(ed) => ed.sign(input).as_ref().to_vec(),
        })
    }
}

/// A private JWK as it arrives: the public members and the private ones.
#[derive(Deserialize)]
struct PrivateJwk {
    #[serde(flatten)]
    public: Jwk,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
}
