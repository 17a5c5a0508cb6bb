//! Streaming flow input for `eval` and `bench`: CSV, JSONL, ClassBench traces, or one flow
//! spec per line — detected from the first record, read line by line so memory does not grow
//! with the input.
//!
//! CSV has a header naming its columns (`protocol,src,src_port,dst,dst_port[,from,to]`, in any
//! order) or, without one, those five columns in that order. JSONL objects use the same
//! names. A ClassBench trace line is `SRC DST SPORT DPORT PROTO [FILTER] [LABEL]` with decimal
//! IPv4 addresses. Ports of protocols without ports (ICMP, ESP, ...) are dropped, as
//! SEMANTICS §3.1 ignores them.

use crate::eval::Pins;
use crate::flow::Flow;
use crate::model::ResourceId;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::io::{self, BufRead};
use std::net::Ipv4Addr;

/// The longest line read. A flow record is well under 1 KiB; a longer line (a binary file, a
/// file of one endless line) is skipped with a reason after reading it through, without
/// holding more than this much of it.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// One flow read, with its optional pins.
#[derive(Clone, Debug)]
pub struct FlowRecord {
    /// 1-based line number in its input.
    pub line: usize,
    /// The flow.
    pub flow: Flow,
    /// `from` / `to` columns.
    pub pins: Pins,
}

/// A line that could not be read as a flow, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// The input layouts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Layout {
    Csv(Vec<Column>),
    /// A CSV header that names a field twice: which cell holds it is unknown, so every
    /// record is skipped with this reason.
    AmbiguousCsv(String),
    Jsonl,
    ClassBench,
    Spec,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Protocol,
    Src,
    SrcPort,
    Dst,
    DstPort,
    From,
    To,
    Other,
}

/// Reads flows from `input`, one per line.
pub struct FlowReader<R> {
    input: R,
    layout: Option<Layout>,
    line: usize,
    buf: Vec<u8>,
    /// A read failed: the input cannot be trusted to go on (a directory fails every read
    /// forever), so the failure was the last record.
    failed: bool,
}

impl<R: BufRead> FlowReader<R> {
    /// Wraps a buffered reader.
    pub fn new(input: R) -> FlowReader<R> {
        FlowReader {
            input,
            layout: None,
            line: 0,
            buf: Vec::new(),
            failed: false,
        }
    }
}

impl<R: BufRead> Iterator for FlowReader<R> {
    type Item = Result<FlowRecord, Skipped>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            self.line += 1;
            let skip = |reason| {
                Some(Err(Skipped {
                    line: self.line,
                    reason,
                }))
            };
            match read_line_bounded(&mut self.input, &mut self.buf) {
                Ok(LineRead::End) => return None,
                Ok(LineRead::Line) => {}
                Ok(LineRead::TooLong(len)) => {
                    return skip(format!(
                        "line of {len} bytes is longer than the {} KiB a flow record may take",
                        MAX_LINE_BYTES >> 10
                    ))
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(Skipped {
                        line: self.line,
                        reason: format!("unreadable: {e}"),
                    }));
                }
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return skip("not UTF-8 text".to_string());
            };
            // A byte-order mark, as Excel and PowerShell write, starts the first line.
            let text = match self.line {
                1 => text.strip_prefix('\u{feff}').unwrap_or(text),
                _ => text,
            };
            let text = trim(text);
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            if self.layout.is_none() {
                let (layout, header) = detect(text);
                self.layout = Some(layout);
                if header {
                    continue;
                }
            }
            let line = self.line;
            let layout = self.layout.as_ref().expect("set above");
            return Some(
                parse(layout, text)
                    .map(|(flow, pins)| FlowRecord { line, flow, pins })
                    .map_err(|reason| Skipped { line, reason }),
            );
        }
    }
}

