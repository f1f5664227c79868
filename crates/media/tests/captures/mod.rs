//! SIPp's stock captures of RFC 4733 keys, read for tests: one libpcap file per digit
//! (Ethernet, IPv4, UDP), each digit's packets on one SSRC with sequence numbers and a
//! timestamp far from the other digits'.

#![allow(dead_code)]

/// Where SIPp (Debian `sip-tester`) keeps its captures of RFC 4733 keys, one per digit.
pub const STOCK_CAPTURES: &str = "/usr/share/sip-tester";

/// The RTP packets of one of SIPp's stock captures of a key (`dtmf_2833_<digit>.pcap`,
/// `_star` and `_pound` for `*` and `#`), in the order they were captured. The captures
/// are libpcap files of Ethernet, IPv4 and UDP frames.
pub fn stock_capture(key: char) -> Vec<Vec<u8>> {
    let name = match key {
        '*' => "star".to_owned(),
        '#' => "pound".to_owned(),
        digit => digit.to_string(),
    };
    let path = format!("{STOCK_CAPTURES}/dtmf_2833_{name}.pcap");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (apt-get install -y sip-tester)"));
    udp_payloads(&bytes)
}

/// The UDP payloads of a libpcap file of Ethernet frames carrying IPv4.
pub fn udp_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let header: [u8; 4] = bytes[..4].try_into().unwrap();
    let u32_at = |at: usize| {
        let word: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        match header {
            [0xd4, 0xc3, 0xb2, 0xa1] => u32::from_le_bytes(word),
            [0xa1, 0xb2, 0xc3, 0xd4] => u32::from_be_bytes(word),
            other => panic!("not a libpcap file (magic {other:02x?})"),
        }
    };
    assert_eq!(u32_at(20), 1, "the capture is not of Ethernet frames");
    let mut payloads = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let length = u32_at(at + 8) as usize;
        let frame = &bytes[at + 16..at + 16 + length];
        at += 16 + length;
        assert_eq!(frame[12..14], [0x08, 0x00], "a frame that is not IPv4");
        let ip = &frame[14..];
        assert_eq!(ip[9], 17, "a packet that is not UDP");
        let udp = &ip[usize::from(ip[0] & 0x0f) * 4..];
        let udp_length = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        payloads.push(udp[8..udp_length].to_vec());
    }
    payloads
}
