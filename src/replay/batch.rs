//! Replay in pieces, for engines that split the work by file and add up themselves (the
//! `secpath` Python package on Spark).
//!
//! [`read_bytes`] and [`read_path`] open one file with the same readers as `secpath replay`
//! (gzip, flow logs, captures, five-tuple files, recognised by content). A [`Replayer`] then
//! runs the replay loop of `secpath replay` ([`super::run`]) over it, file by file, into a
//! [`Tally`] of the caller's, and tells a [`Witness`] of every record (the rows of a batch
//! engine). A tally's sums, added up elsewhere into [`Totals`], give [`report`] the same
//! [`ReplayReport`] that `secpath replay` prints; [`pack_denied`] packs its denied flows to
//! travel and [`top_denied_packed`] adds packs up.
//!
//! The one difference from the command: connections of a capture are tracked within one
//! file, while the command carries them across consecutive capture files (a rotated
//! capture). Flow logs and tuple files carry no state between records, so for them the
//! rows and the totals are the command's, record for record.

use super::input::{self, FileRecords, InputFormat};
use super::judge::{Judge, RuleHit};
use super::run::{self, ReplayOptions, Witness};
use super::tally::{DeniedKey, Disagreement, ReplayReport, Tally};
use crate::engine::Engine;
use crate::eval::{Layer, Verdict};
pub use crate::evaluate::{layer_name, verdict_name};
use crate::flow::Flow;
use crate::model::ResourceId;
use crate::resolve::Policy;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// Denied flows listed in the summary, and disagreements kept for it (as `secpath replay`).
pub use super::tally::{KEEP_DISAGREEMENTS, TOP_DENIED};

/// The records of one file held in memory; `name` is what sources and messages call it.
/// Never fails: an unreadable file yields one [`super::input::SkippedRecord`] saying why.
pub fn read_bytes(name: &str, bytes: Vec<u8>, format: InputFormat) -> FileRecords {
    let size = bytes.len() as u64;
    let reader = Box::new(Cursor::new(bytes));
    input::read_sized(Arc::from(Path::new(name)), reader, format, Some(size))
}

/// The records of one file read from this machine's file system at `path` (a file Spark
/// listed on a local disk or share, read without its bytes passing through Spark), as
/// `secpath replay` reads a file; `name` is what sources and messages call it. Never fails:
/// a file that cannot be opened yields one [`super::input::SkippedRecord`] saying why, as
/// `secpath replay` reports it.
pub fn read_path(name: &str, path: &Path, format: InputFormat) -> FileRecords {
    input::open_named(Arc::from(Path::new(name)), path, format)
}

/// Replays files one at a time with the replay loop of `secpath replay`, keeping what
/// repeats from one file to the next (the logging points' compiled tables, endpoint
/// placements) in its judge.
pub struct Replayer<'p> {
    judge: Judge<'p>,
    options: ReplayOptions,
    /// The number the next connection takes (numbered across files, as by the command).
    next_connection: u64,
}

impl<'p> Replayer<'p> {
    /// A replayer judging with `engine` (compiled once, shared by every replayer: callers
    /// make one replayer per batch of files). `options.engine` is the engine's business.
    pub fn new(engine: Arc<Engine<'p>>, options: ReplayOptions) -> Replayer<'p> {
        Replayer {
            judge: Judge::new(engine),
            options,
            next_connection: 1,
        }
    }

    /// Replays one file into `tally`, telling `witness` of every record, as `secpath replay`
    /// does; its connections end with it. Fails only when `witness` does.
    pub fn replay_file(
        &mut self,
        file: FileRecords,
        tally: &mut Tally,
        witness: &mut impl Witness,
    ) -> crate::Result<()> {
        let files = std::iter::once(file);
        let first = self.next_connection;
        let (judge, options) = (&mut self.judge, self.options);
        self.next_connection =
            run::replay_unit(judge, files, options, first, tally, witness, &|_| {})?;
        Ok(())
    }
}

fn parse_layer(name: &str) -> Option<Layer> {
    Some(match name {
        "admin" => Layer::Admin,
        "nsg" => Layer::Nsg,
        "path" => Layer::Path,
        _ => return None,
    })
}

fn parse_verdict(name: &str) -> Option<Verdict> {
    Some(match name {
        "allow" => Verdict::Allow,
        "deny" => Verdict::Deny,
        "no-path" => Verdict::NoPath,
        "unknown" => Verdict::Unknown,
        _ => return None,
    })
}

/// How the summary groups a denied flow: without its source port, so that retries group.
/// Keys sort, as bytes or as their hex text, in the order `secpath replay` breaks ties in.
pub fn denied_key(flow: &Flow) -> String {
    let mut bytes = Vec::with_capacity(MAX_KEY_BYTES);
    push_key_bytes(flow, &mut bytes);
    hex(&bytes)
}

/// Lower-case hex, two digits a byte.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    text
}

