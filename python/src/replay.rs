//! Replaying a batch of files for `Policy.replay_files` and `Policy.replay_totals`: the
//! replay loop of `secpath replay` (`replay::batch::Replayer`) over each file, its counts in
//! the CLI's `Tally`, and what the rows need of each record heard as its `Witness`.

use crate::{nullable_batch, string_column};
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, BooleanArray, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{ArrowError, DataType, Field, Fields};
use secpath::eval::Verdict;
use secpath::replay::batch::{self, DeniedPack, Replayer};
use secpath::replay::conntrack::Connection;
use secpath::replay::flowlog::Logged;
use secpath::replay::input::{
    FileRecords, InputFormat, KindRef, NextRecord, Position, RecordRef, RecordSource,
};
use secpath::replay::run::{logged_decision, At, JudgedKind, JudgedRecord, Witness};
use secpath::replay::tally::Tally;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A batch of files: what to call each (`name`, or else `path`), and where its bytes are:
/// in `content` (binary, as Spark's `binaryFile` source gives), or on this machine at
/// `local_path` (a file the caller can open itself, whose bytes need not cross into Python).
/// A row with neither is an empty file.
pub struct FileBatch {
    names: StringArray,
    content: Option<arrow_array::GenericBinaryArray<i64>>,
    local_path: Option<StringArray>,
}

impl FileBatch {
    pub fn of(batch: &RecordBatch) -> Result<FileBatch, String> {
        let column = |name: &str| batch.column_by_name(name).cloned();
        let names = column("name")
            .or_else(|| column("path"))
            .ok_or("the batch has neither a `name` nor a `path` column")?;
        let names = string_column(&names).ok_or("`path`/`name` must be strings")?;
        let content = column("content").map(|c| binary_column(&c)).transpose()?;
        let local_path = match column("local_path") {
            None => None,
            Some(c) => Some(string_column(&c).ok_or("`local_path` must be strings")?),
        };
        if content.is_none() && local_path.is_none() {
            return Err("the batch has neither a `content` nor a `local_path` column".into());
        }
        Ok(FileBatch {
            names,
            content,
            local_path,
        })
    }

    /// Replays every file in order into `tally`, as `secpath replay` does (each file's
    /// connections its own), handing `rows` every record with its file's name and its
    /// index in the file.
    pub fn replay(
        &self,
        replayer: &mut Replayer<'_>,
        format: InputFormat,
        tally: &mut Tally,
        rows: &mut impl Rows,
    ) -> secpath::Result<()> {
        for i in 0..self.names.len() {
            let name = self.names.value(i);
            rows.start_file();
            let mut numbered = Numbered {
                file: name,
                index: 0,
                rows: &mut *rows,
            };
            replayer.replay_file(self.records(i, name, format), tally, &mut numbered)?;
        }
        Ok(())
    }

    fn records(&self, i: usize, name: &str, format: InputFormat) -> FileRecords {
        if let Some(paths) = self.local_path.as_ref().filter(|p| p.is_valid(i)) {
            return batch::read_path(name, Path::new(paths.value(i)), format);
        }
        let bytes = match &self.content {
            Some(c) if c.is_valid(i) => c.value(i).to_vec(),
            _ => Vec::new(),
        };
        batch::read_bytes(name, bytes, format)
    }
}

/// A binary column as large binary.
fn binary_column(content: &ArrayRef) -> Result<arrow_array::GenericBinaryArray<i64>, String> {
    match content.data_type() {
        DataType::LargeBinary => Ok(content.as_binary::<i64>().clone()),
        DataType::Binary => {
            let b = content.as_binary::<i32>();
            let offsets: Vec<i64> = b.value_offsets().iter().map(|&o| i64::from(o)).collect();
            arrow_array::GenericBinaryArray::<i64>::try_new(
                OffsetBuffer::new(offsets.into()),
                b.values().clone(),
                b.nulls().cloned(),
            )
            .map_err(|e| e.to_string())
        }
        other => Err(format!("`content` must be binary, not {other}")),
    }
}

/// What rows keep of the records replayed, each named by its file and its index there.
pub trait Rows {
    /// The next records are another file's.
    fn start_file(&mut self) {}

