//! Opening replay inputs and the records they yield.
//!
//! [`read_inputs`] takes what the user named on the command line: files, directories (walked
//! recursively, entries in name order, so a storage-account download replays in time order)
//! and `-` for stdin. Each file is opened lazily, unwrapped if it is gzip (recognised by its
//! magic bytes, not its name: Azure exports and `tcpdump -w - | gzip` do not always say so), and
//! recognised by its content unless an [`InputFormat`] says otherwise:
//!
//! * pcap (`a1b2c3d4`, `a1b23c4d` in either byte order) and pcapng (`0a0d0d0a`) by magic;
//! * a flow log by JSON that mentions `records`, `flowRecords` or `flowTuples` near its start
//!   (or opens with `[`);
//! * anything else as a five-tuple file read by [`crate::flowfile::FlowReader`] (CSV, JSONL,
//!   ClassBench traces, flow specs).
//!
//! Problems with one file never stop the others: a file that cannot be opened, recognised or
//! read to its end yields a [`SkippedRecord`] whose [`Position`] is [`Position::File`] or
//! [`Position::Offset`] — such a skip stands for an unknown number of records.

use crate::error::{Error, Result};
use crate::eval::Pins;
use crate::flow::Flow;
use crate::flowfile::FlowReader;
use crate::replay::capture::{CaptureKind, CaptureRecords, PacketInfo};
use crate::replay::flowlog::{Expect, FlowLogRecords, LogFormat, Logged, LoggedDecision};
use flate2::read::MultiGzDecoder;
use std::fmt;
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// One record to judge.
#[derive(Clone, Debug)]
pub struct ReplayRecord {
    /// Where it was read, for messages.
    pub source: RecordSource,
    /// Unix time in milliseconds, when the input has one (flow logs and captures do).
    pub time: Option<u64>,
    /// The five-tuple as logged or captured (ports only for TCP and UDP).
    pub flow: Flow,
    /// What else the input says about it.
    pub kind: RecordKind,
}

/// What kind of input a record came from, with what that input adds to the five-tuple.
#[derive(Clone, Debug)]
pub enum RecordKind {
    /// A flow-log tuple: what Azure decided and where.
    FlowLog(Box<LoggedDecision>),
    /// A packet from a capture, with what connection tracking needs.
    Packet(PacketInfo),
    /// A plain five-tuple from a CSV/JSONL/ClassBench/flow-spec file, with its `from`/`to`
    /// pins if the file has those columns.
    Tuple(Pins),
}

/// A record as the replay loop reads it: what it shares with its neighbours (the file's
/// name, a flow-log group's resource id and rule) is borrowed, so that reading a record
/// allocates nothing and counts no references; [`RecordRef::into_owned`] makes the
/// [`ReplayRecord`] of callers that keep records.
#[derive(Debug)]
pub struct RecordRef<'a> {
    /// The file it was read from, as named on the command line or found in a directory.
    pub file: &'a Arc<Path>,
    /// The place inside it.
    pub position: Position,
    /// Unix time in milliseconds, when the input has one.
    pub time: Option<u64>,
    /// The five-tuple as logged or captured.
    pub flow: Flow,
    /// What else the input says about it.
    pub kind: KindRef<'a>,
}

/// [`RecordKind`], borrowing a flow-log tuple's shared fields.
#[derive(Debug)]
pub enum KindRef<'a> {
    /// A flow-log tuple: what Azure decided and where.
    FlowLog(Logged<'a>),
    /// A packet from a capture.
    Packet(PacketInfo),
    /// A plain five-tuple with its pins.
    Tuple(Pins),
}

impl RecordRef<'_> {
    /// Where it was read, for messages.
    pub fn source(&self) -> RecordSource {
        RecordSource {
            file: self.file.clone(),
            position: self.position,
        }
    }

    /// The record with its own copies of what it borrowed.
    pub fn into_owned(self) -> ReplayRecord {
        ReplayRecord {
            source: self.source(),
            time: self.time,
            flow: self.flow,
            kind: match self.kind {
                KindRef::FlowLog(logged) => RecordKind::FlowLog(Box::new(logged.to_owned())),
                KindRef::Packet(info) => RecordKind::Packet(info),
                KindRef::Tuple(pins) => RecordKind::Tuple(pins),
            },
        }
    }
}

/// Where a record (or a skip) was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSource {
    /// The file as named on the command line or found in a directory (`-` for stdin).
    pub file: Arc<Path>,
    /// The place inside it.
    pub position: Position,
}