/// The flow a [`denied_key`] stands for (source port absent).
pub fn denied_flow(key: &str) -> Option<Flow> {
    if key.len() % 2 != 0 || !key.is_ascii() {
        return None;
    }
    let bytes: Vec<u8> = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    flow_of_key_bytes(&bytes)
}

/// The longest binary key: protocol, two tagged IPv6 addresses, a tagged port.
const MAX_KEY_BYTES: usize = 1 + 2 * 17 + 3;

/// A denied flow's key in binary: protocol, each address tagged with its family, the
/// destination port tagged with its presence. Big-endian throughout, so that the bytes sort
/// as [`Flow`]s do.
fn push_key_bytes(flow: &Flow, bytes: &mut Vec<u8>) {
    bytes.push(flow.protocol);
    for address in [flow.src, flow.dst] {
        match address {
            IpAddr::V4(a) => {
                bytes.push(0);
                bytes.extend(a.octets());
            }
            IpAddr::V6(a) => {
                bytes.push(1);
                bytes.extend(a.octets());
            }
        }
    }
    match flow.dst_port {
        None => bytes.push(0),
        Some(p) => {
            bytes.push(1);
            bytes.extend(p.to_be_bytes());
        }
    }
}

/// The flow of a binary key; `None` unless `bytes` is exactly one key.
fn flow_of_key_bytes(bytes: &[u8]) -> Option<Flow> {
    let mut rest = bytes;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let protocol = take(1)?[0];
    let mut address = || -> Option<IpAddr> {
        Some(match take(1)?[0] {
            0 => IpAddr::from(<[u8; 4]>::try_from(take(4)?).ok()?),
            1 => IpAddr::from(<[u8; 16]>::try_from(take(16)?).ok()?),
            _ => return None,
        })
    };
    let (src, dst) = (address()?, address()?);
    let dst_port = match take(1)?[0] {
        0 => None,
        1 => Some(u16::from_be_bytes(<[u8; 2]>::try_from(take(2)?).ok()?)),
        _ => return None,
    };
    rest.is_empty().then_some(Flow {
        protocol,
        src,
        src_port: None,
        dst,
        dst_port,
    })
}

/// A task's denied-flow counts, packed to travel to whoever adds up, split into `buckets`
/// by a hash of the flow: every task puts a flow in the same bucket, so each bucket can be
/// added up on its own and yield its exact most frequent flows ([`top_denied_packed`]);
/// the most frequent of all are among the buckets' (the Spark job's exact top denied flows
/// without a row per distinct flow). Returns the non-empty buckets' packs, by bucket.
/// Flows keep their source port out of the key, as [`denied_key`]'s do.
pub fn pack_denied<'f>(
    counts: impl IntoIterator<Item = (&'f Flow, u64)>,
    buckets: u32,
) -> Vec<DeniedPack> {
    let buckets = buckets.max(1);
    let mut packs: BTreeMap<u32, DeniedPack> = BTreeMap::new();
    let mut key = Vec::with_capacity(MAX_KEY_BYTES);
    for (flow, count) in counts {
        key.clear();
        push_key_bytes(flow, &mut key);
        let bucket = (fnv1a(&key) % u64::from(buckets)) as u32;
        let pack = packs.entry(bucket).or_insert_with(|| DeniedPack {
            bucket,
            flows: 0,
            bytes: Vec::new(),
        });
        pack.flows += 1;
        pack.bytes.push(key.len() as u8);
        pack.bytes.extend_from_slice(&key);
        pack.bytes.extend(count.to_le_bytes());
    }
    packs.into_values().collect()
}

