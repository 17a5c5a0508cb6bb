//! The replay loop: every record read is judged (at its logging point, or along the whole
//! path), compared with what was logged, tallied, and optionally written to `--out`.

use super::capture::PacketInfo;
use super::conntrack::{ConnTracker, Connection, Seen};
use super::flowlog::{FlowState, Logged};
use super::input::{
    self, FileRecords, InputFormat, KindRef, NextRecord, Position, RecordLoop, RecordRef, Unit,
};
use super::judge::{agrees, Judge, Judgement, RuleHit};
use super::shard;
use super::tally::{Disagreement, ReplayReport, Tally};
use crate::engine::{Engine, EngineKind};
use crate::error::{Error, Result};
use crate::eval::{Pins, Verdict};
use crate::flow::Flow;
use crate::resolve::Policy;
use rayon::prelude::*;
use rustc_hash::{FxHashSet as HashSet, FxHasher};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
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
        Some(out) => {
            let mut lines = OutLines { out };
            let tally = replay_in_order(&engine, units, format, options, &mut lines, progress)?;
            lines.out.flush().map_err(write_error)?;
            tally
        }
        None if options.threads == 1 => {
            replay_in_order(&engine, units, format, options, &mut (), progress)?
        }
        None => replay_in_parallel(&engine, units, format, options, progress)?,
    };
    Ok(tally.report(policy))
}

/// A unit's files, opened one after the other. They were found by [`input::units`], so they
/// are not walked again: a file that cannot be read there is one skip, not an error.
fn unit_files(unit: &[PathBuf], format: InputFormat) -> impl Iterator<Item = FileRecords> + '_ {
    unit.iter().map(move |path| input::open_file(path, format))
}

fn replay_in_order(
    engine: &Arc<Engine>,
    units: &[Unit],
    format: InputFormat,
    options: ReplayOptions,
    witness: &mut impl Witness,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut judge = Judge::new(engine.clone());
    let mut next_connection = 1;
    for unit in units {
        let files = unit_files(unit, format);
        next_connection = replay_unit(
            &mut judge,
            files,
            options,
            next_connection,
            &mut tally,
            witness,
            progress,
        )?;
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
                let files = unit_files(unit, format);
                if shards > 1 && shard::worth_splitting(unit, format) {
                    return shard::replay_split(engine, files, options, shards, progress);
                }
                replay_alone(engine, files, options, progress)
            })
            .collect()
    });
    let mut total = Tally::default();
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
    let mut tally = Tally::default();
    let mut judge = Judge::new(engine.clone());
    replay_unit(&mut judge, files, options, 1, &mut tally, &mut (), progress)?;
    Ok(tally)
}

