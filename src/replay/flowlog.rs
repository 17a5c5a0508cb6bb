//! Azure flow logs: NSG flow logs (versions 1 and 2) and VNet flow logs (version 4), turned
//! into [`RecordRef`]s that carry what Azure decided ([`Logged`], owned as [`LoggedDecision`]).
//!
//! # Formats
//! * **NSG flow logs**: `records[].properties.flows[] = {rule, flows[] = {mac, flowTuples[]}}`.
//!   A version 1 tuple has 8 fields (`time,src,dst,sport,dport,T|U,I|O,A|D`), a version 2
//!   tuple 13 (adding the flow state `B|C|E` and four packet/byte counters, empty for `B`).
//!   The version is taken from the field count; a record whose `properties.Version` disagrees
//!   has that tuple skipped. The logging point is the record's `resourceId` (the NSG), or, when
//!   a record lacks it, the `resourceId=/SUBSCRIPTIONS/...` part of the storage-account path the
//!   file was found under (`.../y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=.../PT1H.json`).
//! * **VNet flow logs**: `records[].flowRecords.flows[] = {aclID, flowGroups[] = {rule,
//!   flowTuples[]}}`, 13-field tuples with an IANA protocol number, the state `B|C|E|D` and the
//!   encryption status. There is no allow/deny column: a tuple is denied when its state is `D`
//!   or when its encryption status says the platform dropped it (`NX_SW_NOT_READY`,
//!   `NX_NOT_ACCEPTED`, `NX_NOT_SUPPORTED`; Azure logs those with rule `unspecified`). Other
//!   `flowLogVersion`s are read the same way while their tuples have 13 fields.
//! * Time stamps are Unix seconds in NSG logs and milliseconds in VNet logs, but the VNet docs
//!   show both; a value above 10^11 is taken as milliseconds (10^11 s is the year 5138, 10^11 ms
//!   is 1973).
//!
//! # Damaged and appended files
//! A JSON file is parsed whole (serde_json, borrowing the tuple strings from the file's bytes),
//! with a size cap of [`MAX_JSON_BYTES`]. Several JSON values may follow one another (blocks
//! appended to a blob, or concatenated downloads), with or without the commas Azure puts
//! between appended records. When the JSON is damaged, the reader repairs what it can and
//! reports each repair as a skip at the line and column of the damage: a trailing comma is
//! ignored and reading goes on; any other damage (truncation, garbage) ends the file there,
//! keeping every record, flow group and tuple that was complete before it. A record whose
//! shape is wrong (a number where a list belongs) is skipped alone.

use crate::flow::{address, proto, Flow};
use crate::flowfile::without_string_value;
use crate::model::Direction;
use crate::replay::input::{KindRef, NextRecord, Position, RecordRef, RecordSource, SkippedRecord};
use serde::{Deserialize, Serialize};
use serde_json::error::Category;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// The largest flow-log file read (2 GiB): JSON is parsed whole, so this bounds memory.
pub const MAX_JSON_BYTES: u64 = 2 << 30;

/// Parses of one damaged file before giving up on it (each repair is followed by a parse;
/// a cut always leaves valid JSON, so real files need two or three).
const MAX_REPAIRS: usize = 16;

/// Time stamps above this are milliseconds, below it seconds.
const MILLISECONDS_FROM: u64 = 100_000_000_000;

/// VNet flow-log encryption states in which the platform dropped the packet.
const ENCRYPTION_DROPS: [&str; 3] = ["NX_SW_NOT_READY", "NX_NOT_ACCEPTED", "NX_NOT_SUPPORTED"];

/// True for the VNet flow log encryption states that mean the packet was dropped.
pub fn is_encryption_drop(status: &str) -> bool {
    ENCRYPTION_DROPS
        .iter()
        .any(|d| d.eq_ignore_ascii_case(status))
}

/// Which flow-log format a tuple was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum LogFormat {
    /// NSG flow log version 1 (8-field tuples).
    NsgV1,
    /// NSG flow log version 2 (13-field tuples with state and counters).
    NsgV2,
    /// VNet flow log version 4.
    VnetV4,
}

/// A flow-log flow state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum FlowState {
    /// `B`: the flow began (no counters).
    Begin,
    /// `C`: the flow goes on (counters since the last tuple).
    Continuing,
    /// `E`: the flow ended.
    End,
    /// `D`: denied (VNet flow logs only).
    Denied,
}

/// What a flow-log tuple says Azure did, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedDecision {
    /// The format the tuple was written in.
    pub format: LogFormat,
    /// The logging point: the NSG for NSG flow logs (record `resourceId`, or the storage
    /// path's), the VNet, subnet or NIC for VNet flow logs (`targetResourceID`). Shared between
    /// the tuples of a record, hence `Arc`.
    pub resource_id: Option<Arc<str>>,
    /// VNet flow logs: the NSG or network manager that evaluated the flow (`aclID`).
    pub acl_id: Option<Arc<str>>,
    /// The NIC's MAC address as logged (group `mac`, else record `macAddress`, else the
    /// storage path's `macAddress=`).
    pub mac: Option<Arc<str>>,
    /// The rule as logged: `DefaultRule_DenyAllInBound`, `UserRule_x`, a bare security admin
    /// rule name, `unspecified`; empty when the group has no `rule`.
    pub rule: Arc<str>,
    /// `I` is inbound, `O` outbound.
    pub direction: Direction,
    /// NSG: decision `A`. VNet: state is not `D` and the encryption status is not a drop.
    pub allowed: bool,
    /// The flow state (NSG version 2 and VNet).
    pub state: Option<FlowState>,
    /// The VNet encryption status (`X`, `NX`, `NX_NOT_ACCEPTED`, ...).
    pub encryption: Option<Arc<str>>,
    /// Packets and bytes source→destination, then destination→source, when logged.
    pub packets_bytes: Option<[u64; 4]>,
}

/// A [`LoggedDecision`] that borrows what a tuple shares with its group (the resource id,
/// the rule, the MAC) and its encryption status from the file's text: the replay loop reads
/// millions of tuples this way without counting references or allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Logged<'a> {
    /// See [`LoggedDecision::format`].
    pub format: LogFormat,
    /// See [`LoggedDecision::resource_id`].
    pub resource_id: Option<&'a Arc<str>>,
    /// See [`LoggedDecision::acl_id`].
    pub acl_id: Option<&'a Arc<str>>,
    /// See [`LoggedDecision::mac`].
    pub mac: Option<&'a Arc<str>>,
    /// See [`LoggedDecision::rule`].
    pub rule: &'a Arc<str>,
    /// See [`LoggedDecision::direction`].
    pub direction: Direction,
    /// See [`LoggedDecision::allowed`].
    pub allowed: bool,
    /// See [`LoggedDecision::state`].
    pub state: Option<FlowState>,
    /// See [`LoggedDecision::encryption`].
    pub encryption: Option<&'a str>,
    /// See [`LoggedDecision::packets_bytes`].
    pub packets_bytes: Option<[u64; 4]>,
}

impl Logged<'_> {
    /// The owned decision.
    pub fn to_owned(&self) -> LoggedDecision {
        LoggedDecision {
            format: self.format,
            resource_id: self.resource_id.cloned(),
            acl_id: self.acl_id.cloned(),
            mac: self.mac.cloned(),
            rule: self.rule.clone(),
            direction: self.direction,
            allowed: self.allowed,
            state: self.state,
            encryption: self.encryption.map(Arc::from),
            packets_bytes: self.packets_bytes,
        }
    }
}

