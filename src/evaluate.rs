//! `secpath eval`: a stream of flows in, one verdict line per flow out, with a summary whose
//! counts add up (every line read is evaluated or skipped with its reason).
//!
//! Memory stays flat whatever the input size: flows are read, decided and written one at a
//! time through buffered I/O.

use crate::eval::{Decided, Layer, Side, Verdict};
use crate::flowfile::{FlowRecord, Skipped};
use crate::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// The output layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One JSON object per line.
    #[default]
    Jsonl,
    /// CSV with a header.
    Csv,
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Records read (evaluated + skipped).
    pub read: u64,
    /// Records evaluated.
    pub evaluated: u64,
    /// Records skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Verdict counts.
    pub allow: u64,
    /// Verdict counts.
    pub deny: u64,
    /// Verdict counts.
    pub no_path: u64,
    /// Verdict counts: flows a plan's unknown values leave undecided.
    #[serde(skip_serializing_if = "crate::evaluate::is_zero")]
    pub unknown: u64,
}

/// For serde: counts that only plans can make non-zero are left out when zero.
pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Summary {
    /// All skipped records.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason_kind(reason)).or_default() += 1;
    }
}

/// A skip reason without its particulars (`` `99999` is not a port `` → `` `…` is not a
/// port ``), so the summary groups like with like. A span opens at a backquote that starts
/// a word and closes at one that ends a word (followed by the end, a space or punctuation),
/// so a backquote inside quoted input (`` `` `tcp 1.2.3.4 …` `` ``) does not unpair the rest.
pub fn reason_kind(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut quoted = false;
    let mut previous = None;
    let mut chars = reason.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            let opens =
                !quoted && previous.is_none_or(|p: char| p.is_whitespace() || "([{".contains(p));
            let closes = quoted
                && chars
                    .peek()
                    .is_none_or(|n| n.is_whitespace() || ":,.;)]}'\"".contains(*n));
            if opens {
                out.push_str("`…");
                quoted = true;
            } else if closes {
                out.push('`');
                quoted = false;
            } else if !quoted {
                out.push(c);
            }
        } else if !quoted {
            out.push(c);
        }
        previous = Some(c);
    }
    out
}

/// Decides every record of `records` with `decide` and writes one line per record to `out`.
pub fn run(
    records: impl Iterator<Item = Result<FlowRecord, Skipped>>,
    decide: impl Fn(&FlowRecord) -> Result<Decided>,
    out: &mut impl Write,
    format: OutputFormat,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut line = String::new();
    if format == OutputFormat::Csv {
        writeln!(
            out,
            "line,protocol,src,src_port,dst,dst_port,verdict,layer,side,rule,resource,skipped"
        )?;
    }
    for record in records {
        summary.read += 1;
        line.clear();
        let decided = match record {
            Ok(r) => match decide(&r) {
                Ok(d) => Ok((r, d)),
                // Numbered by the record's own line, as skips while reading are.
                Err(e) => Err((r.line, e.to_string())),
            },
            Err(s) => Err((s.line, s.reason)),
        };
        match decided {
            Ok((record, decided)) => {
                summary.evaluated += 1;
                match decided.verdict {
                    Verdict::Allow => summary.allow += 1,
                    Verdict::Deny => summary.deny += 1,
                    Verdict::NoPath => summary.no_path += 1,
                    Verdict::Unknown => summary.unknown += 1,
                }
                verdict_line(&mut line, &record, &decided, format);
            }
            Err((n, reason)) => {
                summary.skip(&reason);
                skipped_line(&mut line, n, &reason, format);
            }
        }
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(summary)
}

/// The name of a verdict as outputs spell it (`allow`, `deny`, `no-path`, `unknown`).
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
        Verdict::NoPath => "no-path",
        Verdict::Unknown => "unknown",
    }
}

/// The name of a layer as outputs spell it (`admin`, `nsg`, `path`).
pub fn layer_name(l: Layer) -> &'static str {
    match l {
        Layer::Admin => "admin",
        Layer::Nsg => "nsg",
        Layer::Path => "path",
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Source => "source",
        Side::Destination => "destination",
    }
}

