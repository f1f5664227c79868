//! [`RecvBatch`]: many datagrams from one socket in one `recvmmsg`.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use crate::{BATCH, MAX_BATCH, MAX_DATAGRAM};

#[cfg(target_os = "linux")]
use crate::sys::{self, NAME_LEN, Name};

/// Up to `capacity` datagrams read from a non-blocking socket with one `recvmmsg`, with
/// where each came from (IPv4 or IPv6).
///
/// The buffers, the source addresses, the I/O vectors and the message headers are made
/// once, in [`RecvBatch::new`], and reused by every [`RecvBatch::receive`], from any
/// socket. A datagram longer than [`MAX_DATAGRAM`] is taken but marked truncated, and
/// [`RecvBatch::iter`] leaves it out.
pub struct RecvBatch {
    /// One buffer per datagram. Never resized: the headers point into it.
    buffers: Vec<[u8; MAX_DATAGRAM]>,
    /// How many datagrams the last receive took.
    count: usize,
    /// Where each datagram came from, written by the kernel. Never resized.
    #[cfg(target_os = "linux")]
    names: Vec<Name>,
    /// One I/O vector per buffer. Never resized: the headers point into it.
    #[cfg(target_os = "linux")]
    vectors: Vec<libc::iovec>,
    /// One header per datagram, pointing at its name and its I/O vector.
    #[cfg(target_os = "linux")]
    headers: Vec<libc::mmsghdr>,
    /// Each datagram's length and source.
    #[cfg(not(target_os = "linux"))]
    received: Vec<(usize, SocketAddr)>,
}

// SAFETY: the raw pointers in `vectors` and `headers` point only into the heap memory of
// `buffers`, `names` and `vectors`, which this batch owns alone and never resizes; moving
// the batch to another thread moves that memory's only owner with it.
unsafe impl Send for RecvBatch {}

impl Default for RecvBatch {
    /// A batch of [`BATCH`] datagrams, the media engine's.
    fn default() -> Self {
        RecvBatch::new(BATCH)
    }
}

impl RecvBatch {
    /// A batch that takes up to `capacity` datagrams per read (at least 1, at most
    /// [`MAX_BATCH`]), each up to [`MAX_DATAGRAM`] bytes.
    pub fn new(capacity: usize) -> RecvBatch {
        let capacity = capacity.clamp(1, MAX_BATCH);
        #[cfg(target_os = "linux")]
        {
            let mut buffers = vec![[0u8; MAX_DATAGRAM]; capacity];
            let mut names = vec![Name::empty(); capacity];
            let buffer = buffers.as_mut_ptr();
            let mut vectors: Vec<libc::iovec> = (0..capacity)
                .map(|i| sys::iovec(buffer.wrapping_add(i).cast(), MAX_DATAGRAM))
                .collect();
            let name = names.as_mut_ptr();
            let vector = vectors.as_mut_ptr();
            let headers = (0..capacity)
                .map(|i| {
                    let mut header = sys::empty_header();
                    header.msg_hdr.msg_name = name.wrapping_add(i).cast();
                    header.msg_hdr.msg_namelen = NAME_LEN;
                    header.msg_hdr.msg_iov = vector.wrapping_add(i);
                    header.msg_hdr.msg_iovlen = 1;
                    header
                })
                .collect();
            RecvBatch {
                buffers,
                count: 0,
                names,
                vectors,
                headers,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            RecvBatch {
                buffers: vec![[0u8; MAX_DATAGRAM]; capacity],
                count: 0,
                received: Vec::with_capacity(capacity),
            }
        }
    }

    /// The most datagrams one [`RecvBatch::receive`] takes.
    pub fn capacity(&self) -> usize {
        self.buffers.len()
    }

    /// How many datagrams the last [`RecvBatch::receive`] took, including any that
    /// [`RecvBatch::iter`] leaves out.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last [`RecvBatch::receive`] took nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Takes up to [`RecvBatch::capacity`] datagrams waiting on `socket` in one system
    /// call, without waiting (the socket need not be non-blocking). Returns how many were
    /// taken; `Err` with [`io::ErrorKind::WouldBlock`] when nothing was waiting. A
    /// return equal to the capacity means more may be waiting.
    #[cfg(target_os = "linux")]
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        // The kernel shortened the name lengths of the last datagrams to their family's;
        // give them back the room for either family (the next socket may be IPv6).
        for header in &mut self.headers[..self.count] {
            header.msg_hdr.msg_namelen = NAME_LEN;
        }
        self.count = 0;
        debug_assert_eq!(self.vectors.len(), self.headers.len());
        // SAFETY: header i points at names[i] (NAME_LEN bytes) and at vectors[i], which
        // points at buffers[i] (MAX_DATAGRAM bytes); all are owned by self, never resized
        // since `new` made the pointers, disjoint, and alive for the call.
        let taken = unsafe { sys::recvmmsg(socket, &mut self.headers)? };
        self.count = taken;
        Ok(taken)
    }

