#![no_main]
//! Fuzz target: see `secpath::fuzzing::snapshot_json`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| secpath::fuzzing::snapshot_json(data));
