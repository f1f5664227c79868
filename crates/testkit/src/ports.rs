//! Free loopback ports. Tests of one binary run in parallel threads of one process, and
//! pinbridge binds its RTP ports only when a call comes: a port handed out here is never
//! handed out again by the same process, so two tests never share one.

use std::net::{TcpListener, UdpSocket};

use crate::Error;

/// Where the port blocks handed out by this process start and end: below Linux's
/// ephemeral ports (32768 and up), so that sockets bound to port 0 never take them.
const PORTS_FROM: u16 = 10_000;
const PORTS_BELOW: u16 = 32_700;

/// The next port this process looks at (0: not chosen yet). Two processes start at
/// different places (by PID), which makes a clash of two test binaries or harnesses on
/// one machine unlikely, not impossible; the bind check below catches the ports already
/// taken.
static NEXT_PORT: std::sync::Mutex<u16> = std::sync::Mutex::new(0);

/// A block of `count` consecutive ports on 127.0.0.1, starting at an even port (RTP and
/// RTCP pairs), every one of them free for UDP and TCP a moment ago and not handed out
/// before by this process.
pub fn try_free_port_block(count: u16) -> Result<u16, Error> {
    let mut next = NEXT_PORT.lock().unwrap_or_else(|e| e.into_inner());
    if *next == 0 {
        let span = u32::from(PORTS_BELOW - PORTS_FROM) / 2;
        *next = PORTS_FROM + 2 * (std::process::id().wrapping_mul(7919) % span) as u16;
    }
    let mut wrapped = false;
    let mut base = *next + (*next % 2);
    loop {
        if u32::from(base) + u32::from(count) > u32::from(PORTS_BELOW) {
            if wrapped {
                return Err(Error::new(format!(
                    "no {count} free consecutive ports between {PORTS_FROM} and {PORTS_BELOW}"
                )));
            }
            wrapped = true;
            base = PORTS_FROM;
            continue;
        }
        let taken = (base..base + count).find(|&p| {
            UdpSocket::bind(("127.0.0.1", p)).is_err()
                || TcpListener::bind(("127.0.0.1", p)).is_err()
        });
        match taken {
            None => {
                *next = base + count;
                return Ok(base);
            }
            Some(taken) => base = (taken + 1) + ((taken + 1) % 2),
        }
    }
}

/// [`try_free_port_block`], for tests: panics when no block is free.
pub fn free_port_block(count: u16) -> u16 {
    try_free_port_block(count).unwrap_or_else(|e| panic!("{e}"))
}

/// One free port on 127.0.0.1 (for UDP and TCP), never handed out before by this process.
pub fn free_port() -> u16 {
    free_port_block(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_blocks_do_not_overlap() {
        let a = free_port_block(10);
        let b = free_port_block(4);
        let c = free_port();
        assert_eq!(a % 2, 0);
        assert_eq!(b % 2, 0);
        assert!(b >= a + 10 || b + 4 <= a, "{a} {b}");
        assert!(
            !(a..a + 10).contains(&c) && !(b..b + 4).contains(&c),
            "{a} {b} {c}"
        );
    }
}