impl LoggedDecision {
    /// This decision, borrowed.
    pub fn as_logged(&self) -> Logged<'_> {
        Logged {
            format: self.format,
            resource_id: self.resource_id.as_ref(),
            acl_id: self.acl_id.as_ref(),
            mac: self.mac.as_ref(),
            rule: &self.rule,
            direction: self.direction,
            allowed: self.allowed,
            state: self.state,
            encryption: self.encryption.as_deref(),
            packets_bytes: self.packets_bytes,
        }
    }
}

/// Which flow-log records an input may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Both kinds, each recognised by its shape.
    Any,
    /// NSG flow logs only; VNet records are skipped.
    Nsg,
    /// VNet flow logs only; NSG records are skipped.
    Vnet,
}

// The JSON shapes. `S` is `&str` on the fast path (tuples borrowed from the file) and
// `String` on the slow path that isolates malformed records through `serde_json::Value`.
// `T`, a tuple, is `&str` on the fast path too; on the slow path it is a [`SlowTuple`], which
// takes any JSON value, so that one tuple that is not a string is skipped alone rather than
// with its record.

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>, T: Deserialize<'de>"))]
struct RecordIn<S, T> {
    records: Option<Vec<RecordIn<S, T>>>,
    #[serde(rename = "resourceId")]
    resource_id: Option<S>,
    #[serde(rename = "macAddress")]
    mac_address: Option<S>,
    #[serde(rename = "targetResourceID")]
    target_resource_id: Option<S>,
    properties: Option<NsgPropertiesIn<S, T>>,
    #[serde(rename = "flowRecords")]
    flow_records: Option<VnetRecordsIn<S, T>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>, T: Deserialize<'de>"))]
struct NsgPropertiesIn<S, T> {
    #[serde(rename = "Version", alias = "version")]
    version: Option<u64>,
    flows: Vec<NsgRuleIn<S, T>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>, T: Deserialize<'de>"))]
struct NsgRuleIn<S, T> {
    rule: Option<S>,
    flows: Vec<NsgMacIn<S, T>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>, T: Deserialize<'de>"))]
struct NsgMacIn<S, T> {
    mac: Option<S>,
    #[serde(rename = "flowTuples")]
    flow_tuples: Vec<T>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>, T: Deserialize<'de>"))]
struct VnetRecordsIn<S, T> {
    flows: Vec<VnetAclIn<S, T>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>, T: Deserialize<'de>"))]
struct VnetAclIn<S, T> {
    #[serde(rename = "aclID")]
    acl_id: Option<S>,
    #[serde(rename = "flowGroups")]
    flow_groups: Vec<VnetGroupIn<S, T>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>, T: Deserialize<'de>"))]
struct VnetGroupIn<S, T> {
    rule: Option<S>,
    #[serde(rename = "flowTuples")]
    flow_tuples: Vec<T>,
}

/// A tuple as the slow path reads it: its text, or what JSON value stood in its place.
enum SlowTuple {
    Text(String),
    Not(&'static str),
}

impl<'de> Deserialize<'de> for SlowTuple {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SlowTuple, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(text) => SlowTuple::Text(text),
            Value::Null => SlowTuple::Not("null"),
            Value::Bool(_) => SlowTuple::Not("a boolean"),
            Value::Number(_) => SlowTuple::Not("a number"),
            Value::Array(_) => SlowTuple::Not("an array"),
            Value::Object(_) => SlowTuple::Not("an object"),
        })
    }
}

/// A tuple of either path: its text, or the kind of value found instead.
trait TupleIn {
    fn text(&self) -> Result<&str, &'static str>;
}

impl TupleIn for &str {
    fn text(&self) -> Result<&str, &'static str> {
        Ok(self)
    }
}

impl TupleIn for SlowTuple {
    fn text(&self) -> Result<&str, &'static str> {
        match self {
            SlowTuple::Text(text) => Ok(text),
            SlowTuple::Not(kind) => Err(kind),
        }
    }
}

/// A tuple's text: a span of the file's bytes, or (slow path, escaped strings) its own copy;
/// or, where the file has another JSON value, that value's kind.
enum Text {
    Span(Range<usize>),
    Owned(Box<str>),
    Not(&'static str),
}

#[derive(Clone, Copy)]
enum Layout {
    Nsg { version: Option<u64> },
    Vnet,
}

/// The tuples of one `flows[].flows[]` (NSG) or `flowGroups[]` (VNet) entry.
struct Group {
    document: u32,
    record: u32,
    flow: u32,
    group: u32,
    layout: Layout,
    resource_id: Option<Arc<str>>,
    acl_id: Option<Arc<str>>,
    mac: Option<Arc<str>>,
    rule: Arc<str>,
    tuples: Vec<Text>,
}

enum Entry {
    Group(Group),
    Skip(Position, String),
}

/// What the file's path says (storage-account layout), and what the user asked for.
struct Context {
    expect: Expect,
    path_resource_id: Option<Arc<str>>,
    path_mac: Option<Arc<str>>,
}

impl Context {
    fn new(file: &Path, expect: Expect) -> Context {
        let path = file.to_string_lossy();
        let after = |key: &str| path.find(key).map(|i| &path[i + key.len()..]);
        let path_resource_id = after("resourceId=")
            .and_then(|rest| rest.find("/y=").map(|end| &rest[..end]))
            .filter(|id| id.starts_with('/') && id.len() > 1)
            .map(Arc::from);
        let path_mac = after("macAddress=")
            .map(|rest| rest.split('/').next().unwrap_or(rest))
            .filter(|mac| !mac.is_empty())
            .map(Arc::from);
        Context {
            expect,
            path_resource_id,
            path_mac,
        }
    }
}

/// The records of one flow-log file.
pub struct FlowLogRecords {
    file: Arc<Path>,
    bytes: Vec<u8>,
    entries: VecDeque<Entry>,
    next_tuple: usize,
}

impl FlowLogRecords {
    /// Parses a whole flow-log file (`bytes`); `file` names it in messages and may carry the
    /// storage-account layout. Damage is reported as skips (see the module doc).
    pub fn parse(file: Arc<Path>, mut bytes: Vec<u8>, expect: Expect) -> FlowLogRecords {
        let context = Context::new(&file, expect);
        let entries = index(&mut bytes, &context);
        FlowLogRecords {
            file,
            bytes,
            entries: entries.into(),
            next_tuple: 0,
        }
    }
}

impl NextRecord for FlowLogRecords {
    /// The next tuple (or skip), borrowing from the file and its group (see [`Logged`]).
    fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, SkippedRecord>> {
        loop {
            match self.entries.front()? {
                Entry::Group(group) if self.next_tuple < group.tuples.len() => break,
                Entry::Group(_) => {
                    self.entries.pop_front();
                    self.next_tuple = 0;
                }
                Entry::Skip(..) => {
                    if let Some(Entry::Skip(position, reason)) = self.entries.pop_front() {
                        return Some(Err(SkippedRecord {
                            source: RecordSource {
                                file: self.file.clone(),
                                position,
                            },
                            reason,
                        }));
                    }
                }
            }
        }
        let i = self.next_tuple;
        self.next_tuple += 1;
        let Some(Entry::Group(group)) = self.entries.front() else {
            return None;
        };
        Some(decode_tuple(&self.file, &self.bytes, group, i))
    }
}

/// Parses the file, repairing damage, into groups of tuples and skips.
fn index(bytes: &mut Vec<u8>, context: &Context) -> Vec<Entry> {
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes[..3].fill(b' ');
    }
    // (byte offset, skip) for each repair, so a later cut can drop those past it.
    let mut damages: Vec<(usize, Entry)> = Vec::new();
    let mut typed = true;
    let mut commas_blanked = false;
    let mut last_error = None;
    for _ in 0..MAX_REPAIRS {
        let attempt = if typed {
            index_typed(bytes, context)
        } else {
            index_values(bytes, context)
        };
        let error = match attempt {
            Ok(mut entries) => {
                entries.extend(damages.into_iter().map(|(_, skip)| skip));
                return entries;
            }
            Err(error) => error,
        };
        let repaired = match error.classify() {
            Category::Data if typed => {
                typed = false;
                true
            }
            Category::Syntax | Category::Eof if !commas_blanked => {
                commas_blanked = true;
                blank_stray_commas(bytes, &mut damages);
                true
            }
            Category::Syntax | Category::Eof => cut(bytes, &error, &mut damages),
            Category::Data | Category::Io => false,
        };
        last_error = Some(error);
        if !repaired {
            break;
        }
    }
    let why = last_error.map_or_else(String::new, |e| message_of(&e));
    vec![Entry::Skip(
        Position::File,
        format!("malformed JSON that could not be repaired: {why}"),
    )]
}

fn index_typed(bytes: &[u8], context: &Context) -> Result<Vec<Entry>, serde_json::Error> {
    let mut indexer = Indexer::new(bytes, context);
    let values = serde_json::Deserializer::from_slice(bytes).into_iter::<RecordIn<&str, &str>>();
    for (document, value) in values.enumerate() {
        indexer.start_document(document);
        indexer.typed(value?);
    }
    Ok(indexer.entries)
}

fn index_values(bytes: &[u8], context: &Context) -> Result<Vec<Entry>, serde_json::Error> {
    let mut indexer = Indexer::new(bytes, context);
    let values = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    for (document, value) in values.enumerate() {
        indexer.start_document(document);
        indexer.value(value?);
    }
    Ok(indexer.entries)
}

struct Indexer<'a> {
    bytes: &'a [u8],
    context: &'a Context,
    entries: Vec<Entry>,
    document: u32,
    records: u32,
}

fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl<'a> Indexer<'a> {
    fn new(bytes: &'a [u8], context: &'a Context) -> Indexer<'a> {
        Indexer {
            bytes,
            context,
            entries: Vec::new(),
            document: 0,
            records: 0,
        }
    }