/// Replays one unit's `files` into `tally` with `judge`, telling `witness` of every record
/// and `progress` how many were read; connections are numbered from `first_connection`.
/// Returns the number the next connection would take. Engines that split the work by file
/// run this too ([`super::batch::Replayer`]).
pub(super) fn replay_unit(
    judge: &mut Judge,
    files: impl Iterator<Item = FileRecords>,
    options: ReplayOptions,
    first_connection: u64,
    tally: &mut Tally,
    witness: &mut impl Witness,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64> {
    Replay {
        judge,
        tracker: ConnTracker::new(options.idle_timeout_ms, first_connection),
        logged_flows: LoggedFlows::default(),
        options,
        tally,
        witness,
        progress,
        unreported: 0,
    }
    .read_all(files)
}

fn write_error(e: std::io::Error) -> Error {
    Error::Usage(format!("cannot write --out: {e}"))
}

/// What the replay loop tells, record by record, besides what it tallies: `--out`'s lines,
/// or a batch engine's rows. Every record read reaches it once, in read order, as
/// [`Witness::skipped`] or [`Witness::judged`]; a connection reaches it when it ends. The
/// summary alone has `()`, which hears nothing.
pub trait Witness {
    /// Whether it hears anything: for `()` the loop looks up nothing that only a witness
    /// would use (a connection's rule for each of its packets).
    const LISTENS: bool = true;

    /// A record that could not be read or judged, and why.
    fn skipped(&mut self, file: &Arc<Path>, position: Position, reason: &str) -> Result<()>;

    /// A record judged.
    fn judged(&mut self, record: &JudgedRecord<'_>) -> Result<()>;

    /// A connection that ended (captures, without `--stateless`).
    fn ended(&mut self, connection: &Connection) -> Result<()>;
}

impl Witness for () {
    const LISTENS: bool = false;

    fn skipped(&mut self, _: &Arc<Path>, _: Position, _: &str) -> Result<()> {
        Ok(())
    }

    fn judged(&mut self, _: &JudgedRecord<'_>) -> Result<()> {
        Ok(())
    }

    fn ended(&mut self, _: &Connection) -> Result<()> {
        Ok(())
    }
}

/// A judged record, as a [`Witness`] hears of it.
pub struct JudgedRecord<'a> {
    /// Its flow, time and place.
    pub at: &'a At<'a>,
    /// What was read.
    pub kind: JudgedKind<'a>,
    /// secpath's verdict: for a packet of a connection, the connection's (under D6 a reply
    /// that the admin rules deny is denied).
    pub verdict: Verdict,
    /// The rule that decided (a connection's, for its packets; the admin rule, for a reply
    /// it denied).
    pub rule: Option<&'a RuleHit>,
    /// The rules it adds a hit to; `None` when it adds none (flow-log C and E tuples, whose
    /// B tuple was counted, and a connection's packets after the first, except its first
    /// reply that an admin rule denied under D6).
    pub hits: Option<&'a [RuleHit]>,
    /// For a flow-log tuple: whether secpath agrees with the logged decision and rule.
    pub agrees: Option<bool>,
}

/// What a judged record was.
#[derive(Clone, Copy, Debug)]
pub enum JudgedKind<'a> {
    /// A flow-log tuple, judged at the point that logged it.
    FlowLog(&'a Logged<'a>),
    /// A plain five-tuple, judged along the whole path.
    Tuple,
    /// A packet judged on its own (`--stateless`).
    Packet,
    /// A packet judged as part of its connection; `opens` for the one that opened it.
    ConnectionPacket {
        /// This packet opened the connection.
        opens: bool,
    },
}

/// `--out`: a JSON line per record, and one per connection when it ends (its packets have
/// none of their own). A connection's `verdict`, `rule` and `rule_id` are its first packet's,
/// judged on the whole path; when admin rules denied some of its replies (D6
/// `--admin-stateless`), `replies_denied` counts them and `reply_rule`, `reply_rule_id` name
/// the rule, so that its `packets` split as the summary counts them: `replies_denied`
/// denied, the rest with `verdict`. Without such replies the line has none of these fields.
struct OutLines<'w> {
    out: &'w mut dyn Write,
}

impl OutLines<'_> {
    fn line(&mut self, line: serde_json::Value) -> Result<()> {
        writeln!(self.out, "{line}").map_err(write_error)
    }
}

impl Witness for OutLines<'_> {
    fn skipped(&mut self, file: &Arc<Path>, position: Position, reason: &str) -> Result<()> {
        let source = input::RecordSource {
            file: file.clone(),
            position,
        };
        self.line(serde_json::json!({"source": source.to_string(), "skipped": reason}))
    }

    fn judged(&mut self, r: &JudgedRecord<'_>) -> Result<()> {
        let source = r.at.source();
        let line = match r.kind {
            JudgedKind::ConnectionPacket { .. } => return Ok(()),
            JudgedKind::Tuple | JudgedKind::Packet => {
                verdict_json(&source, &r.at.flow, r.verdict, r.rule)
            }
            JudgedKind::FlowLog(logged) => serde_json::json!({
                "source": source,
                "flow": r.at.flow.to_string(),
                "verdict": r.verdict,
                "rule": r.rule.map(RuleHit::log_name),
                "rule_id": r.rule.map(|r| r.id.to_string()),
                "logged": {
                    "decision": logged_decision(logged),
                    "rule": &**logged.rule,
                    "at": logged.resource_id.map(|id| &**id),
                },
                "agrees": r.agrees,
            }),
        };
        self.line(line)
    }

    fn ended(&mut self, c: &Connection) -> Result<()> {
        let mut line = verdict_json(
            &format!("connection {}", c.id),
            &c.forward,
            c.judgement.verdict,
            c.judgement.rule.as_ref(),
        );
        line["packets"] = c.packets.into();
        line["bytes"] = c.bytes.into();
        line["first_ms"] = c.first_ms.into();
        line["last_ms"] = c.last_ms.into();
        if c.replies_denied > 0 {
            let rule = c.reply_rule.as_ref();
            line["replies_denied"] = c.replies_denied.into();
            line["reply_rule"] = rule.map(RuleHit::log_name).into();
            line["reply_rule_id"] = rule.map(|r| r.id.to_string()).into();
        }
        self.line(line)
    }
}