/// One bucket of a task's denied flows ([`pack_denied`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeniedPack {
    /// Which bucket.
    pub bucket: u32,
    /// Distinct flows in it.
    pub flows: u64,
    /// A run of entries: key length (one byte), the binary key, the count (eight bytes,
    /// little-endian).
    pub bytes: Vec<u8>,
}

/// FNV-1a: a hash that is the same on every machine, so that every task buckets alike.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The `k` most frequent denied flows of packs from [`pack_denied`] (one bucket's, from
/// any number of tasks), counts summed across packs; ties broken as `secpath replay` does.
/// A malformed pack is an error naming the pack and the offset.
pub fn top_denied_packed<'a>(
    packs: impl IntoIterator<Item = &'a [u8]>,
    k: usize,
) -> Result<Vec<DeniedTotal>, String> {
    let mut entries: Vec<(&[u8], u64)> = Vec::new();
    for (i, pack) in packs.into_iter().enumerate() {
        unpack(pack, &mut entries)
            .map_err(|at| format!("denied pack {i}: malformed at byte {at}"))?;
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut summed: Vec<(&[u8], u64)> = Vec::new();
    for (key, count) in entries {
        match summed.last_mut() {
            Some((last, total)) if *last == key => *total += count,
            _ => summed.push((key, count)),
        }
    }
    let order = |a: &(&[u8], u64), b: &(&[u8], u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    if summed.len() > k && k > 0 {
        summed.select_nth_unstable_by(k - 1, order);
    }
    summed.truncate(k);
    summed.sort_unstable_by(order);
    Ok(summed
        .into_iter()
        .map(|(key, count)| DeniedTotal {
            key: hex(key),
            count,
        })
        .collect())
}

/// Appends a pack's entries; on a malformed pack, the offset where it went wrong.
fn unpack<'a>(mut pack: &'a [u8], entries: &mut Vec<(&'a [u8], u64)>) -> Result<(), usize> {
    let len = pack.len();
    while let Some((&n, rest)) = pack.split_first() {
        let at = len - pack.len();
        let (key, rest) = rest.split_at_checked(usize::from(n)).ok_or(at)?;
        let (count, rest) = rest.split_first_chunk::<8>().ok_or(at)?;
        flow_of_key_bytes(key).ok_or(at)?;
        entries.push((key, u64::from_le_bytes(*count)));
        pack = rest;
    }
    Ok(())
}

/// One rule's hits, summed.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct HitTotal {
    /// The rule's ARM id.
    pub id: String,
    /// `admin` or `nsg`.
    pub layer: String,
    /// An NSG default rule.
    pub is_default: bool,
    /// Records it decided or admitted.
    pub hits: u64,
}

/// A denied flow and how often it was seen.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct DeniedTotal {
    /// Its [`denied_key`].
    pub key: String,
    /// Records.
    pub count: u64,
}

/// A disagreement, as rows carry it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct DisagreementRow {
    /// Where the record was read (`file: position`).
    pub source: String,
    /// The flow.
    pub flow: String,
    /// `allow` or `deny`, as logged.
    pub logged_decision: String,
    /// The rule as logged.
    pub logged_rule: String,
    /// secpath's verdict (`allow`, `deny`, `no-path`).
    pub secpath_decision: String,
    /// secpath's rule, spelt as the logs spell it.
    pub secpath_rule: Option<String>,
}

/// The sums a replay summary is built from, added up elsewhere (by Spark).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Records read (judged + skipped).
    pub records_read: u64,
    /// Records judged.
    pub evaluated: u64,
    /// Skips by [`crate::evaluate::reason_kind`].
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Judged allow.
    pub allowed: u64,
    /// Judged deny.
    pub denied: u64,
    /// Judged no-path.
    pub no_path: u64,
    /// Judged unknown (a plan's unknown values).
    pub unknown: u64,
    /// Connections opened.
    pub connections: u64,
    /// Hits per rule (any order).
    pub hits: Vec<HitTotal>,
    /// Denied flows: at least the [`TOP_DENIED`] most frequent (any order).
    pub denied_flows: Vec<DeniedTotal>,
    /// Flow-log tuples compared with their log.
    pub compared: u64,
    /// All disagreements.
    pub disagreements_total: u64,
    /// The first disagreements in read order (at most [`KEEP_DISAGREEMENTS`] are kept).
    pub disagreements: Vec<DisagreementRow>,
}

