//! `secpath bench`: how fast a rule set classifies a trace on this machine, in the way
//! `dpdk-test-acl` answers it for DPDK.
//!
//! Loading and compiling happen once and are timed apart; then only classification of the
//! in-memory trace is timed, repeated `iter` times, each flow's answer written to a buffer.
//! The checksum, taken from the buffer once the clock has stopped, folds every flow's
//! deciding rule with its position by wrapping addition, so it is the same whatever the
//! thread count and chunking, and two engines agree exactly when their checksums do.

use crate::engine::{Engine, EngineKind, TableEngine};
use crate::eval::matching::EndpointAsgs;
use crate::eval::{Decided, Pins, Verdict};
use crate::flow::Flow;
use crate::resolve::ResolvedRule;
use rayon::prelude::*;
use serde::Serialize;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Flows per parallel task: large enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 4096;

/// What `secpath bench` prints.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// `compiled` or `reference`.
    pub engine: EngineKind,
    /// Rules in the tables (a rule enforced at several points counts at each).
    pub rules: usize,
    /// Milliseconds to compile (0 for the reference engine).
    pub compile_ms: f64,
    /// Bytes of the compiled tables.
    pub table_bytes: usize,
    /// Flows classified in all iterations.
    pub lookups: u64,
    /// Throughput.
    pub lookups_per_sec: f64,
    /// Mean time per flow.
    pub ns_per_lookup: f64,
    /// Worker threads.
    pub threads: usize,
    /// Iterations over the trace.
    pub iter: usize,
    /// Fold of every flow's decision: equal across engines exactly when they agree.
    pub checksum: String,
}

/// Mixes a flow's position and its decision so that sums of different answers collide rarely.
fn mix(index: usize, value: u64) -> u64 {
    let mut x = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ value;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^ (x >> 33)
}

/// A decision as a number: its verdict mixed with the deciding rule id's hash (computed
/// once per id, when it was read; hashing the id's text here cost ~50 ns a denied flow).
fn decision_value(d: &crate::Result<Decided>) -> u64 {
    use std::hash::{Hash, Hasher};
    let (verdict, id) = match d {
        Ok(d) => (
            match d.verdict {
                Verdict::Allow => 1,
                Verdict::Deny => 2,
                Verdict::NoPath => 3,
                Verdict::Unknown => 5,
            },
            d.resource.as_ref(),
        ),
        Err(_) => (4, None),
    };
    let mut hasher = rustc_hash::FxHasher::default();
    verdict.hash(&mut hasher);
    id.hash(&mut hasher);
    hasher.finish()
}

/// Runs `classify` over `n` flows in runs of [`CHUNK`], each writing its flows' answers to
/// its part of one buffer, `iter` times on `threads` threads; returns the elapsed time and
/// the checksum of the answers, taken after the clock stops (as `dpdk-test-acl` leaves its
/// results in an array). Runs let an engine classify several flows at once.
fn timed<T: Clone + Default + Send>(
    n: usize,
    iter: usize,
    threads: usize,
    classify: impl Fn(Range<usize>, &mut [T]) + Sync,
    value: impl Fn(&T) -> u64,
) -> (Duration, u64) {
    let mut answers = vec![T::default(); n];
    let run = |(c, out): (usize, &mut [T])| classify(c * CHUNK..c * CHUNK + out.len(), out);
    let pass = |answers: &mut [T]| {
        if threads <= 1 {
            answers.chunks_mut(CHUNK).enumerate().for_each(run);
        } else {
            answers.par_chunks_mut(CHUNK).enumerate().for_each(run);
        }
    };
    // One thread runs here, with no pool to hand work to; more get a pool of exactly K.
    let pool = (threads > 1)
        .then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .ok()
        })
        .flatten();
    let started = Instant::now();
    for _ in 0..iter.max(1) {
        match &pool {
            Some(pool) => pool.install(|| pass(&mut answers)),
            None => pass(&mut answers),
        }
    }
    let elapsed = started.elapsed();
    let terms = answers.iter().enumerate();
    let sum = terms.fold(0, |sum: u64, (i, a)| sum.wrapping_add(mix(i, value(a))));
    (elapsed, sum)
}

