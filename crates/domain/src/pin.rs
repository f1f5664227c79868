//! The audio conferencing PIN: generation, the length policy, the mask, and hashing.
//!
//! A PIN is digits only, drawn uniformly from a cryptographic generator; users cannot
//! choose one. It is stored only as an Argon2id hash keyed with the pepper derived from
//! the server key, and its plaintext exists only in the value returned by the operation
//! that generated it.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::{CryptoRng, RngCore};

/// What every view shows instead of a PIN: eleven stars, whatever the PIN's length.
pub const PIN_MASK: &str = "***********";

/// The number of digits in newly generated PINs: 4 to 12, default 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct PinLength(u8);

impl PinLength {
    pub const MIN: u8 = 4;
    pub const MAX: u8 = 12;

    pub fn new(digits: u8) -> Result<Self, PinLengthError> {
        if (Self::MIN..=Self::MAX).contains(&digits) {
            Ok(Self(digits))
        } else {
            Err(PinLengthError(digits.to_string()))
        }
    }

    /// Parses a length given as text, such as a command-line argument.
    pub fn parse(text: &str) -> Result<Self, PinLengthError> {
        let shown = || PinLengthError(text.chars().take(20).collect());
        let digits: u8 = text.trim().parse().map_err(|_| shown())?;
        Self::new(digits).map_err(|_| shown())
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for PinLength {
    fn default() -> Self {
        Self(5)
    }
}

/// A PIN length outside 4 to 12.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PIN length must be a whole number from 4 to 12, not {0:?}")]
pub struct PinLengthError(String);

/// A plaintext PIN. Its `Debug` shows the mask; the digits are wiped from memory when it
/// is dropped. Only [`Pin::reveal`] gives them out, for the one response that shows them.
pub struct Pin(String);

impl Pin {
    /// A new PIN of `length` digits, uniform over all non-trivial PINs of that length.
    pub fn generate(length: PinLength, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        loop {
            let digits = random_digits(rng, usize::from(length.get()));
            if !is_trivial(&digits) {
                return Self(digits);
            }
        }
    }

    /// Wraps digits a caller typed, for verification. Anything but 4 to 12 digits is
    /// refused, so it can never verify.
    pub fn from_entered(digits: &str) -> Option<Self> {
        let ok = (usize::from(PinLength::MIN)..=usize::from(PinLength::MAX))
            .contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Self(digits.to_owned()))
    }

    /// The digits, for the single place that shows a newly generated PIN.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PIN_MASK)
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// `count` digits, each uniform over 0–9 (rejection sampling on bytes, so no modulo bias).
pub(crate) fn random_digits(rng: &mut (impl RngCore + CryptoRng), count: usize) -> String {
    let mut out = String::with_capacity(count);
    let mut buf = [0u8; 32];
    while out.len() < count {
        rng.fill_bytes(&mut buf);
        for b in buf {
            if out.len() == count {
                break;
            }
            if b < 250 {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    out
}

/// A PIN nobody should have: one digit repeated, or a run where each digit is one more
/// (or one less) than the one before, wrapping 9 to 0 (12345, 98765, 78901).
pub fn is_trivial(digits: &str) -> bool {
    let d: Vec<u8> = digits.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    let all_steps = |step: u8| d.windows(2).all(|w| (w[0] + step) % 10 == w[1]);
    all_steps(0) || all_steps(1) || all_steps(9)
}

/// A PIN or password hash in PHC string form (`$argon2id$v=19$...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PinHash(String);

impl PinHash {
    /// Wraps a hash read back from the store.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PinHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinHash(..)")
    }
}

/// Hashes and verifies PINs and passwords with Argon2id, keyed with the deployment's
/// pepper (see [`crate::ServerKey`]). Cloning is cheap.
#[derive(Clone)]
pub struct SecretHasher {
    pepper: std::sync::Arc<[u8; 32]>,
    params: Params,
}

/// The working memory of one Argon2 verification, kept between verifications by a
/// thread that does many ([`SecretHasher::verify_in`]).
#[derive(Default)]
pub struct VerifyMemory {
    blocks: Vec<argon2::Block>,
}

/// Argon2id parameters: 19 MiB, 2 passes, 1 lane (the OWASP baseline).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;

#[derive(Debug, thiserror::Error)]
#[error("could not hash the secret: {0}")]
pub struct HashError(String);

impl SecretHasher {
    pub fn new(pepper: [u8; 32]) -> Self {
        let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, None)
            .expect("constant Argon2 parameters are valid");
        Self {
            pepper: std::sync::Arc::new(pepper),
            params,
        }
    }

    fn argon2(&self) -> Argon2<'_> {
        Argon2::new_with_secret(
            &self.pepper[..],
            Algorithm::Argon2id,
            Version::V0x13,
            self.params.clone(),
        )
        .expect("a 32-byte secret is accepted")
    }

    /// Hashes a secret with a fresh random salt.
    pub fn hash(
        &self,
        secret: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<PinHash, HashError> {
        let salt = SaltString::generate(rng);
        let hash = self
            .argon2()
            .hash_password(secret, &salt)
            .map_err(|e| HashError(e.to_string()))?;
        Ok(PinHash(hash.to_string()))
    }

    /// Whether `secret` matches `hash`. The comparison is constant-time; a malformed
    /// stored hash simply does not match.
    pub fn verify(&self, secret: &[u8], hash: &PinHash) -> bool {
        match PasswordHash::new(&hash.0) {
            Ok(parsed) => self.argon2().verify_password(secret, &parsed).is_ok(),
            Err(_) => false,
        }
    }

    /// Whether `secret` matches `hash`, like [`Self::verify`], working in `memory`
    /// instead of allocating Argon2's 19 MiB afresh: a thread that checks many secrets
    /// keeps one [`VerifyMemory`] and its memory use stays flat (freed and reallocated
    /// each time, the C allocator can keep every copy).
    pub fn verify_in(&self, secret: &[u8], hash: &PinHash, memory: &mut VerifyMemory) -> bool {
        use subtle::ConstantTimeEq;
        let Ok(parsed) = PasswordHash::new(&hash.0) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
            return false;
        };
        let version = parsed
            .version
            .and_then(|v| Version::try_from(v).ok())
            .unwrap_or(Version::V0x13);
        let Ok(argon2) = Argon2::new_with_secret(&self.pepper[..], algorithm, version, params)
        else {
            return false;
        };
        let blocks = argon2.params().block_count();
        if memory.blocks.len() != blocks {
            memory.blocks = vec![argon2::Block::default(); blocks];
        }
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let mut out = [0u8; 64];
        let Some(out) = out.get_mut(..expected.len()) else {
            return false;
        };
        argon2
            .hash_password_into_with_memory(secret, salt, out, &mut memory.blocks[..])
            .is_ok()
            && bool::from(out.ct_eq(expected.as_bytes()))
    }

    pub fn hash_pin(
        &self,
        pin: &Pin,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<PinHash, HashError> {
        self.hash(pin.reveal().as_bytes(), rng)
    }

    pub fn verify_pin(&self, pin: &Pin, hash: &PinHash) -> bool {
        self.verify(pin.reveal().as_bytes(), hash)
    }

    /// [`Self::verify_pin`] in kept memory ([`Self::verify_in`]).
    pub fn verify_pin_in(&self, pin: &Pin, hash: &PinHash, memory: &mut VerifyMemory) -> bool {
        self.verify_in(pin.reveal().as_bytes(), hash, memory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn verifying_in_kept_memory_agrees_with_verify() {
        let hasher = SecretHasher::new([3; 32]);
        let hash = hasher.hash(b"24680", &mut OsRng).unwrap();
        let mut memory = VerifyMemory::default();
        for _ in 0..2 {
            assert!(hasher.verify_in(b"24680", &hash, &mut memory));
            assert!(!hasher.verify_in(b"24681", &hash, &mut memory));
        }
        let other = SecretHasher::new([4; 32]);
        assert!(
            !other.verify_in(b"24680", &hash, &mut memory),
            "the pepper counts"
        );
        assert!(!hasher.verify_in(b"24680", &PinHash::from_stored("junk".into()), &mut memory));
    }

    #[test]
    fn pin_lengths() {
        assert_eq!(PinLength::default().get(), 5);
        for ok in ["4", "12", " 8 "] {
            PinLength::parse(ok).unwrap();
        }
        for bad in ["3", "13", "abc", "", "-5", "5.0", "300"] {
            let err = PinLength::parse(bad).unwrap_err().to_string();
            assert!(err.contains("4 to 12"), "{err}");
        }
    }

    #[test]
    fn debug_never_shows_digits() {
        let pin = Pin::generate(PinLength::new(12).unwrap(), &mut OsRng);
        assert_eq!(format!("{pin:?}"), PIN_MASK);
    }

    #[test]
    fn hash_and_verify_with_pepper() {
        let hasher = SecretHasher::new([7; 32]);
        let pin = Pin::generate(PinLength::default(), &mut OsRng);
        let hash = hasher.hash_pin(&pin, &mut OsRng).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(!hash.as_str().contains(pin.reveal()));
        assert!(hasher.verify_pin(&pin, &hash));
        let other = Pin::from_entered(if pin.reveal() == "24680" {
            "13579"
        } else {
            "24680"
        })
        .unwrap();
        assert!(!hasher.verify_pin(&other, &hash));
        // The same PIN under another pepper does not verify: the hash is keyed.
        assert!(!SecretHasher::new([8; 32]).verify_pin(&pin, &hash));
        assert!(!hasher.verify_pin(&pin, &PinHash::from_stored("garbage".into())));
    }

    #[test]
    fn entered_pins_are_digits_only() {
        assert!(Pin::from_entered("1234").is_some());
        assert!(Pin::from_entered("123").is_none());
        assert!(Pin::from_entered("12a45").is_none());
        assert!(Pin::from_entered("1234567890123").is_none());
    }
}
