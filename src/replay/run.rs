//! The replay loop: every record read is judged (at its logging point, or along the whole
//! path), compared with what was logged, tallied, and optionally written to `--out`.

use super::capture::PacketInfo;
use super::conntrack::{ConnTracker, Connection, Seen};
use super::flowlog::{FlowState, LoggedDecision};
use super::input::{RecordKind, ReplayRecord, SkippedRecord};
use super::judge::{agrees, Judge, Judgement};
use super::tally::{Disagreement, ReplayReport, Tally};
use crate::engine::EngineKind;
use crate::eval::{admin_deny, Pins, Verdict};
use crate::flow::Flow;
use crate::resolve::Policy;
use std::io::{self, Write};

/// How packets are judged.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Judge every packet on its own instead of tracking connections.
    pub stateless: bool,
    /// When an idle connection ends (UDP, ICMP, idle TCP), in milliseconds.
    pub idle_timeout_ms: u64,
    /// The engine that judges.
    pub engine: EngineKind,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            stateless: false,
            idle_timeout_ms: 240_000,
            engine: EngineKind::Compiled,
        }
    }
}

/// Records between two progress callbacks.
const PROGRESS_EVERY: u64 = 1 << 14;

/// Replays `records` against `policy`.
pub fn replay(
    policy: &Policy,
    records: impl Iterator<Item = Result<ReplayRecord, SkippedRecord>>,
    options: ReplayOptions,
    mut out: Option<&mut dyn Write>,
    progress: &mut dyn FnMut(u64),
) -> io::Result<ReplayReport> {
    let mut tally = Tally::new(out.is_some());
    let mut judge = Judge::new(policy, options.engine);
    let mut tracker = ConnTracker::new(options.idle_timeout_ms);
    let mut n = 0u64;
    for record in records {
        n += 1;
        if n % PROGRESS_EVERY == 0 {
            progress(n);
        }
        let line = match record {
            Err(skipped) => {
                tally.skip(&skipped.reason);
                skip_line(&skipped.source.to_string(), &skipped.reason)
            }
            Ok(rec) => match &rec.kind {
                RecordKind::FlowLog(logged) => flow_log(&mut judge, &rec, logged, &mut tally),
                RecordKind::Tuple(pins) => tuple(&judge, &rec, pins, &mut tally),
                RecordKind::Packet(_) if options.stateless => {
                    tuple(&judge, &rec, &Pins::default(), &mut tally)
                }
                RecordKind::Packet(info) => packet(&judge, &rec, info, &mut tracker, &mut tally),
            },
        };
        if let Some(w) = out.as_deref_mut() {
            if let Some(line) = line {
                writeln!(w, "{line}")?;
            }
            for c in tracker.take_finished() {
                writeln!(w, "{}", connection_line(&c))?;
            }
        }
    }
    let rest = tracker.finish();
    if let Some(w) = out {
        for c in &rest {
            writeln!(w, "{}", connection_line(c))?;
        }
        w.flush()?;
    }
    progress(n);
    Ok(tally.report(policy))
}

fn flow_log(
    judge: &mut Judge,
    rec: &ReplayRecord,
    logged: &LoggedDecision,
    tally: &mut Tally,
) -> Option<String> {
    match judge.at_logging_point(&rec.flow, logged) {
        Err(reason) => {
            tally.skip(&reason);
            skip_line(&rec.source.to_string(), &reason)
        }
        Ok(j) => {
            // C and E tuples continue a flow whose B tuple was counted.
            let continues = matches!(logged.state, Some(FlowState::Continuing | FlowState::End));
            tally.judged(&rec.flow, j.verdict, (!continues).then_some(&j));
            let agree = agrees(logged, &j);
            let secpath_rule = || j.rule.as_ref().map(|r| r.log_name());
            let logged_decision = if logged.allowed { "allow" } else { "deny" };
            tally.compared(agree, || Disagreement {
                source: rec.source.to_string(),
                flow: rec.flow.to_string(),
                logged_decision,
                logged_rule: logged.rule.to_string(),
                secpath_decision: j.verdict,
                secpath_rule: secpath_rule(),
            });
            if !tally.writing {
                return None;
            }
            let source = rec.source.to_string();
            let secpath_rule = secpath_rule();
            Some(
                serde_json::json!({
                    "source": source,
                    "flow": rec.flow.to_string(),
                    "verdict": j.verdict,
                    "rule": secpath_rule,
                    "rule_id": j.rule.as_ref().map(|r| r.id.to_string()),
                    "logged": {"decision": logged_decision, "rule": logged.rule.as_ref(), "at": logged.resource_id.as_deref()},
                    "agrees": agree,
                })
                .to_string(),
            )
        }
    }
}

fn tuple(judge: &Judge, rec: &ReplayRecord, pins: &Pins, tally: &mut Tally) -> Option<String> {
    let source = rec.source.to_string();
    match judge.whole_path(&rec.flow, pins) {
        Err(reason) => {
            tally.skip(&reason);
            skip_line(&source, &reason)
        }
        Ok(j) => {
            tally.judged(&rec.flow, j.verdict, Some(&j));
            Some(verdict_json(&source, &rec.flow, &j).to_string())
        }
    }
}

fn packet(
    judge: &Judge,
    rec: &ReplayRecord,
    info: &PacketInfo,
    tracker: &mut ConnTracker,
    tally: &mut Tally,
) -> Option<String> {
    let forward = match tracker.packet(&rec.flow, info, rec.time) {
        Seen::Belongs { connection, reply } => {
            let mut verdict = connection.judgement.verdict;
            let policy = judge.policy();
            if reply && verdict == Verdict::Allow && policy.options.admin_stateless {
                // D6: admin rules judge the reply again; the NSGs let it pass as state.
                if let Ok(Some(_)) = admin_deny(policy, &rec.flow, &Pins::default()) {
                    verdict = Verdict::Deny;
                }
            }
            tally.judged(&rec.flow, verdict, None);
            return None;
        }
        Seen::Opens { forward } => forward,
    };
    match judge.whole_path(&forward, &Pins::default()) {
        Err(reason) => {
            tally.skip(&reason);
            skip_line(&rec.source.to_string(), &reason)
        }
        Ok(j) => {
            tally.connection();
            tally.judged(&rec.flow, j.verdict, Some(&j));
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

fn skip_line(source: &str, reason: &str) -> Option<String> {
    Some(serde_json::json!({"source": source, "skipped": reason}).to_string())
}
