//! Injected randomness. The core never chooses its own entropy source: every function that needs random bytes takes
//! a generator implementing [`CryptoRng`]. [`OsRng`] (feature `os-rng`, on by default) is the one to use in
//! production; tests pass a seeded generator such as `rand_chacha::ChaCha20Rng` to get repeatable values.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub use rand_core::CryptoRng;

/// Bytes of entropy in every state value, PKCE verifier, code and token we generate (256 bits).
pub const TOKEN_BYTES: usize = 32;

/// `bytes` random bytes from `rng`, base64url-encoded without padding (so the result is URL- and header-safe).
pub(crate) fn random_token<R: CryptoRng + ?Sized>(rng: &mut R, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// The operating system's CSPRNG (`getrandom`).
///
/// ```
/// use oauth2_core::pkce::PkceVerifier;
/// use oauth2_core::random::OsRng;
/// let verifier = PkceVerifier::generate(&mut OsRng);
/// assert_eq!(verifier.secret().len(), 43);
/// ```
#[cfg(feature = "os-rng")]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRng;

#[cfg(feature = "os-rng")]
impl rand_core::TryRng for OsRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        // An OS without a working entropy source cannot issue secrets safely; carrying on with weak values would be
        // worse than stopping, so this is the one deliberate panic (as in `rand::rngs::OsRng`).
        #[allow(clippy::panic)]
        if let Err(e) = getrandom::fill(dst) {
            panic!("the operating system's random number generator failed: {e}");
        }
        Ok(())
    }
}

#[cfg(feature = "os-rng")]
impl rand_core::TryCryptoRng for OsRng {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn seeded_generator_is_repeatable_and_url_safe() {
        let a = random_token(&mut ChaCha20Rng::seed_from_u64(7), TOKEN_BYTES);
        let b = random_token(&mut ChaCha20Rng::seed_from_u64(7), TOKEN_BYTES);
        assert_eq!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[cfg(feature = "os-rng")]
    #[test]
    fn os_rng_differs_each_time() {
        assert_ne!(random_token(&mut OsRng, 16), random_token(&mut OsRng, 16));
    }
}