    /// Takes up to [`RecvBatch::capacity`] datagrams waiting on `socket`, one
    /// `recv_from` each (the socket must be non-blocking). Truncation is not detected
    /// here.
    #[cfg(not(target_os = "linux"))]
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.count = 0;
        self.received.clear();
        for i in 0..self.buffers.len() {
            match socket.recv_from(&mut self.buffers[i]) {
                Ok(got) => self.received.push(got),
                Err(e) if i == 0 => return Err(e),
                Err(_) => break,
            }
        }
        self.count = self.received.len();
        Ok(self.count)
    }

    /// The datagrams of the last [`RecvBatch::receive`], in arrival order, with where
    /// each came from. Truncated datagrams, and any from an address family other than
    /// IPv4 and IPv6, are left out.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        (0..self.count).filter_map(|i| self.datagram(i))
    }

    #[cfg(target_os = "linux")]
    fn datagram(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let header = &self.headers[i];
        if header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let source = self.names[i].address()?;
        let len = (header.msg_len as usize).min(MAX_DATAGRAM);
        Some((&self.buffers[i][..len], source))
    }

    #[cfg(not(target_os = "linux"))]
    fn datagram(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let (len, source) = self.received[i];
        Some((&self.buffers[i][..len.min(MAX_DATAGRAM)], source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(at: &str) -> UdpSocket {
        let socket = UdpSocket::bind(at).unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    }

    /// Sends `datagrams` from `peer` to `to`. On loopback the kernel queues each one on
    /// `to` before `send_to` returns.
    fn send_all(peer: &UdpSocket, to: &UdpSocket, datagrams: &[Vec<u8>]) {
        let address = to.local_addr().unwrap();
        for d in datagrams {
            peer.send_to(d, address).unwrap();
        }
    }

    fn collect(batch: &RecvBatch) -> Vec<(Vec<u8>, SocketAddr)> {
        batch.iter().map(|(b, s)| (b.to_vec(), s)).collect()
    }

    fn several_in_one_call(at: &str) {
        let receiver = socket(at);
        let (a, b) = (socket(at), socket(at));
        let sent = [vec![1u8; 12], vec![2; 172], vec![3; 1]];
        send_all(&a, &receiver, &sent[..2]);
        send_all(&b, &receiver, &sent[2..]);
        let mut batch = RecvBatch::new(8);
        assert_eq!(batch.receive(&receiver).unwrap(), 3);
        assert_eq!(batch.len(), 3);
        let (from_a, from_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(
            collect(&batch),
            vec![
                (sent[0].clone(), from_a),
                (sent[1].clone(), from_a),
                (sent[2].clone(), from_b)
            ]
        );
    }

    #[test]
    fn several_datagrams_in_one_call_with_their_ipv4_sources() {
        several_in_one_call("127.0.0.1:0");
    }

    #[test]
    fn several_datagrams_in_one_call_with_their_ipv6_sources() {
        several_in_one_call("[::1]:0");
    }

    #[test]
    fn one_batch_reads_sockets_of_both_families_in_turn() {
        let (v4, v4_peer) = (socket("127.0.0.1:0"), socket("127.0.0.1:0"));
        let (v6, v6_peer) = (socket("[::1]:0"), socket("[::1]:0"));
        let mut batch = RecvBatch::new(4);
        for _ in 0..2 {
            send_all(&v4_peer, &v4, &[vec![4; 4]]);
            assert_eq!(batch.receive(&v4).unwrap(), 1);
            assert_eq!(
                collect(&batch),
                vec![(vec![4; 4], v4_peer.local_addr().unwrap())]
            );
            send_all(&v6_peer, &v6, &[vec![6; 6]]);
            assert_eq!(batch.receive(&v6).unwrap(), 1);
            assert_eq!(
                collect(&batch),
                vec![(vec![6; 6], v6_peer.local_addr().unwrap())]
            );
        }
    }

    #[test]
    fn an_empty_socket_would_block() {
        let receiver = socket("127.0.0.1:0");
        let mut batch = RecvBatch::default();
        let e = batch.receive(&receiver).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(batch.is_empty());
        assert_eq!(batch.iter().count(), 0);
    }

    #[test]
    fn a_full_batch_leaves_the_rest_for_the_next_read() {
        let (receiver, peer) = (socket("127.0.0.1:0"), socket("127.0.0.1:0"));
        let sent: Vec<Vec<u8>> = (0..(BATCH as u8 + 2)).map(|i| vec![i]).collect();
        send_all(&peer, &receiver, &sent);
        let mut batch = RecvBatch::default();
        assert_eq!(batch.capacity(), BATCH);
        assert_eq!(batch.receive(&receiver).unwrap(), BATCH);
        assert_eq!(batch.receive(&receiver).unwrap(), 2);
        let last: Vec<u8> = batch.iter().map(|(b, _)| b[0]).collect();
        assert_eq!(last, vec![BATCH as u8, BATCH as u8 + 1]);
        let e = batch.receive(&receiver).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_datagram_longer_than_the_buffer_is_counted_and_left_out() {
        let (receiver, peer) = (socket("127.0.0.1:0"), socket("127.0.0.1:0"));
        send_all(
            &peer,
            &receiver,
            &[
                vec![1; MAX_DATAGRAM + 100],
                vec![2; 20],
                vec![3; MAX_DATAGRAM],
            ],
        );
        let mut batch = RecvBatch::new(8);
        assert_eq!(batch.receive(&receiver).unwrap(), 3);
        let kept: Vec<(u8, usize)> = batch.iter().map(|(b, _)| (b[0], b.len())).collect();
        assert_eq!(kept, vec![(2, 20), (3, MAX_DATAGRAM)]);
    }

    #[test]
    fn capacity_is_kept_within_what_the_kernel_takes() {
        assert_eq!(RecvBatch::new(0).capacity(), 1);
        assert_eq!(RecvBatch::new(MAX_BATCH + 1).capacity(), MAX_BATCH);
    }

    #[test]
    fn a_batch_moves_to_another_thread() {
        let (receiver, peer) = (socket("127.0.0.1:0"), socket("127.0.0.1:0"));
        send_all(&peer, &receiver, &[vec![9; 3]]);
        let mut batch = RecvBatch::new(2);
        let batch = std::thread::spawn(move || {
            batch.receive(&receiver).unwrap();
            batch
        })
        .join()
        .unwrap();
        assert_eq!(
            collect(&batch),
            vec![(vec![9; 3], peer.local_addr().unwrap())]
        );
    }
}
