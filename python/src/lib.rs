//! The `secpath._secpath` extension module: secpath's policy, evaluator and replay readers
//! for Python, Arrow record batches in and out through the Arrow C data interface.
//!
//! Everything here is a thin layer over the `secpath` library: loading is
//! `load::load_snapshot` + `Policy::build` (the CLI's path, the same switches); `evaluate` is
//! the compiled engine of `secpath eval`; `replay_files` reads with `replay::batch::read_bytes`
//! and judges with `replay::batch::Replayer`, the replay loop's judging one record at a
//! time; `replay_report` rebuilds `secpath replay`'s summary from totals. No per-row Python:
//! a batch crosses the boundary once each way, and the interpreter lock is released while
//! Rust works. Library errors become `SecpathError` with the CLI's message; no input panics.

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use arrow_schema::{DataType, Field, Fields, Schema};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rustc_hash::FxHashMap;
use secpath::engine::{Engine, EngineKind};
use secpath::eval::{Pins, Verdict};
use secpath::flow::{protocol_number, Flow};
use secpath::model::ResourceId;
use secpath::options::Options;
use secpath::replay::batch::{self, Judged, Replayer};
use secpath::replay::input::{FileRecords, InputFormat, RecordKind, ReplayRecord, SkippedRecord};
use secpath::replay::run::ReplayOptions;
use secpath::resolve::tags::ServiceTags;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

create_exception!(
    _secpath,
    SecpathError,
    PyException,
    "A secpath error: bad snapshot, DSL, flow or input. The message is the one the CLI prints after `error: `, located (file, line and column, JSON path, rule)."
);

fn error(e: secpath::Error) -> PyErr {
    SecpathError::new_err(e.to_string())
}

self_cell::self_cell!(
    /// A resolved policy and what is compiled from it, kept together.
    struct Loaded {
        owner: secpath::resolve::Policy,
        #[not_covariant]
        dependent: Compiled,
    }
);

/// The engine (compiled, or the reference walk for a plan with unknowns), shared with every
/// replayer, and each rule's priority by id (for `evaluate`'s `priority` column).
struct Compiled<'p> {
    engine: Arc<Engine<'p>>,
    priorities: HashMap<String, u32>,
}

impl<'p> Compiled<'p> {
    fn new(policy: &'p secpath::resolve::Policy) -> Compiled<'p> {
        let mut priorities = HashMap::new();
        let admin = policy
            .subnet_admin
            .iter()
            .chain(policy.vnets.iter().map(|v| &v.admin))
            .flat_map(|p| &p.rules);
        for r in policy.nsg_rules.values().flatten().chain(admin) {
            priorities.insert(r.rule.id.key().to_string(), r.rule.priority);
        }
        for nsg in &policy.snapshot.nsgs {
            for (rule, _) in &nsg.rules {
                priorities.insert(rule.id.key().to_string(), rule.priority);
            }
        }
        Compiled {
            engine: Arc::new(Engine::new(policy, EngineKind::Compiled)),
            priorities,
        }
    }
}

/// A snapshot resolved under switches D1–D7 and compiled, ready to evaluate flows, explain
/// them and replay flow logs. Immutable and safe to share between threads.
#[pyclass(frozen, module = "secpath._secpath")]
struct Policy {
    loaded: Loaded,
    replay: ReplayOptions,
    warnings: Vec<String>,
}

fn choice<T: clap::ValueEnum>(name: &str, value: &str) -> PyResult<T> {
    T::from_str(value, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        PyValueError::new_err(format!(
            "{name}: `{value}` is not one of {}",
            names.join(", ")
        ))
    })
}

fn paths_of(paths: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if let Ok(one) = paths.extract::<PathBuf>() {
        return Ok(vec![one]);
    }
    paths.extract::<Vec<PathBuf>>()
}