/// What [`read_line_bounded`] found.
enum LineRead {
    /// The end of the input.
    End,
    /// A line, now in the buffer (without its newline).
    Line,
    /// A line longer than [`MAX_LINE_BYTES`], of this many bytes, read through and dropped.
    TooLong(u64),
}

/// Reads one line into `buf` (cleared first), holding at most [`MAX_LINE_BYTES`] of it.
fn read_line_bounded(input: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    buf.clear();
    let mut len: u64 = 0;
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match len {
                0 => LineRead::End,
                _ if buf.len() as u64 == len => LineRead::Line,
                _ => LineRead::TooLong(len),
            });
        }
        let (take, newline) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if buf.len() + take <= MAX_LINE_BYTES && buf.len() as u64 == len {
            buf.extend_from_slice(&chunk[..take]);
        }
        len += take as u64;
        input.consume(take + usize::from(newline));
        if newline {
            return Ok(if buf.len() as u64 == len {
                LineRead::Line
            } else {
                LineRead::TooLong(len)
            });
        }
    }
}

/// The layout of a file from its first record, and whether that record is a header.
fn detect(first: &str) -> (Layout, bool) {
    if first.starts_with('{') {
        return (Layout::Jsonl, false);
    }
    if first.contains(',') {
        let cells = csv_cells(first);
        let header = cells.iter().any(|c| column(c) != Column::Other);
        if header {
            return (csv_header(&cells), true);
        }
        let default = vec![
            Column::Protocol,
            Column::Src,
            Column::SrcPort,
            Column::Dst,
            Column::DstPort,
            Column::From,
            Column::To,
        ];
        return (Layout::Csv(default), false);
    }
    if first
        .split_whitespace()
        .take(5)
        .all(|w| w.parse::<u64>().is_ok())
    {
        return (Layout::ClassBench, false);
    }
    (Layout::Spec, false)
}

/// The layout a CSV header gives, unless it names a field twice.
fn csv_header(cells: &[&str]) -> Layout {
    let columns: Vec<Column> = cells.iter().map(|c| column(c)).collect();
    for (i, c) in columns.iter().enumerate() {
        let again = columns.iter().skip(i + 1).position(|d| d == c);
        if let (Some(j), true) = (again, *c != Column::Other) {
            return Layout::AmbiguousCsv(format!(
                "the CSV header names one field twice: `{}` (column {}) and `{}` (column {})",
                cells[i],
                i + 1,
                cells[i + 1 + j],
                i + 2 + j
            ));
        }
    }
    Layout::Csv(columns)
}

fn column(name: &str) -> Column {
    match name.to_ascii_lowercase().as_str() {
        "protocol" | "proto" => Column::Protocol,
        "src" | "src_ip" | "source" => Column::Src,
        "src_port" | "sport" | "source_port" => Column::SrcPort,
        "dst" | "dst_ip" | "destination" => Column::Dst,
        "dst_port" | "dport" | "destination_port" => Column::DstPort,
        "from" => Column::From,
        "to" => Column::To,
        _ => Column::Other,
    }
}

fn parse(layout: &Layout, text: &str) -> Result<(Flow, Pins), String> {
    match layout {
        Layout::Spec => Flow::parse(text)
            .map(|f| (f, Pins::default()))
            .map_err(|e| e.to_string()),
        Layout::ClassBench => classbench_trace(text).map(|f| (f, Pins::default())),
        Layout::Jsonl => jsonl(text),
        Layout::Csv(columns) => csv(columns, text),
        Layout::AmbiguousCsv(reason) => Err(reason.clone()),
    }
}

