//! SRTP and SRTCP (RFC 3711) with the AES_CM_128_HMAC_SHA1_80 suite, the one SDES
//! (RFC 4568) offers on SIP over TLS: AES-128 in counter mode, HMAC-SHA1 tags of 80
//! bits, session keys derived from a 128-bit master key and a 112-bit master salt with
//! a key derivation rate of 0. The crypto is aws-lc-rs, the provider of the whole
//! service.
//!
//! A [`SrtpContext`] serves one direction of one call: [`SrtpContext::protect_rtp`] /
//! [`SrtpContext::protect_rtcp`] for what is sent, [`SrtpContext::unprotect_rtp`] /
//! [`SrtpContext::unprotect_rtcp`] for what is received, with the rollover counter
//! estimated as RFC 3711 §3.3.1 says and replays refused within a window of 64
//! packets (§3.3.2). A packet that fails authentication changes nothing.

use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use thiserror::Error;

/// The master key's length in bytes.
pub const MASTER_KEY_LEN: usize = 16;
/// The master salt's length in bytes.
pub const MASTER_SALT_LEN: usize = 14;
/// The authentication tag's length in bytes (80 bits).
pub const TAG_LEN: usize = 10;
/// How many packets back a late packet may come and still be taken.
pub const REPLAY_WINDOW: u64 = 64;

const RTP_HEADER: usize = 12;
const RTCP_HEADER: usize = 8;
/// SRTCP's E flag and index word.
const SRTCP_INDEX_LEN: usize = 4;

/// Why a packet could not be protected or unprotected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SrtpError {
    /// Too short, or its header runs past its end.
    #[error("packet too short for its header")]
    Malformed,
    /// The tag does not match: forged, corrupted or under another key.
    #[error("authentication failed")]
    Authentication,
    /// A packet already received, or older than the replay window.
    #[error("replayed or too old")]
    Replay,
    /// SRTCP's index ran out (2^31 packets); the call needs new keys.
    #[error("index exhausted")]
    Exhausted,
    /// The crypto library refused an operation.
    #[error("crypto failure")]
    Crypto,
}

/// The master key and salt of one direction, as SDES carries them (30 bytes, key first).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    key: [u8; MASTER_KEY_LEN],
    salt: [u8; MASTER_SALT_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A master key from its 30 bytes (key, then salt).
    pub fn from_bytes(bytes: &[u8]) -> Option<MasterKey> {
        if bytes.len() != MASTER_KEY_LEN + MASTER_SALT_LEN {
            return None;
        }
        let mut key = [0u8; MASTER_KEY_LEN];
        let mut salt = [0u8; MASTER_SALT_LEN];
        key.copy_from_slice(&bytes[..MASTER_KEY_LEN]);
        salt.copy_from_slice(&bytes[MASTER_KEY_LEN..]);
        Some(MasterKey { key, salt })
    }

    /// A master key from its 30 bytes (key, then salt), as SDES carries them.
    pub fn from_array(bytes: &[u8; MASTER_KEY_LEN + MASTER_SALT_LEN]) -> MasterKey {
        let mut key = [0u8; MASTER_KEY_LEN];
        let mut salt = [0u8; MASTER_SALT_LEN];
        key.copy_from_slice(&bytes[..MASTER_KEY_LEN]);
        salt.copy_from_slice(&bytes[MASTER_KEY_LEN..]);
        MasterKey { key, salt }
    }

    /// The 30 bytes (key, then salt).
    pub fn to_bytes(&self) -> [u8; MASTER_KEY_LEN + MASTER_SALT_LEN] {
        let mut out = [0u8; MASTER_KEY_LEN + MASTER_SALT_LEN];
        out[..MASTER_KEY_LEN].copy_from_slice(&self.key);
        out[MASTER_KEY_LEN..].copy_from_slice(&self.salt);
        out
    }
}

/// The keys of one stream kind (RTP or RTCP), derived from the master key.
struct SessionKeys {
    cipher: [u8; 16],
    salt: [u8; MASTER_SALT_LEN],
    auth: hmac::Key,
}

