//! Private keys at rest: AES-256-GCM under a key-encryption key (design.md §3, `OAUTH2_KEY_ENCRYPTION_KEY`).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// The nonce length of [`KeySealer::seal`]: 96 bits.
pub const NONCE_LEN: usize = aws_lc_rs::aead::NONCE_LEN;
use super::JoseError;

/// What starts a sealed key: a PKCS#8 document starts with a DER SEQUENCE (`0x30`), so the two never mix up.
const SEALED: &[u8] = b"oauth2-sealed-v1:";

/// Seals private keys for a store with AES-256-GCM: a fresh 96-bit nonce per key (from the caller's CSPRNG),
/// the key's `kid` as associated data (a sealed key moved under another `kid` does not open). Its `Debug` shows
/// nothing of the key.
pub struct KeySealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for KeySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySealer([redacted])")
    }
}

impl KeySealer {
    /// A sealer under a 256-bit key.
    pub fn new(key: &[u8; 32]) -> Result<Self, JoseError> {
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| JoseError::Key("not an AES-256 key"))?;
        Ok(Self { key: LessSafeKey::new(key) })
    }

    /// A sealer under the 32 bytes that `text` encodes in base64 (standard or URL-safe, padded or not), as the
    /// environment variable `OAUTH2_KEY_ENCRYPTION_KEY` holds them (`openssl rand -base64 32`).
    pub fn from_base64(text: &str) -> Result<Self, JoseError> {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| JoseError::Key("the key-encryption key is not base64"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| JoseError::Key("the key-encryption key is not 32 bytes"))?;
        Self::new(&key)
    }

    /// `private_key` sealed for the store under `kid`, with `nonce`: 96 fresh bits from a CSPRNG, never used
    /// before with this sealer (random nonces are safe for far more keys than a server will ever make).
    pub fn seal(&self, kid: &str, private_key: &[u8], nonce: [u8; NONCE_LEN]) -> Result<Vec<u8>, JoseError> {
        let mut sealed = private_key.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut sealed)
            .map_err(|_| JoseError::Key("sealing failed"))?;
        Ok([SEALED, &nonce[..], &sealed].concat())
    }

    /// The private key that [`seal`](Self::seal) sealed under `kid`; a tampered, moved or foreign one is refused.
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, JoseError> {
        let rest = sealed.strip_prefix(SEALED).ok_or(JoseError::Key("the key is not sealed"))?;
        if rest.len() < NONCE_LEN {
            return Err(JoseError::Key("the sealed key is truncated"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| JoseError::Key("the sealed key is truncated"))?;
        let mut buffer = ciphertext.to_vec();
        let opened = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| JoseError::Key("the sealed key does not open with this key-encryption key"))?;
        Ok(opened.to_vec())
    }

    /// Whether `stored` is a sealed key (else it is a plain PKCS#8 document).
    pub fn is_sealed(stored: &[u8]) -> bool {
        stored.starts_with(SEALED)
    }
}