/// A place inside an input. Indices are 0-based where they name a JSON array element (as in
/// a JSON path) and 1-based where they count lines or packets (as editors and Wireshark do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// The whole file: it could not be opened, recognised or read.
    File,
    /// A byte offset (in the decompressed stream) where a capture became unreadable; the rest
    /// of the file is lost.
    Offset(u64),
    /// A 1-based line and column in a JSON file: damage found there.
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column, in bytes.
        column: usize,
    },
    /// A 1-based line of a five-tuple file.
    Line(usize),
    /// A whole flow-log record (`records[record]` of the `document`-th JSON value in the file).
    Record {
        /// 0-based index of the top-level JSON value (files can hold several).
        document: u32,
        /// 0-based index of the record in it.
        record: u32,
    },
    /// One flow-log tuple: `records[record].properties.flows[flow].flows[group].flowTuples[tuple]`
    /// (NSG) or `records[record].flowRecords.flows[flow].flowGroups[group].flowTuples[tuple]`
    /// (VNet).
    Tuple {
        /// 0-based index of the top-level JSON value.
        document: u32,
        /// 0-based record index.
        record: u32,
        /// 0-based index in `properties.flows` / `flowRecords.flows`.
        flow: u32,
        /// 0-based index in `flows` / `flowGroups`.
        group: u32,
        /// 0-based index in `flowTuples`.
        tuple: u32,
        /// Which JSON layout the path names: [`LogFormat::VnetV4`] for VNet flow logs,
        /// [`LogFormat::NsgV2`] for NSG flow logs of either version (their layouts are the same).
        layout: LogFormat,
    },
    /// A packet: its 1-based number in the capture and the byte offset of its block.
    Packet {
        /// 1-based, as Wireshark numbers frames.
        number: u64,
        /// Byte offset of its record or block in the (decompressed) file.
        offset: u64,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let document = |f: &mut fmt::Formatter<'_>, d: u32| {
            if d > 0 {
                write!(f, "JSON value {}: ", d + 1)
            } else {
                Ok(())
            }
        };
        match *self {
            Position::File => f.write_str("whole file"),
            Position::Offset(o) => write!(f, "byte {o}"),
            Position::Json { line, column } => write!(f, "line {line}, column {column}"),
            Position::Line(l) => write!(f, "line {l}"),
            Position::Record {
                document: d,
                record,
            } => {
                document(f, d)?;
                write!(f, "records[{record}]")
            }
            Position::Tuple {
                document: d,
                record,
                flow,
                group,
                tuple,
                layout,
            } => {
                document(f, d)?;
                match layout {
                    LogFormat::VnetV4 => write!(
                        f,
                        "records[{record}].flowRecords.flows[{flow}].flowGroups[{group}].flowTuples[{tuple}]"
                    ),
                    LogFormat::NsgV1 | LogFormat::NsgV2 => write!(
                        f,
                        "records[{record}].properties.flows[{flow}].flows[{group}].flowTuples[{tuple}]"
                    ),
                }
            }
            Position::Packet { number, offset } => write!(f, "packet {number} (byte {offset})"),
        }
    }
}

impl fmt::Display for RecordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.position)
    }
}

/// A record that could not be read, and why. Reasons are short and categorical ("not IP:
/// ARP", "bad source port") so that a summary can count skips by reason; the source says
/// which record it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRecord {
    /// Where.
    pub source: RecordSource,
    /// Why.
    pub reason: String,
}

impl fmt::Display for SkippedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

/// How to read the inputs: recognise each by content, or read all as one format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// Recognise each file by its content (the default).
    #[default]
    Auto,
    /// NSG flow logs (version 1 or 2); VNet flow-log records in them are skipped.
    NsgFlowLog,
    /// VNet flow logs (version 4); NSG flow-log records in them are skipped.
    VnetFlowLog,
    /// Legacy pcap captures.
    Pcap,
    /// pcapng captures.
    Pcapng,
    /// Five-tuple files, as `secpath eval` reads them.
    Flows,
}

impl InputFormat {
    /// The names [`FromStr`] accepts, for `--help`.
    pub const NAMES: [&'static str; 6] = ["auto", "nsg", "vnet", "pcap", "pcapng", "flows"];
}

impl FromStr for InputFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<InputFormat> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "auto" => InputFormat::Auto,
            "nsg" | "nsg-flow-log" | "nsgflowlog" => InputFormat::NsgFlowLog,
            "vnet" | "vnet-flow-log" | "vnetflowlog" => InputFormat::VnetFlowLog,
            "pcap" => InputFormat::Pcap,
            "pcapng" => InputFormat::Pcapng,
            "flows" | "csv" | "jsonl" => InputFormat::Flows,
            _ => {
                return Err(Error::Usage(format!(
                    "unknown input format `{text}`: expected one of {}",
                    InputFormat::NAMES.join(", ")
                )))
            }
        })
    }
}

/// Directory nesting deeper than this is refused (it guards against symlink loops).
const MAX_DEPTH: usize = 64;

/// How many bytes are looked at to recognise a file.
const SNIFF_BYTES: usize = 64 * 1024;

/// The files `paths` name, directories walked recursively with entries in name order;
/// `-` (stdin) is kept as it is. A path that does not exist is an error here, before any
/// record is read. An entry of a directory that cannot be looked at (a dangling link, a
/// blob deleted during the listing) is kept as a file: reading it skips it with its reason,
/// so one bad entry among thousands of blobs is counted rather than ending the run.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            files.push(path.clone());
        } else {
            walk(path, 0, &mut files)?;
        }
    }
    Ok(files)
}