fn verdict_json(
    source: &str,
    flow: &Flow,
    verdict: Verdict,
    rule: Option<&RuleHit>,
) -> serde_json::Value {
    serde_json::json!({
        "source": source,
        "flow": flow.to_string(),
        "verdict": verdict,
        "rule": rule.map(RuleHit::log_name),
        "rule_id": rule.map(|r| r.id.to_string()),
    })
}

/// What the replay loop works with, for [`RecordLoop::read`].
struct Replay<'r, 'p, W: Witness> {
    judge: &'r mut Judge<'p>,
    tracker: ConnTracker,
    logged_flows: LoggedFlows,
    options: ReplayOptions,
    tally: &'r mut Tally,
    witness: &'r mut W,
    progress: &'r (dyn Fn(u64) + Sync),
    /// Records read since the last progress report.
    unreported: u64,
}

impl<W: Witness> Replay<'_, '_, W> {
    /// The replay loop over one unit's files. Records are read borrowed ([`RecordRef`]):
    /// the loop keeps nothing of them but counts, and builds text only for the witness and
    /// the kept disagreements. Returns the number the next connection would take.
    fn read_all(mut self, files: impl Iterator<Item = FileRecords>) -> Result<u64> {
        for mut file in files {
            file.read_with(&mut self)?;
        }
        for c in self.tracker.finish() {
            ended(self.tally, &c, self.witness)?;
        }
        (self.progress)(self.unreported);
        Ok(self.tracker.next_id())
    }
}

