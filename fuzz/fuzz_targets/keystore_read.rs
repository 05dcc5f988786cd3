#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kmirror::testkit::fuzz_keystore::keystore_read(data));
