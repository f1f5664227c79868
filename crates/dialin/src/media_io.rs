//! The media engine's socket work: every call's RTP and RTCP sockets in one readiness
//! set, read in batches and written one datagram at a time.
//!
//! It is the whole of the engine's I/O and nothing else, so that the I/O floor tool
//! (`pinbridge-floor`) measures exactly this code.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};

use pinbridge_bridge::Channel;
use pinbridge_udp::{self as udp, Readiness, RecvBatch};

/// The most batched reads of one socket in one round (a flood cannot starve the rest).
pub const MAX_READS_PER_ROUND: usize = 4;

/// One call's sockets.
struct Slot<T> {
    tag: T,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// The RTP socket may hold datagrams not read yet.
    rtp_readable: bool,
    /// The RTCP socket may hold datagrams not read yet.
    rtcp_readable: bool,
}

/// What one round of reading met besides datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// The readiness set failed, so every socket was read.
    pub readiness_failed: bool,
    /// Reads that failed with something other than `WouldBlock` (ICMP errors about
    /// earlier sends, on some systems).
    pub read_errors: u64,
}

/// Where a round of reading goes: which calls to read, and each datagram read.
pub trait Reader<T> {
    /// Whether the sockets of the call tagged `tag` are read this round.
    fn due(&self, tag: T) -> bool;
    /// One datagram that arrived on the call's `channel` socket from `source`.
    fn datagram(&mut self, tag: T, channel: Channel, source: SocketAddr, bytes: &[u8]);
}

/// Every call's sockets, by a small index the owner chooses (a slab index), each with
/// a tag of the owner's (the core's name of the call).
pub struct CallSockets<T> {
    readiness: Readiness,
    batch: RecvBatch,
    slots: Vec<Option<Slot<T>>>,
}

impl<T: Copy> CallSockets<T> {
    /// No sockets; fails only when the system refuses a readiness set.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            readiness: Readiness::new()?,
            batch: RecvBatch::default(),
            slots: Vec::new(),
        })
    }

    /// Watches a call's non-blocking sockets under `index`. On an error the sockets are
    /// kept all the same (to be [`Self::remove`]d).
    pub fn insert(
        &mut self,
        index: usize,
        tag: T,
        rtp: UdpSocket,
        rtcp: UdpSocket,
    ) -> std::io::Result<()> {
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        let registered = self
            .readiness
            .register(&rtp, rtp_token(index))
            .and_then(|()| self.readiness.register(&rtcp, rtcp_token(index)));
        self.slots[index] = Some(Slot {
            tag,
            rtp,
            rtcp,
            rtp_readable: true,
            rtcp_readable: true,
        });
        registered
    }

    /// Stops watching a call's sockets and gives them back (dropping them closes them).
    pub fn remove(&mut self, index: usize) -> Option<(UdpSocket, UdpSocket)> {
        let slot = self.slots.get_mut(index).and_then(Option::take)?;
        let _ = self.readiness.deregister(&slot.rtp);
        let _ = self.readiness.deregister(&slot.rtcp);
        Some((slot.rtp, slot.rtcp))
    }

    /// The local address of one of a call's sockets.
    pub fn local_addr(&self, index: usize, channel: Channel) -> Option<SocketAddr> {
        let slot = self.slots.get(index)?.as_ref()?;
        match channel {
            Channel::Rtp => slot.rtp.local_addr().ok(),
            Channel::Rtcp => slot.rtcp.local_addr().ok(),
        }
    }

    /// Reads what arrived since the last round on the sockets of the calls the reader
    /// says are due, in batches (at most [`MAX_READS_PER_ROUND`] per socket), handing
    /// each datagram to the reader.
    pub fn read(&mut self, reader: &mut impl Reader<T>) -> ReadReport {
        let mut report = ReadReport::default();
        let slots = &mut self.slots;
        let drained = self.readiness.drain(2 * slots.len(), |token| {
            if let Some(slot) = slots.get_mut(token / 2).and_then(Option::as_mut) {
                if token % 2 == 0 {
                    slot.rtp_readable = true;
                } else {
                    slot.rtcp_readable = true;
                }
            }
        });
        if drained.is_err() {
            // Read every socket rather than miss what arrived.
            report.readiness_failed = true;
            for slot in self.slots.iter_mut().flatten() {
                slot.rtp_readable = true;
                slot.rtcp_readable = true;
            }
        }
        for slot in self.slots.iter_mut().flatten() {
            if !reader.due(slot.tag) {
                continue;
            }
            for (socket, readable, channel) in [
                (&slot.rtp, &mut slot.rtp_readable, Channel::Rtp),
                (&slot.rtcp, &mut slot.rtcp_readable, Channel::Rtcp),
            ] {
                for _ in 0..MAX_READS_PER_ROUND {
                    if !*readable {
                        break;
                    }
                    match read_batch(socket, &mut self.batch, readable) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(()) => {
                            report.read_errors += 1;
                            break;
                        }
                    }
                    for (bytes, source) in self.batch.iter() {
                        reader.datagram(slot.tag, channel, source, bytes);
                    }
                }
            }
        }
        report
    }

    /// Sends one datagram from one of a call's sockets.
    pub fn send(
        &self,
        index: usize,
        channel: Channel,
        payload: &[u8],
        destination: SocketAddr,
    ) -> std::io::Result<usize> {
        let Some(slot) = self.slots.get(index).and_then(Option::as_ref) else {
            return Err(ErrorKind::NotFound.into());
        };
        match channel {
            Channel::Rtp => slot.rtp.send_to(payload, destination),
            Channel::Rtcp => slot.rtcp.send_to(payload, destination),
        }
    }
}

/// One batched read of `socket`: how many datagrams it took. `readable` stays set while
/// the socket may hold more (a full batch).
fn read_batch(
    socket: &UdpSocket,
    datagrams: &mut RecvBatch,
    readable: &mut bool,
) -> Result<usize, ()> {
    match datagrams.receive(socket) {
        Ok(taken) => {
            *readable = taken == udp::BATCH;
            Ok(taken)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            *readable = false;
            Ok(0)
        }
        // The datagrams behind an error are read on the next round.
        Err(_) => Err(()),
    }
}

/// The readiness token of a call's RTP socket.
fn rtp_token(index: usize) -> usize {
    2 * index
}

/// The readiness token of a call's RTCP socket.
fn rtcp_token(index: usize) -> usize {
    2 * index + 1
}
