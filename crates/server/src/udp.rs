//! Batched UDP reception for the media engine.
//!
//! Two system calls carry most of the engine's reading: one `epoll_wait` per tick says
//! which of the calls' sockets have something waiting ([`Readiness`], through mio), and
//! one `recvmmsg` per such socket takes everything waiting on it ([`receive`]). Without
//! them, every call costs a read that finds a datagram, a read that finds nothing, and a
//! read of its RTCP socket that finds nothing, every 20 ms.
//!
//! The readiness is edge-triggered: a socket is reported once when data arrives, so the
//! engine keeps its own "may have more" flag per socket and clears it only when a read
//! returns fewer datagrams than it asked for (or would block).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

/// The most datagrams one [`receive`] takes.
pub const BATCH: usize = 8;

/// The largest datagram kept whole; longer ones are marked truncated.
pub const MAX_DATAGRAM: usize = 1500;

/// Buffers for one [`receive`], reused from call to call.
pub struct Datagrams {
    buffers: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    lengths: [usize; BATCH],
    sources: [Option<SocketAddr>; BATCH],
    truncated: [bool; BATCH],
    count: usize,
}

impl Default for Datagrams {
    fn default() -> Self {
        Self {
            buffers: Box::new([[0; MAX_DATAGRAM]; BATCH]),
            lengths: [0; BATCH],
            sources: [None; BATCH],
            truncated: [false; BATCH],
            count: 0,
        }
    }
}

impl Datagrams {
    /// The datagrams of the last [`receive`], in arrival order, with where each came
    /// from. Truncated datagrams and those from an address family we cannot name are
    /// left out.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        (0..self.count).filter_map(|i| {
            let source = self.sources[i]?;
            (!self.truncated[i]).then(|| (&self.buffers[i][..self.lengths[i]], source))
        })
    }

    /// How many datagrams the last [`receive`] took, including any left out by
    /// [`Datagrams::iter`].
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last [`receive`] took nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Takes up to [`BATCH`] datagrams waiting on a non-blocking `socket` in one system
/// call. Returns how many were taken; `Err` with [`io::ErrorKind::WouldBlock`] when
/// nothing was waiting.
#[cfg(target_os = "linux")]
pub fn receive(socket: &UdpSocket, into: &mut Datagrams) -> io::Result<usize> {
    use std::mem::{size_of, zeroed};
    use std::ptr;

    into.count = 0;
    // SAFETY: these are plain C structs for which all-zero bytes are a valid value.
    let mut names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    let mut vectors: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for (i, ((header, vector), name)) in headers
        .iter_mut()
        .zip(vectors.iter_mut())
        .zip(names.iter_mut())
        .enumerate()
    {
        vector.iov_base = into.buffers[i].as_mut_ptr().cast();
        vector.iov_len = MAX_DATAGRAM;
        header.msg_hdr.msg_name = ptr::from_mut(name).cast();
        header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        header.msg_hdr.msg_iov = ptr::from_mut(vector);
        header.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: every header points at a buffer, an iovec and a name that live until the
    // call returns, with their true lengths; the kernel writes at most BATCH headers.
    let taken = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT,
            ptr::null_mut(),
        )
    };
    if taken < 0 {
        return Err(io::Error::last_os_error());
    }
    let taken = (taken as usize).min(BATCH);
    for i in 0..taken {
        let header = &headers[i];
        into.lengths[i] = (header.msg_len as usize).min(MAX_DATAGRAM);
        into.truncated[i] = header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        into.sources[i] = socket_address(&names[i]);
    }
    into.count = taken;
    Ok(taken)
}