impl SessionKeys {
    /// RFC 3711 §4.3 with a key derivation rate of 0: `labels` are those of the
    /// cipher key, the authentication key and the salt.
    fn derive(master: &MasterKey, labels: [u8; 3]) -> Result<SessionKeys, SrtpError> {
        let mut cipher = [0u8; 16];
        let mut auth = [0u8; 20];
        let mut salt = [0u8; MASTER_SALT_LEN];
        derive_into(master, labels[0], &mut cipher)?;
        derive_into(master, labels[1], &mut auth)?;
        derive_into(master, labels[2], &mut salt)?;
        Ok(SessionKeys {
            cipher,
            salt,
            auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &auth),
        })
    }

    /// The counter-mode IV of a packet: salt·2^16 ⊕ SSRC·2^64 ⊕ index·2^16.
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..MASTER_SALT_LEN].copy_from_slice(&self.salt);
        for (byte, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *byte ^= s;
        }
        for (byte, i) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *byte ^= i;
        }
        iv
    }

    /// Encrypts or decrypts `data` in place (counter mode is its own inverse).
    fn apply(&self, ssrc: u32, index: u64, data: &mut [u8]) -> Result<(), SrtpError> {
        aes_ctr(&self.cipher, self.iv(ssrc, index), data)
    }

    fn tag(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut context = hmac::Context::with_key(&self.auth);
        for part in parts {
            context.update(part);
        }
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&context.sign().as_ref()[..TAG_LEN]);
        tag
    }

    fn check(&self, parts: &[&[u8]], tag: &[u8]) -> Result<(), SrtpError> {
        let mut context = hmac::Context::with_key(&self.auth);
        for part in parts {
            context.update(part);
        }
        let full = context.sign();
        // A constant-time comparison of the truncated tag.
        let diff = full.as_ref()[..TAG_LEN]
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if tag.len() == TAG_LEN && diff == 0 {
            Ok(())
        } else {
            Err(SrtpError::Authentication)
        }
    }
}

fn aes_ctr(key: &[u8; 16], iv: [u8; 16], data: &mut [u8]) -> Result<(), SrtpError> {
    let key = UnboundCipherKey::new(&AES_128, key).map_err(|_| SrtpError::Crypto)?;
    let key = EncryptingKey::ctr(key).map_err(|_| SrtpError::Crypto)?;
    key.less_safe_encrypt(data, EncryptionContext::Iv128(iv.into()))
        .map_err(|_| SrtpError::Crypto)?;
    Ok(())
}

fn derive_into(master: &MasterKey, label: u8, out: &mut [u8]) -> Result<(), SrtpError> {
    let mut iv = [0u8; 16];
    iv[..MASTER_SALT_LEN].copy_from_slice(&master.salt);
    iv[7] ^= label;
    out.fill(0);
    aes_ctr(&master.key, iv, out)
}

/// Which packets of the last [`REPLAY_WINDOW`] have been taken, below the highest index.
#[derive(Debug, Clone, Copy, Default)]
struct ReplayWindow {
    highest: Option<u64>,
    /// Bit n: the packet `highest - n` was taken.
    seen: u64,
}

impl ReplayWindow {
    fn check(&self, index: u64) -> Result<(), SrtpError> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if index > highest {
            return Ok(());
        }
        let back = highest - index;
        if back >= REPLAY_WINDOW || self.seen & (1 << back) != 0 {
            return Err(SrtpError::Replay);
        }
        Ok(())
    }

    fn accept(&mut self, index: u64) {
        match self.highest {
            Some(highest) if index <= highest => self.seen |= 1 << (highest - index),
            Some(highest) => {
                let ahead = index - highest;
                self.seen = if ahead >= REPLAY_WINDOW {
                    0
                } else {
                    self.seen << ahead
                } | 1;
                self.highest = Some(index);
            }
            None => {
                self.highest = Some(index);
                self.seen = 1;
            }
        }
    }
}

