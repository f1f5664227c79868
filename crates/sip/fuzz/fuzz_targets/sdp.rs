#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pinbridge_sip::fuzz::parse_sdp(data);
});