/// The summary `secpath replay` reports for `totals`, never-fired rules taken from `policy`:
/// the totals become a [`Tally`] again, which reports as the replay loop's does. Rows that
/// name unknown layers or verdicts, or malformed denied keys, are errors.
pub fn report(policy: &Policy, totals: Totals) -> crate::Result<ReplayReport> {
    let bad = |what: String| crate::Error::Usage(format!("replay totals: {what}"));
    let mut hits = HashMap::default();
    for h in totals.hits {
        let layer = parse_layer(&h.layer).ok_or_else(|| bad(format!("layer `{}`", h.layer)))?;
        let hit = RuleHit {
            id: ResourceId::new(&h.id),
            layer,
            is_default: h.is_default,
        };
        hits.entry(hit.id.clone()).or_insert((hit, 0)).1 += h.hits;
    }
    let mut denied_flows = HashMap::default();
    for d in totals.denied_flows {
        let flow = denied_flow(&d.key).ok_or_else(|| bad(format!("denied key `{}`", d.key)))?;
        *denied_flows.entry(DeniedKey::of(&flow)).or_default() += d.count;
    }
    let disagreements = totals
        .disagreements
        .into_iter()
        .take(KEEP_DISAGREEMENTS)
        .map(|d| disagreement(d).map_err(bad))
        .collect::<crate::Result<_>>()?;
    let tally = Tally {
        read: totals.records_read,
        evaluated: totals.evaluated,
        skipped: totals.skipped_by_reason,
        allowed: totals.allowed,
        denied: totals.denied,
        no_path: totals.no_path,
        unknown: totals.unknown,
        connections: totals.connections,
        hits,
        denied_flows,
        compared: totals.compared,
        disagreements_total: totals.disagreements_total,
        disagreements,
    };
    Ok(tally.report(policy))
}