fn walk(path: &Path, depth: usize, files: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::Io {
        file: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(_) if depth > 0 => {
            files.push(path.to_path_buf());
            return Ok(());
        }
        Err(e) => return Err(io(e)),
    };
    if !meta.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(Error::Usage(format!(
            "{}: directories nested more than {MAX_DEPTH} deep (a symlink loop?)",
            path.display()
        )));
    }
    let mut entries = std::fs::read_dir(path)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(io)?;
    entries.sort();
    for entry in entries {
        walk(&entry, depth + 1, files)?;
    }
    Ok(())
}

/// Files replayed together, in order, by one worker: connection state lives as long as a unit.
pub type Unit = Vec<PathBuf>;

/// The files `paths` name (see [`expand_paths`]) grouped into [`Unit`]s that can be replayed
/// independently: a run of consecutive capture files is one unit, because a capture rotated
/// into several files (`tcpdump -C`, `-G`) continues its connections from one file into the
/// next; every other file (a flow log, a tuple file, stdin) is a unit of its own.
pub fn units(paths: &[PathBuf], format: InputFormat) -> Result<Vec<Unit>> {
    let mut units: Vec<Unit> = Vec::new();
    let mut previous_was_capture = false;
    for file in expand_paths(paths)? {
        let capture = is_capture(&file, format);
        match units.last_mut() {
            Some(unit) if capture && previous_was_capture => unit.push(file),
            _ => units.push(vec![file]),
        }
        previous_was_capture = capture;
    }
    Ok(units)
}

/// Whether `path` holds a capture (pcap or pcapng, perhaps gzipped), from its first bytes.
/// Standard input is never looked at here: it can be read only once.
pub(crate) fn is_capture(path: &Path, format: InputFormat) -> bool {
    match format {
        InputFormat::Pcap | InputFormat::Pcapng => return true,
        InputFormat::Auto => {}
        _ => return false,
    }
    if path.as_os_str() == "-" {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok((head, reader)) = peek(Box::new(file), 4) else {
        return false;
    };
    let head = if head.starts_with(&[0x1f, 0x8b]) {
        match peek(Box::new(MultiGzDecoder::new(reader)), 4) {
            Ok((head, _)) => head,
            Err(_) => return false,
        }
    } else {
        head
    };
    matches!(sniff(&head), Sniffed::Pcap | Sniffed::Pcapng)
}

/// The files of `paths` (see [`expand_paths`]), each opened (see [`open_file`]) only when
/// the one before it has been read; `.flatten()` gives their records in order. Errors here
/// are only about the paths themselves; everything that goes wrong inside a file is a
/// [`SkippedRecord`] in its stream.
pub fn read_inputs(
    paths: &[PathBuf],
    format: InputFormat,
) -> Result<impl Iterator<Item = FileRecords>> {
    let files = expand_paths(paths)?;
    Ok(files.into_iter().map(move |path| open_file(&path, format)))
}

/// Opens one file (`-` is stdin). This never fails: a file that cannot be read yields one
/// [`SkippedRecord`] saying why. Callers that replay files in parallel use this per file.
pub fn open_file(path: &Path, format: InputFormat) -> FileRecords {
    let name: Arc<Path> = Arc::from(path);
    if path.as_os_str() == "-" {
        return read_stream(name, Box::new(io::stdin()), format);
    }
    open_named(name, path, format)
}

/// Opens the file at `path` (never stdin) as [`open_file`] does, calling it `name` in
/// sources and messages (a batch engine's name for a file it found elsewhere).
pub(super) fn open_named(name: Arc<Path>, path: &Path, format: InputFormat) -> FileRecords {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return FileRecords::failed(name, Position::File, format!("cannot read: {e}")),
    };
    let size = file.metadata().map(|m| m.len()).ok();
    if let Some(capture) = mapped_capture(&name, &file, format) {
        return FileRecords {
            inner: Source::Capture(capture),
            size_hint_bytes: size,
        };
    }
    read_sized(name, Box::new(file), format, size)
}

/// A legacy pcap file, mapped into memory to be read in place (see
/// [`CaptureRecords::mapped`]). `None` for anything else, and wherever mapping fails: the
/// streaming reader takes those.
fn mapped_capture(
    name: &Arc<Path>,
    file: &std::fs::File,
    format: InputFormat,
) -> Option<CaptureRecords> {
    if !matches!(format, InputFormat::Auto | InputFormat::Pcap) || !file.metadata().ok()?.is_file()
    {
        return None;
    }
    // SAFETY: the map is only read. A file that another process truncates while it is
    // replayed makes the reads past its new end fault (SIGBUS), the risk every reader of
    // mapped files takes (ripgrep among them); captures being written only grow.
    let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
    let _ = map.advise(memmap2::Advice::Sequential);
    if sniff(map.get(..4)?) != Sniffed::Pcap {
        return None;
    }
    CaptureRecords::mapped(name.clone(), map)
}