    /// A record that could not be read or judged.
    fn skipped(&mut self, file: &str, index: i64, source: RecordSource, reason: &str);

    /// A record judged.
    fn judged(&mut self, file: &str, index: i64, record: &JudgedRecord<'_>);
}

/// The witness of one file's replay: numbers its records for `rows`.
struct Numbered<'a, R> {
    file: &'a str,
    /// The next record's index in the file.
    index: i64,
    rows: &'a mut R,
}

impl<R: Rows> Witness for Numbered<'_, R> {
    fn skipped(
        &mut self,
        file: &Arc<Path>,
        position: Position,
        reason: &str,
    ) -> secpath::Result<()> {
        let source = RecordSource {
            file: file.clone(),
            position,
        };
        self.rows.skipped(self.file, self.index, source, reason);
        self.index += 1;
        Ok(())
    }

    fn judged(&mut self, record: &JudgedRecord<'_>) -> secpath::Result<()> {
        self.rows.judged(self.file, self.index, record);
        self.index += 1;
        Ok(())
    }

    fn ended(&mut self, _: &Connection) -> secpath::Result<()> {
        Ok(())
    }
}

/// The column builders of the replay rows (`docs/spark.md`, table `tuples`).
#[derive(Default)]
pub struct ReplayRows {
    file: StringBuilder,
    index: Int64Builder,
    source: StringBuilder,
    time_ms: Int64Builder,
    kind: StringBuilder,
    protocol: StringBuilder,
    src: StringBuilder,
    src_port: Int32Builder,
    dst: StringBuilder,
    dst_port: Int32Builder,
    flow: StringBuilder,
    skipped: StringBuilder,
    skip_kind: StringBuilder,
    verdict: StringBuilder,
    rule: StringBuilder,
    rule_id: StringBuilder,
    layer: StringBuilder,
    counts_hits: BooleanBuilder,
    opens_connection: BooleanBuilder,
    hit_lengths: Vec<usize>,
    hit_id: Vec<String>,
    hit_layer: Vec<&'static str>,
    hit_default: Vec<bool>,
    denied_key: StringBuilder,
    direction: StringBuilder,
    logged_decision: StringBuilder,
    logged_rule: StringBuilder,
    logged_at: StringBuilder,
    agrees: BooleanBuilder,
}

impl Rows for ReplayRows {
    fn skipped(&mut self, file: &str, index: i64, source: RecordSource, reason: &str) {
        self.file.append_value(file);
        self.index.append_value(index);
        self.source.append_value(source.to_string());
        self.time_ms.append_null();
        for b in [
            &mut self.kind,
            &mut self.protocol,
            &mut self.src,
            &mut self.dst,
            &mut self.flow,
            &mut self.verdict,
            &mut self.rule,
            &mut self.rule_id,
            &mut self.layer,
            &mut self.denied_key,
            &mut self.direction,
            &mut self.logged_decision,
            &mut self.logged_rule,
            &mut self.logged_at,
        ] {
            b.append_null();
        }
        self.src_port.append_null();
        self.dst_port.append_null();
        self.skip_kind
            .append_value(secpath::evaluate::reason_kind(reason));
        self.skipped.append_value(reason);
        self.counts_hits.append_null();
        self.opens_connection.append_null();
        self.agrees.append_null();
        self.hit_lengths.push(0);
    }

    fn judged(&mut self, file: &str, index: i64, r: &JudgedRecord<'_>) {
        let (kind, logged) = match r.kind {
            JudgedKind::FlowLog(logged) => ("flow-log", Some(logged)),
            JudgedKind::Tuple => ("tuple", None),
            JudgedKind::Packet | JudgedKind::ConnectionPacket { .. } => ("packet", None),
        };
        self.record(file, index, r.at, kind, logged);
        self.verdict.append_value(batch::verdict_name(r.verdict));
        self.rule.append_option(r.rule.map(|r| r.log_name()));
        self.rule_id.append_option(r.rule.map(|r| r.id.to_string()));
        self.layer
            .append_option(r.rule.map(|r| batch::layer_name(r.layer)));
        self.counts_hits.append_value(r.hits.is_some());
        self.opens_connection.append_value(matches!(
            r.kind,
            JudgedKind::ConnectionPacket { opens: true }
        ));
        let hits = r.hits.unwrap_or_default();
        self.hit_lengths.push(hits.len());
        for h in hits {
            self.hit_id.push(h.id.to_string());
            self.hit_layer.push(batch::layer_name(h.layer));
            self.hit_default.push(h.is_default);
        }
        self.denied_key
            .append_option((r.verdict == Verdict::Deny).then(|| batch::denied_key(&r.at.flow)));
        self.agrees.append_option(r.agrees);
    }
}