/// A disagreement's row as the summary keeps it; what is wrong with it, if anything.
fn disagreement(d: DisagreementRow) -> Result<Disagreement, String> {
    let logged_decision = match d.logged_decision.as_str() {
        "allow" => "allow",
        "deny" => "deny",
        other => return Err(format!("logged decision `{other}`")),
    };
    let secpath_decision = parse_verdict(&d.secpath_decision)
        .ok_or_else(|| format!("verdict `{}`", d.secpath_decision))?;
    Ok(Disagreement {
        source: d.source,
        flow: d.flow,
        logged_decision,
        logged_rule: d.logged_rule,
        secpath_decision,
        secpath_rule: d.secpath_rule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineKind;
    use crate::options::Options;
    use crate::replay::conntrack::Connection;
    use crate::replay::input::Position;
    use crate::replay::run::{logged_decision, JudgedKind, JudgedRecord};
    use crate::resolve::tags::ServiceTags;
    use std::path::PathBuf;

    /// The disagreements of a file, as a batch engine keeps them.
    #[derive(Default)]
    struct Disagreements(Vec<DisagreementRow>);

    impl Witness for Disagreements {
        fn skipped(&mut self, _: &Arc<Path>, _: Position, _: &str) -> crate::Result<()> {
            Ok(())
        }

        fn judged(&mut self, r: &JudgedRecord<'_>) -> crate::Result<()> {
            if let (Some(false), JudgedKind::FlowLog(logged)) = (r.agrees, r.kind) {
                self.0.push(DisagreementRow {
                    source: r.at.source(),
                    flow: r.at.flow.to_string(),
                    logged_decision: logged_decision(logged).into(),
                    logged_rule: logged.rule.to_string(),
                    secpath_decision: verdict_name(r.verdict).into(),
                    secpath_rule: r.rule.map(RuleHit::log_name),
                });
            }
            Ok(())
        }

        fn ended(&mut self, _: &Connection) -> crate::Result<()> {
            Ok(())
        }
    }

    /// Replays each file with a replayer and a tally of its own (as a batch engine's tasks
    /// do), then adds their sums up into totals, as the engine does.
    fn totals_of(policy: &Policy, files: &[PathBuf]) -> Totals {
        let engine = Arc::new(Engine::new(policy, EngineKind::Compiled));
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
        let mut hits: BTreeMap<(String, &str, bool), u64> = BTreeMap::new();
        let mut denied: BTreeMap<String, u64> = BTreeMap::new();
        let mut kept = Disagreements::default();
        for file in files {
            let mut replayer = Replayer::new(engine.clone(), ReplayOptions::default());
            let mut tally = Tally::default();
            let bytes = std::fs::read(file).unwrap();
            let records = read_bytes(&file.to_string_lossy(), bytes, InputFormat::Auto);
            replayer
                .replay_file(records, &mut tally, &mut kept)
                .unwrap();
            for (name, n) in tally.counts() {
                *counts.entry(name).or_default() += n;
            }
            for (reason, n) in tally.skipped() {
                *skipped.entry(reason.clone()).or_default() += n;
            }
            for (h, n) in tally.hits() {
                let key = (h.id.to_string(), layer_name(h.layer), h.is_default);
                *hits.entry(key).or_default() += n;
            }
            for (flow, n) in tally.denied_flows() {
                *denied.entry(denied_key(flow)).or_default() += n;
            }
        }
        let mut t: Totals = serde_json::from_value(serde_json::json!(counts)).unwrap();
        t.skipped_by_reason = skipped;
        t.hits = hits
            .into_iter()
            .map(|((id, layer, is_default), hits)| HitTotal {
                id,
                layer: layer.into(),
                is_default,
                hits,
            })
            .collect();
        t.denied_flows = denied
            .into_iter()
            .map(|(key, count)| DeniedTotal { key, count })
            .collect();
        t.disagreements = kept.0;
        t
    }

    fn contoso() -> Policy {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let snapshot = crate::load::load_snapshot(&[root.join("rulesets/contoso")]).unwrap();
        Policy::build(snapshot, Options::new(), &ServiceTags::none()).unwrap()
    }

    #[test]
    fn totals_naming_unknown_layers_verdicts_or_keys_are_errors() {
        let policy = contoso();
        let error = |totals| report(&policy, totals).unwrap_err().to_string();
        let hit = HitTotal {
            id: "/subscriptions/s/x".into(),
            layer: "firewall".into(),
            is_default: false,
            hits: 1,
        };
        let hits = vec![hit];
        let key = "zz".to_string();
        let denied_flows = vec![DeniedTotal { key, count: 1 }];
        let row = DisagreementRow {
            source: "f: line 1".into(),
            flow: "tcp 10.0.0.1:5 -> 10.0.0.2:22".into(),
            logged_decision: "allow".into(),
            logged_rule: "r".into(),
            secpath_decision: "maybe".into(),
            secpath_rule: None,
        };
        let disagreements = vec![row];
        for (totals, what) in [
            (
                Totals {
                    hits,
                    ..Totals::default()
                },
                "layer `firewall`",
            ),
            (
                Totals {
                    denied_flows,
                    ..Totals::default()
                },
                "denied key `zz`",
            ),
            (
                Totals {
                    disagreements,
                    ..Totals::default()
                },
                "verdict `maybe`",
            ),
        ] {
            assert!(error(totals).ends_with(&format!("replay totals: {what}")));
        }
    }

    #[test]
    fn file_by_file_then_summed_is_the_replay_loops_report() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let policy = contoso();
        let files: Vec<PathBuf> = ["nsg-v2.json", "vnet-v4.json", "capture.pcap"]
            .iter()
            .map(|f| root.join("fixtures/replay-contoso").join(f))
            .chain([root.join("fixtures/replay/appended-PT1H.json")])
            .collect();
        // One unit per file, as the replayer tracks connections per file.
        let units: Vec<_> = files.iter().map(|f| vec![f.clone()]).collect();
        let expected = super::super::run::replay_units(
            &policy,
            &units,
            InputFormat::Auto,
            ReplayOptions::default(),
            None,
            &|_| {},
        )
        .unwrap();
        let got = report(&policy, totals_of(&policy, &files)).unwrap();
        let json = |r: &ReplayReport| serde_json::to_value(r).unwrap();
        assert_eq!(json(&got), json(&expected));
        assert!(expected.compared > 0 && expected.disagreements_total > 0);
        assert!(expected.connections > 0 && expected.skipped > 0);
    }

    #[test]
    fn packed_buckets_give_the_exact_top_denied_flows() {
        let flow = |i: u32, port: u16| Flow {
            protocol: 6,
            src: IpAddr::from([203, 0, (i >> 8) as u8, i as u8]),
            src_port: None,
            dst: IpAddr::from([10, 1, 1, 4]),
            dst_port: Some(port),
        };
        // Two tasks whose flows overlap, with many ties in the sums.
        let a: Vec<(Flow, u64)> = (0..300)
            .map(|i| (flow(i, 22), u64::from(i % 7 + 1)))
            .collect();
        let b: Vec<(Flow, u64)> = (100..400)
            .map(|i| (flow(i, 22), u64::from(i % 5 + 1)))
            .collect();
        let mut sums: BTreeMap<String, u64> = BTreeMap::new();
        for (f, n) in a.iter().chain(&b) {
            *sums.entry(denied_key(f)).or_default() += n;
        }
        let mut expected: Vec<(String, u64)> = sums.into_iter().collect();
        expected.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        expected.truncate(TOP_DENIED);
        for buckets in [1, 3, 16] {
            let mut by_bucket: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
            for task in [&a, &b] {
                for pack in pack_denied(task.iter().map(|(f, n)| (f, *n)), buckets) {
                    by_bucket.entry(pack.bucket).or_default().push(pack.bytes);
                }
            }
            let mut got: Vec<(String, u64)> = Vec::new();
            for packs in by_bucket.values() {
                let top = top_denied_packed(packs.iter().map(Vec::as_slice), TOP_DENIED).unwrap();
                got.extend(top.into_iter().map(|d| (d.key, d.count)));
            }
            got.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            got.truncate(TOP_DENIED);
            assert_eq!(got, expected, "{buckets} buckets");
        }
    }

    #[test]
    fn a_malformed_denied_pack_is_an_error_with_its_offset() {
        let flow = Flow::parse("icmp 10.0.0.1 -> 10.0.0.2").unwrap();
        let good = pack_denied([(&flow, 3)], 1).remove(0).bytes;
        let mut bad = good.clone();
        bad.extend([12, 6, 0]);
        let err = top_denied_packed([good.as_slice(), bad.as_slice()], 10).unwrap_err();
        let at = good.len();
        assert_eq!(err, format!("denied pack 1: malformed at byte {at}"));
        let top = top_denied_packed([good.as_slice(), good.as_slice()], 10).unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].count, 6);
    }

    #[test]
    fn denied_keys_round_trip_and_sort_as_flows() {
        let flows = [
            Flow::parse("tcp 10.0.0.1:5 -> 10.0.0.2:22").unwrap(),
            Flow::parse("tcp 10.0.0.1:5 -> 10.0.0.2:3389").unwrap(),
            Flow::parse("icmp 10.0.0.1 -> 10.0.0.2").unwrap(),
            Flow::parse("udp [2001:db8::1]:53 -> [2001:db8::3]:53").unwrap(),
            Flow::parse("udp 9.0.0.1:53 -> 10.0.0.3:53").unwrap(),
        ];
        let strip = |f: &Flow| Flow {
            src_port: None,
            ..*f
        };
        for f in &flows {
            assert_eq!(denied_flow(&denied_key(f)), Some(strip(f)));
        }
        for a in &flows {
            for b in &flows {
                assert_eq!(
                    denied_key(a).cmp(&denied_key(b)),
                    strip(a).cmp(&strip(b)),
                    "{a} vs {b}"
                );
            }
        }
        assert_eq!(denied_flow("zz"), None);
        assert_eq!(denied_flow("06"), None);
    }
}
