//! One integration-test binary driving the real `secpath` CLI.

mod cases;
mod cli;
mod differential;
mod dsl;
mod replay;
mod support;
