//! Batched UDP I/O, shared by the media engine (crates/dialin) and the load generators
//! (crates/bench).
//!
//! Three system calls carry most of the media path's socket work:
//!
//! - one `epoll_wait` per tick says which of many sockets have something waiting
//!   ([`Readiness`], through mio, edge-triggered);
//! - one `recvmmsg` takes everything waiting on one socket, up to a batch
//!   ([`RecvBatch`]);
//! - one `sendmmsg` sends many datagrams from one socket, each to its own destination
//!   ([`SendBatch`]).
//!
//! The batches own their buffers and their kernel message headers, built once when the
//! batch is made and reused by every call; only what the kernel wrote (the address
//! lengths) is put back after a read.
//!
//! This crate holds all of the media path's `unsafe` code: each block says why it is
//! sound. On systems other than Linux the batches fall back to one `recv_from` or
//! `send_to` per datagram, with the same interface.

mod readiness;
mod recv;
mod send;
#[cfg(target_os = "linux")]
mod sys;

use std::net::UdpSocket;

pub use readiness::Readiness;
pub use recv::RecvBatch;
pub use send::SendBatch;

/// The media engine's batch: the most datagrams one read of a call's socket takes
/// (160 ms of one 20 ms stream). [`RecvBatch::default`] has this capacity.
pub const BATCH: usize = 8;

/// The largest datagram a batch holds whole; a longer one received is marked truncated.
pub const MAX_DATAGRAM: usize = 1500;

/// The largest batch: the kernel takes at most this many messages in one call
/// (`UIO_MAXIOV`).
pub const MAX_BATCH: usize = 1024;

/// Raises this process's soft limit of open files to its hard limit and returns both
/// (soft, hard). Every call holds two UDP sockets and every SIP connection one
/// descriptor: a soft limit of 1,024, the default of many systems and of systemd
/// services, would refuse calls long before the machine is busy. On systems other than
/// Linux nothing changes and the error says so.
pub fn raise_open_files_limit() -> std::io::Result<(u64, u64)> {
    #[cfg(target_os = "linux")]
    return sys::raise_open_files_limit();
    #[cfg(not(target_os = "linux"))]
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "open-file limits are raised on Linux only",
    ))
}

/// Asks for socket buffers of `bytes` each way, so that a burst of a whole tick fits. As
/// root the limits `rmem_max`/`wmem_max` are passed over (`SO_RCVBUFFORCE`); otherwise
/// the kernel caps the sizes at them. Best effort: a refusal leaves the buffers as
/// they were.
pub fn grow_buffers(socket: &UdpSocket, bytes: usize) {
    #[cfg(target_os = "linux")]
    sys::grow_buffers(socket, bytes);
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, bytes);
}
