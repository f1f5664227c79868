//! [`SendBatch`]: many datagrams from one socket in one `sendmmsg`.

use std::net::{SocketAddr, UdpSocket};

use crate::{MAX_BATCH, MAX_DATAGRAM};

#[cfg(target_os = "linux")]
use crate::sys::{self, Name};

/// Up to `capacity` datagrams sent from one socket with one `sendmmsg`, each to its own
/// destination, IPv4 or IPv6 (of the socket's family).
///
/// Write a datagram into [`SendBatch::next_buf`], queue it with [`SendBatch::commit`],
/// and [`SendBatch::flush`] when [`SendBatch::is_full`] and at the end. The buffers,
/// destinations, I/O vectors and message headers are made once, in [`SendBatch::new`].
pub struct SendBatch {
    /// One buffer per datagram. Never resized: the I/O vectors point into it.
    buffers: Vec<[u8; MAX_DATAGRAM]>,
    /// How many datagrams are queued.
    len: usize,
    /// Each datagram's destination. Never resized: the headers point into it.
    #[cfg(target_os = "linux")]
    names: Vec<Name>,
    /// One I/O vector per buffer, its length the datagram's. Never resized: the headers
    /// point into it.
    #[cfg(target_os = "linux")]
    vectors: Vec<libc::iovec>,
    #[cfg(target_os = "linux")]
    headers: Vec<libc::mmsghdr>,
    /// Each datagram's length and destination.
    #[cfg(not(target_os = "linux"))]
    queued: Vec<(usize, SocketAddr)>,
}