    fn start_document(&mut self, document: usize) {
        self.document = index_u32(document);
        self.records = 0;
    }

    fn next_record(&mut self) -> Position {
        let record = self.records;
        self.records = self.records.saturating_add(1);
        Position::Record {
            document: self.document,
            record,
        }
    }

    fn skip(&mut self, position: Position, reason: impl Into<String>) {
        self.entries.push(Entry::Skip(position, reason.into()));
    }

    /// A record from the fast path; `records` nested in it (the docs' version 1 sample nests
    /// a `records` array inside a record) are read first.
    fn typed(&mut self, mut record: RecordIn<&str, &str>) {
        let nested = record.records.take();
        let is_record = record.properties.is_some() || record.flow_records.is_some();
        if let Some(nested) = nested {
            for child in nested {
                self.typed(child);
            }
            if !is_record {
                return;
            }
        }
        let position = self.next_record();
        self.record(position, record);
    }

    /// A value from the slow path: a record, a document holding `records`, or an array of them.
    fn value(&mut self, value: Value) {
        match value {
            Value::Array(items) => items.into_iter().for_each(|item| self.value(item)),
            Value::Object(mut map) => {
                let nested = map.remove("records");
                let is_record = map.contains_key("properties") || map.contains_key("flowRecords");
                let had_nested = nested.is_some();
                if let Some(nested) = nested {
                    self.value(nested);
                }
                if had_nested && !is_record {
                    return;
                }
                let position = self.next_record();
                // Through serde_path_to_error, so that the reason names the field in the
                // record (`properties.Version`), not only the record.
                match serde_path_to_error::deserialize::<_, RecordIn<String, SlowTuple>>(
                    Value::Object(map),
                ) {
                    Ok(record) => self.record(position, record),
                    Err(e) => {
                        let message = e.inner().to_string();
                        let message = without_string_value(&message);
                        let reason = format!("malformed flow-log record: {}: {message}", e.path());
                        self.skip(position, reason)
                    }
                }
            }
            other => {
                let position = self.next_record();
                let kind = match other {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    _ => "a string",
                };
                self.skip(
                    position,
                    format!("malformed flow-log record: {kind} where a record belongs"),
                );
            }
        }
    }

    fn tuple(&self, t: &impl TupleIn) -> Text {
        t.text().map_or_else(Text::Not, |s| self.text(s))
    }

    fn text(&self, s: &str) -> Text {
        let base = self.bytes.as_ptr() as usize;
        let start = s.as_ptr() as usize;
        if start >= base && start + s.len() <= base + self.bytes.len() {
            Text::Span(start - base..start - base + s.len())
        } else {
            Text::Owned(s.into())
        }
    }

    fn record<S: AsRef<str>, T: TupleIn>(&mut self, position: Position, record: RecordIn<S, T>) {
        let Position::Record {
            document,
            record: index,
        } = position
        else {
            return;
        };
        if record.properties.is_none() && record.flow_records.is_none() {
            self.skip(
                position,
                "record has neither properties.flows (NSG flow log) nor flowRecords (VNet flow log)",
            );
            return;
        }
        let arc = |s: &S| Arc::<str>::from(s.as_ref());
        let record_mac = record
            .mac_address
            .as_ref()
            .map(arc)
            .or_else(|| self.context.path_mac.clone());
        if let Some(properties) = record.properties {
            if self.context.expect == Expect::Vnet {
                self.skip(
                    position,
                    "NSG flow-log record in an input read as VNet flow logs",
                );
            } else {
                let resource_id = record
                    .resource_id
                    .as_ref()
                    .map(arc)
                    .or_else(|| self.context.path_resource_id.clone());
                let layout = Layout::Nsg {
                    version: properties.version,
                };
                for (flow, rule) in properties.flows.into_iter().enumerate() {
                    let rule_name: Arc<str> = rule.rule.as_ref().map_or_else(|| "".into(), arc);
                    for (group, macs) in rule.flows.into_iter().enumerate() {
                        let tuples = macs.flow_tuples.iter().map(|t| self.tuple(t));
                        let group = Group {
                            document,
                            record: index,
                            flow: index_u32(flow),
                            group: index_u32(group),
                            layout,
                            resource_id: resource_id.clone(),
                            acl_id: None,
                            mac: macs.mac.as_ref().map(arc).or_else(|| record_mac.clone()),
                            rule: rule_name.clone(),
                            tuples: tuples.collect(),
                        };
                        self.entries.push(Entry::Group(group));
                    }
                }
            }
        }
        if let Some(flow_records) = record.flow_records {
            if self.context.expect == Expect::Nsg {
                self.skip(
                    position,
                    "VNet flow-log record in an input read as NSG flow logs",
                );
                return;
            }
            let resource_id = record.target_resource_id.as_ref().map(arc);
            for (flow, acl) in flow_records.flows.into_iter().enumerate() {
                let acl_id = acl.acl_id.as_ref().map(arc);
                for (group, rules) in acl.flow_groups.into_iter().enumerate() {
                    let tuples = rules.flow_tuples.iter().map(|t| self.tuple(t));
                    let group = Group {
                        document,
                        record: index,
                        flow: index_u32(flow),
                        group: index_u32(group),
                        layout: Layout::Vnet,
                        resource_id: resource_id.clone(),
                        acl_id: acl_id.clone(),
                        mac: record_mac.clone(),
                        rule: rules.rule.as_ref().map_or_else(|| "".into(), arc),
                        tuples: tuples.collect(),
                    };
                    self.entries.push(Entry::Group(group));
                }
            }
        }
    }
}

