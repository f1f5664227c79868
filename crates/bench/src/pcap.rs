//! A small reader of the pcap files tcpdump writes on the loopback interface: the IPv4
//! UDP datagrams in them, which is what the SIPp generator's audio check needs.

/// One UDP datagram of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

/// The IPv4 UDP datagrams of a pcap file (Ethernet, Linux cooked v1/v2, BSD loopback or
/// raw IP). A record cut short at the end (a capture stopped mid-write) is left out.
pub fn udp_datagrams(bytes: &[u8]) -> Vec<Datagram> {
    let mut out = Vec::new();
    if bytes.len() < 24 {
        return out;
    }
    let big = match bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => false,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => true,
        _ => return out,
    };
    let u32_at = |i: usize| {
        let v = [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]];
        if big {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    };
    let link = u32_at(20);
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32_at(at + 8) as usize;
        let start = at + 16;
        if start + len > bytes.len() {
            break;
        }
        let frame = &bytes[start..start + len];
        at = start + len;
        let ip = match link {
            1 if frame.len() > 14 && frame[12..14] == [0x08, 0x00] => &frame[14..],
            113 if frame.len() > 16 && frame[14..16] == [0x08, 0x00] => &frame[16..],
            276 if frame.len() > 20 && frame[0..2] == [0x08, 0x00] => &frame[20..],
            0 if frame.len() > 4 => &frame[4..],
            12 | 101 | 228 => frame,
            _ => continue,
        };
        if ip.len() < 28 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip.len() < ihl + 8 {
            continue;
        }
        let udp = &ip[ihl..];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]])).clamp(8, udp.len());
        out.push(Datagram {
            src_port: u16::from_be_bytes([udp[0], udp[1]]),
            dst_port: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..udp_len].to_vec(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ethernet_udp_record() {
        let mut file = Vec::new();
        file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        file.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]);
        file.extend_from_slice(&1u32.to_le_bytes());
        let payload = [1u8, 2, 3];
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 31, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip.extend_from_slice(&4000u16.to_be_bytes());
        ip.extend_from_slice(&5000u16.to_be_bytes());
        ip.extend_from_slice(&11u16.to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(&payload);
        frame.extend_from_slice(&ip);
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&frame);
        let got = udp_datagrams(&file);
        assert_eq!(
            got,
            vec![Datagram {
                src_port: 4000,
                dst_port: 5000,
                payload: payload.to_vec()
            }]
        );
    }
}