impl ReplayRows {
    /// The rows of one file's records as read, without judging them (`read_records`); the
    /// records skipped, by the kind of reason.
    pub fn read(&mut self, file: &str, mut records: FileRecords) -> BTreeMap<String, u64> {
        let mut skips = BTreeMap::new();
        let mut index = 0;
        while let Some(item) = records.next_ref() {
            match item {
                Err(s) => {
                    let kind = secpath::evaluate::reason_kind(&s.reason);
                    *skips.entry(kind).or_insert(0) += 1;
                    self.skipped(file, index, s.source, &s.reason);
                }
                Ok(r) => self.unjudged(file, index, r),
            }
            index += 1;
        }
        skips
    }

    /// A row as read, before judging.
    fn unjudged(&mut self, file: &str, index: i64, r: RecordRef<'_>) {
        let (kind, logged) = match r.kind {
            KindRef::FlowLog(logged) => ("flow-log", Some(logged)),
            KindRef::Packet(_) => ("packet", None),
            KindRef::Tuple(_) => ("tuple", None),
        };
        let at = At {
            file: r.file,
            position: r.position,
            time: r.time,
            flow: r.flow,
        };
        self.record(file, index, &at, kind, logged.as_ref());
        for b in [
            &mut self.verdict,
            &mut self.rule,
            &mut self.rule_id,
            &mut self.layer,
            &mut self.denied_key,
        ] {
            b.append_null();
        }
        self.counts_hits.append_null();
        self.opens_connection.append_null();
        self.hit_lengths.push(0);
        self.agrees.append_null();
    }

    /// The columns every record read has: where, when, its flow, and what was logged.
    fn record(
        &mut self,
        file: &str,
        index: i64,
        at: &At<'_>,
        kind: &str,
        logged: Option<&Logged<'_>>,
    ) {
        self.file.append_value(file);
        self.index.append_value(index);
        self.source.append_value(at.source());
        self.time_ms
            .append_option(at.time.and_then(|t| i64::try_from(t).ok()));
        let f = &at.flow;
        self.protocol.append_value(f.protocol_name());
        self.src.append_value(f.src.to_string());
        self.src_port.append_option(f.src_port.map(i32::from));
        self.dst.append_value(f.dst.to_string());
        self.dst_port.append_option(f.dst_port.map(i32::from));
        self.flow.append_value(f.to_string());
        self.skipped.append_null();
        self.skip_kind.append_null();
        self.kind.append_value(kind);
        self.direction
            .append_option(logged.map(|l| match l.direction {
                secpath::model::Direction::Inbound => "inbound",
                secpath::model::Direction::Outbound => "outbound",
            }));
        self.logged_decision
            .append_option(logged.map(logged_decision));
        self.logged_rule.append_option(logged.map(|l| &**l.rule));
        self.logged_at
            .append_option(logged.and_then(|l| l.resource_id).map(|id| &**id));
    }