// SAFETY: the raw pointers in `vectors` and `headers` point only into the heap memory of
// `buffers`, `names` and `vectors`, which this batch owns alone and never resizes; moving
// the batch to another thread moves that memory's only owner with it.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// A batch of up to `capacity` datagrams (at least 1, at most [`MAX_BATCH`]), each up
    /// to [`MAX_DATAGRAM`] bytes.
    pub fn new(capacity: usize) -> SendBatch {
        let capacity = capacity.clamp(1, MAX_BATCH);
        #[cfg(target_os = "linux")]
        {
            let mut buffers = vec![[0u8; MAX_DATAGRAM]; capacity];
            let mut names = vec![Name::empty(); capacity];
            let buffer = buffers.as_mut_ptr();
            let mut vectors: Vec<libc::iovec> = (0..capacity)
                .map(|i| sys::iovec(buffer.wrapping_add(i).cast(), 0))
                .collect();
            let name = names.as_mut_ptr();
            let vector = vectors.as_mut_ptr();
            let headers = (0..capacity)
                .map(|i| {
                    let mut header = sys::empty_header();
                    header.msg_hdr.msg_name = name.wrapping_add(i).cast();
                    header.msg_hdr.msg_iov = vector.wrapping_add(i);
                    header.msg_hdr.msg_iovlen = 1;
                    header
                })
                .collect();
            SendBatch {
                buffers,
                len: 0,
                names,
                vectors,
                headers,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            SendBatch {
                buffers: vec![[0u8; MAX_DATAGRAM]; capacity],
                len: 0,
                queued: Vec::with_capacity(capacity),
            }
        }
    }

    /// The most datagrams the batch holds.
    pub fn capacity(&self) -> usize {
        self.buffers.len()
    }

    /// How many datagrams are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch must be flushed before the next datagram.
    pub fn is_full(&self) -> bool {
        self.len == self.buffers.len()
    }

    /// The buffer of the next datagram, to write it into; then [`SendBatch::commit`].
    ///
    /// # Panics
    ///
    /// When the batch is full.
    pub fn next_buf(&mut self) -> &mut [u8; MAX_DATAGRAM] {
        &mut self.buffers[self.len]
    }

    /// Queues the datagram written into [`SendBatch::next_buf`]: its first `len` bytes
    /// (at most [`MAX_DATAGRAM`]), to `to`.
    ///
    /// # Panics
    ///
    /// When the batch is full.
    pub fn commit(&mut self, len: usize, to: SocketAddr) {
        let i = self.len;
        assert!(i < self.buffers.len(), "commit to a full SendBatch");
        let len = len.min(MAX_DATAGRAM);
        #[cfg(target_os = "linux")]
        {
            self.vectors[i].iov_len = len;
            self.headers[i].msg_hdr.msg_namelen = self.names[i].set(to);
        }
        #[cfg(not(target_os = "linux"))]
        self.queued.push((len, to));
        self.len += 1;
    }

    /// Sends every queued datagram from `socket`, without waiting, and empties the
    /// batch. Returns (sent, failed): a datagram the kernel refuses (a full socket
    /// buffer, an unreachable destination) is counted as failed and skipped, so one bad
    /// destination cannot stall the rest.
    #[cfg(target_os = "linux")]
    pub fn flush(&mut self, socket: &UdpSocket) -> (u64, u64) {
        let (mut sent, mut failed) = (0u64, 0u64);
        let mut at = 0;
        let mut interrupted = 0;
        // Each turn sends at least one datagram or skips one, or is one of at most three
        // interrupted calls.
        while at < self.len {
            // SAFETY: headers at..len point at their own name (with its length) and I/O
            // vector, which points at its own buffer with the datagram's length; all are
            // owned by self, never resized since `new` made the pointers, and alive for
            // the call.
            match unsafe { sys::sendmmsg(socket, &mut self.headers[at..self.len]) } {
                Ok(n) if n > 0 => {
                    sent += n as u64;
                    at += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted && interrupted < 3 => {
                    interrupted += 1;
                }
                _ => {
                    failed += 1;
                    at += 1;
                }
            }
        }
        self.len = 0;
        (sent, failed)
    }

    /// Sends every queued datagram from `socket`, one `send_to` each.
    #[cfg(not(target_os = "linux"))]
    pub fn flush(&mut self, socket: &UdpSocket) -> (u64, u64) {
        let (mut sent, mut failed) = (0u64, 0u64);
        for (i, &(len, to)) in self.queued.iter().enumerate() {
            match socket.send_to(&self.buffers[i][..len], to) {
                Ok(_) => sent += 1,
                Err(_) => failed += 1,
            }
        }
        self.queued.clear();
        self.len = 0;
        (sent, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecvBatch;

    fn socket(at: &str) -> UdpSocket {
        let socket = UdpSocket::bind(at).unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    }

    fn queue(batch: &mut SendBatch, bytes: &[u8], to: SocketAddr) {
        batch.next_buf()[..bytes.len()].copy_from_slice(bytes);
        batch.commit(bytes.len(), to);
    }

    /// Everything waiting on `socket`: (bytes, source).
    fn drain(socket: &UdpSocket) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut batch = RecvBatch::new(64);
        let mut got = Vec::new();
        while batch.receive(socket).is_ok() {
            got.extend(batch.iter().map(|(b, s)| (b.to_vec(), s)));
        }
        got
    }

    fn many_to_several(at: &str) {
        let from = socket(at);
        let destinations = [socket(at), socket(at), socket(at)];
        let mut batch = SendBatch::new(16);
        for i in 0..12u8 {
            let to = destinations[usize::from(i) % 3].local_addr().unwrap();
            queue(&mut batch, &[i; 172], to);
        }
        assert_eq!(batch.len(), 12);
        assert_eq!(batch.flush(&from), (12, 0));
        assert!(batch.is_empty());
        let source = from.local_addr().unwrap();
        for (d, destination) in destinations.iter().enumerate() {
            let expected: Vec<(Vec<u8>, SocketAddr)> = (0..12u8)
                .filter(|i| usize::from(*i) % 3 == d)
                .map(|i| (vec![i; 172], source))
                .collect();
            assert_eq!(drain(destination), expected, "destination {d}");
        }
    }

    #[test]
    fn one_flush_delivers_every_datagram_to_its_ipv4_destination() {
        many_to_several("127.0.0.1:0");
    }

    #[test]
    fn one_flush_delivers_every_datagram_to_its_ipv6_destination() {
        many_to_several("[::1]:0");
    }

    #[test]
    fn a_full_batch_is_sent_and_reused() {
        let (from, to) = (socket("127.0.0.1:0"), socket("127.0.0.1:0"));
        let address = to.local_addr().unwrap();
        let mut batch = SendBatch::new(4);
        let mut sent = 0;
        for i in 0..10u8 {
            if batch.is_full() {
                sent += batch.flush(&from).0;
            }
            queue(&mut batch, &[i; 3], address);
        }
        sent += batch.flush(&from).0;
        assert_eq!(sent, 10);
        let got: Vec<u8> = drain(&to).iter().map(|(b, _)| b[0]).collect();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_refused_datagram_is_counted_and_the_rest_go_out() {
        let (from, to) = (socket("127.0.0.1:0"), socket("127.0.0.1:0"));
        let address = to.local_addr().unwrap();
        let mut batch = SendBatch::new(4);
        queue(&mut batch, &[1], address);
        // An IPv6 destination from an IPv4 socket: refused by the kernel.
        queue(&mut batch, &[2], "[::1]:9".parse().unwrap());
        queue(&mut batch, &[3], address);
        assert_eq!(batch.flush(&from), (2, 1));
        let got: Vec<u8> = drain(&to).iter().map(|(b, _)| b[0]).collect();
        assert_eq!(got, vec![1, 3]);
    }
}