/// What is known about an engine before timing it.
struct Prepared {
    engine: EngineKind,
    rules: usize,
    compile: Duration,
    bytes: usize,
}

fn report(p: Prepared, n: usize, iter: usize, threads: usize, run: (Duration, u64)) -> BenchReport {
    let lookups = (n * iter.max(1)) as u64;
    let secs = run.0.as_secs_f64().max(1e-12);
    BenchReport {
        engine: p.engine,
        rules: p.rules,
        compile_ms: p.compile.as_secs_f64() * 1e3,
        table_bytes: p.bytes,
        lookups,
        lookups_per_sec: lookups as f64 / secs,
        ns_per_lookup: secs * 1e9 / lookups.max(1) as f64,
        threads: threads.max(1),
        iter: iter.max(1),
        checksum: format!("{:016x}", run.1),
    }
}

/// Benchmarks one rule table (a ClassBench set) over `flows`.
pub fn bench_table(
    rules: &[ResolvedRule],
    flows: &[Flow],
    kind: EngineKind,
    iter: usize,
    threads: usize,
) -> BenchReport {
    let started = Instant::now();
    let engine = TableEngine::new(rules, kind);
    let compile = if kind == EngineKind::Compiled {
        started.elapsed()
    } else {
        Duration::ZERO
    };
    let classify = |run: Range<usize>, hits: &mut [Option<usize>]| {
        let flows = flows.get(run).unwrap_or(&[]);
        match &engine {
            TableEngine::Compiled(table) => {
                table.first_match_batch(flows, EndpointAsgs::default(), hits);
            }
            TableEngine::Reference(_) => {
                for (hit, flow) in hits.iter_mut().zip(flows) {
                    *hit = engine.first_match(flow);
                }
            }
        }
    };
    let value = |hit: &Option<usize>| hit.map_or(0, |r| r as u64 + 1);
    let run = timed(flows.len(), iter, threads, classify, value);
    report(
        Prepared {
            engine: kind,
            rules: rules.len(),
            compile,
            bytes: engine.bytes(),
        },
        flows.len(),
        iter,
        threads,
        run,
    )
}

/// Benchmarks a whole policy (the full path walk) over `flows`.
pub fn bench_policy(
    engine: &Engine,
    flows: &[(Flow, Pins)],
    iter: usize,
    threads: usize,
) -> BenchReport {
    let (kind, rules, compile, bytes) = match engine {
        Engine::Reference(policy) => (
            EngineKind::Reference,
            policy.enforced_rules(),
            Duration::ZERO,
            0,
        ),
        Engine::Compiled(c) => {
            let s = c.stats();
            (EngineKind::Compiled, s.rules, s.compile_time, s.bytes)
        }
    };
    let classify = |run: Range<usize>, values: &mut [u64]| {
        let flows = flows.get(run).unwrap_or(&[]);
        for (value, (flow, pins)) in values.iter_mut().zip(flows) {
            *value = decision_value(&engine.decide(flow, pins));
        }
    };
    let run = timed(flows.len(), iter, threads, classify, |&value| value);
    report(
        Prepared {
            engine: kind,
            rules,
            compile,
            bytes,
        },
        flows.len(),
        iter,
        threads,
        run,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_thread_count() {
        let answers = |m: u64| {
            move |r: Range<usize>, out: &mut [u64]| {
                for (a, i) in out.iter_mut().zip(r) {
                    *a = i as u64 % m;
                }
            }
        };
        let (_, one) = timed(10_000, 1, 1, answers(7), |&a| a);
        let (_, two) = timed(10_000, 2, 2, answers(7), |&a| a);
        assert_eq!(one, two);
        let (_, other) = timed(10_000, 1, 1, answers(5), |&a| a);
        assert_ne!(one, other);
    }
}