/// Takes up to [`BATCH`] datagrams waiting on a non-blocking `socket`, one read each.
#[cfg(not(target_os = "linux"))]
pub fn receive(socket: &UdpSocket, into: &mut Datagrams) -> io::Result<usize> {
    into.count = 0;
    for i in 0..BATCH {
        match socket.recv_from(&mut into.buffers[i]) {
            Ok((len, source)) => {
                into.lengths[i] = len;
                into.truncated[i] = false;
                into.sources[i] = Some(source);
                into.count += 1;
            }
            Err(e) if i == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(into.count)
}

/// The address the kernel wrote into `name`, if it is IPv4 or IPv6.
#[cfg(target_os = "linux")]
fn socket_address(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it can hold.
            let v4 = unsafe { &*std::ptr::from_ref(name).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which it can hold.
            let v6 = unsafe { &*std::ptr::from_ref(name).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Which registered sockets have become readable (edge-triggered).
pub struct Readiness {
    poll: Poll,
    events: Events,
}

/// How many readiness events one `epoll_wait` returns at most.
const EVENTS: usize = 1024;

impl Readiness {
    /// A set with nothing registered.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS),
        })
    }

    /// Watches `socket`, reporting it as `token` when data arrives.
    pub fn register(&self, socket: &UdpSocket, token: usize) -> io::Result<()> {
        self.poll.registry().register(
            &mut SourceFd(&socket.as_raw_fd()),
            Token(token),
            Interest::READABLE,
        )
    }

    /// Stops watching `socket`.
    pub fn deregister(&self, socket: &UdpSocket) -> io::Result<()> {
        self.poll
            .registry()
            .deregister(&mut SourceFd(&socket.as_raw_fd()))
    }

    /// Calls `ready` with the token of every socket that became readable since the last
    /// call, without waiting. At most `registered / EVENTS + 2` system calls, so a
    /// flood cannot keep it here.
    pub fn drain(&mut self, registered: usize, mut ready: impl FnMut(usize)) -> io::Result<()> {
        for _ in 0..registered / EVENTS + 2 {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut count = 0;
            for event in self.events.iter() {
                count += 1;
                ready(event.token().0);
            }
            if count < EVENTS {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        (a, b)
    }

    #[test]
    fn receive_takes_every_waiting_datagram_with_its_source() {
        let (socket, peer) = pair();
        let to = socket.local_addr().unwrap();
        let mut readiness = Readiness::new().unwrap();
        readiness.register(&socket, 7).unwrap();
        for i in 0..3u8 {
            peer.send_to(&[i; 12], to).unwrap();
        }
        // Loopback delivery is synchronous, but poll until reported to be sure.
        let mut seen = Vec::new();
        for _ in 0..1000 {
            readiness.drain(1, |t| seen.push(t)).unwrap();
            if !seen.is_empty() {
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(seen, vec![7]);
        let mut datagrams = Datagrams::default();
        assert_eq!(receive(&socket, &mut datagrams).unwrap(), 3);
        let got: Vec<(Vec<u8>, SocketAddr)> = datagrams
            .iter()
            .map(|(bytes, source)| (bytes.to_vec(), source))
            .collect();
        let from = peer.local_addr().unwrap();
        assert_eq!(
            got,
            vec![
                (vec![0; 12], from),
                (vec![1; 12], from),
                (vec![2; 12], from)
            ]
        );
        let again = receive(&socket, &mut datagrams).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::WouldBlock);
        assert!(datagrams.is_empty());
    }

    #[test]
    fn a_full_batch_leaves_the_rest_for_the_next_read() {
        let (socket, peer) = pair();
        let to = socket.local_addr().unwrap();
        for i in 0..(BATCH as u8 + 2) {
            peer.send_to(&[i], to).unwrap();
        }
        let mut datagrams = Datagrams::default();
        assert_eq!(receive(&socket, &mut datagrams).unwrap(), BATCH);
        assert_eq!(receive(&socket, &mut datagrams).unwrap(), 2);
        let last: Vec<u8> = datagrams.iter().map(|(b, _)| b[0]).collect();
        assert_eq!(last, vec![BATCH as u8, BATCH as u8 + 1]);
    }

    #[test]
    fn oversized_datagrams_are_left_out() {
        let (socket, peer) = pair();
        let to = socket.local_addr().unwrap();
        peer.send_to(&[1; MAX_DATAGRAM + 100], to).unwrap();
        peer.send_to(&[2; 20], to).unwrap();
        let mut datagrams = Datagrams::default();
        assert_eq!(receive(&socket, &mut datagrams).unwrap(), 2);
        let kept: Vec<usize> = datagrams.iter().map(|(b, _)| b.len()).collect();
        assert_eq!(kept, vec![20]);
    }
}