/// Reads records from any byte stream; `name` is what messages call it.
pub fn read_stream(
    name: Arc<Path>,
    reader: Box<dyn Read + Send>,
    format: InputFormat,
) -> FileRecords {
    read_sized(name, reader, format, None)
}

/// [`read_stream`] of a stream whose size is known (a file's, or bytes in memory): a flow
/// log is then read into one allocation of that size, not grown (and copied) as it comes.
pub(super) fn read_sized(
    name: Arc<Path>,
    reader: Box<dyn Read + Send>,
    format: InputFormat,
    size: Option<u64>,
) -> FileRecords {
    match open_stream(name.clone(), reader, format, size) {
        Ok(inner) => FileRecords {
            inner,
            size_hint_bytes: size,
        },
        Err(reason) => FileRecords::failed(name, Position::File, reason),
    }
}

/// Opens a stream; `size` is its size when known (a file's, or bytes in memory).
fn open_stream(
    name: Arc<Path>,
    reader: Box<dyn Read + Send>,
    format: InputFormat,
    size: Option<u64>,
) -> Result<Source, String> {
    let cannot = |e: io::Error| format!("cannot read: {e}");
    let (head, reader) = peek(reader, SNIFF_BYTES).map_err(cannot)?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let (head, reader) = if gzip {
        let unzipped: Box<dyn Read + Send> = Box::new(MultiGzDecoder::new(reader));
        peek(unzipped, SNIFF_BYTES).map_err(|e| format!("cannot read gzip stream: {e}"))?
    } else {
        (head, reader)
    };
    let sniffed = sniff(&head);
    let kind = match format {
        InputFormat::Auto if sniffed == Sniffed::Flows && named_as_capture(&name) => {
            return Err(
                "named as a capture, but no pcap or pcapng magic number at the start".to_string(),
            );
        }
        InputFormat::Auto => sniffed,
        InputFormat::NsgFlowLog | InputFormat::VnetFlowLog | InputFormat::Flows => {
            Sniffed::from(format)
        }
        InputFormat::Pcap | InputFormat::Pcapng => {
            let wanted = Sniffed::from(format);
            if sniffed != wanted {
                return Err(format!(
                    "not a {} capture (no {} magic number at the start)",
                    wanted.name(),
                    wanted.name()
                ));
            }
            wanted
        }
    };
    Ok(match kind {
        Sniffed::Pcap => Source::Capture(CaptureRecords::open(name, reader, CaptureKind::Pcap)?),
        Sniffed::Pcapng => {
            Source::Capture(CaptureRecords::open(name, reader, CaptureKind::Pcapng)?)
        }
        Sniffed::FlowLog(expect) => {
            let limit = crate::replay::flowlog::MAX_JSON_BYTES;
            if !gzip && size.is_some_and(|size| size > limit) {
                return Err(too_large(limit));
            }
            let bytes = read_limited(reader, limit, size.filter(|_| !gzip))?;
            Source::FlowLog(FlowLogRecords::parse(name, bytes, expect))
        }
        Sniffed::Flows => Source::Flows {
            reader: FlowReader::new(BufReader::new(reader)),
            file: name,
        },
        Sniffed::Neither(why) => return Err(why.to_string()),
    })
}

/// Reads a whole stream, refusing one larger than `limit` bytes. `size`, the file's size
/// when known, is allocated at once (growing by doubling copied a large flow log twice over).
fn read_limited(
    reader: Box<dyn Read + Send>,
    limit: u64,
    size: Option<u64>,
) -> Result<Vec<u8>, String> {
    let capacity = size.map_or(0, |n| n.min(limit).saturating_add(1));
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

fn too_large(limit: u64) -> String {
    format!(
        "a flow-log JSON file is parsed whole, and this one is larger than the {} MiB limit; split it",
        limit >> 20
    )
}

/// Reads up to `n` bytes and gives back a reader that starts over from the first of them.
fn peek(mut reader: Box<dyn Read + Send>, n: usize) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = Vec::new();
    (&mut reader).take(n as u64).read_to_end(&mut head)?;
    let replay = Cursor::new(head.clone()).chain(reader);
    Ok((head, Box::new(replay)))
}

/// What a file looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sniffed {
    Pcap,
    Pcapng,
    FlowLog(Expect),
    Flows,
    /// None of them, and why: read as tuples it would give a skip per line.
    Neither(&'static str),
}

impl Sniffed {
    fn name(self) -> &'static str {
        match self {
            Sniffed::Pcap => "pcap",
            Sniffed::Pcapng => "pcapng",
            Sniffed::FlowLog(_) => "flow log",
            Sniffed::Flows => "five-tuple",
            Sniffed::Neither(_) => "unrecognised",
        }
    }
}

