//! The server key: one secret per deployment, from which the PIN pepper, the key that
//! encrypts queued emails and the store's check value are derived (HKDF-SHA256).

use hkdf::Hkdf;
use sha2::Sha256;

/// 32 random bytes, written as 64 hex digits in `server.key` or `PINBRIDGE_SERVER_KEY`.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the server key must be 64 hex digits (32 bytes)")]
    Malformed,
    #[error(
        "this server key does not match the one this database was created with; \
         use the same key on every node and for the CLI (nothing was changed)"
    )]
    Mismatch,
}

impl ServerKey {
    pub fn generate(rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    pub fn parse_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Malformed)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Malformed)?;
        Ok(Self(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"pinbridge server key v1"), &self.0);
        let mut out = [0u8; 32];
        hk.expand(purpose.as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// The secret mixed into every Argon2id PIN and password hash.
    pub fn pepper(&self) -> [u8; 32] {
        self.derive("pin and password pepper")
    }

    /// The key that encrypts queued email bodies at rest.
    pub fn mail_key(&self) -> [u8; 32] {
        self.derive("outbox encryption")
    }

    /// A value the store keeps so that a process holding a different key is refused.
    /// It reveals nothing about the key itself.
    pub fn check_value(&self) -> String {
        hex::encode(self.derive("key check value"))
    }

    /// Compares this key with the check value a store holds.
    pub fn verify_check_value(&self, stored: &str) -> Result<(), KeyError> {
        use subtle::ConstantTimeEq;
        if self
            .check_value()
            .as_bytes()
            .ct_eq(stored.trim().as_bytes())
            .into()
        {
            Ok(())
        } else {
            Err(KeyError::Mismatch)
        }
    }
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_and_check_value_matches() {
        let key = ServerKey::generate(&mut rand_core::OsRng);
        assert_ne!(key.pepper(), key.mail_key());
        let check = key.check_value();
        key.verify_check_value(&check).unwrap();
        let other = ServerKey::generate(&mut rand_core::OsRng);
        assert_eq!(other.verify_check_value(&check), Err(KeyError::Mismatch));
        let again = ServerKey::parse_hex(&key.to_hex()).unwrap();
        assert_eq!(again.pepper(), key.pepper());
        assert_eq!(
            ServerKey::parse_hex("abc").unwrap_err(),
            KeyError::Malformed
        );
    }
}
