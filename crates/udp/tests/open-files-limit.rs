//! The soft limit of open files is raised to the hard limit (this test's own process,
//! its soft limit first lowered to 64).

#[test]
fn the_soft_limit_of_open_files_is_raised_to_the_hard_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct passed, for the call.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let lowered = libc::rlimit {
            rlim_cur: 64.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lowered), 0);
    }
    let (soft, hard) = pinbridge_udp::raise_open_files_limit().unwrap();
    assert_eq!(soft, hard);
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) }, 0);
    assert_eq!(
        now.rlim_cur, limit.rlim_max,
        "the soft limit is the hard limit"
    );
    assert_eq!(now.rlim_max, limit.rlim_max, "the hard limit is unchanged");
    assert_eq!(
        format!("{soft}"),
        format!("{}", now.rlim_cur),
        "what it reports"
    );
}
