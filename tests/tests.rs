//! One integration-test binary driving the real `secpath` CLI.

mod audit;
mod cases;
mod cli;
mod differential;
mod dsl;
mod fuzz;
mod limits;
mod plan;
mod replay;
mod resolve;
mod support;