    pub fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let hit_fields = Fields::from(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("layer", DataType::Utf8, false),
            Field::new("is_default", DataType::Boolean, false),
        ]);
        let hits = StructArray::try_new(
            hit_fields.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(&self.hit_id)) as ArrayRef,
                Arc::new(StringArray::from_iter_values(&self.hit_layer)),
                Arc::new(BooleanArray::from(std::mem::take(&mut self.hit_default))),
            ],
            None,
        )?;
        let hits = ListArray::try_new(
            Arc::new(Field::new("item", DataType::Struct(hit_fields), false)),
            OffsetBuffer::from_lengths(self.hit_lengths.iter().copied()),
            Arc::new(hits),
            None,
        )?;
        let s = |b: &mut StringBuilder| Arc::new(b.finish()) as ArrayRef;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("file", s(&mut self.file)),
            ("index", Arc::new(self.index.finish())),
            ("source", s(&mut self.source)),
            ("time_ms", Arc::new(self.time_ms.finish())),
            ("kind", s(&mut self.kind)),
            ("protocol", s(&mut self.protocol)),
            ("src", s(&mut self.src)),
            ("src_port", Arc::new(self.src_port.finish())),
            ("dst", s(&mut self.dst)),
            ("dst_port", Arc::new(self.dst_port.finish())),
            ("flow", s(&mut self.flow)),
            ("skipped", s(&mut self.skipped)),
            ("skip_kind", s(&mut self.skip_kind)),
            ("verdict", s(&mut self.verdict)),
            ("rule", s(&mut self.rule)),
            ("rule_id", s(&mut self.rule_id)),
            ("layer", s(&mut self.layer)),
            ("counts_hits", Arc::new(self.counts_hits.finish())),
            ("opens_connection", Arc::new(self.opens_connection.finish())),
            ("hits", Arc::new(hits)),
            ("denied_key", s(&mut self.denied_key)),
            ("direction", s(&mut self.direction)),
            ("logged_decision", s(&mut self.logged_decision)),
            ("logged_rule", s(&mut self.logged_rule)),
            ("logged_at", s(&mut self.logged_at)),
            ("agrees", Arc::new(self.agrees.finish())),
        ];
        nullable_batch(columns)
    }
}

/// The first disagreements of each file, with their details (the `disagreements` table);
/// every disagreement is counted by the tally all the same.
pub struct KeptDisagreements {
    /// Kept per file.
    per_file: usize,
    /// Kept of the file being read.
    in_file: usize,
    kept: Vec<DisagreementDetail>,
}

impl KeptDisagreements {
    /// Keeps the first `per_file` of each file.
    pub fn new(per_file: usize) -> KeptDisagreements {
        KeptDisagreements {
            per_file,
            in_file: 0,
            kept: Vec::new(),
        }
    }
}

impl Rows for KeptDisagreements {
    fn start_file(&mut self) {
        self.in_file = 0;
    }

    fn skipped(&mut self, _: &str, _: i64, _: RecordSource, _: &str) {}

    fn judged(&mut self, file: &str, index: i64, r: &JudgedRecord<'_>) {
        let (Some(false), JudgedKind::FlowLog(logged)) = (r.agrees, r.kind) else {
            return;
        };
        if self.in_file == self.per_file {
            return;
        }
        self.in_file += 1;
        self.kept.push(DisagreementDetail {
            file: file.to_string(),
            index,
            position: r.at.position.to_string(),
            flow: r.at.flow.to_string(),
            logged_decision: logged_decision(logged),
            logged_rule: logged.rule.to_string(),
            logged_at: logged.resource_id.map(|id| id.to_string()),
            secpath_decision: batch::verdict_name(r.verdict),
            secpath_rule: r.rule.map(|h| h.log_name()),
            secpath_rule_id: r.rule.map(|h| h.id.to_string()),
        });
    }
}

/// One disagreement, with where it was read.
struct DisagreementDetail {
    file: String,
    index: i64,
    /// Where in the file; the source is `file: position` (the file's name is not repeated).
    position: String,
    flow: String,
    logged_decision: &'static str,
    logged_rule: String,
    logged_at: Option<String>,
    secpath_decision: &'static str,
    secpath_rule: Option<String>,
    secpath_rule_id: Option<String>,
}

impl DisagreementDetail {
    /// The details, in the order of [`TotalsRows::details`].
    fn values(&self) -> [Option<&str>; 9] {
        [
            Some(&self.file),
            Some(&self.position),
            Some(&self.flow),
            Some(self.logged_decision),
            Some(&self.logged_rule),
            self.logged_at.as_deref(),
            Some(self.secpath_decision),
            self.secpath_rule.as_deref(),
            self.secpath_rule_id.as_deref(),
        ]
    }
}