#[pymethods]
impl Policy {
    /// Loads a snapshot as the CLI's `--snapshot` does (ARM JSON, DSL, directories of both).
    #[staticmethod]
    #[pyo3(signature = (
        paths, *, service_tags=None, manager_precedence="tiered", assume_deployed=true,
        any_protocol="all", empty_match="any", always_allow_scope="side", admin_stateless=false,
        no_nsg="pass", lenient=false, stateless=false, idle_timeout=240
    ))]
    #[allow(clippy::too_many_arguments)]
    fn load(
        py: Python<'_>,
        paths: &Bound<'_, PyAny>,
        service_tags: Option<PathBuf>,
        manager_precedence: &str,
        assume_deployed: bool,
        any_protocol: &str,
        empty_match: &str,
        always_allow_scope: &str,
        admin_stateless: bool,
        no_nsg: &str,
        lenient: bool,
        stateless: bool,
        idle_timeout: u64,
    ) -> PyResult<Policy> {
        let paths = paths_of(paths)?;
        let options = Options {
            manager_precedence: choice("manager_precedence", manager_precedence)?,
            assume_deployed,
            any_protocol: choice("any_protocol", any_protocol)?,
            empty_match: choice("empty_match", empty_match)?,
            always_allow_scope: choice("always_allow_scope", always_allow_scope)?,
            admin_stateless,
            no_nsg: choice("no_nsg", no_nsg)?,
            lenient,
        };
        let replay = ReplayOptions {
            stateless,
            idle_timeout_ms: idle_timeout.saturating_mul(1000),
            ..ReplayOptions::default()
        };
        py.detach(move || {
            let snapshot = secpath::load::load_snapshot(&paths)?;
            let tags = match &service_tags {
                Some(path) => ServiceTags::load(path)?,
                None => ServiceTags::none(),
            };
            let policy = secpath::resolve::Policy::build(snapshot, options, &tags)?;
            let warnings = policy.warnings.clone();
            Ok(Policy {
                loaded: Loaded::new(policy, |p| Compiled::new(p)),
                replay,
                warnings,
            })
        })
        .map_err(error)
    }

    /// What the resolver wants the user to know (ignored resources, out-of-scope members).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// The switches as a dict (D1–D7, lenient, and the replay options).
    #[getter]
    fn switches<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let o = &self.loaded.borrow_owner().options;
        let d = PyDict::new(py);
        let name = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let json = |v: &dyn erased::Ser| name(v.value());
        d.set_item("manager_precedence", json(&o.manager_precedence))?;
        d.set_item("assume_deployed", o.assume_deployed)?;
        d.set_item("any_protocol", json(&o.any_protocol))?;
        d.set_item("empty_match", json(&o.empty_match))?;
        d.set_item("always_allow_scope", json(&o.always_allow_scope))?;
        d.set_item("admin_stateless", o.admin_stateless)?;
        d.set_item("no_nsg", json(&o.no_nsg))?;
        d.set_item("lenient", o.lenient)?;
        d.set_item("stateless", self.replay.stateless)?;
        d.set_item("idle_timeout", self.replay.idle_timeout_ms / 1000)?;
        Ok(d)
    }

    /// The explain JSON (`docs/explain-json.md`) of one flow, as a dict.
    #[pyo3(signature = (flow, *, from_=None, to=None))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        flow: &str,
        from_: Option<&str>,
        to: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let flow = Flow::parse(flow).map_err(error)?;
        let pins = Pins {
            from: from_.map(ResourceId::new),
            to: to.map(ResourceId::new),
        };
        let policy = self.loaded.borrow_owner();
        let e = secpath::eval::explain(policy, &flow, &pins).map_err(error)?;
        let text = serde_json::to_string(&e)
            .map_err(|e| PyValueError::new_err(format!("explain JSON: {e}")))?;
        py.import("json")?.call_method1("loads", (text,))
    }

    /// Decides every row of a record batch along the whole path (as `secpath eval`).
    ///
    /// In: `protocol` (name or number), `src`, `dst` (strings), `src_port`, `dst_port`
    /// (integers, null for protocols without ports), optional `from` and `to` (ARM ids).
    /// Out: `verdict`, `layer`, `side`, `rule`, `resource`, `priority`, `error`; with
    /// `errors="raise"` (the default) a bad row raises `SecpathError` naming the row.
    #[pyo3(signature = (batch, *, errors="raise"))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        errors: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let raise = match errors {
            "raise" => true,
            "skip" => false,
            other => {
                return Err(PyValueError::new_err(format!(
                    "errors: `{other}` is not one of raise, skip"
                )))
            }
        };
        let batch = RecordBatch::from_pyarrow_bound(batch)?;
        let input = FlowColumns::of(&batch).map_err(PyValueError::new_err)?;
        let out = py.detach(|| {
            self.loaded
                .with_dependent(|_, compiled| evaluate_rows(compiled, &input, raise))
        })?;
        out.to_pyarrow(py)
    }

    /// Reads flow-log blobs (or captures, or tuple files) and judges every record as
    /// `secpath replay` does: one row per record read, in order, skips included.
    ///
    /// In: a batch with `content` (binary) and `path` (string), as Spark's `binaryFile`
    /// source gives, or `name` to call the file in sources instead of `path`. Out: the
    /// replay rows (`docs/spark.md`).
    #[pyo3(signature = (batch, *, input_format="auto"))]
    fn replay_files<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        input_format: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let format: InputFormat = input_format.parse().map_err(error)?;
        let batch = RecordBatch::from_pyarrow_bound(batch)?;
        let files = FileBatch::of(&batch).map_err(PyValueError::new_err)?;
        let options = self.replay;
        let out = self.loaded.with_dependent(|_, compiled| {
            py.detach(|| {
                let mut replayer = Replayer::new(compiled.engine.clone(), options);
                let mut rows = ReplayRows::default();
                files.judge(&mut replayer, format, |name, index, judged| {
                    rows.push(name, index, judged)
                });
                rows.finish()
            })
        });
        out.map_err(|e| PyValueError::new_err(e.to_string()))?
            .to_pyarrow(py)
    }

    /// Reads and judges files like `replay_files`, but adds up as it goes: one row per count,
    /// skip reason and rule hit of the batch (`kind`, `key`, `layer`, `is_default`,
    /// `count`), one row per bucket of denied flows (`bucket`, and in `blob` the flows and
    /// their counts packed by `replay::batch::pack_denied`; `count` is the number of flows),
    /// plus one row per disagreement with its details. Summing `count` by (`kind`, `key`,
    /// `layer`, `is_default`) over all batches gives the totals of `replay_report`, and
    /// `top_denied` of each bucket's blobs its most frequent denied flows; this is what the
    /// Spark job runs, as it moves far less data than one row per record or per flow.
    ///
    /// `disagreements_per_file` keeps only the first so many disagreements of each file
    /// (they still count in `disagreements_total`): enough for the summary's first 1000 when
    /// the full table is not wanted. `denied_buckets` is how many buckets denied flows are
    /// hashed into (the same number in every batch of one job).
    #[pyo3(signature = (batch, *, input_format="auto", disagreements_per_file=None, denied_buckets=1))]
    fn replay_totals<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        input_format: &str,
        disagreements_per_file: Option<usize>,
        denied_buckets: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let format: InputFormat = input_format.parse().map_err(error)?;
        let batch = RecordBatch::from_pyarrow_bound(batch)?;
        let files = FileBatch::of(&batch).map_err(PyValueError::new_err)?;
        let options = self.replay;
        let out = self.loaded.with_dependent(|_, compiled| {
            py.detach(|| {
                let mut replayer = Replayer::new(compiled.engine.clone(), options);
                let mut totals = PartialTotals {
                    keep_per_file: disagreements_per_file.unwrap_or(usize::MAX),
                    denied_buckets,
                    ..PartialTotals::default()
                };
                files.judge(&mut replayer, format, |name, index, judged| {
                    totals.add(name, index, judged)
                });
                totals.finish()
            })
        });
        out.map_err(|e| PyValueError::new_err(e.to_string()))?
            .to_pyarrow(py)
    }

    /// `secpath replay`'s summary built from totals (a dict shaped like
    /// `secpath.replay.batch.Totals`, see `docs/spark.md`): `(text, report)`, the text exactly
    /// as the CLI prints it and the report as `--format json` writes it, parsed.
    fn replay_report<'py>(
        &self,
        py: Python<'py>,
        totals_json: &str,
    ) -> PyResult<(String, Bound<'py, PyAny>)> {
        let totals: batch::Totals = serde_json::from_str(totals_json)
            .map_err(|e| PyValueError::new_err(format!("replay totals: {e}")))?;
        let report = batch::report(self.loaded.borrow_owner(), totals).map_err(error)?;
        let text = secpath::render::replay(&report);
        let json = serde_json::to_string(&report)
            .map_err(|e| PyValueError::new_err(format!("replay report: {e}")))?;
        Ok((text, py.import("json")?.call_method1("loads", (json,))?))
    }
}

