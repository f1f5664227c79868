//! Long random secrets (session cookies, one-time form tokens, API tokens) and the hash
//! the store keeps of them instead.
//!
//! They are 32 random bytes, so a fast hash is enough: nobody can guess one to test it
//! against a hash.

use rand_core::RngCore;
use sha2::{Digest, Sha256};

/// A random secret, 32 bytes from the OS generator in hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The SHA-256 of a secret, in hex: what the store keeps.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_differ_and_their_hashes_do_not_reveal_them() {
        let (a, b) = (random_secret(), random_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), secret_hash(&b));
        assert!(!secret_hash(&a).contains(&a));
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
