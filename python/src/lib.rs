//! The `secpath._secpath` extension module: secpath's policy, evaluator and replay readers
//! for Python, Arrow record batches in and out through the Arrow C data interface.
//!
//! Everything here is a thin layer over the `secpath` library: loading is
//! `load::load_snapshot` + `Policy::build` (the CLI's path, the same switches); `evaluate` is
//! the compiled engine of `secpath eval`; `replay_files` and `replay_totals` read with
//! `replay::batch::read_bytes` (or `read_path`) and run `secpath replay`'s loop and tally
//! over each file (`replay::batch::Replayer`; the rows are module `replay`'s);
//! `replay_report` rebuilds `secpath replay`'s summary from totals. No per-row Python: a
//! batch crosses the boundary once each way, and the interpreter lock is released while Rust
//! works. Library errors become `SecpathError` with the CLI's message; no input panics.

use arrow_array::builder::{Int32Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use arrow_schema::{DataType, Schema};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use replay::{FileBatch, KeptDisagreements, ReplayRows};
use secpath::engine::{Engine, EngineKind};
use secpath::eval::Pins;
use secpath::flow::{protocol_number, Flow};
use secpath::model::ResourceId;
use secpath::options::Options;
use secpath::replay::batch::{self, Replayer};
use secpath::replay::input::InputFormat;
use secpath::replay::run::ReplayOptions;
use secpath::replay::tally::Tally;
use secpath::resolve::tags::ServiceTags;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

mod replay;

create_exception!(
    _secpath,
    SecpathError,
    PyException,
    "A secpath error: bad snapshot, DSL, flow or input. The message is the one the CLI prints after `error: `, located (file, line and column, JSON path, rule)."
);

fn error(e: secpath::Error) -> PyErr {
    SecpathError::new_err(e.to_string())
}

/// An Arrow error (a batch that cannot be built or read) as `ValueError`.
fn arrow_error(e: arrow_schema::ArrowError) -> PyErr {
    PyValueError::new_err(e.to_string())
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
                files
                    .replay(&mut replayer, format, &mut Tally::default(), &mut rows)
                    .map_err(error)?;
                rows.finish().map_err(arrow_error)
            })
        });
        out?.to_pyarrow(py)
    }

    /// Reads and judges files like `replay_files`, but adds up as it goes: one row per count,
    /// skip reason and rule hit of the batch (`kind`, `key`, `layer`, `is_default`,
    /// `count`), one row per bucket of denied flows (`bucket`, and in `blob` the flows and
    /// their counts packed by `replay::batch::pack_denied`; `count` is the number of flows),
    /// plus one row per disagreement with its details, these last (the Spark job slices them
    /// off without copying the packs). Summing `count` by (`kind`, `key`,
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
                let mut tally = Tally::default();
                let keep = disagreements_per_file.unwrap_or(usize::MAX);
                let mut kept = KeptDisagreements::new(keep);
                files
                    .replay(&mut replayer, format, &mut tally, &mut kept)
                    .map_err(error)?;
                replay::totals_batch(&tally, &kept, denied_buckets).map_err(arrow_error)
            })
        });
        out?.to_pyarrow(py)
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
    nullable_batch(columns).map_err(arrow_error)
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
        let skips = rows.read(name, batch::read_bytes(name, bytes, format));
        (rows.finish(), skips)
    });
    let batch = batch.map_err(arrow_error)?;
    Ok((batch.to_pyarrow(py)?, skips))
}

/// A batch whose top-level columns are all nullable, so that every batch of a kind has one
/// schema whatever its nulls (Spark's `mapInArrow` declares it once).
fn nullable_batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, arrow_schema::ArrowError> {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
}

/// The schema of `Policy.replay_totals`' rows, for Spark's `mapInArrow`.
#[pyfunction]
fn totals_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let batch = replay::totals_batch(&Tally::default(), &KeptDisagreements::new(0), 1)
        .map_err(arrow_error)?;
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
        let b = b.map_err(arrow_error)?;
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
    .map_err(arrow_error)?
    .to_pyarrow(py)
}

/// The schema of `Policy.replay_files`' rows, for Spark's `mapInArrow`.
#[pyfunction]
fn replay_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let batch = ReplayRows::default().finish().map_err(arrow_error)?;
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