/// One direction of one call's SRTP and SRTCP.
pub struct SrtpContext {
    rtp: SessionKeys,
    rtcp: SessionKeys,
    /// Sending: the rollover counter and the last sequence number sent.
    send_roc: u32,
    send_last: Option<u16>,
    send_rtcp_index: u32,
    /// Receiving: the highest index taken, and the replay windows.
    rtp_window: ReplayWindow,
    rtcp_window: ReplayWindow,
}

impl SrtpContext {
    /// A context for the stream `master` keys.
    pub fn new(master: &MasterKey) -> Result<SrtpContext, SrtpError> {
        Ok(SrtpContext {
            rtp: SessionKeys::derive(master, [0, 1, 2])?,
            rtcp: SessionKeys::derive(master, [3, 4, 5])?,
            send_roc: 0,
            send_last: None,
            send_rtcp_index: 0,
            rtp_window: ReplayWindow::default(),
            rtcp_window: ReplayWindow::default(),
        })
    }

    /// Turns an RTP packet into SRTP: the payload encrypted, the tag appended.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let header = rtp_header_len(packet)?;
        let (ssrc, seq) = rtp_ids(packet);
        if let Some(last) = self.send_last
            && seq < last
            && last - seq > 0x8000
        {
            self.send_roc = self.send_roc.wrapping_add(1);
        }
        if self
            .send_last
            .is_none_or(|last| seq.wrapping_sub(last) < 0x8000)
        {
            self.send_last = Some(seq);
        }
        let index = (u64::from(self.send_roc) << 16) | u64::from(seq);
        let mut out = Vec::with_capacity(packet.len() + TAG_LEN);
        out.extend_from_slice(packet);
        self.rtp.apply(ssrc, index, &mut out[header..])?;
        let tag = self.rtp.tag(&[&out, &self.send_roc.to_be_bytes()]);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Turns an SRTP packet back into RTP, checking its tag and that it is no replay.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        if packet.len() < RTP_HEADER + TAG_LEN {
            return Err(SrtpError::Malformed);
        }
        let (body, tag) = packet.split_at(packet.len() - TAG_LEN);
        let header = rtp_header_len(body)?;
        let (ssrc, seq) = rtp_ids(body);
        let roc = self.estimate_roc(seq);
        let index = (u64::from(roc) << 16) | u64::from(seq);
        self.rtp_window.check(index)?;
        self.rtp.check(&[body, &roc.to_be_bytes()], tag)?;
        let mut out = body.to_vec();
        self.rtp.apply(ssrc, index, &mut out[header..])?;
        self.rtp_window.accept(index);
        Ok(out)
    }

    /// RFC 3711 §3.3.1: the rollover counter a received sequence number most likely
    /// belongs to, given the highest index taken.
    fn estimate_roc(&self, seq: u16) -> u32 {
        let Some(highest) = self.rtp_window.highest else {
            return 0;
        };
        let roc = (highest >> 16) as u32;
        let s_l = (highest & 0xFFFF) as u16;
        if s_l < 0x8000 {
            if seq > s_l && seq - s_l > 0x8000 {
                roc.wrapping_sub(1)
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq {
            roc.wrapping_add(1)
        } else {
            roc
        }
    }

    /// Turns an RTCP compound packet into SRTCP: encrypted after its first header,
    /// E flag and index appended, then the tag.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        if packet.len() < RTCP_HEADER {
            return Err(SrtpError::Malformed);
        }
        if self.send_rtcp_index >= 0x8000_0000 {
            return Err(SrtpError::Exhausted);
        }
        let index = self.send_rtcp_index;
        self.send_rtcp_index += 1;
        let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let mut out = Vec::with_capacity(packet.len() + SRTCP_INDEX_LEN + TAG_LEN);
        out.extend_from_slice(packet);
        self.rtcp
            .apply(ssrc, u64::from(index), &mut out[RTCP_HEADER..])?;
        out.extend_from_slice(&(index | 0x8000_0000).to_be_bytes());
        let tag = self.rtcp.tag(&[&out]);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Turns an SRTCP packet back into RTCP, checking its tag and that it is no replay.
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        if packet.len() < RTCP_HEADER + SRTCP_INDEX_LEN + TAG_LEN {
            return Err(SrtpError::Malformed);
        }
        let (body, tag) = packet.split_at(packet.len() - TAG_LEN);
        let (rtcp, word) = body.split_at(body.len() - SRTCP_INDEX_LEN);
        let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        let encrypted = word & 0x8000_0000 != 0;
        let index = u64::from(word & 0x7FFF_FFFF);
        self.rtcp_window.check(index)?;
        self.rtcp.check(&[body], tag)?;
        let mut out = rtcp.to_vec();
        if encrypted {
            let ssrc = u32::from_be_bytes([out[4], out[5], out[6], out[7]]);
            self.rtcp.apply(ssrc, index, &mut out[RTCP_HEADER..])?;
        }
        self.rtcp_window.accept(index);
        Ok(out)
    }
}

