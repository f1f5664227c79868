//! [`Readiness`]: which of many sockets became readable, in one `epoll_wait`.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

/// Which registered sockets have become readable (edge-triggered).
///
/// A socket is reported once when data arrives, not again while data stays waiting: the
/// reader keeps its own "may have more" flag per socket and clears it only when a read
/// takes fewer datagrams than it asked for (or would block).
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

    fn socket() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    }

    /// The tokens reported, polling a bounded number of times until some are.
    fn reported(readiness: &mut Readiness, registered: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        for _ in 0..1000 {
            readiness.drain(registered, |t| seen.push(t)).unwrap();
            if !seen.is_empty() {
                break;
            }
            std::thread::yield_now();
        }
        seen.sort_unstable();
        seen
    }

    #[test]
    fn a_socket_is_reported_once_after_data_arrives() {
        let (quiet, busy, peer) = (socket(), socket(), socket());
        let mut readiness = Readiness::new().unwrap();
        readiness.register(&quiet, 4).unwrap();
        readiness.register(&busy, 7).unwrap();
        let mut none = Vec::new();
        readiness.drain(2, |t| none.push(t)).unwrap();
        assert!(none.is_empty());
        peer.send_to(b"rtp", busy.local_addr().unwrap()).unwrap();
        assert_eq!(reported(&mut readiness, 2), vec![7]);
        // Edge-triggered: not again while the datagram stays unread.
        let mut again = Vec::new();
        readiness.drain(2, |t| again.push(t)).unwrap();
        assert!(again.is_empty());
        // New data is a new edge.
        peer.send_to(b"rtp", busy.local_addr().unwrap()).unwrap();
        peer.send_to(b"rtcp", quiet.local_addr().unwrap()).unwrap();
        assert_eq!(reported(&mut readiness, 2), vec![4, 7]);
    }

    #[test]
    fn a_deregistered_socket_is_not_reported() {
        let (socket, peer) = (socket(), socket());
        let mut readiness = Readiness::new().unwrap();
        readiness.register(&socket, 1).unwrap();
        readiness.deregister(&socket).unwrap();
        peer.send_to(b"x", socket.local_addr().unwrap()).unwrap();
        let mut seen = Vec::new();
        readiness.drain(1, |t| seen.push(t)).unwrap();
        assert!(seen.is_empty());
    }
}
