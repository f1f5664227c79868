//! Batched UDP I/O on Linux: `recvmmsg` and `sendmmsg` over IPv4 sockets, with the
//! buffers and message headers allocated once and reused for every batch.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;

/// The largest datagram a receive batch keeps whole (RTP of G.711 at 20 ms is 172 bytes).
pub const RECV_BUF: usize = 512;
/// The largest datagram a send batch holds.
pub const SEND_BUF: usize = 256;

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr(addr: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
        u16::from_be(addr.sin_port),
    )
}

/// Up to `capacity` datagrams read with one `recvmmsg`.
pub struct RecvBatch {
    bufs: Vec<[u8; RECV_BUF]>,
    addrs: Vec<libc::sockaddr_in>,
    iovecs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    len: usize,
}

impl RecvBatch {
    pub fn new(capacity: usize) -> RecvBatch {
        let mut bufs = vec![[0u8; RECV_BUF]; capacity];
        // SAFETY: sockaddr_in and mmsghdr are plain C structs; all zeroes is valid.
        let mut addrs: Vec<libc::sockaddr_in> = (0..capacity)
            .map(|_| unsafe { std::mem::zeroed() })
            .collect();
        let mut iovecs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: RECV_BUF,
            })
            .collect();
        let msgs = iovecs
            .iter_mut()
            .zip(addrs.iter_mut())
            .map(|(iov, addr)| {
                // SAFETY: as above.
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
                m.msg_hdr.msg_name = (addr as *mut libc::sockaddr_in).cast();
                m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                m
            })
            .collect();
        // The vectors are never resized, so the pointers into them stay valid when the
        // batch (their headers) moves.
        RecvBatch {
            bufs,
            addrs,
            iovecs,
            msgs,
            len: 0,
        }
    }

    /// Reads what is waiting on `fd`, without blocking; how many datagrams (0 when none).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for m in &mut self.msgs {
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            m.msg_len = 0;
        }
        debug_assert_eq!(self.iovecs.len(), self.msgs.len());
        // SAFETY: every mmsghdr points at its own iovec, buffer and address, all owned by
        // self and alive for the call; vlen is the number of headers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            self.len = 0;
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.len = n as usize;
        Ok(self.len)
    }

    /// The `i`th datagram of the last read: its source and its bytes.
    pub fn get(&self, i: usize) -> (SocketAddrV4, &[u8]) {
        let len = (self.msgs[i].msg_len as usize).min(RECV_BUF);
        (from_sockaddr(&self.addrs[i]), &self.bufs[i][..len])
    }
}

/// Up to `capacity` datagrams sent with one `sendmmsg`, each to its own destination.
pub struct SendBatch {
    bufs: Vec<[u8; SEND_BUF]>,
    addrs: Vec<libc::sockaddr_in>,
    iovecs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    len: usize,
}

impl SendBatch {
    pub fn new(capacity: usize) -> SendBatch {
        let mut bufs = vec![[0u8; SEND_BUF]; capacity];
        // SAFETY: plain C structs; all zeroes is valid.
        let mut addrs: Vec<libc::sockaddr_in> = (0..capacity)
            .map(|_| unsafe { std::mem::zeroed() })
            .collect();
        let mut iovecs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: 0,
            })
            .collect();
        let msgs = iovecs
            .iter_mut()
            .zip(addrs.iter_mut())
            .map(|(iov, addr)| {
                // SAFETY: as above.
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
                m.msg_hdr.msg_name = (addr as *mut libc::sockaddr_in).cast();
                m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                m
            })
            .collect();
        SendBatch {
            bufs,
            addrs,
            iovecs,
            msgs,
            len: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.len == self.msgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer of the next datagram, to write it into; then [`SendBatch::commit`].
    pub fn next_buf(&mut self) -> &mut [u8; SEND_BUF] {
        &mut self.bufs[self.len]
    }

    /// Queues the datagram written into [`SendBatch::next_buf`]: `len` bytes to `to`.
    pub fn commit(&mut self, len: usize, to: SocketAddrV4) {
        let i = self.len;
        self.iovecs[i].iov_len = len.min(SEND_BUF);
        self.addrs[i] = sockaddr(to);
        self.len += 1;
    }

    /// Sends every queued datagram from `fd`; (sent, failed). A datagram the kernel
    /// refuses is counted as failed and skipped, so one bad destination cannot stall the
    /// rest.
    pub fn flush(&mut self, fd: RawFd) -> (u64, u64) {
        let (mut sent, mut failed) = (0u64, 0u64);
        let mut at = 0;
        while at < self.len {
            // SAFETY: headers at..len point at their own iovec, buffer and address.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.msgs[at..].as_mut_ptr(),
                    (self.len - at) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                failed += 1;
                at += 1;
            } else {
                sent += n as u64;
                at += n as usize;
            }
        }
        self.len = 0;
        (sent, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_batch_goes_out_and_comes_back_with_its_sources() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let SocketAddr4(b_addr) = SocketAddr4::of(&b);
        let mut out = SendBatch::new(8);
        for i in 0..5u8 {
            out.next_buf()[..3].copy_from_slice(&[i, i, i]);
            out.commit(3, b_addr);
        }
        assert_eq!(out.flush(a.as_raw_fd()), (5, 0));
        let mut got = Vec::new();
        let mut batch = RecvBatch::new(4);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 5 && std::time::Instant::now() < deadline {
            let n = batch.recv(b.as_raw_fd()).unwrap();
            for i in 0..n {
                let (from, bytes) = batch.get(i);
                assert_eq!(from.port(), a.local_addr().unwrap().port());
                got.push(bytes.to_vec());
            }
        }
        assert_eq!(got.len(), 5);
        assert_eq!(got[4], vec![4, 4, 4]);
    }

    struct SocketAddr4(SocketAddrV4);

    impl SocketAddr4 {
        fn of(s: &UdpSocket) -> SocketAddr4 {
            match s.local_addr().unwrap() {
                std::net::SocketAddr::V4(a) => SocketAddr4(a),
                other => panic!("{other}"),
            }
        }
    }
}
