//! One integration-test binary driving the real `secpath` CLI.

mod cases;
mod cli;
mod differential;
mod fuzz;
mod dsl;
mod replay;
mod support;
