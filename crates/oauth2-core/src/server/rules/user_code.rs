//! User codes of the device grant (RFC 8628 §6.1, design.md §4): 8 letters of an alphabet without vowels (no
//! words) and without letters that look alike, shown as `XXXX-XXXX`, typed in any case, with or without the dash.

use crate::secret::SecretHash;

/// The 20 letters of user codes: consonants only, so no code spells a word, and none of them is read as a digit.
pub(crate) const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Letters in a user code: 20⁸ ≈ 2.56 × 10¹⁰ codes, 34.5 bits (RFC 8628 §6.1 asks for at least 20).
pub(crate) const LENGTH: usize = 8;

/// A fresh user code from `fill` (random bytes), as its 8 letters. Each letter is uniform: bytes of 240 and above
/// are drawn again (240 is the largest multiple of 20 in a byte), so no letter is likelier than another.
pub(crate) fn generate(mut fill: impl FnMut(&mut [u8])) -> String {
    let mut code = String::with_capacity(LENGTH);
    let mut bytes = [0u8; 16];
    while code.len() < LENGTH {
        fill(&mut bytes);
        for &b in bytes.iter().filter(|&&b| b < 240) {
            if code.len() < LENGTH {
                code.push(char::from(ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    code
}

/// A user code as the user typed it, as its 8 letters: case does not matter, and dashes and spaces are dropped.
/// `None` when it cannot be a user code (then it is a wrong one).
pub(crate) fn normalize(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String =
        typed.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The code as shown: `XXXX-XXXX`.
pub(crate) fn display(code: &str) -> String {
    // By characters: a request kept where the user could edit it may hold any text.
    let a: String = code.chars().take(LENGTH / 2).collect();
    let b: String = code.chars().skip(LENGTH / 2).collect();
    format!("{a}-{b}")
}

/// What a store keeps of a user code: its hash (it is short, but it lives minutes and its guessing is throttled).
pub(crate) fn hash(code: &str) -> SecretHash {
    SecretHash::of(&format!("user_code\0{code}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::TokenGenerator;
    use rand_core::SeedableRng;

    fn seeded(seed: u64) -> std::sync::Mutex<rand_chacha::ChaCha20Rng> {
        std::sync::Mutex::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn rfc8628_6_1_user_codes_are_8_letters_of_the_unambiguous_alphabet() {
        assert_eq!(ALPHABET.len(), 20);
        // No vowel (nor Y): no code spells a word. No digit, and no O or I to take for 0 or 1.
        assert!(ALPHABET.iter().all(|b| b.is_ascii_uppercase() && !b"AEIOUY".contains(b)));
        let rng = seeded(7);
        for _ in 0..1000 {
            let code = generate(|b| rng.fill_bytes(b));
            assert_eq!(code.len(), LENGTH);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        }
    }

    #[test]
    fn rfc8628_6_1_user_codes_have_more_than_20_bits_and_uniform_letters() {
        let bits = (LENGTH as f64) * (ALPHABET.len() as f64).log2();
        assert!(bits >= 20.0 && (bits - 34.58).abs() < 0.01, "{bits}");
        // Every letter equally likely: 200,000 letters, each within 5% of 10,000.
        let rng = seeded(11);
        let mut counts = [0u32; 20];
        for _ in 0..25_000 {
            for b in generate(|b| rng.fill_bytes(b)).bytes() {
                counts[ALPHABET.iter().position(|a| *a == b).unwrap()] += 1;
            }
        }
        assert!(counts.iter().all(|c| (9_500..=10_500).contains(c)), "{counts:?}");
        // A generator that only ever gives bytes of 240 and above would loop: draws below 240 are what end it.
        let mut calls = 0;
        let code = generate(|b| {
            calls += 1;
            b.fill(if calls < 3 { 250 } else { 41 });
        });
        assert_eq!((code.as_str(), calls), ("CCCCCCCC", 3));
    }

    #[test]
    fn rfc8628_6_1_typed_codes_are_accepted_in_any_case_with_or_without_the_dash() {
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(display("abcé"), "abcé-", "edited text is shown, never a panic");
        for typed in ["BCDF-GHJK", "bcdf-ghjk", "bcdfghjk", " BcDf GhJk ", "BCDF-\tGHJK"] {
            assert_eq!(normalize(typed).as_deref(), Some("BCDFGHJK"), "{typed:?}");
        }
        for wrong in ["", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "ＢCDF-GHJK", &"B".repeat(100)] {
            assert_eq!(normalize(wrong), None, "{wrong:?}");
        }
        assert_eq!(hash("BCDFGHJK"), hash(&normalize("bcdf-ghjk").unwrap()));
    }
}
