#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pinbridge_media::fuzz::rfc4733(data));
