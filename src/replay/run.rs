//! The replay loop: every record read is judged (at its logging point, or along the whole
//! path), compared with what was logged, tallied, and optionally written to `--out`.

use super::capture::PacketInfo;
use super::conntrack::{ConnTracker, Connection, Seen};
use super::flowlog::{FlowState, Logged};
use super::input::{
    self, FileRecords, InputFormat, KindRef, NextRecord, RecordLoop, RecordRef, Unit,
};
use super::judge::{agrees, Judge, Judgement};
use super::shard;
use super::tally::{Disagreement, ReplayReport, Tally};
use crate::engine::{Engine, EngineKind};
use crate::error::{Error, Result};
use crate::eval::{admin_deny, Pins, Verdict};
use crate::flow::Flow;
use crate::resolve::Policy;
use rayon::prelude::*;
use std::io::Write;
use std::sync::Arc;

/// How packets are judged.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Judge every packet on its own instead of tracking connections.
    pub stateless: bool,
    /// When an idle connection ends (UDP, ICMP, idle TCP), in milliseconds.
    pub idle_timeout_ms: u64,
    /// The engine that judges.
    pub engine: EngineKind,
    /// Worker threads for replaying several inputs at once; 0 is one per core.
    pub threads: usize,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            stateless: false,
            idle_timeout_ms: 240_000,
            engine: EngineKind::Compiled,
            threads: 0,
        }
    }
}

/// Records between two progress callbacks.
const PROGRESS_EVERY: u64 = 1 << 14;

/// Replays the units of input (see [`input::units`]) against `policy`. With `out`, or with
/// one thread, units run in order on this thread and every record's line is written;
/// otherwise they run in parallel on rayon's pool (`options.threads` workers, 0 for one per
/// core) and their totals are merged in unit order, so the report is the same either way.
/// When there are fewer units than threads, a large capture among them is itself split
/// across the threads left over ([`shard`]). `progress` is told how many more records were
/// read, from whichever thread read them.
pub fn replay_units(
    policy: &Policy,
    units: &[Unit],
    format: InputFormat,
    options: ReplayOptions,
    out: Option<&mut dyn Write>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ReplayReport> {
    let engine = std::sync::Arc::new(Engine::new(policy, options.engine));
    let tally = match out {
        Some(out) => replay_in_order(&engine, units, format, options, Some(out), progress)?,
        None if options.threads == 1 => {
            replay_in_order(&engine, units, format, options, None, progress)?
        }
        None => replay_in_parallel(&engine, units, format, options, progress)?,
    };
    Ok(tally.report(policy))
}

fn replay_in_order(
    engine: &Arc<Engine>,
    units: &[Unit],
    format: InputFormat,
    options: ReplayOptions,
    mut out: Option<&mut dyn Write>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Tally> {
    let mut tally = Tally::new(out.is_some());
    let mut judge = Judge::new(engine.clone());
    let mut next_connection = 1;
    for unit in units {
        let files = input::read_inputs(unit, format)?;
        let mut tracker = ConnTracker::new(options.idle_timeout_ms, next_connection);
        let mut replay = Replay::new(&mut judge, &mut tracker, options, &mut tally, progress);
        replay.out = out.as_mut().map(|w| &mut **w as &mut dyn Write);
        replay.read_all(files)?;
        next_connection = tracker.next_id();
    }
    Ok(tally)
}

fn replay_in_parallel(
    engine: &Arc<Engine>,
    units: &[Unit],
    format: InputFormat,
    options: ReplayOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Tally> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| {
            Error::Usage(format!(
                "cannot start {} replay threads: {e}",
                options.threads
            ))
        })?;
    let tallies: Vec<Result<Tally>> = pool.install(|| {
        let shards = pool.current_num_threads() / units.len().max(1);
        units
            .par_iter()
            .map(|unit| {
                let files = input::read_inputs(unit, format)?;
                if shards > 1 && shard::worth_splitting(unit, format) {
                    return shard::replay_split(engine, files, options, shards, progress);
                }
                replay_alone(engine, files, options, progress)
            })
            .collect()
    });
    let mut total = Tally::new(false);
    for tally in tallies {
        total.merge(tally?);
    }
    Ok(total)
}

/// Replays `files` with a judge, tracker and totals of its own, writing no lines.
fn replay_alone(
    engine: &Arc<Engine>,
    files: impl Iterator<Item = FileRecords>,
    options: ReplayOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Tally> {
    let mut tally = Tally::new(false);
    let mut judge = Judge::new(engine.clone());
    let mut tracker = ConnTracker::new(options.idle_timeout_ms, 1);
    Replay::new(&mut judge, &mut tracker, options, &mut tally, progress).read_all(files)?;
    Ok(tally)
}

fn write_error(e: std::io::Error) -> Error {
    Error::Usage(format!("cannot write --out: {e}"))
}

/// What the replay loop works with, for [`RecordLoop::read`].
struct Replay<'r, 'p, 'w> {
    judge: &'r mut Judge<'p>,
    tracker: &'r mut ConnTracker,
    options: ReplayOptions,
    tally: &'r mut Tally,
    out: Option<&'r mut (dyn Write + 'w)>,
    progress: &'r (dyn Fn(u64) + Sync),
    /// Records read since the last progress report.
    unreported: u64,
}