impl<W: Witness> RecordLoop for Replay<'_, '_, W> {
    fn read(&mut self, records: &mut impl NextRecord) -> Result<()> {
        let Replay {
            judge,
            tracker,
            logged_flows,
            options,
            tally,
            witness,
            progress,
            unreported,
        } = self;
        while let Some(record) = records.next_ref() {
            count_progress(unreported, *progress);
            match record {
                Err(skipped) => {
                    let source = &skipped.source;
                    skip(
                        tally,
                        *witness,
                        &source.file,
                        source.position,
                        &skipped.reason,
                    )?;
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
                        KindRef::FlowLog(logged) => {
                            flow_log(judge, &at, &logged, logged_flows, tally, *witness)
                        }
                        KindRef::Tuple(pins) => tuple(judge, &at, &pins, tally, *witness),
                        KindRef::Packet(info) => {
                            packet(judge, &at, &info, tracker, *options, tally, *witness)
                        }
                    }?;
                }
            }
            if tracker.has_finished() {
                for c in tracker.take_finished() {
                    ended(tally, &c, *witness)?;
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
pub struct At<'a> {
    /// The file it was read from.
    pub file: &'a Arc<Path>,
    /// The place inside it.
    pub position: input::Position,
    /// Unix time in milliseconds, when the input has one.
    pub time: Option<u64>,
    /// The five-tuple as logged or captured.
    pub flow: Flow,
}

impl At<'_> {
    /// Where the record was read, as messages name it (`file: position`).
    pub fn source(&self) -> String {
        let source = input::RecordSource {
            file: self.file.clone(),
            position: self.position,
        };
        source.to_string()
    }
}

/// `allow` or `deny`, as logged.
pub fn logged_decision(logged: &Logged<'_>) -> &'static str {
    if logged.allowed {
        "allow"
    } else {
        "deny"
    }
}

/// Counts a record that could not be read or judged, and tells `witness`.
fn skip(
    tally: &mut Tally,
    witness: &mut impl Witness,
    file: &Arc<Path>,
    position: Position,
    reason: &str,
) -> Result<()> {
    tally.skip(reason);
    witness.skipped(file, position, reason)
}

/// Counts a connection that ended, and tells `witness`.
fn ended(tally: &mut Tally, c: &Connection, witness: &mut impl Witness) -> Result<()> {
    tally.connection_ended(c);
    witness.ended(c)
}

/// The flows of a unit's flow logs that a B, C or E tuple has shown and no E tuple has ended
/// yet (by logging point, direction and five-tuple), so that a flow adds its rule's hits once:
/// at its B tuple, or at its first C or E tuple when it began before the log (an hourly blob
/// opens with the C tuples of older connections).
///
/// A flow is kept as a 64-bit hash of its key, not the key: `benches/replay_gen.py`'s log of
/// a million flows that all begin in it replays in 0.41–0.44 s of CPU and 124 MB with
/// hashes, 0.55–0.61 s and 225 MB with whole keys (an `Arc` clone a tuple), 0.34–0.38 s
/// and 118 MB when flows were not remembered. Two open flows whose hashes collide (odds
/// about n² / 2⁶⁵ for n open flows) would share one hit.
#[derive(Default)]
struct LoggedFlows(HashSet<u64>);

impl LoggedFlows {
    /// True when this tuple is the first of its flow here: a B tuple, a tuple without a state
    /// (version 1, where each tuple stands alone), a denial (which no C or E follows, so it
    /// is not remembered), or the first C or E tuple of a flow whose B was not seen.
    fn first_of_flow(&mut self, flow: &Flow, logged: &Logged<'_>) -> bool {
        let key = || {
            let mut hasher = FxHasher::default();
            (logged.resource_id, logged.direction, flow).hash(&mut hasher);
            hasher.finish()
        };
        match logged.state {
            _ if !logged.allowed => true,
            Some(FlowState::Begin) => {
                self.0.insert(key());
                true
            }
            Some(FlowState::Continuing) => self.0.insert(key()),
            Some(FlowState::End) => !self.0.remove(&key()),
            Some(FlowState::Denied) | None => true,
        }
    }
}

fn flow_log(
    judge: &mut Judge,
    rec: &At<'_>,
    logged: &Logged<'_>,
    logged_flows: &mut LoggedFlows,
    tally: &mut Tally,
    witness: &mut impl Witness,
) -> Result<()> {
    let j = match judge.at_logging_point(&rec.flow, *logged) {
        Err(reason) => return skip(tally, witness, rec.file, rec.position, &reason),
        Ok(j) => j,
    };
    // C and E tuples continue a flow whose first tuple was counted.
    let continues = !logged_flows.first_of_flow(&rec.flow, logged);
    tally.judged(&rec.flow, j.verdict, (!continues).then_some(&j));
    let agree = agrees(logged, &j);
    tally.compared(agree, || Disagreement {
        source: rec.source(),
        flow: rec.flow.to_string(),
        logged_decision: logged_decision(logged),
        logged_rule: logged.rule.to_string(),
        secpath_decision: j.verdict,
        secpath_rule: j.rule.as_ref().map(RuleHit::log_name),
    });
    witness.judged(&JudgedRecord {
        at: rec,
        kind: JudgedKind::FlowLog(logged),
        verdict: j.verdict,
        rule: j.rule.as_ref(),
        hits: (!continues).then_some(&j.hits[..]),
        agrees: Some(agree),
    })
}

fn tuple(
    judge: &Judge,
    rec: &At<'_>,
    pins: &Pins,
    tally: &mut Tally,
    witness: &mut impl Witness,
) -> Result<()> {
    whole_path(judge, rec, pins, JudgedKind::Tuple, tally, witness)
}

/// Judges a record along the whole path, on its own.
fn whole_path(
    judge: &Judge,
    rec: &At<'_>,
    pins: &Pins,
    kind: JudgedKind<'_>,
    tally: &mut Tally,
    witness: &mut impl Witness,
) -> Result<()> {
    match judge.whole_path(&rec.flow, pins) {
        Err(reason) => skip(tally, witness, rec.file, rec.position, &reason),
        Ok(j) => {
            tally.judged(&rec.flow, j.verdict, Some(&j));
            witness.judged(&JudgedRecord {
                at: rec,
                kind,
                verdict: j.verdict,
                rule: j.rule.as_ref(),
                hits: Some(&j.hits),
                agrees: None,
            })
        }
    }
}

/// Judges a captured packet: on its own with `--stateless`, else as part of its connection.
pub(super) fn packet<W: Witness>(
    judge: &Judge,
    rec: &At<'_>,
    info: &PacketInfo,
    tracker: &mut ConnTracker,
    options: ReplayOptions,
    tally: &mut Tally,
    witness: &mut W,
) -> Result<()> {
    if options.stateless {
        return whole_path(
            judge,
            rec,
            &Pins::default(),
            JudgedKind::Packet,
            tally,
            witness,
        );
    }
    let forward = match tracker.packet(&rec.flow, info, rec.time) {
        Seen::Belongs {
            verdict,
            reply,
            connection,
        } => {
            // D6: admin rules judge the reply again (the NSGs let it pass as state). A denied
            // reply's flow is its own, not its connection's; its rule adds a hit once per
            // connection, and the connection counts its denied replies for `--out`.
            let denial = reply_denial(judge, reply, verdict, &rec.flow);
            let first_denial = denial
                .as_ref()
                .is_some_and(|j| tracker.deny_reply(connection, j.rule.as_ref()));
            let hits = denial.as_ref().filter(|_| first_denial);
            let (verdict, rule) = match &denial {
                Some(j) => {
                    tally.judged(&rec.flow, Verdict::Deny, hits);
                    (Verdict::Deny, j.rule.as_ref())
                }
                None => {
                    tally.judged_in_connection(verdict, None);
                    let rule = if W::LISTENS {
                        tracker.rule_of(connection)
                    } else {
                        None
                    };
                    (verdict, rule)
                }
            };
            return witness.judged(&JudgedRecord {
                at: rec,
                kind: JudgedKind::ConnectionPacket { opens: false },
                verdict,
                rule,
                hits: hits.map(|j| &j.hits[..]),
                agrees: None,
            });
        }
        Seen::Opens { forward } => forward,
    };
    match judge.whole_path(&forward, &Pins::default()) {
        Err(reason) => skip(tally, witness, rec.file, rec.position, &reason),
        Ok(j) => {
            // D6 again: a connection opened by its reply (a SYN+ACK whose SYN the capture
            // missed) has that reply judged by the admin rules like every later one.
            let denial = reply_denial(judge, rec.flow != forward, j.verdict, &rec.flow);
            tally.connection();
            match &denial {
                None => {
                    tally.judged_in_connection(j.verdict, Some(&j));
                    witness.judged(&JudgedRecord {
                        at: rec,
                        kind: JudgedKind::ConnectionPacket { opens: true },
                        verdict: j.verdict,
                        rule: j.rule.as_ref(),
                        hits: Some(&j.hits),
                        agrees: None,
                    })?;
                }
                Some(d) => {
                    tally.hit(&j);
                    tally.judged(&rec.flow, Verdict::Deny, Some(d));
                    let hits: Vec<RuleHit> = j.hits.iter().chain(&d.hits).cloned().collect();
                    witness.judged(&JudgedRecord {
                        at: rec,
                        kind: JudgedKind::ConnectionPacket { opens: true },
                        verdict: Verdict::Deny,
                        rule: d.rule.as_ref(),
                        hits: Some(&hits),
                        agrees: None,
                    })?;
                }
            }
            let connection = tracker.open(forward, j, info, rec.time);
            if let Some(d) = &denial {
                tracker.deny_reply(connection, d.rule.as_ref());
            }
            Ok(())
        }
    }
}

/// D6 `--admin-stateless`: the admin rules' denial of `flow`, when it is a reply (`reply`)
/// of a connection judged `verdict` and the admin rules judge replies again.
fn reply_denial(judge: &Judge, reply: bool, verdict: Verdict, flow: &Flow) -> Option<Judgement> {
    let again = reply && verdict == Verdict::Allow && judge.policy().options.admin_stateless;
    again.then(|| judge.admin_denial(flow)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;
    use crate::replay::conntrack::reverse;
    use crate::resolve::tags::ServiceTags;

    /// What a witness hears: each packet's verdict, rule and hits, and each connection.
    #[derive(Default)]
    struct Heard {
        packets: Vec<(Verdict, Option<String>, usize)>,
        connections: Vec<Connection>,
    }

    impl Witness for Heard {
        fn skipped(&mut self, _: &Arc<Path>, _: Position, reason: &str) -> Result<()> {
            panic!("skipped: {reason}")
        }

        fn judged(&mut self, r: &JudgedRecord<'_>) -> Result<()> {
            let rule = r.rule.map(RuleHit::log_name);
            self.packets
                .push((r.verdict, rule, r.hits.map_or(0, <[RuleHit]>::len)));
            Ok(())
        }

        fn ended(&mut self, c: &Connection) -> Result<()> {
            self.connections.push(c.clone());
            Ok(())
        }
    }

    /// Replays a handshake from A to B's port 80 and an ACK each way against the fixture
    /// whose admin rule denies B's replies, with D6 `--admin-stateless` as given; without
    /// its SYN where `missed_syn`, so that B's SYN+ACK opens the connection.
    fn replay_handshake(admin_stateless: bool, missed_syn: bool) -> (Tally, Heard) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let snapshot = root.join("fixtures/replay-admin-stateless/snapshot.secpath");
        let snapshot = crate::load::load_snapshot(&[snapshot]).unwrap();
        let options = Options {
            admin_stateless,
            ..Options::new()
        };
        let policy = Policy::build(snapshot, options, &ServiceTags::none()).unwrap();
        let judge = Judge::new(Arc::new(Engine::new(&policy, EngineKind::Compiled)));
        let mut tracker = ConnTracker::new(240_000, 1);
        let (mut tally, mut heard) = (Tally::default(), Heard::default());
        let file: Arc<Path> = Path::new("handshake.pcap").into();
        let request = Flow::parse("tcp 10.0.1.4:5000 -> 10.0.2.4:80").unwrap();
        let reply = reverse(&request);
        let (syn, ack) = (0x02, 0x10);
        let packets = [
            (request, syn),
            (reply, syn | ack),
            (request, ack),
            (reply, ack),
        ];
        let skip = usize::from(missed_syn);
        for (i, (flow, flags)) in packets.into_iter().enumerate().skip(skip) {
            let at = At {
                file: &file,
                position: Position::Line(i + 1),
                time: Some(i as u64),
                flow,
            };
            let info = PacketInfo {
                tcp_flags: Some(flags),
                length: 54,
                fragment: false,
            };
            let options = ReplayOptions::default();
            packet(
                &judge,
                &at,
                &info,
                &mut tracker,
                options,
                &mut tally,
                &mut heard,
            )
            .unwrap();
        }
        for c in tracker.finish() {
            ended(&mut tally, &c, &mut heard).unwrap();
        }
        (tally, heard)
    }

    /// The hits the rule of log name `name` got.
    fn hits(tally: &Tally, name: &str) -> Option<u64> {
        tally
            .hits()
            .find(|(h, _)| h.log_name() == name)
            .map(|(_, n)| n)
    }

    #[test]
    fn replies_an_admin_rule_denies_are_counted_on_their_connection_and_hit_it_once() {
        let (tally, heard) = replay_handshake(true, false);
        let allow = |rule: &str, hits| (Verdict::Allow, Some(rule.to_string()), hits);
        let deny = |hits| (Verdict::Deny, Some("DenyReplyish".to_string()), hits);
        assert_eq!(
            heard.packets,
            [
                allow("UserRule_AllowAto80", 2),
                deny(1),
                allow("UserRule_AllowAto80", 0),
                deny(0)
            ],
            "a denied reply names the admin rule; the first adds its hit"
        );
        let c = &heard.connections[0];
        assert_eq!((c.judgement.verdict, c.packets), (Verdict::Allow, 4));
        assert_eq!(c.replies_denied, 2);
        assert_eq!(
            c.reply_rule.as_ref().map(RuleHit::log_name).as_deref(),
            Some("DenyReplyish")
        );
        assert_eq!((tally.allowed, tally.denied), (2, 2));
        assert_eq!(hits(&tally, "DenyReplyish"), Some(1), "once per connection");
        assert_eq!(hits(&tally, "UserRule_AllowAto80"), Some(1));

        let (tally, heard) = replay_handshake(false, false);
        let c = &heard.connections[0];
        assert_eq!((c.replies_denied, c.reply_rule.as_ref()), (0, None));
        assert_eq!(
            (tally.allowed, tally.denied),
            (4, 0),
            "stateful: replies pass"
        );
        assert!(tally.hits().all(|(h, _)| h.log_name() != "DenyReplyish"));
    }

    #[test]
    fn a_reply_that_opens_its_connection_is_judged_by_the_admin_rules_again() {
        let (tally, heard) = replay_handshake(true, true);
        let deny = |hits| (Verdict::Deny, Some("DenyReplyish".to_string()), hits);
        let allow = (Verdict::Allow, Some("UserRule_AllowAto80".to_string()), 0);
        assert_eq!(
            heard.packets,
            [deny(3), allow, deny(0)],
            "the opening SYN+ACK adds the connection's hits and the admin rule's"
        );
        let c = &heard.connections[0];
        assert_eq!(
            (c.judgement.verdict, c.packets, c.replies, c.replies_denied),
            (Verdict::Allow, 3, 2, 2)
        );
        assert_eq!((tally.allowed, tally.denied), (1, 2));
        assert_eq!(hits(&tally, "DenyReplyish"), Some(1));
        assert_eq!(hits(&tally, "UserRule_AllowAto80"), Some(1));
    }
}
