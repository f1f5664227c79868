//! SDES (RFC 4568): the `a=crypto` attribute that carries an SRTP master key in the SDP
//! of a call signalled over TLS. Only the suite pinbridge speaks is taken,
//! AES_CM_128_HMAC_SHA1_80, with one inline key of 30 bytes (master key and salt), no
//! MKI and no session parameters; anything else is refused with a reason, so that the
//! offer/answer can look for another attribute or refuse the call.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

/// The one crypto suite pinbridge offers and accepts.
pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";

/// The length of the inline key: a 128-bit master key and a 112-bit master salt.
pub const KEY_LEN: usize = 30;

/// Why an `a=crypto` value is not one pinbridge can use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdesError {
    /// The value is not `TAG SUITE KEY-PARAMS`.
    #[error("malformed crypto attribute")]
    Malformed,
    /// Another crypto suite.
    #[error("unsupported crypto suite {0}")]
    Suite(String),
    /// Key parameters pinbridge does not take (several keys, an MKI, another method,
    /// session parameters).
    #[error("unsupported key parameters")]
    KeyParams,
    /// The key is not 30 bytes of base64.
    #[error("the inline key is not {KEY_LEN} bytes of base64")]
    Key,
}

/// One usable `a=crypto` attribute.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The attribute's tag, which the answer repeats.
    pub tag: u32,
    /// The master key and salt.
    pub key: [u8; KEY_LEN],
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crypto {{ tag: {}, key: .. }}", self.tag)
    }
}

impl Crypto {
    /// Reads the value of an `a=crypto` attribute (what follows `a=crypto:`).
    pub fn parse(value: &str) -> Result<Crypto, SdesError> {
        let mut fields = value.split_ascii_whitespace();
        let (Some(tag), Some(suite), Some(params)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(SdesError::Malformed);
        };
        // 1*9DIGIT (RFC 4568 §9.2).
        let tag = tag
            .parse::<u32>()
            .ok()
            .filter(|_| tag.len() <= 9 && tag.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(SdesError::Malformed)?;
        if suite != SUITE {
            return Err(SdesError::Suite(suite.chars().take(64).collect()));
        }
        if fields.next().is_some() || params.contains(';') {
            return Err(SdesError::KeyParams);
        }
        let inline = params.strip_prefix("inline:").ok_or(SdesError::KeyParams)?;
        let mut parts = inline.split('|');
        let key = parts.next().unwrap_or_default();
        // An optional lifetime (a number or 2^n) may follow; an MKI may not.
        if let Some(lifetime) = parts.next() {
            let valid = lifetime.parse::<u64>().is_ok()
                || lifetime
                    .strip_prefix("2^")
                    .and_then(|n| n.parse::<u8>().ok())
                    .is_some_and(|n| n <= 48);
            if !valid {
                return Err(SdesError::KeyParams);
            }
        }
        if parts.next().is_some() {
            return Err(SdesError::KeyParams);
        }
        let bytes = STANDARD.decode(key).map_err(|_| SdesError::Key)?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SdesError::Key)?;
        Ok(Crypto { tag, key })
    }

    /// The attribute's value, as an offer or answer carries it.
    pub fn to_value(&self) -> String {
        format!("{} {SUITE} inline:{}", self.tag, STANDARD.encode(self.key))
    }
}

/// The first usable crypto attribute among `values` (an offer may list several, in
/// order of preference), or why the last one was refused (`Malformed` when none).
pub fn choose<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Crypto, SdesError> {
    let mut refused = SdesError::Malformed;
    for value in values {
        match Crypto::parse(value) {
            Ok(crypto) => return Ok(crypto),
            Err(e) => refused = e,
        }
    }
    Err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4568 §9.1's example key (40 characters of base64, 30 bytes).
    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn reads_and_writes_the_rfc_example() {
        let value = format!("1 {SUITE} inline:{KEY}|2^20|1:4");
        // The example has an MKI, which pinbridge does not take.
        assert_eq!(Crypto::parse(&value), Err(SdesError::KeyParams));
        let crypto = Crypto::parse(&format!("1 {SUITE} inline:{KEY}|2^20")).unwrap();
        assert_eq!(crypto.tag, 1);
        assert_eq!(crypto.to_value(), format!("1 {SUITE} inline:{KEY}"));
        assert_eq!(Crypto::parse(&crypto.to_value()).unwrap(), crypto);
        assert!(
            !format!("{crypto:?}").contains(KEY),
            "the key is not in Debug"
        );
    }

    #[test]
    fn refuses_what_it_cannot_use_with_a_reason() {
        let cases = [
            ("", SdesError::Malformed),
            ("1", SdesError::Malformed),
            (&format!("x {SUITE} inline:{KEY}"), SdesError::Malformed),
            (
                &format!("1234567890 {SUITE} inline:{KEY}"),
                SdesError::Malformed,
            ),
            (&format!("+1 {SUITE} inline:{KEY}"), SdesError::Malformed),
            (
                &format!("1 AES_CM_128_HMAC_SHA1_32 inline:{KEY}"),
                SdesError::Suite("AES_CM_128_HMAC_SHA1_32".into()),
            ),
            (
                &format!("1 {SUITE} inline:{KEY};inline:{KEY}"),
                SdesError::KeyParams,
            ),
            (
                &format!("1 {SUITE} inline:{KEY} UNENCRYPTED_SRTP"),
                SdesError::KeyParams,
            ),
            (&format!("1 {SUITE} other:{KEY}"), SdesError::KeyParams),
            (
                &format!("1 {SUITE} inline:{KEY}|2^99"),
                SdesError::KeyParams,
            ),
            (&format!("1 {SUITE} inline:AAAA"), SdesError::Key),
            (&format!("1 {SUITE} inline:not*base64!"), SdesError::Key),
        ];
        for (value, expected) in cases {
            assert_eq!(Crypto::parse(value), Err(expected), "{value:?}");
        }
    }

    #[test]
    fn chooses_the_first_usable_attribute() {
        let short = format!("1 AES_CM_128_HMAC_SHA1_32 inline:{KEY}");
        let ours = format!("2 {SUITE} inline:{KEY}");
        assert_eq!(choose([short.as_str(), ours.as_str()]).unwrap().tag, 2);
        assert_eq!(
            choose([short.as_str()]),
            Err(SdesError::Suite("AES_CM_128_HMAC_SHA1_32".into()))
        );
        assert_eq!(choose([]), Err(SdesError::Malformed));
    }
}
