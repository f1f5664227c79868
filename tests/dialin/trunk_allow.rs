//! Acceptance 6 (trunk allow-list): with `--trunk-allow 127.0.0.1/32`, an INVITE from
//! 127.0.0.3 (SIPp bound there) gets 403 and no dialog, while a call from an allowed
//! trunk, in progress at the same time, goes on.

use crate::common;

use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

#[test]
fn an_invite_from_outside_the_allow_list_gets_403() {
    let bridge = bridge::start(&["--trunk-allow", "127.0.0.1/32"]);
    let conference = bridge.meeting(&[]);
    let mut allowed = bridge.call("allowed caller", &format!("{conference}#"));
    allowed.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the allowed caller waits in the lobby", |s| {
        s.in_lobby() == 1
    });
    let mut outsider = SippCaller::start_scenario(
        "outsider",
        &bridge.sip_udp,
        bridge.number,
        "127.0.0.3",
        "rejected.xml",
    );
    let status = outsider.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the outsider was not refused with 403 ({status:?})\n{}",
        outsider.report()
    );
    assert!(outsider.logged("rejected 403"));
    let state = bridge.state(&conference);
    assert_eq!(state.participants.len(), 1, "{state:?}");
    assert!(allowed.is_running(), "{}", allowed.report());
    assert_eq!(bridge.metric("pinbridge_calls_answered_total"), 1.0);
    assert_eq!(bridge.metric("pinbridge_active_calls"), 1.0);
    allowed.hang_up();
    assert_eq!(allowed.wait_end(Duration::from_secs(30)), Ending::ByCaller);
}