/// Builds a flow from its parts, dropping ports where the protocol has none. Parsed field by
/// field (not through the flow-spec grammar) because this is the hot loop of `eval`.
fn assemble(
    protocol: &str,
    src: &str,
    sport: Option<&str>,
    dst: &str,
    dport: Option<&str>,
) -> Result<Flow, String> {
    let protocol = crate::flow::protocol_number(protocol)
        .ok_or_else(|| format!("`{protocol}` is not a protocol: expected tcp, udp, icmp, icmpv6, esp, ah or a number 0-255"))?;
    let addr = |a: &str| {
        crate::flow::address(trim(a).as_bytes())
            .ok_or_else(|| format!("`{a}` is not an IP address"))
    };
    let (src, dst) = (addr(src)?, addr(dst)?);
    if src.is_ipv4() != dst.is_ipv4() {
        return Err("source and destination must both be IPv4 or both IPv6".to_string());
    }
    // A port given is checked whatever the protocol, as the flow-spec reader does: a
    // garbled cell is a garbled record, even where the protocol has no ports to use it.
    let (sport, dport) = (given_port(sport)?, given_port(dport)?);
    if !Flow::has_ports(protocol) {
        return Ok(Flow {
            protocol,
            src,
            src_port: None,
            dst,
            dst_port: None,
        });
    }
    let need = |p: Option<u16>, which: &str| {
        p.ok_or_else(|| format!("TCP and UDP flows need a {which} port"))
    };
    Ok(Flow {
        protocol,
        src,
        src_port: Some(need(sport, "source")?),
        dst,
        dst_port: Some(need(dport, "destination")?),
    })
}

/// A port cell: absent or empty, or a port as the flow-spec reader reads one (no sign:
/// `+443` is no port).
fn given_port(cell: Option<&str>) -> Result<Option<u16>, String> {
    let Some(p) = cell.map(trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    crate::flow::port_number(p)
        .map(Some)
        .ok_or_else(|| format!("`{p}` is not a port 0-65535"))
}

fn classbench_trace(text: &str) -> Result<Flow, String> {
    let w: Vec<&str> = text.split_whitespace().collect();
    if w.len() < 5 {
        return Err(format!(
            "a ClassBench trace line has 5 or more columns, found {}",
            w.len()
        ));
    }
    let addr = |s: &str| {
        s.parse::<u32>()
            .map(|n| Ipv4Addr::from(n).to_string())
            .map_err(|_| format!("`{s}` is not a decimal IPv4 address"))
    };
    let (src, dst) = (addr(w[0])?, addr(w[1])?);
    assemble(w[4], &src, Some(w[2]), &dst, Some(w[3]))
}

fn pins(from: Option<&str>, to: Option<&str>) -> Pins {
    let pin = |p: Option<&str>| p.filter(|s| !s.is_empty()).map(ResourceId::new);
    Pins {
        from: pin(from),
        to: pin(to),
    }
}

/// One CSV cell's value: trimmed, and unquoted where an exporter quoted it (`"tcp"`, as
/// pandas' `QUOTE_ALL` and spreadsheets write). No flow field holds a quote, so a doubled
/// quote inside an ignored column's cell is left as it is.
fn cell(text: &str) -> &str {
    let text = trim(text);
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map_or(text, trim)
}

/// `text.trim()`, the ASCII-only common case first (Unicode trimming decodes every
/// character it looks at, and `eval` trims each cell of every record).
fn trim(text: &str) -> &str {
    let t = text.trim_ascii();
    let bytes = t.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(a), Some(b)) if !a.is_ascii() || !b.is_ascii() => t.trim(),
        _ => t,
    }
}

/// A CSV line's cells, each read by [`cell`]: split at every comma outside quotes (an
/// ignored column, a description or a time, may hold `"a, b"`).
fn csv_cells(text: &str) -> SmallVec<[&str; 8]> {
    let mut cells = SmallVec::new();
    let (bytes, mut start, mut quoted) = (text.as_bytes(), 0, false);
    for at in memchr::memchr2_iter(b',', b'"', bytes).chain([text.len()]) {
        if bytes.get(at) == Some(&b'"') {
            quoted = !quoted;
            continue;
        }
        if quoted && at < text.len() {
            continue;
        }
        cells.push(cell(text.get(start..at).unwrap_or_default()));
        start = at + 1;
    }
    cells
}

