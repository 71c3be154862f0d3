#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zerotrace_version_fuzz::check_osv_ranges(data));