/// A tiny erasure so `switches` can spell enums the way serde (and the CLI) does.
mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}

/// A batch of files: what to call each (`name`, or else `path`), and where its bytes are:
/// in `content` (binary, as Spark's `binaryFile` source gives), or on this machine at
/// `local_path` (a file the caller can open itself, whose bytes need not cross into Python).
/// A row with neither is an empty file.
struct FileBatch {
    names: StringArray,
    content: Option<arrow_array::GenericBinaryArray<i64>>,
    local_path: Option<StringArray>,
}

impl FileBatch {
    fn of(batch: &RecordBatch) -> Result<FileBatch, String> {
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

    /// Reads every file in order and judges each record, as `secpath replay` does (each
    /// file's connections its own), handing `each` the file's name, the record's index in
    /// it and what became of it.
    fn judge(
        &self,
        replayer: &mut Replayer<'_>,
        format: InputFormat,
        mut each: impl FnMut(&str, i64, Judged),
    ) {
        for i in 0..self.names.len() {
            let name = self.names.value(i);
            replayer.next_file();
            for (index, item) in self.records(i, name, format).enumerate() {
                each(name, index as i64, replayer.judge(item));
            }
        }
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

/// A string column as `StringArray` (large and view strings converted).
fn string_column(array: &ArrayRef) -> Option<StringArray> {
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().clone()),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().iter().collect()),
        DataType::Utf8View => Some(array.as_string_view().iter().collect()),
        _ => None,
    }
}