fn csv(columns: &[Column], text: &str) -> Result<(Flow, Pins), String> {
    if memchr::memchr_iter(b'"', text.as_bytes()).count() % 2 == 1 {
        return Err(
            "a quoted cell is not closed (a record is one line: a cell cannot hold a line break)"
                .to_string(),
        );
    }
    let cells = csv_cells(text);
    if cells.len() > columns.len() {
        return Err(format!(
            "{} cells where the CSV has {} columns",
            cells.len(),
            columns.len()
        ));
    }
    let get = |c: Column| {
        columns
            .iter()
            .position(|x| *x == c)
            .and_then(|i| cells.get(i).copied())
    };
    let need = |c: Column, name: &str| {
        get(c)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("missing `{name}`"))
    };
    let flow = assemble(
        need(Column::Protocol, "protocol")?,
        need(Column::Src, "src")?,
        get(Column::SrcPort),
        need(Column::Dst, "dst")?,
        get(Column::DstPort),
    )?;
    Ok((flow, pins(get(Column::From), get(Column::To))))
}

fn jsonl(text: &str) -> Result<(Flow, Pins), String> {
    // serde would read an array as the struct's fields in order.
    if text.starts_with('[') {
        return Err("a JSON array, where a JSON object per line belongs".to_string());
    }
    let v: JsonlFlow = serde_json::from_str(text).map_err(|e| {
        // serde counts lines within the record, always one; the record's line is the skip's.
        let message = e.to_string();
        let message = message.rsplit_once(" at line ").map_or(&*message, |m| m.0);
        match e.classify() {
            serde_json::error::Category::Data => {
                let message = without_string_value(message);
                format!("{message} (column `{}`)", e.column())
            }
            _ => format!("malformed JSON at column `{}`: {message}", e.column()),
        }
    })?;
    let need = |k: &str, field: &Option<Scalar>| {
        field
            .as_ref()
            .map(|f| f.0.clone())
            .ok_or_else(|| format!("missing `{k}`"))
    };
    let text = |field: &Option<Scalar>| field.as_ref().map(|f| f.0.clone());
    let flow = assemble(
        &need("protocol", &v.protocol)?,
        &need("src", &v.src)?,
        text(&v.src_port).as_deref(),
        &need("dst", &v.dst)?,
        text(&v.dst_port).as_deref(),
    )?;
    Ok((flow, pins(text(&v.from).as_deref(), text(&v.to).as_deref())))
}

/// serde's message for a value of the wrong type, without the value when it is a string
/// (`invalid type: string "…", expected …` becomes `invalid type: string, expected …`).
/// serde double-quotes a string, which the summary does not elide as it elides a backquoted
/// number: the record's own text would make a reason as long as the record, and each one a
/// group of its own.
pub(crate) fn without_string_value(message: &str) -> Cow<'_, str> {
    for kind in ["invalid type: string", "invalid value: string"] {
        let Some(quoted) = message
            .strip_prefix(kind)
            .and_then(|m| m.strip_prefix(" \""))
        else {
            continue;
        };
        // serde writes the string as `{:?}` does: a quote inside it is escaped.
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => return format!("{kind}{}", &quoted[i + 1..]).into(),
                _ => {}
            }
        }
    }
    message.into()
}

/// One JSONL flow. Deserialized as a struct, not a `Value`, so that a field named twice is
/// an error (serde's "duplicate field") rather than the last one silently winning; other
/// keys are ignored.
#[derive(serde::Deserialize)]
#[serde(expecting = "a JSON object per line: {\"protocol\": \"tcp\", \"src\": ..., \"dst\": ...}")]
struct JsonlFlow {
    protocol: Option<Scalar>,
    src: Option<Scalar>,
    src_port: Option<Scalar>,
    dst: Option<Scalar>,
    dst_port: Option<Scalar>,
    from: Option<Scalar>,
    to: Option<Scalar>,
}

