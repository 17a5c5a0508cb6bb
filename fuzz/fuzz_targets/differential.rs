#![no_main]
//! Fuzz target: see `secpath::fuzzing::differential`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| secpath::fuzzing::differential(data));
