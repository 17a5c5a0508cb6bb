//! secpath: what Azure's network security layers do to a flow, decided offline, with the
//! reason.
//!
//! Data flows one way: [`load`] reads ARM JSON into a [`model::Snapshot`]; [`resolve`]
//! computes the effective [`resolve::Policy`] (which admin rules apply where, in what order,
//! what each service tag means at each point); [`eval`] walks a [`flow::Flow`] through the
//! source side, the path and the destination side and records every rule it consulted.
//! The authoritative semantics are SEMANTICS.md; decisions where Azure is silent are
//! switches in [`options::Options`].
#![deny(missing_docs)]

pub mod audit;
pub mod bench;
pub mod classbench;
pub mod compile;
pub mod dsl;
pub mod effective;
pub mod engine;
pub mod error;
pub mod eval;
pub mod evaluate;
pub mod flow;
pub mod flowfile;
pub mod flowspace;
pub mod fuzzing;
pub mod load;
pub mod model;
pub mod options;
pub mod render;
pub mod replay;
pub mod resolve;

pub use error::{Error, Result};
