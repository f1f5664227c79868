//! tcpdump on the loopback interface, and a reader and writer of the pcap files it
//! uses: IPv4 UDP datagrams only, which is what the RTP checks need.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Error;
use crate::process::{self, Lines, Proc};

/// One UDP datagram from a capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Datagram {
    /// Seconds since the epoch.
    pub time: f64,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// tcpdump on the loopback interface, writing every matching UDP datagram to a file;
/// stopped by its PID.
pub struct Capture {
    proc: Proc,
    pub path: PathBuf,
}

/// How tcpdump captures.
#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    /// Bytes kept of each packet (`-s`); `None` keeps them whole.
    pub snaplen: Option<u32>,
    /// The kernel buffer in KiB (`-B`); `None` leaves tcpdump's default.
    pub buffer_kib: Option<u32>,
    /// The core tcpdump is pinned to.
    pub core: Option<usize>,
}

/// Tells apart the captures one process writes into one directory.
static NEXT_CAPTURE: AtomicU64 = AtomicU64::new(0);

impl Capture {
    /// Starts `tcpdump -i lo` with `filter` (BPF), writing into a new file in `dir`, and
    /// waits until it is capturing; panics when it cannot.
    pub fn start(dir: &Path, filter: &str) -> Capture {
        let n = NEXT_CAPTURE.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("capture-{}-{n}.pcap", std::process::id()));
        Capture::try_start(&path, filter, &CaptureOptions::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `tcpdump -i lo` with `filter`, writing to `path`, and waits until it is
    /// capturing.
    pub fn try_start(
        path: &Path,
        filter: &str,
        options: &CaptureOptions,
    ) -> Result<Capture, Error> {
        let mut cmd = process::command("tcpdump", options.core);
        let snaplen = options.snaplen.unwrap_or(0).to_string();
        cmd.args(["-i", "lo", "-n", "-U", "-s", &snaplen]);
        if let Some(kib) = options.buffer_kib {
            cmd.args(["-B", &kib.to_string()]);
        }
        cmd.arg("-w")
            .arg(path)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn("tcpdump", cmd)?;
        let mut lines = Lines::read(proc.take_stderr().expect("piped stderr"));
        if lines
            .wait_for(Duration::from_secs(20), |l| l.contains("listening on"))
            .is_none()
        {
            return Err(Error::new(format!(
                "tcpdump did not start capturing (it needs CAP_NET_RAW): {:?} (exit: {:?})",
                lines.seen,
                proc.exited()
            )));
        }
        Ok(Capture {
            proc,
            path: path.to_path_buf(),
        })
    }

    /// What has been captured so far (the capture goes on).
    pub fn datagrams(&self) -> Vec<Datagram> {
        match std::fs::read(&self.path) {
            Ok(bytes) => read_pcap(&bytes).unwrap_or_else(|e| panic!("{e}")),
            Err(_) => Vec::new(),
        }
    }

    /// Stops tcpdump (SIGINT, on which it writes out what it holds) and returns
    /// everything it captured.
    pub fn finish(mut self) -> Result<Vec<Datagram>, Error> {
        self.proc.stop_with(libc::SIGINT, Duration::from_secs(10));
        let bytes = std::fs::read(&self.path)
            .map_err(|e| Error::new(format!("read {}: {e}", self.path.display())))?;
        read_pcap(&bytes)
    }

    /// [`Capture::finish`], for tests: panics when the capture cannot be read.
    pub fn stop(self) -> Vec<Datagram> {
        self.finish().unwrap_or_else(|e| panic!("{e}"))
    }
}

fn u16_at(b: &[u8], i: usize, big: bool) -> u16 {
    let v = [b[i], b[i + 1]];
    if big {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

fn u32_at(b: &[u8], i: usize, big: bool) -> u32 {
    let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
    if big {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// The IPv4 UDP datagrams of a pcap file (Ethernet, Linux cooked v1/v2, BSD loopback or
/// raw IP link types). A file shorter than its header (a capture just started) holds
/// none; a record cut short at the end (a capture still running) is left out.
pub fn read_pcap(bytes: &[u8]) -> Result<Vec<Datagram>, Error> {
    let mut out = Vec::new();
    if bytes.len() < 24 {
        return Ok(out);
    }
    let (big, nanos) = match [bytes[0], bytes[1], bytes[2], bytes[3]] {
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        other => {
            return Err(Error::new(format!("not a pcap file (magic {other:02x?})")));
        }
    };
    let link = u32_at(bytes, 20, big);
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let sec = f64::from(u32_at(bytes, at, big));
        let frac = f64::from(u32_at(bytes, at + 4, big));
        let len = u32_at(bytes, at + 8, big) as usize;
        let start = at + 16;
        if start + len > bytes.len() {
            break;
        }
        let frame = &bytes[start..start + len];
        at = start + len;
        let time = sec + frac / if nanos { 1e9 } else { 1e6 };
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
        let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let udp = &ip[ihl..];
        let udp_len = usize::from(u16_at(udp, 4, true)).clamp(8, udp.len());
        out.push(Datagram {
            time,
            src: SocketAddrV4::new(src_ip, u16_at(udp, 0, true)),
            dst: SocketAddrV4::new(dst_ip, u16_at(udp, 2, true)),
            payload: udp[8..udp_len].to_vec(),
        });
    }
    Ok(out)
}

/// A pcap file (Ethernet link type) of UDP datagrams 127.0.0.1:src → 127.0.0.1:dst sent
/// at the given offsets. SIPp's `play_pcap_audio` replays it with the same timing,
/// rewriting addresses and ports to those of the call.
pub fn write_pcap(packets: &[(Duration, Vec<u8>)], src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let base = 1_700_000_000u64;
    for (at, payload) in packets {
        let mut frame = Vec::new();
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00]);
        let total = 20 + 8 + payload.len();
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
            127,
            0,
            0,
            1,
            127,
            0,
            0,
            1,
        ];
        let mut sum: u32 = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let check = !(sum as u16);
        ip[10..12].copy_from_slice(&check.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&src_port.to_be_bytes());
        frame.extend_from_slice(&dst_port.to_be_bytes());
        frame.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        let sec = base + at.as_secs();
        out.extend_from_slice(&(sec as u32).to_le_bytes());
        out.extend_from_slice(&at.subsec_micros().to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let packets = vec![
            (Duration::from_millis(20), vec![1u8, 2, 3]),
            (Duration::from_millis(1040), vec![4u8; 172]),
        ];
        let file = write_pcap(&packets, 4000, 5000);
        let got = read_pcap(&file).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].src, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(got[0].dst, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(got[0].payload, vec![1, 2, 3]);
        assert_eq!(got[1].payload, vec![4u8; 172]);
        assert!((got[1].time - got[0].time - 1.02).abs() < 1e-6, "{got:?}");
    }

    #[test]
    fn a_record_cut_short_is_left_out() {
        let file = write_pcap(&[(Duration::ZERO, vec![9u8; 40])], 1, 2);
        assert_eq!(read_pcap(&file[..file.len() - 1]).unwrap(), Vec::new());
        assert_eq!(read_pcap(&file[..10]).unwrap(), Vec::new());
    }

    #[test]
    fn a_file_that_is_not_pcap_is_an_error() {
        assert!(read_pcap(&[0u8; 64]).is_err());
    }
}