/// The two master keys of one SRTP call, as SDES agreed them: the peer's, for what we
/// receive, and ours, for what we send. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct CallKeys {
    /// The peer's master key and salt.
    pub remote: MasterKey,
    /// Our master key and salt.
    pub local: MasterKey,
}

impl std::fmt::Debug for CallKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallKeys(..)")
    }
}

/// Both directions of one call's SRTP: what arrives is unprotected with the peer's
/// keys, what is sent protected with ours.
pub struct CallSrtp {
    keys: CallKeys,
    inbound: SrtpContext,
    outbound: SrtpContext,
}

impl CallSrtp {
    /// The contexts of a call keyed with `keys`.
    pub fn new(keys: CallKeys) -> Result<CallSrtp, SrtpError> {
        Ok(CallSrtp {
            inbound: SrtpContext::new(&keys.remote)?,
            outbound: SrtpContext::new(&keys.local)?,
            keys,
        })
    }

    /// The keys the contexts were made from.
    pub fn keys(&self) -> &CallKeys {
        &self.keys
    }

    /// An SRTP packet from the peer, as RTP.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.inbound.unprotect_rtp(packet)
    }

    /// An SRTCP packet from the peer, as RTCP.
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.inbound.unprotect_rtcp(packet)
    }

    /// An RTP packet of ours, as SRTP.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.outbound.protect_rtp(packet)
    }

    /// An RTCP packet of ours, as SRTCP.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.outbound.protect_rtcp(packet)
    }
}

/// The length of an RTP header with its CSRCs and extension.
fn rtp_header_len(packet: &[u8]) -> Result<usize, SrtpError> {
    if packet.len() < RTP_HEADER || packet[0] >> 6 != 2 {
        return Err(SrtpError::Malformed);
    }
    let mut len = RTP_HEADER + 4 * usize::from(packet[0] & 0x0F);
    if packet[0] & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4).ok_or(SrtpError::Malformed)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    if len > packet.len() {
        return Err(SrtpError::Malformed);
    }
    Ok(len)
}