/// The rows of `Policy.replay_totals` for a batch's `tally` and `disagreements`, its
/// denied flows packed into `denied_buckets` buckets.
pub fn totals_batch(
    tally: &Tally,
    disagreements: &KeptDisagreements,
    denied_buckets: u32,
) -> Result<RecordBatch, ArrowError> {
    let mut rows = TotalsRows::default();
    for (name, n) in tally.counts() {
        rows.sum("count", name, None, n);
    }
    for (reason, n) in tally.skipped() {
        rows.sum("skipped", reason, None, *n);
    }
    for (hit, n) in tally.hits() {
        let layer = batch::layer_name(hit.layer);
        rows.sum("hit", hit.id.as_str(), Some((layer, hit.is_default)), n);
    }
    for pack in batch::pack_denied(tally.denied_flows(), denied_buckets) {
        rows.denied(&pack);
    }
    for d in &disagreements.kept {
        rows.disagreement(d);
    }
    rows.finish()
}

/// The column builders of `Policy.replay_totals`' rows; every row fills every column.
#[derive(Default)]
struct TotalsRows {
    kind: StringBuilder,
    key: StringBuilder,
    layer: StringBuilder,
    is_default: BooleanBuilder,
    count: Int64Builder,
    bucket: Int32Builder,
    blob: BinaryBuilder,
    index: Int64Builder,
    /// A disagreement's, as [`DisagreementDetail::values`] gives them.
    details: [StringBuilder; 9],
}

impl TotalsRows {
    /// The columns every row has; `hit` is a rule hit's layer and default flag.
    fn head(&mut self, kind: &str, key: Option<&str>, hit: Option<(&str, bool)>, count: u64) {
        self.kind.append_value(kind);
        self.key.append_option(key);
        self.layer.append_option(hit.map(|h| h.0));
        self.is_default.append_option(hit.map(|h| h.1));
        self.count.append_value(count as i64);
    }

    /// A count, a skip reason's or a rule's.
    fn sum(&mut self, kind: &str, key: &str, hit: Option<(&str, bool)>, count: u64) {
        self.head(kind, Some(key), hit, count);
        self.bucket.append_null();
        self.blob.append_null();
        self.no_details();
    }

    /// A bucket of denied flows; the count is its flows'.
    fn denied(&mut self, pack: &DeniedPack) {
        self.head("denied", None, None, pack.flows);
        self.bucket.append_value(pack.bucket as i32);
        self.blob.append_value(&pack.bytes);
        self.no_details();
    }

    fn disagreement(&mut self, d: &DisagreementDetail) {
        self.head("disagreement", None, None, 1);
        self.bucket.append_null();
        self.blob.append_null();
        self.index.append_value(d.index);
        for (b, v) in self.details.iter_mut().zip(d.values()) {
            b.append_option(v);
        }
    }

    fn no_details(&mut self) {
        self.index.append_null();
        for b in &mut self.details {
            b.append_null();
        }
    }

    fn finish(self) -> Result<RecordBatch, ArrowError> {
        let s = |mut b: StringBuilder| Arc::new(b.finish()) as ArrayRef;
        let TotalsRows {
            kind,
            key,
            layer,
            mut is_default,
            mut count,
            mut bucket,
            mut blob,
            mut index,
            details,
        } = self;
        let [file, position, flow, logged_decision, logged_rule, logged_at, secpath_decision, secpath_rule, secpath_rule_id] =
            details;
        nullable_batch(vec![
            ("kind", s(kind)),
            ("key", s(key)),
            ("layer", s(layer)),
            ("is_default", Arc::new(is_default.finish())),
            ("count", Arc::new(count.finish())),
            ("bucket", Arc::new(bucket.finish())),
            ("blob", Arc::new(blob.finish())),
            ("file", s(file)),
            ("index", Arc::new(index.finish())),
            ("position", s(position)),
            ("flow", s(flow)),
            ("logged_decision", s(logged_decision)),
            ("logged_rule", s(logged_rule)),
            ("logged_at", s(logged_at)),
            ("secpath_decision", s(secpath_decision)),
            ("secpath_rule", s(secpath_rule)),
            ("secpath_rule_id", s(secpath_rule_id)),
        ])
    }
}
