//! The RTP port range and the allocation of port pairs to calls.
//!
//! Each call gets an even port for RTP and the odd port above it for RTCP (RFC 3550
//! §11). Ports are handed out round-robin, so a port just released is reused as late as
//! possible (late packets of an ended call then find no new call on it). When every pair
//! is taken, allocation fails and the SIP side answers 503.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Why a port range cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortRangeError {
    /// The text is not `LOW-HIGH`.
    #[error("expected LOW-HIGH, for example 20000-29999")]
    Syntax,
    /// A bound is not a port number.
    #[error("{0:?} is not a port number")]
    BadPort(String),
    /// The range holds no even port with its odd neighbour.
    #[error("the range {0}-{1} holds no RTP/RTCP port pair (an even port and the odd one above)")]
    Empty(u16, u16),
}

/// An inclusive range of UDP ports for RTP and RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    low: u16,
    high: u16,
}

impl PortRange {
    /// A range from `low` to `high` inclusive; it must hold at least one pair.
    pub fn new(low: u16, high: u16) -> Result<Self, PortRangeError> {
        let range = Self { low, high };
        if range.pairs() == 0 {
            return Err(PortRangeError::Empty(low, high));
        }
        Ok(range)
    }

    /// The lowest even port of the range.
    fn first_even(self) -> u32 {
        let low = u32::from(self.low).max(2);
        low + (low % 2)
    }

    /// How many RTP/RTCP pairs fit.
    pub fn pairs(self) -> usize {
        let first = self.first_even();
        let high = u32::from(self.high);
        if first + 1 > high {
            0
        } else {
            ((high - first - 1) / 2 + 1) as usize
        }
    }

    /// The RTP port of pair `index`.
    fn rtp_port(self, index: usize) -> u16 {
        (self.first_even() + 2 * index as u32) as u16
    }
}

impl Default for PortRange {
    fn default() -> Self {
        Self {
            low: 20000,
            high: 29999,
        }
    }
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (low, high) = text.trim().split_once('-').ok_or(PortRangeError::Syntax)?;
        let port = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| PortRangeError::BadPort(s.trim().to_owned()))
        };
        Self::new(port(low)?, port(high)?)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

/// Hands out RTP ports (even; RTCP is the port above) from a [`PortRange`].
#[derive(Debug, Clone)]
pub struct PortAllocator {
    range: PortRange,
    in_use: Vec<bool>,
    used: usize,
    next: usize,
}

impl PortAllocator {
    /// An allocator with every pair of `range` free.
    pub fn new(range: PortRange) -> Self {
        Self {
            range,
            in_use: vec![false; range.pairs()],
            used: 0,
            next: 0,
        }
    }

    /// The next free RTP port, or `None` when every pair is taken.
    pub fn allocate(&mut self) -> Option<u16> {
        let count = self.in_use.len();
        for step in 0..count {
            let index = (self.next + step) % count;
            if !self.in_use[index] {
                self.in_use[index] = true;
                self.used += 1;
                self.next = (index + 1) % count;
                return Some(self.range.rtp_port(index));
            }
        }
        None
    }

    /// Gives back an RTP port from [`PortAllocator::allocate`]; anything else is ignored.
    pub fn release(&mut self, rtp_port: u16) {
        let first = self.range.first_even();
        let port = u32::from(rtp_port);
        if port < first || port % 2 != 0 {
            return;
        }
        let index = ((port - first) / 2) as usize;
        if let Some(slot) = self.in_use.get_mut(index)
            && *slot
        {
            *slot = false;
            self.used -= 1;
        }
    }

    /// How many pairs are handed out.
    pub fn in_use(&self) -> usize {
        self.used
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> usize {
        self.in_use.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_refuses_bad_ones() {
        let range: PortRange = "20000-29999".parse().unwrap();
        assert_eq!(range.pairs(), 5000);
        assert_eq!("20001-20003".parse::<PortRange>().unwrap().pairs(), 1);
        assert_eq!(
            "20001-20002".parse::<PortRange>(),
            Err(PortRangeError::Empty(20001, 20002))
        );
        assert_eq!("20000".parse::<PortRange>(), Err(PortRangeError::Syntax));
        assert!(matches!(
            "a-20000".parse::<PortRange>(),
            Err(PortRangeError::BadPort(_))
        ));
        assert!("65535-65535".parse::<PortRange>().is_err());
        assert_eq!("65534-65535".parse::<PortRange>().unwrap().pairs(), 1);
    }

    #[test]
    fn hands_out_even_ports_until_exhausted_then_reuses_released_ones() {
        let mut ports = PortAllocator::new("30001-30006".parse().unwrap());
        assert_eq!(ports.capacity(), 2);
        assert_eq!(ports.allocate(), Some(30002));
        assert_eq!(ports.allocate(), Some(30004));
        assert_eq!(ports.allocate(), None);
        ports.release(30002);
        assert_eq!(ports.in_use(), 1);
        assert_eq!(ports.allocate(), Some(30002));
        assert_eq!(ports.allocate(), None);
    }

    #[test]
    fn reuses_a_released_port_as_late_as_possible() {
        let mut ports = PortAllocator::new("40000-40007".parse().unwrap());
        let a = ports.allocate().unwrap();
        ports.release(a);
        assert_eq!(ports.allocate(), Some(40002));
        assert_eq!(ports.allocate(), Some(40004));
        assert_eq!(ports.allocate(), Some(40006));
        assert_eq!(ports.allocate(), Some(40000));
    }

    #[test]
    fn ignores_ports_it_never_handed_out() {
        let mut ports = PortAllocator::new("40000-40003".parse().unwrap());
        ports.release(40001);
        ports.release(39998);
        ports.release(50000);
        ports.release(40000);
        assert_eq!(ports.in_use(), 0);
        assert_eq!(ports.allocate(), Some(40000));
        assert_eq!(ports.in_use(), 1);
    }
}
