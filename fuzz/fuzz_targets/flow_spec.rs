#![no_main]
//! Fuzz target: see `secpath::fuzzing::flow_spec`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| secpath::fuzzing::flow_spec(data));
