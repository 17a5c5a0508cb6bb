//! One facade over the evaluation strategies.
//!
//! The reference engine walks the resolved rules linearly and records a trace; it is the
//! oracle. The compiled engine classifies through precomputed tables and must give the same
//! answer on every flow (tests/differential.rs). Commands take `--engine` so users can check
//! that on their own rule sets; the compiled one is the default because it is the fast one.

use crate::compile::table::CompiledTable;
use crate::compile::CompiledPolicy;
use crate::eval::matching::{first_match, EndpointAsgs};
use crate::eval::{decide, Decided, Pins};
use crate::flow::Flow;
use crate::options::AnyProtocol;
use crate::resolve::{Policy, ResolvedRule};
use crate::Result;

/// Which strategy evaluates flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Precomputed tables (the default).
    #[default]
    Compiled,
    /// The linear scan with traces: the oracle.
    Reference,
}

/// A policy ready to decide flows with the chosen strategy.
pub enum Engine<'p> {
    /// The oracle.
    Reference(&'p Policy),
    /// The tables.
    Compiled(Box<CompiledPolicy<'p>>),
}

impl<'p> Engine<'p> {
    /// Prepares `policy` for `kind` (compiling takes the time here, once). A policy with
    /// rules a plan does not know in full is always walked by the reference engine: only
    /// it reports `unknown` verdicts, and such inputs are small (one plan's resources).
    pub fn new(policy: &'p Policy, kind: EngineKind) -> Engine<'p> {
        match kind {
            _ if !policy.snapshot.unknowns.is_empty() => Engine::Reference(policy),
            EngineKind::Reference => Engine::Reference(policy),
            EngineKind::Compiled => Engine::Compiled(Box::new(CompiledPolicy::new(policy))),
        }
    }

    /// The policy it evaluates.
    pub fn policy(&self) -> &'p Policy {
        match self {
            Engine::Reference(policy) => policy,
            Engine::Compiled(compiled) => compiled.policy(),
        }
    }

    /// The verdict and deciding rule for one flow.
    pub fn decide(&self, flow: &Flow, pins: &Pins) -> Result<Decided> {
        match self {
            Engine::Reference(policy) => decide(policy, flow, pins),
            Engine::Compiled(compiled) => compiled.decide(flow, pins),
        }
    }
}

/// One rule table (a ClassBench filter set) with the chosen strategy.
pub enum TableEngine<'r> {
    /// Linear scan.
    Reference(&'r [ResolvedRule]),
    /// Compiled table.
    Compiled(Box<CompiledTable>),
}

impl<'r> TableEngine<'r> {
    /// Prepares `rules` (in priority order) for `kind`.
    pub fn new(rules: &'r [ResolvedRule], kind: EngineKind) -> TableEngine<'r> {
        match kind {
            EngineKind::Reference => TableEngine::Reference(rules),
            EngineKind::Compiled => {
                TableEngine::Compiled(Box::new(CompiledTable::new(rules, AnyProtocol::All)))
            }
        }
    }

    /// The index of the first matching rule.
    pub fn first_match(&self, flow: &Flow) -> Option<usize> {
        let none = EndpointAsgs::default();
        match self {
            TableEngine::Reference(rules) => first_match(rules, flow, none, AnyProtocol::All),
            TableEngine::Compiled(table) => table.first_match(flow, none),
        }
    }

    /// Bytes of the compiled table (0 for the linear scan, which uses the rules as they are).
    pub fn bytes(&self) -> usize {
        match self {
            TableEngine::Reference(_) => 0,
            TableEngine::Compiled(table) => table.bytes(),
        }
    }
}
