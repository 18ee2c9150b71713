#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oauth2_testkit::fuzz::www_authenticate(data));