/// A JSONL field's text: a string, or a number written as one.
struct Scalar(String);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Result<FlowRecord, Skipped>> {
        FlowReader::new(text.as_bytes()).collect()
    }

    /// Reads that fail every time (as a directory's do) end the input after one skip,
    /// instead of skipping forever.
    #[test]
    fn a_failed_read_is_the_last_record() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("device gone"))
            }
        }
        let rows: Vec<_> = FlowReader::new(std::io::BufReader::new(Failing)).collect();
        assert_eq!(rows.len(), 1);
        let skipped = rows[0].as_ref().unwrap_err();
        assert_eq!(
            (skipped.line, skipped.reason.as_str()),
            (1, "unreadable: device gone")
        );
    }

    #[test]
    fn csv_with_and_without_header() {
        let rows = read("protocol,src,src_port,dst,dst_port,to\ntcp,1.2.3.4,5,10.0.0.1,22,/subscriptions/x/nic\nicmp,1.2.3.4,,10.0.0.1,\n");
        let first = rows[0].as_ref().unwrap();
        assert_eq!((first.line, first.flow.dst_port), (2, Some(22)));
        assert_eq!(first.pins.to.as_ref().unwrap().name(), "nic");
        assert_eq!(rows[1].as_ref().unwrap().flow.protocol, 1);
        let plain = read("udp,1.2.3.4,53,10.0.0.1,53\n");
        assert_eq!(plain[0].as_ref().unwrap().flow.protocol, 17);
    }

    #[test]
    fn cells_trim_unicode_whitespace_too() {
        assert_eq!(trim(" \u{a0}tcp\u{3000} "), "tcp");
        assert_eq!(trim("\t1.2.3.4 "), "1.2.3.4");
        assert_eq!(trim("é"), "é");
        let rows = read("tcp,\u{a0}1.2.3.4, 1 ,10.0.0.1,22,\n");
        let first = rows[0].as_ref().unwrap();
        assert_eq!(
            (first.flow.src_port, first.flow.dst_port),
            (Some(1), Some(22))
        );
    }

    #[test]
    fn a_csv_row_with_more_cells_or_a_header_naming_a_field_twice_is_skipped() {
        let rows = read("protocol,src,src_port,dst,dst_port\ntcp,1.2.3.4,1,10.0.0.1,22,10.0.0.2\n");
        let extra = rows[0].as_ref().unwrap_err();
        assert_eq!(
            (extra.line, extra.reason.as_str()),
            (2, "6 cells where the CSV has 5 columns")
        );
        let rows = read(
            "protocol,src,src_port,dst,dst_port,destination\ntcp,1.2.3.4,1,10.0.0.1,22,10.0.0.2\n",
        );
        assert_eq!(
            rows[0].as_ref().unwrap_err().reason,
            "the CSV header names one field twice: `dst` (column 4) and `destination` (column 6)"
        );
        let plain = read("tcp,1.2.3.4,1,10.0.0.1,22,,,x\n");
        assert!(plain[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("8 cells where the CSV has 7"));
    }

    #[test]
    fn quoted_csv_cells_are_read() {
        let rows = read("\"protocol\",\"src\",\"src_port\",\"dst\",\"dst_port\"\n\"tcp\",\"1.2.3.4\",\"1\",\"10.0.0.6\",\"22\"\n");
        let first = rows[0].as_ref().unwrap();
        assert_eq!(
            (first.line, first.flow.protocol, first.flow.dst_port),
            (2, 6, Some(22))
        );
    }

    #[test]
    fn a_quoted_comma_in_an_ignored_column_is_one_cell() {
        let rows = read("id,protocol,src,dst,src_port,dst_port,note\n22,\"tcp\",10.1.1.4,203.0.113.5,50000,443,\"a, \"\"b\"\"\"\n");
        let first = rows[0].as_ref().unwrap();
        assert_eq!(
            (first.line, first.flow.protocol, first.flow.dst_port),
            (2, 6, Some(443))
        );
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_ignored() {
        let csv = read("\u{feff}protocol,src,src_port,dst,dst_port\ntcp,1.2.3.4,1,10.0.0.6,22\n");
        assert_eq!(csv[0].as_ref().unwrap().flow.dst_port, Some(22));
        let jsonl = read("\u{feff}{\"protocol\":\"tcp\",\"src\":\"1.2.3.4\",\"src_port\":1,\"dst\":\"10.0.0.6\",\"dst_port\":22}\n");
        assert_eq!(jsonl[0].as_ref().unwrap().flow.dst_port, Some(22));
    }

    #[test]
    fn jsonl_spec_and_classbench() {
        let j = read("{\"protocol\":\"tcp\",\"src\":\"::1\",\"src_port\":1,\"dst\":\"::2\",\"dst_port\":443}\n{\"protocol\": tcp}\n");
        assert_eq!(j[0].as_ref().unwrap().flow.dst_port, Some(443));
        // A record is one line: its error names the column, not serde's "line 1".
        let bad = j[1].as_ref().unwrap_err();
        assert_eq!(
            (bad.line, bad.reason.as_str()),
            (2, "malformed JSON at column `15`: expected ident")
        );
        let s = read("# comment\n\ntcp 1.2.3.4:1 -> 5.6.7.8:2\n");
        assert_eq!(s[0].as_ref().unwrap().line, 3);
        let cb = read("3232235777\t167772161\t1024\t80\t6\t12\n16909060 84281096 0 0 1\n");
        let f = cb[0].as_ref().unwrap().flow;
        assert_eq!(
            (f.src.to_string().as_str(), f.dst_port),
            ("192.168.1.1", Some(80))
        );
        assert_eq!(
            cb[1].as_ref().unwrap().flow.src_port,
            None,
            "ICMP drops ports"
        );
    }

    #[test]
    fn an_unclosed_quote_is_named() {
        let rows = read("tcp,\"1.2.3.4,1,10.0.0.1,22\n");
        assert_eq!(
            rows[0].as_ref().unwrap_err().reason,
            "a quoted cell is not closed (a record is one line: a cell cannot hold a line break)"
        );
    }

    /// A JSONL field named twice, a field of the wrong type and an array say so, instead of
    /// the last copy winning, "missing" and "missing `protocol`". A line that is a string is
    /// named by its type, not its text.
    #[test]
    fn jsonl_duplicates_types_and_arrays_are_named() {
        let rows = read(concat!(
            "{\"protocol\":\"tcp\",\"src\":\"1.2.3.4\",\"src_port\":1,\"dst\":\"10.0.0.1\",\"dst_port\":22}\n",
            "{\"protocol\":\"tcp\",\"src\":\"1.2.3.4\",\"src_port\":1,\"dst\":\"10.0.0.1\",\"dst_port\":22,\"dst_port\":23}\n",
            "{\"protocol\":\"tcp\",\"src\":\"1.2.3.4\",\"src_port\":true,\"dst\":\"10.0.0.1\",\"dst_port\":22}\n",
            "[\"tcp\",\"1.2.3.4\",1,\"10.0.0.1\",22]\n",
            "\"tcp 1.2.3.4:1 -> 10.0.0.1:22\"\n",
        ));
        assert_eq!(rows[0].as_ref().unwrap().flow.dst_port, Some(22));
        let reasons: Vec<&str> = rows[1..]
            .iter()
            .map(|r| r.as_ref().unwrap_err().reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            [
                "duplicate field `dst_port` (column `88`)",
                "invalid type: boolean `true`, expected a string or a number (column `49`)",
                "a JSON array, where a JSON object per line belongs",
                "invalid type: string, expected a JSON object per line: {\"protocol\": \"tcp\", \"src\": ..., \"dst\": ...} (column `30`)",
            ]
        );
    }

    /// A string serde quotes in its message is left out, escaped quotes and all.
    #[test]
    fn string_values_are_left_out_of_serde_messages() {
        let cases = [
            (
                r#"invalid type: string "a\"b\\", expected x"#,
                "invalid type: string, expected x",
            ),
            (
                r#"invalid value: string "", expected y"#,
                "invalid value: string, expected y",
            ),
            (
                "invalid type: integer `7`, expected z",
                "invalid type: integer `7`, expected z",
            ),
            (
                r#"invalid type: string "unclosed"#,
                r#"invalid type: string "unclosed"#,
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(without_string_value(message), expected);
        }
    }

    #[test]
    fn bad_lines_are_skipped_with_reasons() {
        let rows = read("protocol,src,src_port,dst,dst_port\ntcp,1.2.3.4,99999,10.0.0.1,22\ntcp,,1,10.0.0.1,22\ntcp,1.2.3.4,1,10.0.0.1,22\n");
        assert_eq!(rows[0].as_ref().unwrap_err().line, 2);
        assert!(rows[1]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("missing `src`"));
        assert!(rows[2].is_ok());
    }

    /// A port cell is checked whatever the protocol, and a sign is no digit: the flow-spec
    /// reader refuses both alike. A port-less flow may still give valid ports, or none.
    #[test]
    fn ports_are_checked_for_every_protocol() {
        let rows = read(
            "protocol,src,src_port,dst,dst_port\n\
             icmp,1.2.3.4,x,10.0.0.1,\n\
             esp,1.2.3.4,,10.0.0.1,99999\n\
             tcp,1.2.3.4,+5000,10.0.0.1,22\n\
             icmp,1.2.3.4,0,10.0.0.1,0\n\
             icmp,1.2.3.4,,10.0.0.1,\n",
        );
        let reasons: Vec<String> = rows
            .iter()
            .map(|r| match r {
                Ok(f) => f.flow.to_string(),
                Err(s) => s.reason.clone(),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "`x` is not a port 0-65535",
                "`99999` is not a port 0-65535",
                "`+5000` is not a port 0-65535",
                "icmp 1.2.3.4 -> 10.0.0.1",
                "icmp 1.2.3.4 -> 10.0.0.1",
            ]
        );
        let trace = read("16909060 167772161 1 2 1 0\n16909060 167772161 x 2 1 0\n");
        assert!(trace[0].is_ok());
        assert!(trace[1]
            .as_ref()
            .is_err_and(|s| s.reason.contains("`x` is not a port")));
    }

    #[test]
    fn overlong_and_binary_lines_are_skipped_without_being_held() {
        // A tiny BufReader capacity makes the line span many fill_buf calls.
        let long = format!(
            "tcp 1.2.3.4:1 -> 5.6.7.8:2\n{}\n\u{ff}\ntcp 1.2.3.4:1 -> 5.6.7.8:3",
            "x".repeat(MAX_LINE_BYTES + 1)
        );
        let mut bytes = long.into_bytes();
        let bad = bytes.iter().position(|&b| b == 0xc3).unwrap();
        bytes[bad] = 0xff; // not UTF-8
        let rows: Vec<_> =
            FlowReader::new(std::io::BufReader::with_capacity(7, &bytes[..])).collect();
        assert_eq!(rows.len(), 4);
        assert!(rows[0].is_ok());
        let too_long = rows[1].as_ref().unwrap_err();
        assert_eq!(too_long.line, 2);
        assert_eq!(
            too_long.reason,
            format!(
                "line of {} bytes is longer than the 64 KiB a flow record may take",
                MAX_LINE_BYTES + 1
            )
        );
        assert_eq!(rows[2].as_ref().unwrap_err().reason, "not UTF-8 text");
        assert_eq!(
            rows[3].as_ref().unwrap().flow.dst_port,
            Some(3),
            "a last line without newline"
        );
    }
}