impl From<InputFormat> for Sniffed {
    fn from(format: InputFormat) -> Sniffed {
        match format {
            InputFormat::Auto => Sniffed::FlowLog(Expect::Any),
            InputFormat::NsgFlowLog => Sniffed::FlowLog(Expect::Nsg),
            InputFormat::VnetFlowLog => Sniffed::FlowLog(Expect::Vnet),
            InputFormat::Pcap => Sniffed::Pcap,
            InputFormat::Pcapng => Sniffed::Pcapng,
            InputFormat::Flows => Sniffed::Flows,
        }
    }
}

/// Recognises a file by its first bytes.
fn sniff(head: &[u8]) -> Sniffed {
    const PCAP_MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1], // microseconds, little-endian
        [0xa1, 0xb2, 0xc3, 0xd4], // microseconds, big-endian
        [0x4d, 0x3c, 0xb2, 0xa1], // nanoseconds, little-endian
        [0xa1, 0xb2, 0x3c, 0x4d], // nanoseconds, big-endian
        [0x34, 0xcd, 0xb2, 0xa1], // Kuznetzov's modified format
    ];
    if head.len() >= 4 && PCAP_MAGICS.iter().any(|m| head.starts_with(m)) {
        return Sniffed::Pcap;
    }
    if head.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        return Sniffed::Pcapng;
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let first = text.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let mentions = |key: &[u8]| text.windows(key.len()).any(|w| w == key);
    match first {
        Some(b'[') => Sniffed::FlowLog(Expect::Any),
        Some(b'{' | b',')
            if mentions(b"\"records\"")
                || mentions(b"\"flowRecords\"")
                || mentions(b"\"flowTuples\"") =>
        {
            Sniffed::FlowLog(Expect::Any)
        }
        Some(b'{') if !is_jsonl_flow(text) => Sniffed::Neither(
            "JSON that is neither a flow log (no records or flowRecords) nor a tuple file (one JSON object per line, naming src and dst)",
        ),
        _ if is_binary(text) => Sniffed::Neither(
            "neither a capture (no pcap or pcapng magic number) nor a flow log nor a text tuple file",
        ),
        _ => Sniffed::Flows,
    }
}

/// A first line that is a whole JSON object naming a flow's fields, as a JSONL tuple
/// file's lines do; an ARM resource names none of them.
///
/// The first line that is not blank decides. One that does not parse is taken for a tuple
/// file's damaged line (skipped alone when read), unless it opens a pretty-printed object
/// (`{` alone), which no tuple file's line does, or `text` cuts it off (minified JSON is one
/// long line).
pub fn is_jsonl_flow(text: &[u8]) -> bool {
    let Some(line) = text
        .split_inclusive(|b| *b == b'\n')
        .find(|l| !l.trim_ascii().is_empty())
    else {
        return false;
    };
    let whole = line.ends_with(b"\n");
    let line = line.trim_ascii();
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line) {
        Ok(m) => m.contains_key("src") || m.contains_key("dst") || m.contains_key("protocol"),
        Err(_) => whole && line != b"{",
    }
}

/// Bytes no text file holds: a NUL or another control character than tab, line feed, form
/// feed and carriage return. Bytes that are not UTF-8 are not counted: a CSV saved in a
/// Windows code page is text, its odd lines skipped alone.
fn is_binary(head: &[u8]) -> bool {
    head.iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0c | b'\r'))
}

/// True for a file named as a capture (`.pcap`, `.pcapng`, `.cap`, gzipped or not): one
/// without a capture's magic number is damaged, and reading it as text would only report
/// its bytes as "not UTF-8 text".
fn named_as_capture(name: &Path) -> bool {
    let name = name.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".pcap", ".pcapng", ".cap"]
        .iter()
        .any(|extension| name.ends_with(extension))
}

/// The records of one file. See [`open_file`].
pub struct FileRecords {
    inner: Source,
    size_hint_bytes: Option<u64>,
}

impl FileRecords {
    pub(crate) fn failed(file: Arc<Path>, position: Position, reason: String) -> FileRecords {
        FileRecords {
            inner: Source::Failed(Some(SkippedRecord {
                source: RecordSource { file, position },
                reason,
            })),
            size_hint_bytes: None,
        }
    }

    /// The file's size on disk, when known (for progress bars).
    pub fn size_bytes(&self) -> Option<u64> {
        self.size_hint_bytes
    }
}

enum Source {
    Failed(Option<SkippedRecord>),
    Flows {
        reader: FlowReader<BufReader<Box<dyn Read + Send>>>,
        file: Arc<Path>,
    },
    FlowLog(FlowLogRecords),
    Capture(CaptureRecords),
}

/// A reader that hands out records borrowed, one at a time (see [`RecordRef`]).
pub trait NextRecord {
    /// The next record, or why one could not be read; `None` at the end.
    fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, SkippedRecord>>;
}

/// A loop over one file's records, compiled for each kind of reader by
/// [`FileRecords::read_with`].
pub trait RecordLoop {
    /// Reads `records` to their end.
    fn read(&mut self, records: &mut impl NextRecord) -> crate::error::Result<()>;
}