/// An integer column read as `Option<i64>` per row; a string column (as CSV readers give
/// when a value is not a number) keeps its text for the message.
enum IntColumn {
    Missing,
    Present(Vec<Option<i64>>),
    Text(StringArray),
}

impl IntColumn {
    fn of(array: Option<&ArrayRef>, name: &str) -> Result<IntColumn, String> {
        let Some(a) = array else {
            return Ok(IntColumn::Missing);
        };
        if let Some(text) = string_column(a) {
            return Ok(IntColumn::Text(text));
        }
        macro_rules! ints {
            ($($t:ty),*) => {
                match a.data_type() {
                    DataType::Null => vec![None; a.len()],
                    $(d if d == &<$t as arrow_array::types::ArrowPrimitiveType>::DATA_TYPE =>
                        a.as_primitive::<$t>().iter().map(|v| v.and_then(|v| i64::try_from(v).ok())).collect(),)*
                    other => return Err(format!("`{name}` must be integers, not {other}")),
                }
            };
        }
        Ok(IntColumn::Present(ints!(
            Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
            UInt64Type
        )))
    }

    /// The value, or its text when it is not a number (empty text is no value).
    fn get(&self, i: usize) -> Result<Option<i64>, String> {
        match self {
            IntColumn::Missing => Ok(None),
            IntColumn::Present(v) => Ok(v[i]),
            IntColumn::Text(t) if t.is_null(i) || t.value(i).trim().is_empty() => Ok(None),
            IntColumn::Text(t) => {
                let text = t.value(i).trim();
                text.parse().map(Some).map_err(|_| text.to_string())
            }
        }
    }
}

/// The flow columns `evaluate` reads.
struct FlowColumns {
    rows: usize,
    protocol_names: Option<StringArray>,
    protocol_numbers: IntColumn,
    src: StringArray,
    dst: StringArray,
    src_port: IntColumn,
    dst_port: IntColumn,
    from: Option<StringArray>,
    to: Option<StringArray>,
}

impl FlowColumns {
    fn of(batch: &RecordBatch) -> Result<FlowColumns, String> {
        let need = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("the batch has no `{name}` column"))
        };
        let strings = |name: &str| -> Result<StringArray, String> {
            string_column(need(name)?).ok_or_else(|| format!("`{name}` must be strings"))
        };
        let optional = |name: &str| -> Result<Option<StringArray>, String> {
            match batch.column_by_name(name) {
                None => Ok(None),
                Some(a) if a.data_type() == &DataType::Null => {
                    Ok(Some(StringArray::new_null(a.len())))
                }
                Some(a) => string_column(a)
                    .map(Some)
                    .ok_or_else(|| format!("`{name}` must be strings")),
            }
        };
        let protocol = need("protocol")?;
        let (protocol_names, protocol_numbers) = match string_column(protocol) {
            Some(names) => (Some(names), IntColumn::Missing),
            None => (None, IntColumn::of(Some(protocol), "protocol")?),
        };
        Ok(FlowColumns {
            rows: batch.num_rows(),
            protocol_names,
            protocol_numbers,
            src: strings("src")?,
            dst: strings("dst")?,
            src_port: IntColumn::of(batch.column_by_name("src_port"), "src_port")?,
            dst_port: IntColumn::of(batch.column_by_name("dst_port"), "dst_port")?,
            from: optional("from")?,
            to: optional("to")?,
        })
    }

    /// Row `i` as a flow and its pins, or the reason it is not one (the CLI's wording: the
    /// flow is checked by `Flow::parse` when the quick checks fail).
    fn flow(&self, i: usize) -> Result<(Flow, Pins), String> {
        let protocol_text = match &self.protocol_names {
            Some(names) if names.is_valid(i) => names.value(i).to_string(),
            Some(_) => return Err("no protocol".to_string()),
            None => match self.protocol_numbers.get(i) {
                Ok(Some(n)) => n.to_string(),
                Ok(None) => return Err("no protocol".to_string()),
                Err(text) => text,
            },
        };
        fn text(a: &StringArray, i: usize) -> Option<&str> {
            a.is_valid(i).then(|| a.value(i))
        }
        let (src, dst) = (text(&self.src, i), text(&self.dst, i));
        let (src_port, dst_port) = (self.src_port.get(i), self.dst_port.get(i));
        let pins = Pins {
            from: self
                .from
                .as_ref()
                .and_then(|a| text(a, i))
                .map(ResourceId::new),
            to: self
                .to
                .as_ref()
                .and_then(|a| text(a, i))
                .map(ResourceId::new),
        };
        let quick = (|| {
            let protocol = protocol_number(&protocol_text)?;
            let src: IpAddr = src?.parse().ok()?;
            let dst: IpAddr = dst?.parse().ok()?;
            let port = |p: &Result<Option<i64>, String>| {
                p.clone().ok()?.map(u16::try_from).transpose().ok()
            };
            let (sp, dp) = (port(&src_port)?, port(&dst_port)?);
            let ports = Flow::has_ports(protocol);
            let ok = src.is_ipv4() == dst.is_ipv4()
                && (ports == sp.is_some())
                && (ports == dp.is_some());
            ok.then_some(Flow {
                protocol,
                src,
                src_port: sp,
                dst,
                dst_port: dp,
            })
        })();
        if let Some(flow) = quick {
            return Ok((flow, pins));
        }
        let end = |ip: Option<&str>, port: Result<Option<i64>, String>| {
            let ip = ip.unwrap_or("(none)");
            let port = match port {
                Ok(p) => p.map(|p| p.to_string()),
                Err(text) => Some(text),
            };
            match port {
                Some(p) if ip.contains(':') => format!("[{ip}]:{p}"),
                Some(p) => format!("{ip}:{p}"),
                None => ip.to_string(),
            }
        };
        let spec = format!(
            "{protocol_text} {} -> {}",
            end(src, src_port),
            end(dst, dst_port)
        );
        Flow::parse(&spec)
            .map(|f| (f, pins))
            .map_err(|e| e.to_string())
    }
}