impl<'r, 'p, 'w> Replay<'r, 'p, 'w> {
    /// A loop over every record, writing no lines.
    fn new(
        judge: &'r mut Judge<'p>,
        tracker: &'r mut ConnTracker,
        options: ReplayOptions,
        tally: &'r mut Tally,
        progress: &'r (dyn Fn(u64) + Sync),
    ) -> Self {
        Replay {
            judge,
            tracker,
            options,
            tally,
            out: None,
            progress,
            unreported: 0,
        }
    }

    /// The replay loop over one unit's files. Records are read borrowed ([`RecordRef`]):
    /// the loop keeps nothing of them but counts, and builds text only for `--out` and the
    /// kept disagreements.
    fn read_all(mut self, files: impl Iterator<Item = FileRecords>) -> Result<()> {
        for mut file in files {
            file.read_with(&mut self)?;
        }
        let Replay {
            tracker,
            tally,
            mut out,
            progress,
            unreported,
            ..
        } = self;
        for c in tracker.finish() {
            ended(tally, &c, out.as_deref_mut()).map_err(write_error)?;
        }
        if let Some(w) = out {
            w.flush().map_err(write_error)?;
        }
        progress(unreported);
        Ok(())
    }
}

impl RecordLoop for Replay<'_, '_, '_> {
    fn read(&mut self, records: &mut impl NextRecord) -> Result<()> {
        let Replay {
            judge,
            tracker,
            options,
            tally,
            out,
            progress,
            unreported,
        } = self;
        while let Some(record) = records.next_ref() {
            count_progress(unreported, *progress);
            let line = match record {
                Err(skipped) => {
                    tally.skip(&skipped.reason);
                    skip_line(tally, &skipped.source.to_string(), &skipped.reason)
                }
                // Taken apart here, so that no function is handed (and no move copies) the
                // whole record with its enum of every kind.
                Ok(RecordRef {
                    file,
                    position,
                    time,
                    flow,
                    kind,
                }) => {
                    let at = At {
                        file,
                        position,
                        time,
                        flow,
                    };
                    match kind {
                        KindRef::FlowLog(logged) => flow_log(judge, &at, &logged, tally),
                        KindRef::Tuple(pins) => tuple(judge, &at, &pins, tally),
                        KindRef::Packet(info) => {
                            packet(judge, &at, &info, tracker, *options, tally)
                        }
                    }
                }
            };
            if let (Some(w), Some(line)) = (out.as_deref_mut(), line) {
                writeln!(w, "{line}").map_err(write_error)?;
            }
            if tracker.has_finished() {
                for c in tracker.take_finished() {
                    ended(tally, &c, out.as_deref_mut()).map_err(write_error)?;
                }
            }
        }
        Ok(())
    }
}

/// Counts a record read, and tells `progress` every [`PROGRESS_EVERY`] records.
pub(super) fn count_progress(unreported: &mut u64, progress: &(dyn Fn(u64) + Sync)) {
    *unreported += 1;
    if *unreported == PROGRESS_EVERY {
        progress(*unreported);
        *unreported = 0;
    }
}

/// A record's flow, time and place, without what its kind adds.
pub(super) struct At<'a> {
    pub(super) file: &'a Arc<std::path::Path>,
    pub(super) position: input::Position,
    pub(super) time: Option<u64>,
    pub(super) flow: Flow,
}

impl At<'_> {
    /// Where the record was read, for messages.
    fn source(&self) -> String {
        let source = input::RecordSource {
            file: self.file.clone(),
            position: self.position,
        };
        source.to_string()
    }
}

/// Counts a connection that ended, and writes its `--out` line.
fn ended<W: Write + ?Sized>(
    tally: &mut Tally,
    c: &Connection,
    out: Option<&mut W>,
) -> std::io::Result<()> {
    tally.connection_ended(c);
    match out {
        Some(w) => writeln!(w, "{}", connection_line(c)),
        None => Ok(()),
    }
}