/// Writes one verdict line. This is the inner loop of `eval`, so it formats straight into
/// the reused line buffer.
fn verdict_line(line: &mut String, r: &FlowRecord, d: &Decided, format: OutputFormat) {
    let verdict = verdict_name(d.verdict);
    let layer = d.layer.map_or("", layer_name);
    let side = d.side.map_or("", side_name);
    let rule = d.rule_name().unwrap_or_default();
    let resource = d.resource.as_ref().map_or("", |r| r.as_str());
    let f = &r.flow;
    match format {
        OutputFormat::Jsonl => {
            line.push_str(r#"{"line":"#);
            push_decimal(line, r.line as u64);
            line.push_str(r#","flow":""#);
            push_flow(line, f);
            line.push_str(r#"","verdict":""#);
            line.push_str(verdict);
            line.push_str(r#"","layer":"#);
            for (i, value) in [layer, side, rule, resource].into_iter().enumerate() {
                if i > 0 {
                    line.push_str([",\"side\":", ",\"rule\":", ",\"resource\":"][i - 1]);
                }
                json_or_null(line, value);
            }
            line.push_str("}\n");
        }
        OutputFormat::Csv => {
            for (i, field) in [
                Field::Number(r.line as u64),
                Field::Text(&f.protocol_name()),
                Field::Ip(f.src),
                Field::Port(f.src_port),
                Field::Ip(f.dst),
                Field::Port(f.dst_port),
                Field::Text(verdict),
                Field::Text(layer),
                Field::Text(side),
                Field::Text(rule),
                Field::Text(resource),
            ]
            .into_iter()
            .enumerate()
            {
                if i > 0 {
                    line.push(',');
                }
                field.push_to(line);
            }
            line.push_str(",\n");
        }
    }
}

/// One CSV cell, written without the formatting machinery (this is `eval`'s inner loop).
enum Field<'a> {
    Number(u64),
    Text(&'a str),
    Ip(std::net::IpAddr),
    Port(Option<u16>),
}

impl Field<'_> {
    fn push_to(self, line: &mut String) {
        match self {
            Field::Number(n) => push_decimal(line, n),
            Field::Text(text) => push_csv_text(line, text),
            Field::Ip(std::net::IpAddr::V4(a)) => push_dotted_quad(line, a),
            Field::Ip(ip) => {
                let _ = write!(line, "{ip}");
            }
            Field::Port(port) => {
                if let Some(p) = port {
                    push_decimal(line, u64::from(p));
                }
            }
        }
    }
}

/// Appends the flow as `Flow`'s `Display` writes it (`tcp 10.0.0.1:5000 -> 10.0.0.2:443`).
fn push_flow(line: &mut String, f: &crate::flow::Flow) {
    line.push_str(&f.protocol_name());
    for (i, (ip, port)) in [(f.src, f.src_port), (f.dst, f.dst_port)]
        .into_iter()
        .enumerate()
    {
        line.push_str([" ", " -> "][i]);
        let bracket = ip.is_ipv6() && port.is_some();
        if bracket {
            line.push('[');
        }
        Field::Ip(ip).push_to(line);
        if bracket {
            line.push(']');
        }
        if let Some(p) = port {
            line.push(':');
            push_decimal(line, u64::from(p));
        }
    }
}

/// Appends `a` as `Ipv4Addr`'s `Display` writes it, digit by digit: two addresses a
/// record, where four `itoa` calls an address were 6% of `eval`'s time.
fn push_dotted_quad(line: &mut String, a: std::net::Ipv4Addr) {
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            line.push('.');
        }
        if octet >= 100 {
            line.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            line.push(char::from(b'0' + octet / 10 % 10));
        }
        line.push(char::from(b'0' + octet % 10));
    }
}

/// Appends `n` in decimal.
fn push_decimal(line: &mut String, n: u64) {
    line.push_str(itoa::Buffer::new().format(n));
}

fn skipped_line(line: &mut String, n: usize, reason: &str, format: OutputFormat) {
    match format {
        OutputFormat::Jsonl => {
            let _ = write!(line, r#"{{"line":{n},"skipped":"#);
            json_string(line, reason);
            line.push_str("}\n");
        }
        OutputFormat::Csv => {
            let _ = write!(line, "{n},,,,,,,,,,,");
            push_csv_text(line, reason);
            line.push('\n');
        }
    }
}

/// Appends `text` as one CSV cell (RFC 4180): quoted, with quotes doubled, when it holds a
/// comma, a quote or a line break.
fn push_csv_text(line: &mut String, text: &str) {
    // Or-ing over every byte, no early exit, compiles to a vector loop: this runs on each
    // record's rule id (~180 bytes), where `str::contains` with a char set decoded every
    // character.
    let special = |b: &u8| matches!(b, b',' | b'"' | b'\n' | b'\r');
    if !text
        .as_bytes()
        .iter()
        .fold(false, |any, b| any | special(b))
    {
        line.push_str(text);
        return;
    }
    line.push('"');
    line.push_str(&text.replace('"', "\"\""));
    line.push('"');
}

/// Appends `s` as a JSON string.
fn json_string(line: &mut String, s: &str) {
    line.push('"');
    for c in s.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(line, "\\u{:04x}", c as u32);
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

fn json_or_null(line: &mut String, s: &str) {
    if s.is_empty() {
        line.push_str("null");
    } else {
        json_string(line, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowfile::FlowReader;
    use crate::model::ResourceId;

    #[test]
    fn counts_add_up_and_lines_follow_the_input() {
        let input = "protocol,src,src_port,dst,dst_port\ntcp,1.2.3.4,1,10.0.0.1,22\ntcp,1.2.3.4,x,10.0.0.1,22\nicmp,1.2.3.4,,10.0.0.1,\n";
        let decide = |r: &FlowRecord| {
            Ok(if r.flow.protocol == 6 {
                Decided {
                    verdict: Verdict::Deny,
                    layer: Some(Layer::Nsg),
                    side: Some(Side::Destination),
                    resource: Some(ResourceId::new(
                        "/x/networkSecurityGroups/n/defaultSecurityRules/DenyAllInBound",
                    )),
                }
            } else {
                Decided {
                    verdict: Verdict::Allow,
                    layer: None,
                    side: None,
                    resource: None,
                }
            })
        };
        let mut out = Vec::new();
        let s = run(
            FlowReader::new(input.as_bytes()),
            decide,
            &mut out,
            OutputFormat::Jsonl,
        )
        .unwrap();
        assert_eq!(
            (s.read, s.evaluated, s.skipped_total(), s.deny, s.allow),
            (3, 2, 1, 1, 1)
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains(r#""rule":"DenyAllInBound""#),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with(r#"{"line":3,"skipped""#),
            "{}",
            lines[1]
        );
        assert!(s
            .skipped
            .keys()
            .next()
            .unwrap()
            .contains("`…` is not a port"));
    }

    #[test]
    fn a_csv_skip_reason_is_one_rfc_4180_cell() {
        let mut line = String::new();
        skipped_line(
            &mut line,
            7,
            "`\"tcp\"` is not a protocol,\n  nor this",
            OutputFormat::Csv,
        );
        assert_eq!(
            line,
            "7,,,,,,,,,,,\"`\"\"tcp\"\"` is not a protocol,\n  nor this\"\n"
        );
        line.clear();
        push_csv_text(&mut line, "DenyAllInBound");
        assert_eq!(line, "DenyAllInBound");
        for special in ["a\rb", "a,b"] {
            line.clear();
            push_csv_text(&mut line, special);
            assert_eq!(line, format!("\"{special}\""));
        }
    }

    #[test]
    fn reason_kinds_elide_quoted_input_even_when_it_holds_backquotes() {
        assert_eq!(reason_kind("`99999` is not a port"), "`…` is not a port");
        assert_eq!(
            reason_kind(
                "flow ``p 1.2.3.4:1 -> 10.1.1.4:443`: expected `PROTO SRC[:PORT]`, e.g. `tcp`"
            ),
            "flow `…`: expected `…`, e.g. `…`"
        );
        assert_eq!(
            reason_kind("`a`b` is not a protocol"),
            "`…` is not a protocol"
        );
        assert_eq!(reason_kind("no quotes"), "no quotes");
        assert_eq!(reason_kind("unclosed `tail"), "unclosed `…");
    }

    #[test]
    fn dotted_quads_match_ipv4_display() {
        for octets in [[0, 9, 10, 99], [100, 199, 200, 255], [1, 20, 101, 0]] {
            let a = std::net::Ipv4Addr::from(octets);
            let mut line = String::new();
            push_dotted_quad(&mut line, a);
            assert_eq!(line, a.to_string());
        }
    }
}