fn evaluate_rows(
    compiled: &Compiled<'_>,
    input: &FlowColumns,
    raise: bool,
) -> PyResult<RecordBatch> {
    let n = input.rows;
    let (mut verdict, mut layer, mut side, mut rule, mut resource, mut err) = (
        StringBuilder::with_capacity(n, n * 5),
        StringBuilder::with_capacity(n, n * 4),
        StringBuilder::with_capacity(n, n * 6),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut priority = Int32Builder::with_capacity(n);
    for i in 0..n {
        let decided = input.flow(i).and_then(|(flow, pins)| {
            compiled
                .engine
                .decide(&flow, &pins)
                .map_err(|e| e.to_string())
        });
        match decided {
            Err(reason) => {
                if raise {
                    return Err(SecpathError::new_err(format!("row {i}: {reason}")));
                }
                for b in [
                    &mut verdict,
                    &mut layer,
                    &mut side,
                    &mut rule,
                    &mut resource,
                ] {
                    b.append_null();
                }
                priority.append_null();
                err.append_value(reason);
            }
            Ok(d) => {
                verdict.append_value(batch::verdict_name(d.verdict));
                layer.append_option(d.layer.map(batch::layer_name));
                side.append_option(d.side.map(|s| match s {
                    secpath::eval::Side::Source => "source",
                    secpath::eval::Side::Destination => "destination",
                }));
                rule.append_option(d.rule_name());
                resource.append_option(d.resource.as_ref().map(|r| r.as_str()));
                priority.append_option(
                    d.resource
                        .as_ref()
                        .and_then(|r| compiled.priorities.get(r.key()))
                        .map(|&p| p as i32),
                );
                err.append_null();
            }
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("verdict", Arc::new(verdict.finish())),
        ("layer", Arc::new(layer.finish())),
        ("side", Arc::new(side.finish())),
        ("rule", Arc::new(rule.finish())),
        ("resource", Arc::new(resource.finish())),
        ("priority", Arc::new(priority.finish())),
        ("error", Arc::new(err.finish())),
    ];
    nullable_batch(columns).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Reads one file's bytes with `secpath replay`'s readers, without judging: a batch with one
/// row per record (the flow, what the log says, or why it was skipped) and the skip counts by
/// reason.
#[pyfunction]
#[pyo3(signature = (data, name="-", *, input_format="auto"))]
fn read_records<'py>(
    py: Python<'py>,
    data: &[u8],
    name: &str,
    input_format: &str,
) -> PyResult<(Bound<'py, PyAny>, BTreeMap<String, u64>)> {
    let format: InputFormat = input_format.parse().map_err(error)?;
    let bytes = data.to_vec();
    let (batch, skips) = py.detach(|| {
        let mut rows = ReplayRows::default();
        let mut skips = BTreeMap::new();
        for (index, item) in batch::read_bytes(name, bytes, format).enumerate() {
            if let Err(s) = &item {
                *skips
                    .entry(secpath::evaluate::reason_kind(&s.reason))
                    .or_insert(0) += 1;
            }
            rows.push_read(name, index as i64, item);
        }
        (rows.finish(), skips)
    });
    let batch = batch.map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((batch.to_pyarrow(py)?, skips))
}

/// The column builders of the replay rows (`docs/spark.md`, table `tuples`).
#[derive(Default)]
struct ReplayRows {
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

impl ReplayRows {
    fn push(&mut self, file: &str, index: i64, judged: Judged) {
        match judged {
            Judged::Skipped(s) => self.push_read(file, index, Err(s)),
            Judged::Record(r) => {
                let j = &r.judgement;
                self.record(file, index, &r.record);
                self.verdict.append_value(batch::verdict_name(j.verdict));
                self.rule
                    .append_option(j.rule.as_ref().map(|r| r.log_name()));
                self.rule_id
                    .append_option(j.rule.as_ref().map(|r| r.id.to_string()));
                self.layer
                    .append_option(j.rule.as_ref().map(|r| batch::layer_name(r.layer)));
                self.counts_hits.append_value(r.counts_hits);
                self.opens_connection.append_value(r.opens_connection);
                let hits = if r.counts_hits { &j.hits[..] } else { &[] };
                self.hit_lengths.push(hits.len());
                for h in hits {
                    self.hit_id.push(h.id.to_string());
                    self.hit_layer.push(batch::layer_name(h.layer));
                    self.hit_default.push(h.is_default);
                }
                self.denied_key.append_option(
                    (j.verdict == Verdict::Deny).then(|| batch::denied_key(&r.record.flow)),
                );
                self.agrees.append_option(r.agrees);
            }
        }
    }

    /// A row as read, before judging (or skipped).
    fn push_read(&mut self, file: &str, index: i64, item: Result<ReplayRecord, SkippedRecord>) {
        match item {
            Ok(record) => {
                self.record(file, index, &record);
                self.verdict.append_null();
                self.rule.append_null();
                self.rule_id.append_null();
                self.layer.append_null();
                self.counts_hits.append_null();
                self.opens_connection.append_null();
                self.hit_lengths.push(0);
                self.denied_key.append_null();
                self.agrees.append_null();
            }
            Err(s) => {
                self.file.append_value(file);
                self.index.append_value(index);
                self.source.append_value(s.source.to_string());
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
                    .append_value(secpath::evaluate::reason_kind(&s.reason));
                self.skipped.append_value(s.reason);
                self.counts_hits.append_null();
                self.opens_connection.append_null();
                self.agrees.append_null();
                self.hit_lengths.push(0);
            }
        }
    }

    /// The columns every read record has.
    fn record(&mut self, file: &str, index: i64, r: &ReplayRecord) {
        self.file.append_value(file);
        self.index.append_value(index);
        self.source.append_value(r.source.to_string());
        self.time_ms
            .append_option(r.time.and_then(|t| i64::try_from(t).ok()));
        let f = &r.flow;
        self.protocol.append_value(f.protocol_name());
        self.src.append_value(f.src.to_string());
        self.src_port.append_option(f.src_port.map(i32::from));
        self.dst.append_value(f.dst.to_string());
        self.dst_port.append_option(f.dst_port.map(i32::from));
        self.flow.append_value(f.to_string());
        self.skipped.append_null();
        self.skip_kind.append_null();
        match &r.kind {
            RecordKind::FlowLog(logged) => {
                self.kind.append_value("flow-log");
                self.direction.append_value(match logged.direction {
                    secpath::model::Direction::Inbound => "inbound",
                    secpath::model::Direction::Outbound => "outbound",
                });
                self.logged_decision
                    .append_value(if logged.allowed { "allow" } else { "deny" });
                self.logged_rule.append_value(&*logged.rule);
                self.logged_at.append_option(logged.resource_id.as_deref());
            }
            other => {
                self.kind.append_value(match other {
                    RecordKind::Packet(_) => "packet",
                    _ => "tuple",
                });
                self.direction.append_null();
                self.logged_decision.append_null();
                self.logged_rule.append_null();
                self.logged_at.append_null();
            }
        }
    }

    fn finish(mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
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

/// A batch whose top-level columns are all nullable, so that every batch of a kind has one
/// schema whatever its nulls (Spark's `mapInArrow` declares it once).
fn nullable_batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, arrow_schema::ArrowError> {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
}

/// Sums over the records of one batch of files (see `Policy.replay_totals`).
#[derive(Default)]
struct PartialTotals {
    /// Disagreements kept per file (all of them count).
    keep_per_file: usize,
    /// Disagreements kept of the file being read (a file starts at record 0).
    kept_in_file: usize,
    /// Buckets the denied flows are packed into.
    denied_buckets: u32,
    /// Indexed like [`COUNTS`].
    counts: [u64; COUNTS.len()],
    skipped: FxHashMap<String, u64>,
    hits: FxHashMap<ResourceId, (batch_hit::Hit, u64)>,
    denied: FxHashMap<Flow, u64>,
    disagreements: Vec<DisagreementDetail>,
}

mod batch_hit {
    /// A rule hit's layer and default flag, kept beside its id.
    #[derive(Clone, Copy)]
    pub struct Hit {
        pub layer: &'static str,
        pub is_default: bool,
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

/// The counts of a replay summary, as `Totals` names them.
const COUNTS: [&str; 9] = [
    "records_read",
    "evaluated",
    "allowed",
    "denied",
    "no_path",
    "unknown",
    "connections",
    "compared",
    "disagreements_total",
];
const READ: usize = 0;
const EVALUATED: usize = 1;
const ALLOWED: usize = 2;
const DENIED: usize = 3;
const NO_PATH: usize = 4;
const UNKNOWN: usize = 5;
const CONNECTIONS: usize = 6;
const COMPARED: usize = 7;
const DISAGREEMENTS: usize = 8;

impl PartialTotals {
    fn count(&mut self, what: usize) {
        self.counts[what] += 1;
    }

    fn add(&mut self, file: &str, index: i64, judged: Judged) {
        if index == 0 {
            self.kept_in_file = 0;
        }
        self.count(READ);
        let r = match judged {
            Judged::Skipped(s) => {
                *self
                    .skipped
                    .entry(secpath::evaluate::reason_kind(&s.reason))
                    .or_insert(0) += 1;
                return;
            }
            Judged::Record(r) => r,
        };
        let j = &r.judgement;
        self.count(EVALUATED);
        match j.verdict {
            Verdict::Allow => self.count(ALLOWED),
            Verdict::Deny => {
                self.count(DENIED);
                let key = Flow {
                    src_port: None,
                    ..r.record.flow
                };
                *self.denied.entry(key).or_insert(0) += 1;
            }
            Verdict::NoPath => self.count(NO_PATH),
            Verdict::Unknown => self.count(UNKNOWN),
        }
        if r.opens_connection {
            self.count(CONNECTIONS);
        }
        if r.counts_hits {
            for h in &j.hits {
                let hit = batch_hit::Hit {
                    layer: batch::layer_name(h.layer),
                    is_default: h.is_default,
                };
                self.hits.entry(h.id.clone()).or_insert((hit, 0)).1 += 1;
            }
        }
        let Some(agrees) = r.agrees else {
            return;
        };
        self.count(COMPARED);
        if agrees {
            return;
        }
        self.count(DISAGREEMENTS);
        let RecordKind::FlowLog(logged) = &r.record.kind else {
            return;
        };
        if self.kept_in_file >= self.keep_per_file {
            return;
        }
        self.kept_in_file += 1;
        self.disagreements.push(DisagreementDetail {
            file: file.to_string(),
            index,
            position: r.record.source.position.to_string(),
            flow: r.record.flow.to_string(),
            logged_decision: if logged.allowed { "allow" } else { "deny" },
            logged_rule: logged.rule.to_string(),
            logged_at: logged.resource_id.as_deref().map(str::to_string),
            secpath_decision: batch::verdict_name(j.verdict),
            secpath_rule: j.rule.as_ref().map(|h| h.log_name()),
            secpath_rule_id: j.rule.as_ref().map(|h| h.id.to_string()),
        });
    }

    fn finish(self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let mut kind = StringBuilder::new();
        let mut key = StringBuilder::new();
        let mut layer = StringBuilder::new();
        let mut is_default = BooleanBuilder::new();
        let mut count = Int64Builder::new();
        let mut detail: [StringBuilder; 9] = Default::default();
        let mut index = Int64Builder::new();
        let mut row = |k: &str, kv: Option<&str>, l: Option<&str>, d: Option<bool>, n: u64| {
            kind.append_value(k);
            key.append_option(kv);
            layer.append_option(l);
            is_default.append_option(d);
            count.append_value(n as i64);
        };
        for (what, n) in COUNTS.iter().zip(self.counts) {
            row("count", Some(what), None, None, n);
        }
        for (reason, n) in &self.skipped {
            row("skipped", Some(reason), None, None, *n);
        }
        for (id, (hit, n)) in &self.hits {
            row(
                "hit",
                Some(id.as_str()),
                Some(hit.layer),
                Some(hit.is_default),
                *n,
            );
        }
        let mut bucket = Int32Builder::new();
        let mut blob = BinaryBuilder::new();
        let plain = COUNTS.len() + self.skipped.len() + self.hits.len();
        bucket.append_nulls(plain);
        blob.append_nulls(plain);
        let packs = batch::pack_denied(
            self.denied.iter().map(|(f, n)| (f, *n)),
            self.denied_buckets,
        );
        for pack in &packs {
            row("denied", None, None, None, pack.flows);
            bucket.append_value(pack.bucket as i32);
            blob.append_value(&pack.bytes);
        }
        let plain = plain + packs.len();
        for b in detail.iter_mut() {
            b.append_nulls(plain);
        }
        index.append_nulls(plain);
        bucket.append_nulls(self.disagreements.len());
        blob.append_nulls(self.disagreements.len());
        for d in &self.disagreements {
            row("disagreement", None, None, None, 1);
            index.append_value(d.index);
            let values = [
                Some(d.file.as_str()),
                Some(d.position.as_str()),
                Some(d.flow.as_str()),
                Some(d.logged_decision),
                Some(d.logged_rule.as_str()),
                d.logged_at.as_deref(),
                Some(d.secpath_decision),
                d.secpath_rule.as_deref(),
                d.secpath_rule_id.as_deref(),
            ];
            for (b, v) in detail.iter_mut().zip(values) {
                b.append_option(v);
            }
        }
        let [file, position, flow, logged_decision, logged_rule, logged_at, secpath_decision, secpath_rule, secpath_rule_id] =
            detail;
        let s = |mut b: StringBuilder| Arc::new(b.finish()) as ArrayRef;
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

/// The schema of `Policy.replay_totals`' rows, for Spark's `mapInArrow`.
#[pyfunction]
fn totals_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let batch = PartialTotals::default()
        .finish()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    batch.schema().as_ref().to_pyarrow(py)
}

/// The `k` most frequent denied flows of one bucket: `blobs` is a table (or anything with
/// an Arrow stream) whose `blob` column holds that bucket's packs from `replay_totals`, from
/// any number of batches. Out, a batch of `key` (a denied key, as `replay_report` reads
/// them) and `count`, most frequent first, ties as the CLI breaks them.
#[pyfunction]
#[pyo3(signature = (blobs, k=batch::TOP_DENIED))]
fn top_denied<'py>(
    py: Python<'py>,
    blobs: &Bound<'py, PyAny>,
    k: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let stream = arrow_array::ffi_stream::RecordBatchStreamReader::from_pyarrow_bound(blobs)?;
    let mut columns = Vec::new();
    for b in stream {
        let b = b.map_err(|e| PyValueError::new_err(e.to_string()))?;
        let column = b
            .column_by_name("blob")
            .ok_or_else(|| PyValueError::new_err("the table has no `blob` column"))?;
        let column = column
            .as_binary_opt::<i32>()
            .ok_or_else(|| PyValueError::new_err("`blob` must be binary"))?
            .clone();
        columns.push(column);
    }
    let packs = columns.iter().flat_map(|c| c.iter().flatten());
    let top = py
        .detach(|| batch::top_denied_packed(packs, k))
        .map_err(PyValueError::new_err)?;
    let keys = StringArray::from_iter_values(top.iter().map(|d| d.key.as_str()));
    let counts = arrow_array::Int64Array::from_iter_values(top.iter().map(|d| d.count as i64));
    RecordBatch::try_from_iter([
        ("key", Arc::new(keys) as ArrayRef),
        ("count", Arc::new(counts)),
    ])
    .map_err(|e| PyValueError::new_err(e.to_string()))?
    .to_pyarrow(py)
}

/// The schema of `Policy.replay_files`' rows, for Spark's `mapInArrow`.
#[pyfunction]
fn replay_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let batch = ReplayRows::default()
        .finish()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let schema: Arc<Schema> = batch.schema();
    schema.as_ref().to_pyarrow(py)
}

/// The names of the input formats `input_format` accepts.
#[pyfunction]
fn input_formats<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, InputFormat::NAMES)
}

/// secpath for Python: Arrow in, Arrow out (see the `secpath` package).
#[pymodule]
fn _secpath(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Policy>()?;
    m.add("SecpathError", m.py().get_type::<SecpathError>())?;
    m.add_function(wrap_pyfunction!(read_records, m)?)?;
    m.add_function(wrap_pyfunction!(replay_schema, m)?)?;
    m.add_function(wrap_pyfunction!(totals_schema, m)?)?;
    m.add_function(wrap_pyfunction!(top_denied, m)?)?;
    m.add_function(wrap_pyfunction!(input_formats, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
