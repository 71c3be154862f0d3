#![no_main]

use libfuzzer_sys::fuzz_target;
use zerotrace_version::Scheme;

fuzz_target!(|data: &[u8]| zerotrace_version_fuzz::check_scheme(Scheme::Apk, data));