fn rtp_ids(packet: &[u8]) -> (u32, u16) {
    (
        u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        u16::from_be_bytes([packet[2], packet[3]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The master key and salt of RFC 3711 appendix B.3 (and of libsrtp's test packet).
    fn master() -> MasterKey {
        MasterKey::from_bytes(&hex(
            "E1F97A0D3E018BE0D64FA32C06DE41390EC675AD498AFEEBB6960B3AABE6",
        ))
        .unwrap()
    }

    #[test]
    fn session_keys_are_those_of_rfc_3711_appendix_b3() {
        let mut cipher = [0u8; 16];
        let mut salt = [0u8; 14];
        let mut auth = [0u8; 20];
        derive_into(&master(), 0, &mut cipher).unwrap();
        derive_into(&master(), 2, &mut salt).unwrap();
        derive_into(&master(), 1, &mut auth).unwrap();
        assert_eq!(cipher.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(
            auth.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    #[test]
    fn the_keystream_is_that_of_rfc_3711_appendix_b2() {
        let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap();
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"));
        let mut stream = [0u8; 32];
        aes_ctr(&key, iv, &mut stream).unwrap();
        assert_eq!(
            stream.to_vec(),
            hex("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB")
        );
    }

    #[test]
    fn a_packet_is_protected_as_libsrtp_does_and_back() {
        let plain = hex("800f1234decafbadcafebabeabababababababababababababababab");
        let mut sender = SrtpContext::new(&master()).unwrap();
        let protected = sender.protect_rtp(&plain).unwrap();
        assert_eq!(
            protected,
            hex("800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb")
        );
        let mut receiver = SrtpContext::new(&master()).unwrap();
        assert_eq!(receiver.unprotect_rtp(&protected).unwrap(), plain);
        assert_eq!(receiver.unprotect_rtp(&protected), Err(SrtpError::Replay));
    }

    #[test]
    fn a_forged_or_corrupted_packet_is_refused_and_changes_nothing() {
        let plain = hex("800f1234decafbadcafebabeabababababababababababababababab");
        let mut sender = SrtpContext::new(&master()).unwrap();
        let protected = sender.protect_rtp(&plain).unwrap();
        let mut receiver = SrtpContext::new(&master()).unwrap();
        for at in 0..protected.len() {
            let mut bad = protected.clone();
            bad[at] ^= 0x01;
            assert!(receiver.unprotect_rtp(&bad).is_err(), "byte {at} flipped");
        }
        // Nothing was taken: the genuine packet still is.
        assert_eq!(receiver.unprotect_rtp(&protected).unwrap(), plain);
        let other = MasterKey::from_bytes(&[7u8; 30]).unwrap();
        let mut stranger = SrtpContext::new(&other).unwrap();
        assert_eq!(
            stranger.unprotect_rtp(&protected),
            Err(SrtpError::Authentication)
        );
        for len in 0..protected.len() {
            let _ = receiver.unprotect_rtp(&protected[..len]);
            let _ = receiver.unprotect_rtcp(&protected[..len]);
        }
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut packet = vec![0x80, 0x00];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78]);
        packet.extend_from_slice(&[seq as u8; 160]);
        packet
    }

    #[test]
    fn the_sequence_wraps_into_the_next_rollover_and_late_packets_still_count() {
        let mut sender = SrtpContext::new(&master()).unwrap();
        let mut receiver = SrtpContext::new(&master()).unwrap();
        let sent: Vec<(u16, Vec<u8>)> = (0..400u32)
            .map(|n| {
                let seq = 0xFF00u16.wrapping_add(n as u16);
                (seq, sender.protect_rtp(&rtp(seq)).unwrap())
            })
            .collect();
        // Every packet, but each pair swapped: late by one, across the wrap too.
        for pair in sent.chunks(2) {
            for (seq, packet) in pair.iter().rev() {
                assert_eq!(receiver.unprotect_rtp(packet).unwrap(), rtp(*seq), "{seq}");
            }
        }
        // One from before the window is refused.
        assert_eq!(receiver.unprotect_rtp(&sent[100].1), Err(SrtpError::Replay));
    }

    #[test]
    fn rtcp_is_protected_and_back_with_its_index() {
        let report = hex("80c8000612345678aaaaaaaabbbbbbbbccccccccddddddddeeeeeeee");
        let mut sender = SrtpContext::new(&master()).unwrap();
        let mut receiver = SrtpContext::new(&master()).unwrap();
        let first = sender.protect_rtcp(&report).unwrap();
        let second = sender.protect_rtcp(&report).unwrap();
        assert_ne!(first, second, "each has its own index and keystream");
        assert_eq!(first.len(), report.len() + 4 + TAG_LEN);
        assert_ne!(first[8..report.len()], report[8..], "encrypted");
        assert_eq!(receiver.unprotect_rtcp(&second).unwrap(), report);
        assert_eq!(receiver.unprotect_rtcp(&first).unwrap(), report);
        assert_eq!(receiver.unprotect_rtcp(&first), Err(SrtpError::Replay));
        let third = sender.protect_rtcp(&report).unwrap();
        let mut bad = third.clone();
        bad[10] ^= 1;
        assert_eq!(
            receiver.unprotect_rtcp(&bad),
            Err(SrtpError::Authentication)
        );
        assert_eq!(receiver.unprotect_rtcp(&third).unwrap(), report);
    }
}