/// serde_json's message without its " at line L column C" tail (positions are reported apart).
fn message_of(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The byte offset of serde_json's (1-based) line and column.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    if line > 1 {
        let newline = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1);
        start = newline.unwrap_or(bytes.len());
    }
    (start + column.saturating_sub(1)).min(bytes.len())
}

/// The 1-based line and column of a byte offset.
fn line_column(bytes: &[u8], offset: usize) -> Position {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    Position::Json {
        line,
        column: before.len() - line_start + 1,
    }
}

/// Blanks the commas JSON does not allow, in one string-aware pass: a comma before a closing
/// bracket (damage, reported; nothing is lost) and a comma between top-level values (how
/// blocks appended to a blob are joined; not damage). Blanking keeps every byte where it was,
/// so positions and tuple spans stay those of the original file.
fn blank_stray_commas(bytes: &mut [u8], damages: &mut Vec<(usize, Entry)>) {
    let mut depth = 0usize;
    let mut comma = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                comma = None;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                comma = None;
                depth += 1;
            }
            b'}' | b']' => {
                if let Some(at) = comma.take() {
                    bytes[at] = b' ';
                    let reason = "malformed JSON: trailing comma (ignored; reading went on)";
                    damages.push((at, Entry::Skip(line_column(bytes, at), reason.into())));
                }
                depth = depth.saturating_sub(1);
            }
            b',' if depth == 0 => bytes[i] = b' ',
            b',' => comma = Some(i),
            b if b.is_ascii_whitespace() => {}
            _ => comma = None,
        }
        i += 1;
    }
}

/// Cuts the file at the damage `error` points at, keeping every complete value before it and
/// closing the brackets still open; false when that changes nothing.
fn cut(bytes: &mut Vec<u8>, error: &serde_json::Error, damages: &mut Vec<(usize, Entry)>) -> bool {
    let at = if error.classify() == Category::Eof {
        bytes.len()
    } else {
        offset_of(bytes, error.line(), error.column())
    };
    let scan = scan_prefix(&bytes[..at]);
    let mut repaired = bytes[..scan.safe].to_vec();
    repaired.extend(scan.closers.iter().rev());
    if repaired == *bytes {
        return false;
    }
    damages.retain(|(offset, _)| *offset < scan.safe);
    let reason = format!(
        "malformed JSON: {}; the rest of the file is lost",
        message_of(error)
    );
    damages.push((at, Entry::Skip(line_column(bytes, at), reason)));
    *bytes = repaired;
    true
}

/// Where a JSON prefix can be cut and closed: `safe` is the end of the last complete value,
/// member or opening bracket, `closers` the brackets still open there, innermost last.
struct Scan {
    safe: usize,
    closers: Vec<u8>,
}

/// Scans a prefix that serde_json accepted up to its end. Tokens that touch the end are
/// incomplete (a number may go on, a string is unterminated).
fn scan_prefix(text: &[u8]) -> Scan {
    // (closer, an object's next string is a key)
    let mut stack: Vec<(u8, bool)> = Vec::new();
    let mut safe = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' => {
                stack.push((b'}', true));
                i += 1;
                safe = i;
            }
            b'[' => {
                stack.push((b']', false));
                i += 1;
                safe = i;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
                safe = i;
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.1 = top.0 == b'}';
                }
                i += 1;
            }
            b'"' => {
                let mut j = i + 1;
                loop {
                    match text.get(j) {
                        None => {
                            return Scan {
                                safe,
                                closers: stack.iter().map(|f| f.0).collect(),
                            }
                        }
                        Some(b'\\') => j += 2,
                        Some(b'"') => break,
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
                match stack.last_mut() {
                    Some(top) if top.1 => top.1 = false, // a key, not a value
                    _ => safe = i,
                }
            }
            b if b.is_ascii_whitespace() || b == b':' => i += 1,
            _ => {
                let end = text[i..]
                    .iter()
                    .position(|b| b",:[]{}\"".contains(b) || b.is_ascii_whitespace());
                match end {
                    Some(n) => {
                        i += n;
                        safe = i;
                    }
                    None => break,
                }
            }
        }
    }
    Scan {
        safe,
        closers: stack.iter().map(|f| f.0).collect(),
    }
}

fn decode_tuple<'a>(
    file: &'a Arc<Path>,
    bytes: &'a [u8],
    group: &'a Group,
    i: usize,
) -> Result<RecordRef<'a>, SkippedRecord> {
    let position = Position::Tuple {
        document: group.document,
        record: group.record,
        flow: group.flow,
        group: group.group,
        tuple: index_u32(i),
        layout: match group.layout {
            Layout::Nsg { .. } => LogFormat::NsgV2,
            Layout::Vnet => LogFormat::VnetV4,
        },
    };
    // Spans were cut from strings serde_json validated, so the bytes are UTF-8 text; the
    // fields are parsed as ASCII without validating it again.
    let parsed = match group.tuples.get(i) {
        Some(Text::Span(span)) => bytes
            .get(span.clone())
            .map_or(Err(Cow::Borrowed("tuple text is not readable")), |text| {
                parse_tuple(text, group)
            }),
        Some(Text::Owned(text)) => parse_tuple(text.as_bytes(), group),
        Some(Text::Not(kind)) => Err(Cow::Owned(format!(
            "a flow tuple is a string of comma-separated fields, not {kind}"
        ))),
        None => Err(Cow::Borrowed("tuple text is not readable")),
    };
    match parsed {
        Ok((time, flow, logged)) => Ok(RecordRef {
            file,
            position,
            time: Some(time),
            flow,
            kind: KindRef::FlowLog(logged),
        }),
        Err(reason) => Err(SkippedRecord {
            source: RecordSource {
                file: file.clone(),
                position,
            },
            reason: reason.into_owned(),
        }),
    }
}

type Reason = Cow<'static, str>;

/// Shortens a logged value quoted in a reason, so hostile input cannot make reasons huge.
fn clip(field: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(&field[..field.len().min(16)])
}

/// Splits a tuple at its commas into at most 13 trimmed fields, and counts them all.
fn split_fields(text: &[u8]) -> ([&[u8]; 13], usize) {
    let mut fields: [&[u8]; 13] = [&[]; 13];
    let mut n = 0;
    let mut start = 0;
    for (i, b) in text.iter().enumerate() {
        if *b == b',' {
            if let Some(slot) = fields.get_mut(n) {
                *slot = text[start..i].trim_ascii();
            }
            n += 1;
            start = i + 1;
        }
    }
    if let Some(slot) = fields.get_mut(n) {
        *slot = text[start..].trim_ascii();
    }
    (fields, n + 1)
}