impl FileRecords {
    /// Runs `records` over this file with its reader as such: the loop is compiled for
    /// captures and for flow logs apart, so a packet or a tuple is handed over in registers
    /// instead of going through the enum of every kind of record (which cost a copy of ~200
    /// bytes per record).
    pub fn read_with(&mut self, records: &mut impl RecordLoop) -> crate::error::Result<()> {
        match &mut self.inner {
            Source::Capture(capture) => records.read(capture),
            Source::FlowLog(log) => records.read(log),
            Source::Failed(_) | Source::Flows { .. } => records.read(self),
        }
    }
}

impl NextRecord for FileRecords {
    /// The next record, borrowing what it shares with the others (see [`RecordRef`]); the
    /// replay loop reads this way, [`Iterator::next`] gives owned records.
    fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, SkippedRecord>> {
        match &mut self.inner {
            Source::Failed(skip) => skip.take().map(Err),
            Source::FlowLog(records) => records.next_ref(),
            Source::Capture(records) => records.next_ref(),
            Source::Flows { reader, file } => {
                let item = reader.next()?;
                Some(match item {
                    Ok(record) => Ok(RecordRef {
                        file,
                        position: Position::Line(record.line),
                        time: None,
                        flow: record.flow,
                        kind: KindRef::Tuple(record.pins),
                    }),
                    Err(skip) => Err(SkippedRecord {
                        source: RecordSource {
                            file: file.clone(),
                            position: Position::Line(skip.line),
                        },
                        reason: skip.reason,
                    }),
                })
            }
        }
    }
}

