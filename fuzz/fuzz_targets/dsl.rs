#![no_main]
//! Fuzz target: see `secpath::fuzzing::dsl`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| secpath::fuzzing::dsl(data));
