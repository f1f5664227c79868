//! The phone side of the dial-in tests: the test kit's scripted phones (SIPp callers,
//! baresip, a SIPp answering peer), its tcpdump capture and its polling; pinbridge's
//! side is [`bridge`].

pub use pinbridge_testkit::pcap::{Capture, Datagram};
pub use pinbridge_testkit::phone::*;
pub use pinbridge_testkit::ports::free_port_block;
pub use pinbridge_testkit::wait_for;

/// pinbridge's side, for the dial-in tests.
pub mod bridge;

// Only the binaries that read meeting state use it.
#[allow(unused_imports)]
pub use bridge::Attendance;