impl Iterator for FileRecords {
    type Item = Result<ReplayRecord, SkippedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref().map(|item| item.map(RecordRef::into_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::capture::testkit::{eth, ipv4, pcap, tcp, Frame};
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// A fresh scratch directory under the system temp dir.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("secpath-replay-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn summary(items: impl Iterator<Item = Result<ReplayRecord, SkippedRecord>>) -> Vec<String> {
        items
            .map(|item| match item {
                Ok(r) => {
                    let file = r
                        .source
                        .file
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_string();
                    let kind = match r.kind {
                        RecordKind::FlowLog(_) => "log",
                        RecordKind::Packet(_) => "packet",
                        RecordKind::Tuple(_) => "tuple",
                    };
                    format!("{file} {kind} {}", r.flow)
                }
                Err(s) => {
                    let file = s
                        .source
                        .file
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_string();
                    format!("{file} skip {}: {}", s.source.position, s.reason)
                }
            })
            .collect()
    }

    fn one_packet_pcap() -> Vec<u8> {
        let frame = eth(
            0x0800,
            &ipv4(6, [10, 0, 0, 1], [10, 0, 0, 2], &tcp(1, 2, 2), (0, false)),
        );
        pcap(false, false, 1, &[Frame::new(0, 0, &frame)])
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn the_committed_fixtures() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replay");
        let mine = [
            "appended-PT1H.json",
            "hostile-block-length.pcapng",
            "mixed.pcap",
            "sections.pcapng",
            "truncated.pcap",
        ];
        let paths: Vec<PathBuf> = mine.iter().map(|name| dir.join(name)).collect();
        let got = summary(read_inputs(&paths, InputFormat::Auto).unwrap().flatten());
        let count = |prefix: &str| got.iter().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(count("appended-PT1H.json log"), 3);
        assert!(got.contains(&"appended-PT1H.json skip line 3, column 1: malformed JSON: EOF while parsing a list; the rest of the file is lost".to_string()), "{got:?}");
        assert_eq!(count("hostile-block-length.pcapng packet"), 1);
        assert!(got.iter().any(|l| l.starts_with("hostile-block-length.pcapng skip byte 136: corrupt capture: a block claims 4294967280 bytes")), "{got:?}");
        assert_eq!(count("mixed.pcap packet"), 9);
        assert_eq!(count("mixed.pcap skip"), 6);
        assert_eq!(count("sections.pcapng packet"), 2);
        assert_eq!(count("truncated.pcap packet"), 2);
        assert_eq!(
            got.last().map(String::as_str),
            Some("truncated.pcap skip byte 160: capture truncated: the last block ends past the end of the file")
        );
    }

    /// A capture file read mapped gives what the same bytes give streamed, whole or damaged.
    #[test]
    fn mapped_captures_read_as_streams() {
        let dir = scratch("mapped");
        let path = dir.join("c.pcap");
        let name: Arc<Path> = Arc::from(path.as_path());
        let frame = eth(
            0x0800,
            &ipv4(6, [10, 0, 0, 1], [10, 0, 0, 2], &tcp(1, 2, 2), (0, false)),
        );
        let frames = [
            Frame::new(1, 2, &frame),
            Frame::new(3, 4, &frame[..30]),
            Frame::new(5, 6, &frame),
        ];
        let mut hostile = pcap(false, false, 1, &frames);
        hostile.extend([0; 8].iter().chain(&[0xff; 8]).chain(&[0; 40]));
        let mut near_limit = pcap(false, false, 1, &frames[..1]);
        let claim = (crate::replay::capture::MAX_BLOCK_BYTES - 60) as u32;
        near_limit.extend([0; 8].iter().chain(&claim.to_le_bytes()).chain(&[0; 4]));
        let big = vec![0u8; 3 << 20];
        let whole = [
            pcap(false, false, 1, &frames),
            pcap(true, true, 1, &frames),
            hostile,
            near_limit,
        ];
        let mut files: Vec<Vec<u8>> = whole.to_vec();
        files.push(pcap(
            false,
            false,
            1,
            &[Frame::new(0, 0, &big), Frame::new(1, 2, &frame)],
        ));
        for bytes in &whole {
            files.extend((0..bytes.len()).map(|cut| bytes[..cut].to_vec()));
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        for _ in 0..300 {
            let mut bytes = whole[next() % whole.len()].clone();
            for _ in 0..next() % 6 + 1 {
                let at = next() % bytes.len();
                bytes[at] = next() as u8;
            }
            files.push(bytes);
        }
        let mut mapped = 0;
        for bytes in files {
            std::fs::write(&path, &bytes).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            let Some(capture) = mapped_capture(&name, &file, InputFormat::Auto) else {
                continue;
            };
            mapped += 1;
            let records = FileRecords {
                inner: Source::Capture(capture),
                size_hint_bytes: None,
            };
            let stream = read_stream(
                name.clone(),
                Box::new(Cursor::new(bytes)),
                InputFormat::Auto,
            );
            assert_eq!(summary(records), summary(stream));
        }
        assert!(mapped > 300, "{mapped} files were read mapped");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gzip_round_trip_and_sniffing() {
        let dir = scratch("gzip");
        let capture = one_packet_pcap();
        let log = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replay/appended-PT1H.json"),
        )
        .unwrap();
        std::fs::write(dir.join("a.pcap.gz"), gzip(&capture)).unwrap();
        std::fs::write(dir.join("b.bin"), gzip(&log)).unwrap();
        std::fs::write(dir.join("c.csv"), "protocol,src,src_port,dst,dst_port\nudp,10.0.0.1,53,10.0.0.2,53\nudp,x,1,10.0.0.2,53\n").unwrap();
        std::fs::write(
            dir.join("d.jsonl"),
            "{\"protocol\":\"icmp\",\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\"}\n",
        )
        .unwrap();
        let mut two_gzip_members = gzip(b"tcp 10.0.0.1:1 -> 10.0.0.2:2\n");
        two_gzip_members.extend(gzip(b"tcp 10.0.0.1:3 -> 10.0.0.2:4\n"));
        std::fs::write(dir.join("e.txt.gz"), two_gzip_members).unwrap();
        std::fs::create_dir(dir.join("d0")).unwrap();
        std::fs::write(dir.join("d0/z.txt"), "esp 10.0.0.1 -> 10.0.0.2\n").unwrap();
        let mut broken = gzip(&capture);
        broken.truncate(broken.len() / 2);
        std::fs::write(dir.join("f.pcap.gz"), broken).unwrap();
        let mut got = summary(
            read_inputs(std::slice::from_ref(&dir), InputFormat::Auto)
                .unwrap()
                .flatten(),
        );
        // The five-tuple reader's own wording is not this module's business.
        for line in &mut got {
            if line.starts_with("c.csv skip") {
                line.truncate("c.csv skip line 3".len());
            }
        }
        assert_eq!(
            got,
            [
                "a.pcap.gz packet tcp 10.0.0.1:1 -> 10.0.0.2:2",
                "b.bin log tcp 203.0.113.5:51000 -> 10.0.0.4:22",
                "b.bin log tcp 10.0.0.4:40000 -> 198.51.100.7:443",
                "b.bin log tcp 10.0.0.4:40000 -> 198.51.100.7:443",
                "b.bin skip line 3, column 1: malformed JSON: EOF while parsing a list; the rest of the file is lost",
                "c.csv tuple udp 10.0.0.1:53 -> 10.0.0.2:53",
                "c.csv skip line 3",
                "d.jsonl tuple icmp 10.0.0.1 -> 10.0.0.2",
                "z.txt tuple esp 10.0.0.1 -> 10.0.0.2",
                "e.txt.gz tuple tcp 10.0.0.1:1 -> 10.0.0.2:2",
                "e.txt.gz tuple tcp 10.0.0.1:3 -> 10.0.0.2:4",
                "f.pcap.gz skip whole file: cannot read gzip stream: incomplete deflate stream",
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn format_overrides_and_bad_paths() {
        let dir = scratch("override");
        let capture = dir.join("x.pcap");
        std::fs::write(&capture, one_packet_pcap()).unwrap();
        let read = |format| {
            summary(
                read_inputs(std::slice::from_ref(&capture), format)
                    .unwrap()
                    .flatten(),
            )
        };
        assert_eq!(read(InputFormat::Pcap).len(), 1);
        assert_eq!(
            read(InputFormat::Pcapng),
            ["x.pcap skip whole file: not a pcapng capture (no pcapng magic number at the start)"]
        );
        assert_eq!(read(InputFormat::VnetFlowLog).len(), 1);
        // Read by content, a file named as a capture must be one.
        let junk = dir.join("junk.PCAP.gz");
        std::fs::write(&junk, b"\xde\xad\xbe\xef\xde\xad\xbe\xef").unwrap();
        assert_eq!(
            summary(read_inputs(&[junk], InputFormat::Auto).unwrap().flatten()),
            ["junk.PCAP.gz skip whole file: named as a capture, but no pcap or pcapng magic number at the start"]
        );
        let missing = dir.join("missing");
        assert!(matches!(
            read_inputs(std::slice::from_ref(&missing), InputFormat::Auto),
            Err(Error::Io { .. })
        ));
        // Inside a directory, an entry that cannot be read is skipped, not fatal.
        #[cfg(unix)]
        {
            let listed = dir.join("listed");
            std::fs::create_dir(&listed).unwrap();
            std::os::unix::fs::symlink(&missing, listed.join("dangling")).unwrap();
            std::fs::copy(&capture, listed.join("y.pcap")).unwrap();
            let got = summary(read_inputs(&[listed], InputFormat::Auto).unwrap().flatten());
            assert_eq!(got.len(), 2, "{got:?}");
            assert!(
                got[0].starts_with("dangling skip whole file: cannot read:"),
                "{got:?}"
            );
        }
        assert_eq!(
            "VNET".parse::<InputFormat>().ok(),
            Some(InputFormat::VnetFlowLog)
        );
        assert!("xml".parse::<InputFormat>().is_err());
        assert_eq!(
            expand_paths(&[PathBuf::from("-")]).ok(),
            Some(vec![PathBuf::from("-")])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn oversized_json_is_refused() {
        let limit = 1 << 20;
        let big: Box<dyn Read + Send> = Box::new(Cursor::new(vec![b' '; limit + 1]));
        assert_eq!(
            read_limited(big, limit as u64, None).err(),
            Some("a flow-log JSON file is parsed whole, and this one is larger than the 1 MiB limit; split it".to_string())
        );
        let small: Box<dyn Read + Send> = Box::new(Cursor::new(vec![b' '; 10]));
        assert_eq!(
            read_limited(small, limit as u64, Some(10)).map(|b| b.len()),
            Ok(10)
        );
        // A file on disk is refused by its size, before anything is read past the sniff.
        let dir = scratch("large");
        let path = dir.join("PT1H.json");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(b"{\"records\":[").unwrap();
        if file
            .set_len(crate::replay::flowlog::MAX_JSON_BYTES + 1)
            .is_ok()
        {
            let got = summary(open_file(&path, InputFormat::Auto));
            assert_eq!(
                got,
                ["PT1H.json skip whole file: a flow-log JSON file is parsed whole, and this one is larger than the 2048 MiB limit; split it"]
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sniffing_by_content() {
        assert_eq!(sniff(b"\xd4\xc3\xb2\xa1rest"), Sniffed::Pcap);
        assert_eq!(sniff(b"\xa1\xb2\x3c\x4drest"), Sniffed::Pcap);
        assert_eq!(sniff(b"\x0a\x0d\x0d\x0arest"), Sniffed::Pcapng);
        assert_eq!(sniff(b" {\"records\": []}"), Sniffed::FlowLog(Expect::Any));
        assert_eq!(
            sniff(b"\xef\xbb\xbf{\"records\": []}"),
            Sniffed::FlowLog(Expect::Any)
        );
        assert_eq!(sniff(b"[{\"a\":1}]"), Sniffed::FlowLog(Expect::Any));
        assert_eq!(sniff(b"{\"protocol\":\"tcp\"}"), Sniffed::Flows);
        assert_eq!(sniff(b"tcp 1.2.3.4:1 -> 5.6.7.8:2"), Sniffed::Flows);
        assert_eq!(sniff(b""), Sniffed::Flows);
        // ARM JSON, pretty-printed or on one line, and binary junk are no input.
        for head in [
            &b"{\n  \"value\": [\n"[..],
            b"{\"type\": \"Microsoft.Network/virtualNetworks\"}",
            b"\x00\x01\x02junk",
            b"\xff\x01\xfd\xfc",
        ] {
            assert!(matches!(sniff(head), Sniffed::Neither(_)), "{head:?}");
        }
        // A blank first line, a damaged first object and Windows-1252 text are tuple files.
        for head in [
            &b"\n{\"src\": \"1.2.3.4\", \"dst\": \"5.6.7.8\"}\n"[..],
            b"{\"src\": \"1.2.3.4\", \"dst\":\n",
            b"protocol,src,dst,note\ntcp,1.2.3.4,5.6.7.8,caf\xe9\n",
        ] {
            assert_eq!(sniff(head), Sniffed::Flows, "{head:?}");
        }
    }
}
