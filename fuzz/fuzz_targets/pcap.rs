#![no_main]
//! Fuzz target: see `secpath::fuzzing::replay_input`.
use secpath::replay::input::InputFormat;
libfuzzer_sys::fuzz_target!(|data: &[u8]| secpath::fuzzing::replay_input(data, InputFormat::Pcap));
