//! The Linux system calls and the socket addresses they read and write.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Room for one IPv4 or IPv6 socket address, as the kernel reads or writes it.
///
/// Smaller than `sockaddr_storage` (28 bytes rather than 128), which is all a UDP socket
/// of either family needs. Every field of both variants is an integer, so any bytes the
/// kernel writes are a valid value of either.
#[derive(Clone, Copy)]
#[repr(C)]
pub union Name {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

/// The size of a [`Name`], as the kernel is told it.
pub const NAME_LEN: libc::socklen_t = std::mem::size_of::<Name>() as libc::socklen_t;

impl Name {
    /// An unspecified address (family 0), filled in by the kernel or by [`Name::set`].
    pub fn empty() -> Name {
        Name {
            v6: libc::sockaddr_in6 {
                sin6_family: 0,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: [0; 16] },
                sin6_scope_id: 0,
            },
        }
    }

    /// Writes `address`; returns the length to give the kernel.
    pub fn set(&mut self, address: SocketAddr) -> libc::socklen_t {
        match address {
            SocketAddr::V4(a) => {
                self.v4 = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*a.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                self.v6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }

    /// The address held, if it is IPv4 or IPv6.
    pub fn address(&self) -> Option<SocketAddr> {
        // SAFETY: both variants start with the family and are plain integers, so reading
        // either is defined whatever was written; the family then says which one the
        // kernel (or `set`) wrote.
        let family = i32::from(unsafe { self.v4.sin_family });
        match family {
            libc::AF_INET => {
                // SAFETY: as above; the family says it is a sockaddr_in.
                let v4 = unsafe { self.v4 };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                    u16::from_be(v4.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above; the family says it is a sockaddr_in6.
                let v6 = unsafe { self.v6 };
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
}

/// A message header pointing at nothing yet; [`crate::RecvBatch`] and
/// [`crate::SendBatch`] point it at their buffers once, when they are made.
pub fn empty_header() -> libc::mmsghdr {
    // SAFETY: mmsghdr is a plain C struct (pointers, lengths, flags) for which all-zero
    // bytes are a valid value: null pointers and zero lengths.
    unsafe { std::mem::zeroed() }
}

/// An I/O vector of `len` bytes at `base`.
pub fn iovec(base: *mut u8, len: usize) -> libc::iovec {
    libc::iovec {
        iov_base: base.cast(),
        iov_len: len,
    }
}

/// `recvmmsg(fd, headers, headers.len(), MSG_DONTWAIT)`: how many messages were taken.
///
/// # Safety
///
/// Every header must point at a name of its `msg_namelen` bytes and at one I/O vector
/// that points at a buffer of its `iov_len` bytes, all writable and alive until the call
/// returns, and none of them overlapping.
pub unsafe fn recvmmsg(socket: &UdpSocket, headers: &mut [libc::mmsghdr]) -> io::Result<usize> {
    // SAFETY: the caller vouches for what the headers point at; the kernel writes at
    // most `headers.len()` of them, which is the length passed.
    let taken = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            headers.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if taken < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((taken as usize).min(headers.len()))
    }
}

/// `sendmmsg(fd, headers, headers.len(), MSG_DONTWAIT)`: how many messages were sent.
///
/// # Safety
///
/// Every header must point at a name of its `msg_namelen` bytes and at one I/O vector
/// that points at a buffer of its `iov_len` bytes, all alive until the call returns.
pub unsafe fn sendmmsg(socket: &UdpSocket, headers: &mut [libc::mmsghdr]) -> io::Result<usize> {
    // SAFETY: the caller vouches for what the headers point at; the kernel reads them
    // and writes only their `msg_len`, for at most `headers.len()` headers.
    let sent = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            headers.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((sent as usize).min(headers.len()))
    }
}

/// See [`crate::grow_buffers`].
pub fn grow_buffers(socket: &UdpSocket, bytes: usize) {
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let value = std::ptr::from_ref(&size).cast();
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        // SAFETY: setsockopt on an open socket, with a c_int option value that lives for
        // the call and its true size.
        unsafe {
            if libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, force, value, len) != 0 {
                libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, plain, value, len);
            }
        }
    }
}

/// Raises the soft limit of open files to the hard limit; the limits after.
pub fn raise_open_files_limit() -> io::Result<(u64, u64)> {
    // SAFETY: getrlimit writes into the struct we pass, which lives for the call.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit = raised;
    }
    // rlim_t is narrower than u64 on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    Ok((limit.rlim_cur as u64, limit.rlim_max as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hold_both_families() {
        for address in [
            "127.0.0.1:5004".parse::<SocketAddr>().unwrap(),
            "[::1]:5006".parse().unwrap(),
            "[fe80::1%2]:7".parse().unwrap(),
        ] {
            let mut name = Name::empty();
            let len = name.set(address);
            assert!(len <= NAME_LEN);
            assert_eq!(name.address(), Some(address));
        }
        assert_eq!(Name::empty().address(), None);
    }
}