fn flow_log(
    judge: &mut Judge,
    rec: &At<'_>,
    logged: &Logged<'_>,
    tally: &mut Tally,
) -> Option<String> {
    match judge.at_logging_point(&rec.flow, *logged) {
        Err(reason) => {
            tally.skip(&reason);
            skip_line(tally, &rec.source(), &reason)
        }
        Ok(j) => {
            // C and E tuples continue a flow whose B tuple was counted.
            let continues = matches!(logged.state, Some(FlowState::Continuing | FlowState::End));
            tally.judged(&rec.flow, j.verdict, (!continues).then_some(&j));
            let agree = agrees(logged, &j);
            let secpath_rule = || j.rule.as_ref().map(|r| r.log_name());
            let logged_decision = if logged.allowed { "allow" } else { "deny" };
            tally.compared(agree, || Disagreement {
                source: rec.source(),
                flow: rec.flow.to_string(),
                logged_decision,
                logged_rule: logged.rule.to_string(),
                secpath_decision: j.verdict,
                secpath_rule: secpath_rule(),
            });
            if !tally.writing {
                return None;
            }
            let source = rec.source();
            let secpath_rule = secpath_rule();
            Some(
                serde_json::json!({
                    "source": source,
                    "flow": rec.flow.to_string(),
                    "verdict": j.verdict,
                    "rule": secpath_rule,
                    "rule_id": j.rule.as_ref().map(|r| r.id.to_string()),
                    "logged": {"decision": logged_decision, "rule": &**logged.rule, "at": logged.resource_id.map(|id| &**id)},
                    "agrees": agree,
                })
                .to_string(),
            )
        }
    }
}

fn tuple(judge: &Judge, rec: &At<'_>, pins: &Pins, tally: &mut Tally) -> Option<String> {
    match judge.whole_path(&rec.flow, pins) {
        Err(reason) => {
            tally.skip(&reason);
            skip_line(tally, &rec.source(), &reason)
        }
        Ok(j) => {
            tally.judged(&rec.flow, j.verdict, Some(&j));
            let source = || rec.source();
            tally
                .writing
                .then(|| verdict_json(&source(), &rec.flow, &j).to_string())
        }
    }
}

/// Judges a captured packet: on its own with `--stateless`, else as part of its connection.
pub(super) fn packet(
    judge: &Judge,
    rec: &At<'_>,
    info: &PacketInfo,
    tracker: &mut ConnTracker,
    options: ReplayOptions,
    tally: &mut Tally,
) -> Option<String> {
    if options.stateless {
        return tuple(judge, rec, &Pins::default(), tally);
    }
    let forward = match tracker.packet(&rec.flow, info, rec.time) {
        Seen::Belongs { verdict, reply, .. } => {
            let policy = judge.policy();
            if reply && verdict == Verdict::Allow && policy.options.admin_stateless {
                // D6: admin rules judge the reply again; the NSGs let it pass as state.
                if let Ok(Some(_)) = admin_deny(policy, &rec.flow, &Pins::default()) {
                    tally.judged(&rec.flow, Verdict::Deny, None);
                    return None;
                }
            }
            tally.judged_in_connection(verdict, None);
            return None;
        }
        Seen::Opens { forward } => forward,
    };
    match judge.whole_path(&forward, &Pins::default()) {
        Err(reason) => {
            tally.skip(&reason);
            skip_line(tally, &rec.source(), &reason)
        }
        Ok(j) => {
            tally.connection();
            tally.judged_in_connection(j.verdict, Some(&j));
            tracker.open(forward, j, info, rec.time);
            None
        }
    }
}

fn verdict_json(source: &str, flow: &Flow, j: &Judgement) -> serde_json::Value {
    serde_json::json!({
        "source": source,
        "flow": flow.to_string(),
        "verdict": j.verdict,
        "rule": j.rule.as_ref().map(|r| r.log_name()),
        "rule_id": j.rule.as_ref().map(|r| r.id.to_string()),
    })
}

fn connection_line(c: &Connection) -> String {
    let mut v = verdict_json(&format!("connection {}", c.id), &c.forward, &c.judgement);
    v["packets"] = c.packets.into();
    v["bytes"] = c.bytes.into();
    v["first_ms"] = c.first_ms.into();
    v["last_ms"] = c.last_ms.into();
    v.to_string()
}

/// The `--out` line of a skipped record, when lines are written.
fn skip_line(tally: &Tally, source: &str, reason: &str) -> Option<String> {
    tally
        .writing
        .then(|| serde_json::json!({"source": source, "skipped": reason}).to_string())
}