/// An unsigned decimal number (no sign, no spaces, at most 20 digits).
fn decimal(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 20 {
        return None;
    }
    field.iter().try_fold(0u64, |n, b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn parse_tuple<'a>(text: &'a [u8], group: &'a Group) -> Result<(u64, Flow, Logged<'a>), Reason> {
    let (f, n) = split_fields(text);
    let format = match (group.layout, n) {
        (
            Layout::Nsg {
                version: None | Some(1),
            },
            8,
        ) => LogFormat::NsgV1,
        (
            Layout::Nsg {
                version: None | Some(2),
            },
            13,
        ) => LogFormat::NsgV2,
        (Layout::Nsg { version: Some(v) }, 8 | 13) => {
            return Err(format!("{n}-field tuple in a record that says Version {v}").into())
        }
        (Layout::Nsg { .. }, _) => {
            return Err(format!(
                "{n}-field NSG flow-log tuple (version 1 has 8 fields, version 2 has 13)"
            )
            .into())
        }
        (Layout::Vnet, 13) => LogFormat::VnetV4,
        (Layout::Vnet, _) => {
            return Err(format!("{n}-field VNet flow-log tuple (version 4 has 13 fields)").into())
        }
    };
    let time = decimal(f[0]).ok_or("bad time stamp (expected Unix seconds or milliseconds)")?;
    let time = if time > MILLISECONDS_FROM {
        time
    } else {
        time * 1000
    };
    let src = address(f[1]).ok_or("bad source address (expected IPv4 or IPv6)")?;
    let dst = address(f[2]).ok_or("bad destination address (expected IPv4 or IPv6)")?;
    if src.is_ipv4() != dst.is_ipv4() {
        return Err("source and destination are of different IP versions".into());
    }
    let protocol = match format {
        LogFormat::NsgV1 | LogFormat::NsgV2 => match f[5] {
            b"T" => proto::TCP,
            b"U" => proto::UDP,
            other => {
                return Err(format!(
                    "unknown protocol `{}` (NSG flow logs use T and U)",
                    clip(other)
                )
                .into())
            }
        },
        LogFormat::VnetV4 => decimal(f[5])
            .and_then(|p| u8::try_from(p).ok())
            .ok_or("bad protocol number (expected 0-255)")?,
    };
    let (src_port, dst_port) = if Flow::has_ports(protocol) {
        let port = |field: &[u8], reason: &'static str| {
            decimal(field)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or(reason)
        };
        (
            Some(port(f[3], "bad source port (expected 0-65535)")?),
            Some(port(f[4], "bad destination port (expected 0-65535)")?),
        )
    } else {
        (None, None)
    };
    let direction = match f[6] {
        b"I" => Direction::Inbound,
        b"O" => Direction::Outbound,
        _ => return Err("bad direction (expected I or O)".into()),
    };
    let decision = |field: &[u8]| match field {
        b"A" => Ok(true),
        b"D" => Ok(false),
        _ => Err("bad decision (expected A or D)"),
    };
    let state = |field: &[u8], vnet: bool| match field {
        b"B" => Ok(FlowState::Begin),
        b"C" => Ok(FlowState::Continuing),
        b"E" => Ok(FlowState::End),
        b"D" if vnet => Ok(FlowState::Denied),
        _ if vnet => Err("bad flow state (expected B, C, E or D)"),
        _ => Err("bad flow state (expected B, C or E)"),
    };
    let (allowed, state, encryption, packets_bytes) = match format {
        LogFormat::NsgV1 => (decision(f[7])?, None, None, None),
        LogFormat::NsgV2 => (
            decision(f[7])?,
            Some(state(f[8], false)?),
            None,
            counters(&f[9..13])?,
        ),
        LogFormat::VnetV4 => {
            let state = state(f[7], true)?;
            let status = std::str::from_utf8(f[8]).map_err(|_| "bad encryption status")?;
            let encryption = (!status.is_empty()).then_some(status);
            let dropped = is_encryption_drop(status);
            (
                state != FlowState::Denied && !dropped,
                Some(state),
                encryption,
                counters(&f[9..13])?,
            )
        }
    };
    let flow = Flow {
        protocol,
        src,
        src_port,
        dst,
        dst_port,
    };
    let decision = Logged {
        format,
        resource_id: group.resource_id.as_ref(),
        acl_id: group.acl_id.as_ref(),
        mac: group.mac.as_ref(),
        rule: &group.rule,
        direction,
        allowed,
        state,
        encryption,
        packets_bytes,
    };
    Ok((time, flow, decision))
}

/// The four counters: all empty is "not logged", all numbers is a value, anything else bad.
fn counters(fields: &[&[u8]]) -> Result<Option<[u64; 4]>, &'static str> {
    if fields.iter().all(|f| f.is_empty()) {
        return Ok(None);
    }
    let mut out = [0; 4];
    for (slot, field) in out.iter_mut().zip(fields) {
        *slot = decimal(field)
            .ok_or("bad packet or byte count (expected four numbers, or four empty fields)")?;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::input::{RecordKind, ReplayRecord};

    /// Every record of `file`, owned.
    fn owned(mut file: FlowLogRecords) -> Vec<Result<ReplayRecord, SkippedRecord>> {
        std::iter::from_fn(|| Some(file.next_ref()?.map(RecordRef::into_owned))).collect()
    }

    fn records(name: &str, json: &str, expect: Expect) -> Vec<Result<ReplayRecord, SkippedRecord>> {
        owned(FlowLogRecords::parse(
            Arc::from(Path::new(name)),
            json.as_bytes().to_vec(),
            expect,
        ))
    }

    fn decision(r: &Result<ReplayRecord, SkippedRecord>) -> &LoggedDecision {
        match r {
            Ok(ReplayRecord {
                kind: RecordKind::FlowLog(d),
                ..
            }) => d,
            other => panic!("not a flow-log tuple: {other:?}"),
        }
    }

    /// One line per item: the tuple's flow and decision, or the skip.
    fn lines(items: &[Result<ReplayRecord, SkippedRecord>]) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                Ok(r) => {
                    let d = decision(item);
                    format!(
                        "{} {} {} {} {}",
                        r.source.position,
                        r.flow,
                        d.rule,
                        if d.allowed { "allow" } else { "deny" },
                        r.time.unwrap_or_default()
                    )
                }
                Err(s) => format!("skip {}: {}", s.source.position, s.reason),
            })
            .collect()
    }

    fn nsg(tuples: &[&str]) -> String {
        let quoted: Vec<String> = tuples.iter().map(|t| format!("\"{t}\"")).collect();
        format!(
            r#"{{"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","properties":{{"Version":2,"flows":[{{"rule":"UserRule_web","flows":[{{"mac":"000D3A000001","flowTuples":[{}]}}]}}]}}}}"#,
            quoted.join(",")
        )
    }

    #[test]
    fn nsg_version_2_tuples_and_every_skip_reason() {
        let json = format!(
            "{{\"records\":[{}]}}",
            nsg(&[
                "1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,",
                "1542110379,10.5.16.4,13.67.143.115,44931,443,T,O,A,C,30,16978,24,14008",
                "1542110379,2001:db8::1,2001:db8::2,1,2,T,O,A,E,1,2,3,4",
                "x,10.0.0.1,10.0.0.2,1,2,T,I,A,B,,,,",
                "1,10.0.0.300,10.0.0.2,1,2,T,I,A,B,,,,",
                "1,10.0.0.1,nope,1,2,T,I,A,B,,,,",
                "1,10.0.0.1,2001:db8::2,1,2,T,I,A,B,,,,",
                "1,10.0.0.1,10.0.0.2,70000,2,T,I,A,B,,,,",
                "1,10.0.0.1,10.0.0.2,1,-2,U,I,A,B,,,,",
                "1,10.0.0.1,10.0.0.2,1,2,I,I,A,B,,,,",
                "1,10.0.0.1,10.0.0.2,1,2,T,X,A,B,,,,",
                "1,10.0.0.1,10.0.0.2,1,2,T,I,Y,B,,,,",
                "1,10.0.0.1,10.0.0.2,1,2,T,I,A,D,,,,",
                "1,10.0.0.1,10.0.0.2,1,2,T,I,A,E,1,,3,4",
                "1,10.0.0.1,10.0.0.2,1,2,T,I,A",
                "1,10.0.0.1,10.0.0.2,1,2,T,I,A,B",
            ])
        );
        let items = records("f.json", &json, Expect::Any);
        let t = |i: usize| format!("records[0].properties.flows[0].flows[0].flowTuples[{i}]");
        assert_eq!(
            lines(&items),
            [
                format!(
                    "{} udp 94.102.49.190:28746 -> 10.5.16.4:443 UserRule_web deny 1542110402000",
                    t(0)
                ),
                format!(
                    "{} tcp 10.5.16.4:44931 -> 13.67.143.115:443 UserRule_web allow 1542110379000",
                    t(1)
                ),
                format!(
                    "{} tcp [2001:db8::1]:1 -> [2001:db8::2]:2 UserRule_web allow 1542110379000",
                    t(2)
                ),
                format!("skip {}: bad time stamp (expected Unix seconds or milliseconds)", t(3)),
                format!("skip {}: bad source address (expected IPv4 or IPv6)", t(4)),
                format!("skip {}: bad destination address (expected IPv4 or IPv6)", t(5)),
                format!(
                    "skip {}: source and destination are of different IP versions",
                    t(6)
                ),
                format!("skip {}: bad source port (expected 0-65535)", t(7)),
                format!("skip {}: bad destination port (expected 0-65535)", t(8)),
                format!(
                    "skip {}: unknown protocol `I` (NSG flow logs use T and U)",
                    t(9)
                ),
                format!("skip {}: bad direction (expected I or O)", t(10)),
                format!("skip {}: bad decision (expected A or D)", t(11)),
                format!("skip {}: bad flow state (expected B, C or E)", t(12)),
                format!("skip {}: bad packet or byte count (expected four numbers, or four empty fields)", t(13)),
                format!(
                    "skip {}: 8-field tuple in a record that says Version 2",
                    t(14)
                ),
                format!(
                    "skip {}: 9-field NSG flow-log tuple (version 1 has 8 fields, version 2 has 13)",
                    t(15)
                ),
            ]
        );
        let d = decision(&items[1]);
        assert_eq!(d.format, LogFormat::NsgV2);
        assert_eq!(d.state, Some(FlowState::Continuing));
        assert_eq!(d.packets_bytes, Some([30, 16978, 24, 14008]));
        assert_eq!(d.direction, Direction::Outbound);
        assert_eq!(d.mac.as_deref(), Some("000D3A000001"));
        assert_eq!(
            d.resource_id.as_deref(),
            Some("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N")
        );
        assert_eq!(decision(&items[0]).packets_bytes, None);
    }

    #[test]
    fn vnet_tuples_states_and_encryption() {
        let json = r#"{"records":[{"macAddress":"00224871C205","targetResourceID":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v","flowLogVersion":4,"flowRecords":{"flows":[{"aclID":"acl-1","flowGroups":[{"rule":"BlockSsh","flowTuples":["1663145998065,1.2.3.4,10.0.0.6,55188,22,6,I,D,NX,0,0,0,0","1663146003606,10.0.0.6,52.1.1.1,1,443,6,O,E,X,3,767,2,1580"]},{"rule":"unspecified","flowTuples":["1708978215,10.0.0.5,10.0.0.7,1,2,17,O,B,NX_NOT_ACCEPTED,,,,","1708978215,10.0.0.5,10.0.0.7,,,1,O,B,NX_HW_NOT_SUPPORTED,,,,","1708978215,10.0.0.5,10.0.0.7,1,2,300,O,B,NX,,,,","1708978215,10.0.0.5,10.0.0.7,1,2,6,O,A,NX,,,,","1,10.0.0.5,10.0.0.7,1,2,6,O,B"]}]}]}}]}"#;
        let items = records("v.json", json, Expect::Any);
        let t = |g: usize, i: usize| {
            format!("records[0].flowRecords.flows[0].flowGroups[{g}].flowTuples[{i}]")
        };
        assert_eq!(
            lines(&items),
            [
                format!(
                    "{} tcp 1.2.3.4:55188 -> 10.0.0.6:22 BlockSsh deny 1663145998065",
                    t(0, 0)
                ),
                format!(
                    "{} tcp 10.0.0.6:1 -> 52.1.1.1:443 BlockSsh allow 1663146003606",
                    t(0, 1)
                ),
                format!(
                    "{} udp 10.0.0.5:1 -> 10.0.0.7:2 unspecified deny 1708978215000",
                    t(1, 0)
                ),
                format!(
                    "{} icmp 10.0.0.5 -> 10.0.0.7 unspecified allow 1708978215000",
                    t(1, 1)
                ),
                format!("skip {}: bad protocol number (expected 0-255)", t(1, 2)),
                format!("skip {}: bad flow state (expected B, C, E or D)", t(1, 3)),
                format!(
                    "skip {}: 8-field VNet flow-log tuple (version 4 has 13 fields)",
                    t(1, 4)
                ),
            ]
        );
        let d = decision(&items[0]);
        assert_eq!(
            (
                d.format,
                d.state,
                d.encryption.as_deref(),
                d.acl_id.as_deref()
            ),
            (
                LogFormat::VnetV4,
                Some(FlowState::Denied),
                Some("NX"),
                Some("acl-1")
            )
        );
        assert_eq!(d.mac.as_deref(), Some("00224871C205"));
        assert!(d
            .resource_id
            .as_deref()
            .is_some_and(|r| r.ends_with("virtualNetworks/v")));
        assert_eq!(d.packets_bytes, Some([0, 0, 0, 0]));
        assert_eq!(decision(&items[2]).packets_bytes, None);
        // A drop is a drop however the status is cased, as the judge reads it.
        let lower = json.replace("NX_NOT_ACCEPTED", "nx_not_accepted");
        let items = records("v.json", &lower, Expect::Any);
        assert!(!decision(&items[2]).allowed);
    }

    #[test]
    fn storage_layout_path_supplies_resource_id_and_mac() {
        let json = r#"{"records":[{"properties":{"Version":1,"flows":[{"rule":"DefaultRule_DenyAllInBound","flows":[{"flowTuples":["1531917335,122.222.24.18,10.0.0.4,61691,3128,T,I,D"]}]}]}}]}"#;
        let name = "logs/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB/y=2024/m=01/d=02/h=03/m=00/macAddress=000D3A0AF519/PT1H.json";
        let items = records(name, json, Expect::Nsg);
        let d = decision(&items[0]);
        assert_eq!(d.format, LogFormat::NsgV1);
        assert_eq!(
            d.resource_id.as_deref(),
            Some("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB")
        );
        assert_eq!(d.mac.as_deref(), Some("000D3A0AF519"));
        assert_eq!((d.allowed, d.state), (false, None));
    }

    #[test]
    fn appended_and_concatenated_documents() {
        let a = nsg(&["1,10.0.0.1,10.0.0.2,1,2,T,I,A,B,,,,"]);
        let b = nsg(&["2,10.0.0.1,10.0.0.2,1,2,T,I,A,B,,,,"]);
        let times = |items: &[Result<ReplayRecord, SkippedRecord>]| -> Vec<u64> {
            items.iter().filter_map(|r| r.as_ref().ok()?.time).collect()
        };
        // Two documents one after the other, with and without a comma between.
        for sep in ["\n", "\n,", ","] {
            let json = format!("{{\"records\":[{a}]}}{sep}{{\"records\":[{b}]}}");
            let items = records("f", &json, Expect::Any);
            assert_eq!(times(&items), [1000, 2000], "{sep:?}");
            assert!(items.iter().all(Result::is_ok));
            if let Ok(r) = &items[1] {
                assert_eq!(
                    r.source.position.to_string(),
                    "JSON value 2: records[0].properties.flows[0].flows[0].flowTuples[0]"
                );
            }
        }
        // A blob still being written: the records array is not closed yet.
        let json = format!("{{\"records\":[{a}\n,{b}\n");
        let items = records("f", &json, Expect::Any);
        assert_eq!(times(&items), [1000, 2000]);
        assert_eq!(
            lines(&items[2..]),
            ["skip line 3, column 1: malformed JSON: EOF while parsing a list; the rest of the file is lost"]
        );
        // Bare records appended with commas, and a top-level array of records.
        let items = records("f", &format!("{a},{b}"), Expect::Any);
        assert_eq!(times(&items), [1000, 2000]);
        let items = records("f", &format!("[{a},{b}]"), Expect::Any);
        assert_eq!(times(&items), [1000, 2000]);
    }

    #[test]
    fn damage_keeps_what_came_before_it() {
        let good = nsg(&[
            "1,10.0.0.1,10.0.0.2,1,2,T,I,A,B,,,,",
            "2,10.0.0.1,10.0.0.2,1,2,T,I,A,B,,,,",
        ]);
        // Truncated inside the second tuple of the second record.
        let json = format!("{{\"records\":[{good},\n{good}");
        let cut = json.len() - 20;
        let items = records("f", &json[..cut], Expect::Any);
        let ok: Vec<u64> = items.iter().filter_map(|r| r.as_ref().ok()?.time).collect();
        assert_eq!(ok, [1000, 2000, 1000]);
        assert!(items[3]
            .as_ref()
            .is_err_and(|s| s.reason.contains("EOF while parsing a string")));
        // Garbage in the middle: everything before it is kept.
        let json = format!("{{\"records\":[{good}, @@@ {good}]}}");
        let items = records("f", &json, Expect::Any);
        assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 2);
        assert!(items[2]
            .as_ref()
            .is_err_and(|s| s.reason.starts_with("malformed JSON: expected value")));
        // A trailing comma is ignored and reading goes on.
        let json = format!("{{\"records\":[{good},]}}");
        let items = records("f", &json, Expect::Any);
        assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 2);
        assert_eq!(
            items[2].as_ref().err().map(|s| s.to_string()),
            Some(format!(
                "f: line 1, column {}: malformed JSON: trailing comma (ignored; reading went on)",
                json.len() - 2
            ))
        );
        // Not JSON at all.
        let items = records("f", "hello", Expect::Any);
        assert_eq!(
            lines(&items),
            ["skip line 1, column 1: malformed JSON: expected value; the rest of the file is lost"]
        );
        let items = records("f", "{{{{", Expect::Any);
        assert!(items.iter().all(Result::is_err));
        assert!(records("f", "", Expect::Any).is_empty());
    }

    #[test]
    fn many_trailing_commas_are_all_repaired() {
        let group =
            r#"{"rule":"r","flows":[{"flowTuples":["1,10.0.0.1,10.0.0.2,1,2,T,I,A",],},],}"#;
        let groups = vec![group; 200].join(",");
        let json = format!("{{\"records\":[{{\"properties\":{{\"flows\":[{groups}]}}}}]}}");
        let items = records("f", &json, Expect::Any);
        assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 200);
        assert_eq!(items.iter().filter(|r| r.is_err()).count(), 800);
        // A cut drops the repairs reported past it.
        let json = format!(
            "{{\"records\":[{{\"properties\":{{\"flows\":[{group},{group}, !! {group}]}}}}]}}"
        );
        let reasons: Vec<String> = records("f", &json, Expect::Any)
            .into_iter()
            .filter_map(|r| r.err().map(|s| s.reason))
            .collect();
        assert_eq!(reasons.len(), 9, "{reasons:?}");
        assert!(reasons[8].starts_with("malformed JSON: expected value"));
    }

    /// A small deterministic generator for the corruption test.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn corrupt_json_never_panics() {
        let vnet = r#"{"records":[{"targetResourceID":"/x","flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"r","flowTuples":["1663145998065,1.2.3.4,10.0.0.6,55188,22,6,I,D,NX,0,0,0,0","1,2001:db8::1,2001:db8::2,1,2,17,O,B,X,,,,"]}]}]}}]}"#;
        let base = format!(
            "{{\"records\":[{},{}]}}\n,{}",
            nsg(&["1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,"]),
            nsg(&["1,10.0.0.1,10.0.0.2,1,2,T,I,A"]),
            vnet
        );
        let alphabet = b"{}[],:\"\\ 0aT\n";
        let mut seed = 0x1234_5678_9abc_def1;
        for _ in 0..3000 {
            let mut bytes = base.clone().into_bytes();
            for _ in 0..(xorshift(&mut seed) % 4 + 1) {
                let at = (xorshift(&mut seed) as usize) % bytes.len();
                let b = alphabet[(xorshift(&mut seed) as usize) % alphabet.len()];
                match xorshift(&mut seed) % 3 {
                    0 => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            let cut = (xorshift(&mut seed) as usize) % (bytes.len() + 1);
            bytes.truncate(cut.max(bytes.len() / 2));
            let items = owned(FlowLogRecords::parse(
                Arc::from(Path::new("f")),
                bytes,
                Expect::Any,
            ));
            assert!(items.len() < 40, "{items:?}");
        }
    }

    #[test]
    fn malformed_records_are_skipped_alone() {
        let good = nsg(&["1,10.0.0.1,10.0.0.2,1,2,T,I,A,B,,,,"]);
        let escaped = good.replace("UserRule_web", "UserRule_w\\u0065b");
        let json = format!(
            "{{\"records\":[{good},{{\"properties\":{{\"flows\":7}}}},{{\"category\":\"x\"}},42,{escaped},{{\"properties\":{{\"flows\":\"7\"}}}}]}}"
        );
        let items = records("f", &json, Expect::Any);
        assert_eq!(
            lines(&items),
            [
                "records[0].properties.flows[0].flows[0].flowTuples[0] tcp 10.0.0.1:1 -> 10.0.0.2:2 UserRule_web allow 1000",
                "skip records[1]: malformed flow-log record: properties.flows: invalid type: integer `7`, expected a sequence",
                "skip records[2]: record has neither properties.flows (NSG flow log) nor flowRecords (VNet flow log)",
                "skip records[3]: malformed flow-log record: a number where a record belongs",
                "records[4].properties.flows[0].flows[0].flowTuples[0] tcp 10.0.0.1:1 -> 10.0.0.2:2 UserRule_web allow 1000",
                "skip records[5]: malformed flow-log record: properties.flows: invalid type: string, expected a sequence",
            ]
        );
        // A list that is missing is damage, not an empty list: its record is skipped.
        let missing = [
            (r#"{"properties":{}}"#, "properties: missing field `flows`"),
            (
                r#"{"properties":{"flows":[{"rule":"r"}]}}"#,
                "properties.flows[0]: missing field `flows`",
            ),
            (
                r#"{"properties":{"flows":[{"rule":"r","flows":[{"mac":"m"}]}]}}"#,
                "properties.flows[0].flows[0]: missing field `flowTuples`",
            ),
            (
                r#"{"flowRecords":{}}"#,
                "flowRecords: missing field `flows`",
            ),
            (
                r#"{"flowRecords":{"flows":[{"aclID":"a"}]}}"#,
                "flowRecords.flows[0]: missing field `flowGroups`",
            ),
            (
                r#"{"flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"r"}]}]}}"#,
                "flowRecords.flows[0].flowGroups[0]: missing field `flowTuples`",
            ),
        ];
        for (record, why) in missing {
            let json = format!("{{\"records\":[{record},{good}]}}");
            let got = lines(&records("f", &json, Expect::Any));
            assert_eq!(got.len(), 2, "{record}: {got:?}");
            assert!(
                got[0].starts_with("skip records[0]: malformed flow-log record: "),
                "{got:?}"
            );
            assert!(got[0].contains(why), "{record}: {got:?}");
        }
        // The format override skips records of the other kind.
        let vnet = r#"{"records":[{"flowRecords":{"flows":[]}}]}"#;
        assert_eq!(
            lines(&records("f", vnet, Expect::Nsg)),
            ["skip records[0]: VNet flow-log record in an input read as NSG flow logs"]
        );
        assert_eq!(
            lines(&records(
                "f",
                &format!("{{\"records\":[{good}]}}"),
                Expect::Vnet
            )),
            ["skip records[0]: NSG flow-log record in an input read as VNet flow logs"]
        );
    }

    /// A tuple that is not a string is skipped at its own position; its neighbours in the
    /// same record are read.
    #[test]
    fn a_tuple_that_is_not_a_string_is_skipped_alone() {
        let good = "1,10.0.0.1,10.0.0.2,1,2,T,I,A,B,,,,";
        let json = format!("{{\"records\":[{}]}}", nsg(&[good, good]))
            .replacen(&format!("\"{good}\"]"), "12345,null]", 1)
            .replacen("flowTuples\":[", &format!("flowTuples\":[\"{good}\","), 1);
        let items = records("f", &json, Expect::Any);
        let at = "records[0].properties.flows[0].flows[0].flowTuples";
        assert_eq!(
            lines(&items),
            [
                format!("{at}[0] tcp 10.0.0.1:1 -> 10.0.0.2:2 UserRule_web allow 1000"),
                format!("{at}[1] tcp 10.0.0.1:1 -> 10.0.0.2:2 UserRule_web allow 1000"),
                format!("skip {at}[2]: a flow tuple is a string of comma-separated fields, not a number"),
                format!("skip {at}[3]: a flow tuple is a string of comma-separated fields, not null"),
            ],
            "{json}"
        );
    }

    #[test]
    fn byte_parsers_agree_with_the_standard_library() {
        for text in [
            "0",
            "18446744073709551615",
            "18446744073709551616",
            "",
            "1a",
            " 1",
            "+1",
            "-1",
        ] {
            let std = if text.starts_with('+') {
                None
            } else {
                text.parse().ok()
            };
            assert_eq!(decimal(text.as_bytes()), std, "{text}");
        }
        let (fields, n) = split_fields(b" a ,b,,c");
        assert_eq!((n, &fields[..4]), (4, &[&b"a"[..], b"b", b"", b"c"][..]));
        assert_eq!(split_fields(b",,,,,,,,,,,,,,,,").1, 17);
    }

    #[test]
    fn scanning_a_prefix_finds_where_to_cut() {
        let scan = scan_prefix(br#"{"records":[{"a":[1,"x"],"b":"#);
        assert_eq!(scan.safe, br#"{"records":[{"a":[1,"x"]"#.len());
        assert_eq!(scan.closers, b"}]}");
        let scan = scan_prefix(br#"[1,2"#);
        assert_eq!((scan.safe, scan.closers), (2, b"]".to_vec()));
        let scan = scan_prefix(br#"{"k\"ey":"v\\"}  "#);
        assert_eq!((scan.safe, scan.closers), (15, Vec::new()));
    }

    fn sample(name: &str) -> Option<Vec<Result<ReplayRecord, SkippedRecord>>> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/azure-examples")
            .join(name);
        let bytes = std::fs::read(&path).ok()?;
        Some(owned(FlowLogRecords::parse(
            Arc::from(path.as_path()),
            bytes,
            Expect::Any,
        )))
    }

    #[test]
    fn real_samples() {
        let Some(v1) = sample("sampleJsonInput.json") else {
            eprintln!("shared/azure-examples is absent: sample tests skipped");
            return;
        };
        assert_eq!(v1.len(), 38);
        assert!(v1.iter().all(Result::is_ok));
        let first = decision(&v1[0]);
        assert_eq!(
            (
                first.format,
                &*first.rule,
                first.allowed,
                first.mac.as_deref()
            ),
            (
                LogFormat::NsgV1,
                "DefaultRule_DenyAllInBound",
                false,
                Some("000D3A0AF519")
            )
        );
        assert!(first
            .resource_id
            .as_deref()
            .is_some_and(|r| r.ends_with("/WADVM-NSG")));
        assert_eq!(
            v1[0].as_ref().ok().map(|r| r.flow.to_string()),
            Some("tcp 122.222.24.18:61691 -> 10.0.0.4:3128".into())
        );
        assert_eq!(
            v1[0].as_ref().ok().and_then(|r| r.time),
            Some(1_531_917_335_000)
        );
        let ntp = decision(&v1[13]);
        assert_eq!(
            (&*ntp.rule, ntp.allowed, ntp.direction),
            (
                "DefaultRule_AllowInternetOutBound",
                true,
                Direction::Outbound
            )
        );

        let Some(damaged) = sample("AzureNSGFlowLogsv1.json") else {
            return;
        };
        assert_eq!(damaged.len(), 9);
        assert!(damaged[..8].iter().all(Result::is_ok));
        assert!(damaged[..8]
            .iter()
            .all(|r| decision(r).format == LogFormat::NsgV2));
        assert_eq!(
            &*decision(&damaged[0]).rule,
            "UserRule_aede8e1fd185211eaae4f962e72ea7eb-TCP-443-Internet"
        );
        assert_eq!(decision(&damaged[3]).packets_bytes, Some([4, 246, 2, 126]));
        assert_eq!(decision(&damaged[3]).state, Some(FlowState::End));
        assert_eq!(
            damaged[8]
                .as_ref()
                .err()
                .map(|s| (s.source.position, s.reason.as_str())),
            Some((
                Position::Json {
                    line: 36,
                    column: 85
                },
                "malformed JSON: trailing comma (ignored; reading went on)"
            ))
        );

        let Some(v2) = sample("nsg-flow-logs-overview.version2-sample.json") else {
            return;
        };
        assert_eq!(v2.len(), 11);
        assert!(v2.iter().all(Result::is_ok));
        assert_eq!(decision(&v2[5]).packets_bytes, Some([30, 16978, 24, 14008]));
        assert_eq!(
            v2[7].as_ref().ok().map(|r| r.source.position.to_string()),
            Some("records[1].properties.flows[0].flows[0].flowTuples[0]".into())
        );

        let Some(vnet) = sample("vnet-flow-logs-overview.sample-log-record.json") else {
            return;
        };
        assert_eq!(vnet.len(), 19);
        assert!(vnet.iter().all(Result::is_ok));
        assert_eq!(vnet.iter().filter(|r| decision(r).allowed).count(), 10);
        let blocked = decision(&vnet[10]);
        assert_eq!(
            (&*blocked.rule, blocked.acl_id.as_deref(), blocked.state),
            (
                "BlockHighRiskTCPPortsFromInternet",
                Some("01020304-abcd-ef00-1234-102030405060"),
                Some(FlowState::Denied)
            )
        );
        assert_eq!(
            vnet[0].as_ref().ok().and_then(|r| r.time),
            Some(1_663_146_003_599)
        );
    }
}
