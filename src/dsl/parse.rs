//! Text to ARM resources: statements, blocks, contexts, includes, then name resolution.
//!
//! Parsing runs line by line. Each line is lexed and parsed on its own, so a mistake costs
//! one line: it is reported and parsing goes on with the next (a bad line that opens a block
//! opens a block that is skipped, so its `}` still matches). Once every line is read, and only
//! when none was wrong, references are resolved (see [`super::refs`]) and the ARM resources
//! are written; unknown and ambiguous names, duplicate ids and duplicate priorities are
//! reported there, all of them.

use super::cond;
use super::cursor::{Cursor, LineError, Parsed};
use super::error::{DslError, DslErrors};
use super::item::*;
use super::lex::{lex, Kind, Token};
use super::notes::{key, Note, Notes};
use super::refs::{is_full_id, Decls, Unresolved};
use crate::model::addr::parse_net;
use crate::model::{
    normalise_region, Access, AddressItem, Direction, IntentPolicySetting, PortRange, Protocol,
    ResourceId, CONFIGURATION_TYPES, CONNECTION_STATES, DEPLOYMENT_STATES, PEERING_STATES,
    PUBLIC_IP_SKUS,
};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How deep a context is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// No context: the tenant.
    Root,
    /// A management group.
    ManagementGroup,
    /// A subscription.
    Subscription,
    /// A resource group.
    ResourceGroup,
}

impl Level {
    /// How a message names the block that gives this level.
    fn block(self) -> &'static str {
        match self {
            Level::Root => "at the top level",
            Level::ManagementGroup => "in a `management-group NAME {` block",
            Level::Subscription => "in a `subscription ID {` block",
            Level::ResourceGroup => "in a `resource-group NAME {` block",
        }
    }
}

/// Where each kind of statement may stand without an `id` clause.
pub mod levels {
    use super::Level;
    /// Resource groups.
    pub const IN_SUBSCRIPTION: &[Level] = &[Level::Subscription];
    /// Network resources.
    pub const IN_RESOURCE_GROUP: &[Level] = &[Level::ResourceGroup];
    /// Policy definitions and network manager connections.
    pub const MG_OR_SUBSCRIPTION: &[Level] = &[Level::ManagementGroup, Level::Subscription];
    /// Policy assignments.
    pub const ANY_SCOPE: &[Level] = &[
        Level::ManagementGroup,
        Level::Subscription,
        Level::ResourceGroup,
    ];
}

/// Statements allowed among resources (the top level and context blocks).
const CONTAINER_STATEMENTS: [&str; 20] = [
    "include",
    "management-group",
    "subscription",
    "resource-group",
    "in",
    "vnet",
    "nic",
    "nsg",
    "asg",
    "public-ip",
    "vnet-gateway",
    "local-gateway",
    "connection",
    "network-manager",
    "manager-connection",
    "policy-definition",
    "policy-assignment",
    "deployment",
    "arm",
    "}",
];

/// A context block's contribution: its level and the id prefixes it adds.
#[derive(Clone, Debug)]
struct Ctx {
    level: Level,
    prefixes: Vec<String>,
}

/// What an open block is.
enum Frame {
    Context(Ctx),
    Vnet(usize),
    Nsg(usize),
    Manager(usize),
    Config(usize, usize),
    Collection(usize, usize, usize),
    Connectivity(usize, usize),
    Condition(CondFrame),
    /// A block whose opening line was wrong: its lines are lexed, nothing more.
    Skip,
}

struct Open {
    frame: Frame,
    at: At,
    /// Notes key of the statement that opened it (for comments before its `}`).
    key: String,
}

/// What a statement did.
enum Step {
    /// Declared or recorded something; opens no block.
    Done,
    /// Opens this block (when the line ends with `{`).
    Block(Frame),
    /// A condition line, for the enclosing condition block.
    Leaf(Value),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CondOp {
    Root,
    AllOf,
    AnyOf,
    Not,
}

#[derive(Clone, Copy)]
enum CondTarget {
    Parent,
    Group(usize, usize),
    Policy(usize),
}

struct CondFrame {
    op: CondOp,
    items: Vec<Value>,
    target: CondTarget,
}

struct Source {
    path: PathBuf,
    lines: Vec<String>,
}

#[derive(Default)]
struct Parser {
    sources: Vec<Source>,
    items: Vec<Item>,
    errors: Vec<DslError>,
    /// Declared ids (lower-case) and where.
    declared: HashMap<String, At>,
    /// Rules by id (lower-case), for priority clashes.
    rule_at: HashMap<String, At>,
    /// The include chain, for cycles.
    including: Vec<(PathBuf, PathBuf)>,
    /// Files already read (an `include` of one of them again is skipped).
    included: std::collections::HashSet<PathBuf>,
    /// Comments and blank lines of the first file, for `format`.
    notes: Notes,
    /// Comments and blank lines waiting for the next statement.
    pending: Note,
    /// Notes key of the statement just parsed.
    last_key: Option<String>,
    /// Key of the condition block being read, and its line count.
    cond_owner: String,
    cond_lines: usize,
    /// Deployments, `arm` lines and includes of the first file so far.
    counts: HashMap<&'static str, usize>,
    /// Source of each item.
    item_source: Vec<usize>,
    /// The 0-based line of each item's statement in its source.
    item_line: Vec<usize>,
    /// Includes of the first file: items before it, and the file as written.
    root_includes: Vec<(usize, String)>,
}

/// One piece of the first file, for `format`: the resources of a run of statements, or an
/// `include` between runs.
pub enum Part {
    /// ARM resources of consecutive statements.
    Values(Vec<Value>),
    /// `include "FILE"`, the file as written.
    Include(String),
}

/// A parsed document: every resource (included files' at their `include`), the first
/// file's own statements cut at its includes, and its comments.
pub struct Document {
    /// Every resource, in order.
    pub values: Vec<Value>,
    /// Where each of `values` was written.
    pub origins: Vec<Origin>,
    /// The first file's statements.
    pub parts: Vec<Part>,
    /// The first file's comments and blank lines.
    pub notes: Notes,
}

/// Where a resource was written: its statement's file, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file (an included one for an included statement).
    pub file: PathBuf,
    /// 1-based line of the statement.
    pub line: usize,
    /// 1-based column where the statement starts.
    pub column: usize,
    /// The statement's line as written.
    pub text: String,
}

impl Origin {
    /// The statement's first word (`nsg`, `vnet`, `arm`).
    pub fn keyword(&self) -> &str {
        self.text.split_whitespace().next().unwrap_or_default()
    }

    /// `message`, about the resource written here, as an error at the statement.
    pub fn error(&self, message: String) -> super::DslError {
        super::DslError {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            found: self.keyword().to_string(),
            message,
            source_line: self.text.clone(),
        }
    }
}

/// Parses DSL text (and the files it includes) into ARM resources.
pub fn parse(text: &str, file: &Path) -> Result<Document, DslErrors> {
    let mut p = Parser::default();
    let canonical = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    p.including.push((canonical, file.to_path_buf()));
    p.file(text, file);
    if p.errors.is_empty() {
        let per_item = p.emit();
        if p.errors.is_empty() {
            return Ok(p.document(per_item));
        }
    }
    p.errors
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    Err(DslErrors(p.errors))
}

fn did_you_mean(word: &str, options: &[&str]) -> String {
    let best = options
        .iter()
        .map(|o| (distance(&word.to_lowercase(), o), o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 4))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, o)) => format!(" (did you mean `{o}`?)"),
        None => String::new(),
    }
}

/// Levenshtein distance, for suggestions.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

fn one_of(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn unknown_word(t: &Token, options: &[&str], place: &str) -> LineError {
    Cursor::error_at(
        t,
        format!(
            "`{}` is not a statement {place}: expected {}{}",
            t.value,
            one_of(options),
            did_you_mean(&t.value, options)
        ),
    )
}

/// Reads clauses `KEYWORD ...` in any order until the end of the line; `f` parses each
/// clause's arguments. Clauses other than `repeatable` ones may appear once.
fn clauses(
    c: &mut Cursor,
    allowed: &[&'static str],
    repeatable: &[&str],
    mut f: impl FnMut(&'static str, &Token, &mut Cursor) -> Parsed<()>,
) -> Parsed<()> {
    let mut seen: Vec<&str> = Vec::new();
    while let Some(t) = c.peek() {
        let Some(kw) = allowed.iter().copied().find(|k| t.is_word(k)) else {
            let mut options = allowed.to_vec();
            options.push("{");
            return Err(Cursor::error_at(
                t,
                format!(
                    "unexpected `{}`: expected {} or the end of the line{}",
                    super::cursor::shown(t),
                    one_of(&options),
                    did_you_mean(&t.value, allowed)
                ),
            ));
        };
        if seen.contains(&kw) && !repeatable.contains(&kw) {
            return Err(Cursor::error_at(t, format!("`{kw}` is given twice")));
        }
        c.bump();
        f(kw, t, c)?;
        seen.push(kw);
    }
    Ok(())
}

fn tags(c: &mut Cursor) -> Parsed<Tags> {
    let mut out = Tags::new();
    let pairs = c.list(|c| {
        let k = c.text("a tag name")?;
        if !c.eat_kind(Kind::Eq) {
            return Err(Cursor::error_at(
                k,
                format!(
                    "`{}` is not a tag: tags are written `name=value`",
                    super::cursor::shown(k)
                ),
            ));
        }
        let v = c.text("a tag value")?;
        Ok((k, v.value.clone()))
    })?;
    for (k, v) in pairs {
        if out.insert(k.value.clone(), v).is_some() {
            return Err(Cursor::error_at(
                k,
                format!("tag `{}` is given twice", k.value),
            ));
        }
    }
    Ok(out)
}

fn prefixes(c: &mut Cursor) -> Parsed<Vec<String>> {
    c.list(|c| {
        let t = c.text("an address prefix (e.g. 10.0.0.0/16)")?;
        match parse_net(&t.value) {
            Some(_) => Ok(t.value.clone()),
            None => Err(Cursor::error_at(
                t,
                format!(
                    "`{}` is not a CIDR prefix: expected e.g. 10.0.0.0/16 or 2001:db8::/48",
                    t.value
                ),
            )),
        }
    })
}

fn ports(c: &mut Cursor) -> Parsed<Vec<String>> {
    c.list(|c| {
        let t = c.text("a port (80), a range (1024-65535) or `*`")?;
        PortRange::parse(&t.value)
            .map(|_| t.value.clone())
            .map_err(|m| Cursor::error_at(t, m))
    })
}

fn words(c: &mut Cursor, what: &str) -> Parsed<Vec<String>> {
    c.list(|c| Ok(c.text(what)?.value.clone()))
}

/// A word that must be one of `allowed` (case-insensitively, as ARM reads it), in
/// `allowed`'s spelling; `what` names it in the error.
fn enum_word(c: &mut Cursor, allowed: &[&'static str], what: &str) -> Parsed<String> {
    let t = c.text(what)?;
    match crate::model::enum_value(allowed, &t.value) {
        Some(a) => Ok(a.to_string()),
        None => Err(Cursor::error_at(
            t,
            format!("`{}` is not {what}: expected {}", t.value, one_of(allowed)),
        )),
    }
}

/// `subscription GUID`, `management-group NAME`, or an id.
fn scope_item(c: &mut Cursor) -> Parsed<Scope> {
    if c.eat("subscription") {
        return Ok(Scope::Subscription(
            c.text("a subscription id")?.value.clone(),
        ));
    }
    if c.eat("management-group") {
        return Ok(Scope::ManagementGroup(
            c.text("a management group name")?.value.clone(),
        ));
    }
    let t = c.text("`subscription ID`, `management-group NAME` or a scope id")?;
    scope_of_id(&t.value).ok_or_else(|| {
        Cursor::error_at(
            t,
            format!(
                "`{}` is not a scope: expected `subscription ID`, `management-group NAME`, /subscriptions/ID or a management group id",
                t.value
            ),
        )
    })
}

/// A scope from an id, as the loader reads it (names keep their case here).
pub fn scope_of_id(text: &str) -> Option<Scope> {
    let id = ResourceId::new(text);
    if let Some(mg) = id.management_group() {
        return Some(Scope::ManagementGroup(mg.to_string()));
    }
    if let Some(s) = id.subscription() {
        return Some(Scope::Subscription(s.to_string()));
    }
    text.to_ascii_lowercase()
        .contains("microsoft.management")
        .then(|| Scope::ManagementGroup(id.name().to_string()))
}

fn param(c: &mut Cursor) -> Parsed<(String, Value)> {
    let name = c.text("a parameter name")?;
    if !c.eat_kind(Kind::Eq) {
        return Err(c.expected("`=` (parameters are written `param NAME = VALUE`)"));
    }
    Ok((name.value.clone(), cond::literal(c)?))
}

impl Parser {
    fn push_item(&mut self, source: usize, line: usize, item: Item) {
        self.items.push(item);
        self.item_source.push(source);
        self.item_line.push(line);
    }

    /// The next number for a statement kind without an id, in the first file.
    fn count(&mut self, source: usize, kind: &'static str) -> usize {
        let n = self.counts.entry(kind).or_default();
        if source == 0 {
            *n += 1;
        }
        *n
    }

    /// Files the pending comments (and a trailing one) under `key`, for the first file.
    fn note(&mut self, source: usize, key: String, trailing: Option<String>) {
        let mut note = std::mem::take(&mut self.pending);
        note.trailing = trailing;
        if source == 0 {
            self.notes.add(key, note);
        }
    }

    fn error(&mut self, at: At, found: String, message: String) {
        let Some(source) = self.sources.get(at.source) else {
            return;
        };
        let line = source.lines.get(at.line).cloned().unwrap_or_default();
        let column = line.get(..at.start).map_or(1, |s| s.chars().count() + 1);
        self.errors.push(DslError {
            file: source.path.clone(),
            line: at.line + 1,
            column,
            found,
            message,
            source_line: line,
        });
    }

    fn line_error(&mut self, source: usize, line: usize, e: LineError) {
        let at = At {
            source,
            line,
            start: e.start,
            end: e.end,
        };
        self.error(at, e.found, e.message);
    }

    fn file(&mut self, text: &str, path: &Path) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let source = self.sources.len();
        self.sources.push(Source {
            path: path.to_path_buf(),
            lines: text.lines().map(str::to_string).collect(),
        });
        let mut frames: Vec<Open> = Vec::new();
        let count = self.sources[source].lines.len();
        for line in 0..count {
            self.line(source, line, &mut frames);
        }
        for open in frames.into_iter().rev() {
            if !matches!(open.frame, Frame::Skip) {
                self.error(
                    open.at,
                    "{".to_string(),
                    format!(
                        "this `{{` is never closed: expected a `}}` on a line of its own before the end of {}",
                        path.display()
                    ),
                );
            }
        }
    }

    fn line(&mut self, source: usize, n: usize, frames: &mut Vec<Open>) {
        let text = self.sources[source].lines[n].clone();
        let skipping = matches!(
            frames.last(),
            Some(Open {
                frame: Frame::Skip,
                ..
            })
        );
        if let Some(json) = arm_json(&text) {
            if !skipping {
                self.last_key = None;
                self.arm(source, n, &text, json, frames);
                if let Some(k) = self.last_key.take() {
                    self.note(source, k, None);
                }
            }
            return;
        }
        let tokens = match lex(&text) {
            Ok(t) => t,
            Err(e) => {
                let found = text.get(e.start..e.end).unwrap_or("").to_string();
                let at = At {
                    source,
                    line: n,
                    start: e.start,
                    end: e.end,
                };
                self.error(at, found, e.message);
                if text.trim_end().ends_with('{') {
                    frames.push(Open {
                        frame: Frame::Skip,
                        at,
                        key: String::new(),
                    });
                }
                return;
            }
        };
        let Some(first) = tokens.first() else {
            let comment = text.trim();
            if comment.starts_with('#') {
                self.pending.leading.push(comment.to_string());
            } else if self.pending.leading.is_empty() {
                self.pending.blank_before = true;
            } else if self.pending.leading.last().is_some_and(|l| !l.is_empty()) {
                // A blank line between comments, or between comments and the statement.
                self.pending.leading.push(String::new());
            }
            return;
        };
        let trailing = tokens
            .last()
            .and_then(|t| text.get(t.end..))
            .map(str::trim)
            .filter(|rest| rest.starts_with('#'))
            .map(str::to_string);
        let at_of = |t: &Token| At {
            source,
            line: n,
            start: t.start,
            end: t.end,
        };
        if first.kind == Kind::RBrace {
            if let Some(extra) = tokens.get(1) {
                self.line_error(
                    source,
                    n,
                    Cursor::error_at(extra, "`}` closes a block and stands alone on its line"),
                );
            }
            match frames.pop() {
                Some(open) => {
                    self.note(source, key::end(&open.key), trailing);
                    self.close(open, frames);
                }
                None => self.error(
                    at_of(first),
                    "}".to_string(),
                    "this `}` closes nothing: no block is open".to_string(),
                ),
            }
            return;
        }
        let mut body: &[Token] = &tokens;
        let mut opens = None;
        let mut closes = false;
        if let [rest @ .., open, close] = body {
            if open.kind == Kind::LBrace && close.kind == Kind::RBrace {
                opens = Some(at_of(open));
                closes = true;
                body = rest;
            }
        }
        if opens.is_none() {
            if let [rest @ .., open] = body {
                if open.kind == Kind::LBrace {
                    opens = Some(at_of(open));
                    body = rest;
                }
            }
        }
        let push_skip = |frames: &mut Vec<Open>| {
            if let (Some(at), false) = (opens, closes) {
                frames.push(Open {
                    frame: Frame::Skip,
                    at,
                    key: String::new(),
                });
            }
        };
        if skipping {
            push_skip(frames);
            return;
        }
        if let Some(stray) = body
            .iter()
            .find(|t| matches!(t.kind, Kind::LBrace | Kind::RBrace))
        {
            let message = if stray.kind == Kind::LBrace {
                "`{` opens a block only at the end of a line"
            } else {
                "`}` closes a block and stands alone on its line"
            };
            self.line_error(source, n, Cursor::error_at(stray, message));
            push_skip(frames);
            return;
        }
        if body.is_empty() {
            self.line_error(
                source,
                n,
                LineError {
                    start: first.start,
                    end: first.end,
                    found: "{".to_string(),
                    message: "a block needs a statement before its `{`".to_string(),
                },
            );
            push_skip(frames);
            return;
        }
        let eol = body.last().map_or(0, |t| t.end);
        let mut c = Cursor::new(body, eol);
        self.last_key = None;
        let result = self.statement(&mut c, frames, source, n, opens.is_some());
        let statement_key = self.last_key.take().unwrap_or_default();
        if result.is_ok() {
            self.note(source, statement_key.clone(), trailing);
        }
        match (result, opens) {
            (Ok(Step::Block(frame)), Some(at)) => {
                let key = match &frame {
                    Frame::Condition(cf) if cf.op == CondOp::Root => {
                        self.cond_owner = key::condition(&statement_key);
                        self.cond_lines = 0;
                        self.cond_owner.clone()
                    }
                    _ => statement_key,
                };
                let open = Open { frame, at, key };
                if closes {
                    self.close(open, frames);
                } else {
                    frames.push(open);
                }
            }
            (Ok(Step::Block(_) | Step::Done), None) => {}
            (Ok(Step::Leaf(value)), None) => {
                if let Some(Open {
                    frame: Frame::Condition(cf),
                    ..
                }) = frames.last_mut()
                {
                    cf.items.push(value);
                }
            }
            (Ok(Step::Done | Step::Leaf(_)), Some(at)) => {
                self.error(
                    at,
                    "{".to_string(),
                    format!("`{}` takes no block", first.value),
                );
                push_skip(frames);
            }
            (Err(e), _) => {
                self.line_error(source, n, e);
                push_skip(frames);
            }
        }
    }

    /// Ends a block.
    fn close(&mut self, open: Open, frames: &mut [Open]) {
        let Frame::Condition(cf) = open.frame else {
            return;
        };
        let value = match (cf.op, cf.items.len()) {
            (CondOp::Root, 0) => {
                self.error(
                    open.at,
                    "{".to_string(),
                    "this block needs a condition, e.g. `tags['env'] equals prod`".to_string(),
                );
                return;
            }
            (CondOp::Root, 1) => cf.items.into_iter().next().unwrap_or(Value::Null),
            (CondOp::Root | CondOp::AllOf, _) => serde_json::json!({ "allOf": cf.items }),
            (CondOp::AnyOf, _) => serde_json::json!({ "anyOf": cf.items }),
            (CondOp::Not, 1) => {
                serde_json::json!({ "not": cf.items.into_iter().next().unwrap_or(Value::Null) })
            }
            (CondOp::Not, _) => {
                self.error(
                    open.at,
                    "{".to_string(),
                    "`not` takes exactly one condition: wrap several in `all-of {` or `any-of {`"
                        .to_string(),
                );
                // Stand in for the bad block, so the enclosing one is not reported empty.
                Value::Null
            }
        };
        match cf.target {
            CondTarget::Parent => {
                if let Some(Open {
                    frame: Frame::Condition(parent),
                    ..
                }) = frames.last_mut()
                {
                    parent.items.push(value);
                }
            }
            CondTarget::Group(i, g) => {
                if let Some(Item::Manager(m)) = self.items.get_mut(i) {
                    if let Some(group) = m.groups.get_mut(g) {
                        group.dynamic = Some(value);
                    }
                }
            }
            CondTarget::Policy(i) => {
                if let Some(Item::PolicyDefinition(d)) = self.items.get_mut(i) {
                    d.condition = value;
                }
            }
        }
    }

    /// `arm {...}`: a resource as JSON, where resources go.
    fn arm(&mut self, source: usize, n: usize, text: &str, json: usize, frames: &[Open]) {
        let offset = json;
        let body = &text[offset..];
        let at = At {
            source,
            line: n,
            start: text.len() - text.trim_start().len(),
            end: text.len(),
        };
        if !matches!(
            frames.last(),
            None | Some(Open {
                frame: Frame::Context(_),
                ..
            })
        ) {
            self.error(
                at,
                "arm".to_string(),
                "`arm` goes where resources go: at the top level or in a subscription, resource group or management group block".to_string(),
            );
            return;
        }
        match serde_json::from_str::<Value>(body) {
            Ok(v) if !v.is_object() => self.error(
                At {
                    start: offset,
                    ..at
                },
                "arm".to_string(),
                "`arm` takes one ARM resource, a JSON object".to_string(),
            ),
            Ok(v) => {
                self.push_item(source, n, Item::Arm(v));
                let n = self.count(source, "arm");
                self.last_key = Some(key::nth("arm", n));
            }
            Err(e) => {
                let column = e.column().saturating_sub(1);
                let start = body
                    .char_indices()
                    .nth(column)
                    .map_or(text.len(), |(i, _)| offset + i);
                let found = text[start..]
                    .chars()
                    .next()
                    .map(String::from)
                    .unwrap_or_default();
                self.error(
                    At {
                        source,
                        line: n,
                        start,
                        end: start + found.len(),
                    },
                    found,
                    format!(
                        "`arm` takes one JSON resource on the rest of its line: {}",
                        json_message(&e)
                    ),
                );
            }
        }
    }

    fn at(source: usize, line: usize, t: &Token) -> At {
        At {
            source,
            line,
            start: t.start,
            end: t.end,
        }
    }

    /// Records a declared id; a second declaration of the same id is an error.
    fn declare(&mut self, id: &str, name: &Token, source: usize, line: usize) -> Parsed<()> {
        let key = id.to_lowercase();
        if let Some(first) = self.declared.get(&key) {
            let place = if first.source == source {
                format!("line {}", first.line + 1)
            } else {
                format!(
                    "{}:{}",
                    self.sources[first.source].path.display(),
                    first.line + 1
                )
            };
            return Err(Cursor::error_at(
                name,
                format!(
                    "`{}` is declared twice: it was declared on {place} (id `{id}`)",
                    name.value
                ),
            ));
        }
        self.last_key = Some(key::id(id));
        self.declared.insert(key, Self::at(source, line, name));
        Ok(())
    }

    /// The innermost context: its level and id prefix.
    fn context(frames: &[Open]) -> (Level, String) {
        frames
            .iter()
            .rev()
            .find_map(|o| match &o.frame {
                Frame::Context(c) => {
                    Some((c.level, c.prefixes.last().cloned().unwrap_or_default()))
                }
                _ => None,
            })
            .unwrap_or((Level::Root, String::new()))
    }

    /// Containers a reference on this line resolves from, innermost first.
    fn containers(&self, frames: &[Open]) -> Vec<String> {
        let mut out = Vec::new();
        for open in frames.iter().rev() {
            match &open.frame {
                Frame::Context(c) => out.extend(c.prefixes.iter().rev().cloned()),
                Frame::Vnet(i) => out.extend(self.item_id(*i)),
                Frame::Nsg(i) | Frame::Manager(i) => out.extend(self.item_id(*i)),
                Frame::Config(i, k) => {
                    if let Some(Item::Manager(m)) = self.items.get(*i) {
                        out.extend(m.configs.get(*k).map(|c| c.id.clone()));
                    }
                    out.extend(self.item_id(*i));
                }
                Frame::Collection(i, k, j) => {
                    if let Some(Item::Manager(m)) = self.items.get(*i) {
                        if let Some(config) = m.configs.get(*k) {
                            out.extend(config.collections.get(*j).map(|c| c.id.clone()));
                            out.push(config.id.clone());
                        }
                    }
                    out.extend(self.item_id(*i));
                }
                Frame::Connectivity(i, k) => {
                    if let Some(Item::Manager(m)) = self.items.get(*i) {
                        out.extend(m.connectivity.get(*k).map(|c| c.id.clone()));
                    }
                    out.extend(self.item_id(*i));
                }
                Frame::Condition(_) | Frame::Skip => {}
            }
        }
        out.push(String::new());
        out
    }

    fn item_id(&self, i: usize) -> Option<String> {
        Some(match self.items.get(i)? {
            Item::Vnet(v) => v.id.clone(),
            Item::Nsg(n) => n.id.clone(),
            Item::Manager(m) => m.id.clone(),
            _ => return None,
        })
    }

    /// A reference: ids are taken as written, names resolved later.
    fn reference(
        &self,
        t: &Token,
        kinds: &'static [DeclKind],
        containers: &[String],
        source: usize,
        line: usize,
    ) -> Ref {
        if t.kind == Kind::Str || is_full_id(&t.value) {
            return Ref::id(&t.value);
        }
        Ref {
            text: t.value.clone(),
            site: Some(Box::new(Site {
                kinds,
                at: Self::at(source, line, t),
                containers: containers.to_vec(),
            })),
        }
    }

    /// A declaration's name and id: from `NAME` in its context, from `NAME id ID`, or from a
    /// full id given as the name.
    fn name_and_id(
        c: &mut Cursor,
        frames: &[Open],
        provider_type: &str,
        allowed: &[Level],
        what: &str,
    ) -> Parsed<(String, Option<String>, Token)> {
        let t = c.text(&format!("the {what}'s name"))?.clone();
        if is_full_id(&t.value) && t.kind == Kind::Word {
            let name = ResourceId::new(&t.value).name().to_string();
            return Ok((name, Some(t.value.clone()), t));
        }
        let (level, prefix) = Self::context(frames);
        let built = allowed
            .contains(&level)
            .then(|| format!("{prefix}/providers/{provider_type}/{}", t.value));
        Ok((t.value.clone(), built, t))
    }

    /// The id of a declaration: the `id` clause, else the one built from the context, else
    /// an error saying where it belongs.
    fn settle_id(
        name: &Token,
        built: Option<String>,
        id_clause: Option<String>,
        allowed: &[Level],
        what: &str,
    ) -> Parsed<String> {
        if let Some(id) = id_clause.or(built) {
            return Ok(id);
        }
        let places: Vec<&str> = allowed.iter().map(|l| l.block()).collect();
        Err(Cursor::error_at(
            name,
            format!(
                "a {what} belongs {}, or needs its full id (`id /subscriptions/...`)",
                places.join(" or ")
            ),
        ))
    }

    fn statement(
        &mut self,
        c: &mut Cursor,
        frames: &[Open],
        source: usize,
        line: usize,
        opens: bool,
    ) -> Parsed<Step> {
        let Some(first) = c.peek() else {
            return Ok(Step::Done);
        };
        let done = |r: Parsed<()>| r.map(|()| Step::Done);
        match frames.last().map(|o| &o.frame) {
            None | Some(Frame::Context(_)) => {
                self.container_statement(c, frames, source, line, opens)
            }
            Some(Frame::Vnet(i)) => done(self.vnet_statement(c, frames, source, line, *i)),
            Some(Frame::Nsg(i)) => {
                done(self.rule_statement(c, frames, source, line, RuleParent::Nsg(*i)))
            }
            Some(Frame::Collection(i, k, j)) => done(self.rule_statement(
                c,
                frames,
                source,
                line,
                RuleParent::Collection(*i, *k, *j),
            )),
            Some(Frame::Manager(i)) => self.manager_statement(c, frames, source, line, *i, opens),
            Some(Frame::Config(i, k)) => {
                if !first.is_word("collection") {
                    return Err(unknown_word(
                        first,
                        &["collection", "}"],
                        "in a security admin configuration",
                    ));
                }
                self.collection(c, frames, source, line, *i, *k)
            }
            Some(Frame::Connectivity(i, k)) => {
                if !first.is_word("applies-to") {
                    return Err(unknown_word(
                        first,
                        &["applies-to", "}"],
                        "in a connectivity configuration",
                    ));
                }
                done(self.connectivity_group(c, frames, source, line, *i, *k))
            }
            Some(Frame::Condition(_)) => {
                let depth = frames
                    .iter()
                    .filter(|o| matches!(o.frame, Frame::Condition(_)))
                    .count();
                let of_group = frames.iter().any(|o| {
                    matches!(
                        o.frame,
                        Frame::Condition(CondFrame {
                            target: CondTarget::Group(..),
                            ..
                        })
                    )
                });
                self.condition_statement(c, opens, depth, !of_group)
            }
            Some(Frame::Skip) => Ok(Step::Done),
        }
    }

    /// A line of a condition block; `parameters` as for [`cond::leaf`].
    fn condition_statement(
        &mut self,
        c: &mut Cursor,
        opens: bool,
        depth: usize,
        parameters: bool,
    ) -> Parsed<Step> {
        self.cond_lines += 1;
        self.last_key = Some(key::child(&self.cond_owner, "line", self.cond_lines));
        let op = if c.peek_is("all-of") {
            Some(CondOp::AllOf)
        } else if c.peek_is("any-of") {
            Some(CondOp::AnyOf)
        } else if c.peek_is("not") && c.peek2().is_none() {
            Some(CondOp::Not)
        } else {
            None
        };
        if let Some(op) = op {
            let Some(t) = c.bump() else {
                return Err(c.missing("a condition"));
            };
            if !opens {
                return Err(Cursor::error_at(
                    t,
                    format!("`{}` opens a block: write `{} {{`", t.value, t.value),
                ));
            }
            if depth >= cond::MAX_DEPTH {
                return Err(Cursor::error_at(
                    t,
                    format!("conditions nest at most {} deep", cond::MAX_DEPTH),
                ));
            }
            return Ok(Step::Block(Frame::Condition(CondFrame {
                op,
                items: Vec::new(),
                target: CondTarget::Parent,
            })));
        }
        let value = if c.eat("not") {
            serde_json::json!({ "not": cond::leaf(c, parameters)? })
        } else {
            cond::leaf(c, parameters)?
        };
        Ok(Step::Leaf(value))
    }
}

impl Parser {
    fn container_statement(
        &mut self,
        c: &mut Cursor,
        frames: &[Open],
        source: usize,
        line: usize,
        opens: bool,
    ) -> Parsed<Step> {
        let Some(first) = c.bump() else {
            return Ok(Step::Done);
        };
        let statements = &CONTAINER_STATEMENTS[..CONTAINER_STATEMENTS.len() - 1];
        let place = if frames.is_empty() {
            "at the top level"
        } else {
            "in this block"
        };
        let Some(keyword) = statements.iter().copied().find(|k| first.is_word(k)) else {
            return Err(unknown_word(first, statements, place));
        };
        let containers = self.containers(frames);
        let (level, prefix) = Self::context(frames);
        let r = |t: &Token, kinds| self.reference(t, kinds, &containers, source, line);
        match keyword {
            "include" => {
                if !frames.is_empty() {
                    return Err(Cursor::error_at(first, "`include` goes at the top level"));
                }
                let t = c.text("a file name in quotes, e.g. include \"network.secpath\"")?;
                c.finish("the end of the line")?;
                if source == 0 {
                    self.root_includes.push((self.items.len(), t.value.clone()));
                }
                let n = self.count(source, "include");
                self.last_key = Some(key::nth("include", n));
                self.include(t, source, line);
                Ok(Step::Done)
            }
            "management-group" => {
                let name = c.text("the management group's name")?;
                if level != Level::Root {
                    return Err(Cursor::error_at(
                        first,
                        "a management group is declared at the top level",
                    ));
                }
                let mut g = ManagementGroup {
                    name: name.value.clone(),
                    parent: None,
                    tenant: None,
                };
                clauses(c, &["parent", "tenant"], &[], |kw, _, c| {
                    let v = Some(c.text("a name")?.value.clone());
                    match kw {
                        "parent" => g.parent = v,
                        _ => g.tenant = v,
                    }
                    Ok(())
                })?;
                let id = management_group_id(&g.name);
                self.declare(&id, name, source, line)?;
                self.push_item(source, line, Item::ManagementGroup(g));
                Ok(Step::Block(Frame::Context(Ctx {
                    level: Level::ManagementGroup,
                    prefixes: vec![id],
                })))
            }
            "subscription" => {
                let guid = c.text("the subscription id")?;
                if level != Level::Root {
                    return Err(Cursor::error_at(
                        first,
                        "a subscription is declared at the top level",
                    ));
                }
                let mut s = Subscription {
                    subscription_id: guid.value.clone(),
                    name: guid.value.clone(),
                    tenant: None,
                    ancestors: Vec::new(),
                    tags: Tags::new(),
                };
                let mut parent_given = None;
                clauses(
                    c,
                    &["name", "tenant", "parent", "ancestors", "tags"],
                    &[],
                    |kw, t, c| {
                        match kw {
                            "name" => s.name = c.text("a display name")?.value.clone(),
                            "tenant" => s.tenant = Some(c.text("a tenant id")?.value.clone()),
                            "tags" => s.tags = tags(c)?,
                            _ => {
                                if let Some(other) = parent_given.replace(kw) {
                                    return Err(Cursor::error_at(
                                        t,
                                        format!("give either `parent` or `ancestors`, not both (`{other}` is already given)"),
                                    ));
                                }
                                s.ancestors = if kw == "parent" {
                                    vec![c.text("a management group name")?.value.clone()]
                                } else {
                                    words(c, "a management group name")?
                                };
                            }
                        }
                        Ok(())
                    },
                )?;
                let prefix = format!("/subscriptions/{}", s.subscription_id);
                self.declare(&prefix, guid, source, line)?;
                self.push_item(source, line, Item::Subscription(s));
                Ok(Step::Block(Frame::Context(Ctx {
                    level: Level::Subscription,
                    prefixes: vec![prefix],
                })))
            }
            "resource-group" => {
                let name = c.text("the resource group's name")?;
                let built = (level == Level::Subscription)
                    .then(|| format!("{prefix}/resourceGroups/{}", name.value));
                let mut g = ResourceGroup {
                    id: String::new(),
                    name: name.value.clone(),
                    tags: Tags::new(),
                };
                let mut id_clause = None;
                clauses(c, &["id", "tags"], &[], |kw, _, c| {
                    match kw {
                        "id" => id_clause = Some(c.text("an id")?.value.clone()),
                        _ => g.tags = tags(c)?,
                    }
                    Ok(())
                })?;
                g.id = Self::settle_id(
                    name,
                    built.clone(),
                    id_clause,
                    levels::IN_SUBSCRIPTION,
                    "resource group",
                )?;
                self.declare(&g.id, name, source, line)?;
                let block_prefix = built.unwrap_or_else(|| g.id.clone());
                self.push_item(source, line, Item::ResourceGroup(g));
                Ok(Step::Block(Frame::Context(Ctx {
                    level: Level::ResourceGroup,
                    prefixes: vec![block_prefix],
                })))
            }
            "in" => {
                let mut ctx = Ctx {
                    level,
                    prefixes: Vec::new(),
                };
                let mut current = prefix;
                while let Some(t) = c.peek() {
                    let (needs, next, segment) = if t.is_word("subscription") {
                        (Level::Root, Level::Subscription, "/subscriptions/")
                    } else if t.is_word("resource-group") {
                        (
                            Level::Subscription,
                            Level::ResourceGroup,
                            "/resourceGroups/",
                        )
                    } else if t.is_word("management-group") {
                        (
                            Level::Root,
                            Level::ManagementGroup,
                            "/providers/Microsoft.Management/managementGroups/",
                        )
                    } else {
                        break;
                    };
                    if ctx.level != needs {
                        return Err(Cursor::error_at(
                            t,
                            format!("`in {}` goes {}", t.value, needs.block()),
                        ));
                    }
                    c.bump();
                    let name = c.text("a name")?;
                    current = if next == Level::ResourceGroup {
                        format!("{current}{segment}{}", name.value)
                    } else {
                        format!("{segment}{}", name.value)
                    };
                    ctx.level = next;
                    ctx.prefixes.push(current.clone());
                }
                if ctx.prefixes.is_empty() {
                    return Err(c.expected(
                        "`subscription ID`, `resource-group NAME` or `management-group NAME`",
                    ));
                }
                c.finish("`{`")?;
                if !opens {
                    return Err(c.missing("`{` (`in` opens a block)"));
                }
                self.last_key = Some(key::context(&current));
                Ok(Step::Block(Frame::Context(ctx)))
            }
            "vnet" => {
                let (name, built, tok) =
                    Self::name_and_id(c, frames, types::VNET, levels::IN_RESOURCE_GROUP, "vnet")?;
                let mut v = Vnet {
                    id: String::new(),
                    name,
                    location: String::new(),
                    tags: Tags::new(),
                    address_space: Vec::new(),
                    subnets: Vec::new(),
                    peerings: Vec::new(),
                };
                let mut id_clause = None;
                clauses(
                    c,
                    &["id", "region", "tags", "address-space"],
                    &[],
                    |kw, _, c| {
                        match kw {
                            "id" => id_clause = Some(c.text("an id")?.value.clone()),
                            "region" => v.location = normalise_region(&c.text("a region")?.value),
                            "tags" => v.tags = tags(c)?,
                            _ => v.address_space = prefixes(c)?,
                        }
                        Ok(())
                    },
                )?;
                v.id = Self::settle_id(&tok, built, id_clause, levels::IN_RESOURCE_GROUP, "vnet")?;
                self.declare(&v.id, &tok, source, line)?;
                self.push_item(source, line, Item::Vnet(v));
                Ok(Step::Block(Frame::Vnet(self.items.len() - 1)))
            }
            "nic" => {
                let (name, built, tok) =
                    Self::name_and_id(c, frames, types::NIC, levels::IN_RESOURCE_GROUP, "nic")?;
                let mut n = Nic {
                    id: String::new(),
                    name,
                    nsg: None,
                    private_endpoint: false,
                    ip_configs: Vec::new(),
                };
                let mut id_clause = None;
                let mut ips: Vec<(Token, bool)> = Vec::new();
                clauses(
                    c,
                    &[
                        "id",
                        "nsg",
                        "private-endpoint",
                        "ip",
                        "subnet",
                        "asg",
                        "public-ip",
                    ],
                    &["ip", "subnet", "asg", "public-ip"],
                    |kw, t, c| {
                        match kw {
                            "id" => id_clause = Some(c.text("an id")?.value.clone()),
                            "nsg" => n.nsg = Some(r(c.text("an NSG")?, refs::NSG)),
                            "private-endpoint" => n.private_endpoint = true,
                            "ip" => {
                                let a = c.text("a private IP address")?;
                                if a.value.parse::<std::net::IpAddr>().is_err() {
                                    return Err(Cursor::error_at(
                                        a,
                                        format!(
                                            "`{}` is not an IP address: expected e.g. 10.0.1.4",
                                            a.value
                                        ),
                                    ));
                                }
                                n.ip_configs.push(IpConfig {
                                    address: a.value.clone(),
                                    subnet: Ref::id(""),
                                    asgs: Vec::new(),
                                    public_ip: None,
                                });
                                ips.push((a.clone(), false));
                            }
                            _ => {
                                let (Some(cfg), Some((_, has_subnet))) =
                                    (n.ip_configs.last_mut(), ips.last_mut())
                                else {
                                    return Err(Cursor::error_at(
                                        t,
                                        format!("`{kw}` describes an IP configuration: write `ip ADDRESS subnet VNET/SUBNET` before it"),
                                    ));
                                };
                                let twice = match kw {
                                    "subnet" => std::mem::replace(has_subnet, true),
                                    "asg" => !cfg.asgs.is_empty(),
                                    _ => cfg.public_ip.is_some(),
                                };
                                if twice {
                                    return Err(Cursor::error_at(
                                        t,
                                        format!("`{kw}` is given twice for this IP configuration"),
                                    ));
                                }
                                match kw {
                                    "subnet" => {
                                        cfg.subnet =
                                            r(c.text("a subnet (VNET/SUBNET)")?, refs::SUBNET)
                                    }
                                    "asg" => {
                                        cfg.asgs = c.list(|c| {
                                            Ok(r(
                                                c.text("an application security group")?,
                                                refs::ASG,
                                            ))
                                        })?;
                                    }
                                    _ => {
                                        cfg.public_ip =
                                            Some(r(c.text("a public IP")?, refs::PUBLIC_IP))
                                    }
                                }
                            }
                        }
                        Ok(())
                    },
                )?;
                if let Some((ip, _)) = ips.iter().find(|(_, has_subnet)| !has_subnet) {
                    return Err(Cursor::error_at(
                        ip,
                        "this IP configuration needs its subnet: `ip ADDRESS subnet VNET/SUBNET`",
                    ));
                }
                n.id = Self::settle_id(&tok, built, id_clause, levels::IN_RESOURCE_GROUP, "nic")?;
                self.declare(&n.id, &tok, source, line)?;
                self.push_item(source, line, Item::Nic(n));
                Ok(Step::Done)
            }
            "nsg" | "asg" | "public-ip" | "vnet-gateway" | "local-gateway" | "connection" => {
                let (ty, what, extra): (&str, &str, &[&str]) = match keyword {
                    "nsg" => (types::NSG, "nsg", &["id"]),
                    "asg" => (types::ASG, "asg", &["id"]),
                    "public-ip" => (types::PUBLIC_IP, "public-ip", &["id", "sku"]),
                    "vnet-gateway" => (types::VNET_GATEWAY, "vnet-gateway", &["id", "subnet"]),
                    "local-gateway" => (types::LOCAL_GATEWAY, "local-gateway", &["id", "prefix"]),
                    _ => (types::CONNECTION, "connection", &["id", "from", "to"]),
                };
                let (name, built, tok) =
                    Self::name_and_id(c, frames, ty, levels::IN_RESOURCE_GROUP, what)?;
                let mut id_clause = None;
                let mut sku = None;
                let mut subnets = Vec::new();
                let mut prefix_list = Vec::new();
                let (mut from, mut to) = (None, None);
                clauses(c, extra, &[], |kw, _, c| {
                    match kw {
                        "id" => id_clause = Some(c.text("an id")?.value.clone()),
                        "sku" => sku = Some(enum_word(c, PUBLIC_IP_SKUS, "a public IP SKU")?),
                        "subnet" => {
                            subnets =
                                c.list(|c| Ok(r(c.text("a subnet (VNET/SUBNET)")?, refs::SUBNET)))?;
                        }
                        "prefix" => prefix_list = prefixes(c)?,
                        "from" => from = Some(r(c.text("a vnet-gateway")?, refs::VNET_GATEWAY)),
                        _ => to = Some(r(c.text("a local-gateway")?, refs::LOCAL_GATEWAY)),
                    }
                    Ok(())
                })?;
                let id = Self::settle_id(&tok, built, id_clause, levels::IN_RESOURCE_GROUP, what)?;
                let item = match keyword {
                    "nsg" => Item::Nsg(Nsg {
                        id: id.clone(),
                        name,
                        rules: Vec::new(),
                        defaults: Vec::new(),
                    }),
                    "asg" => Item::Asg(Named {
                        id: id.clone(),
                        name,
                    }),
                    "public-ip" => Item::PublicIp(PublicIp {
                        id: id.clone(),
                        name,
                        sku,
                    }),
                    "vnet-gateway" => Item::VnetGateway(VnetGateway {
                        id: id.clone(),
                        name,
                        subnets,
                    }),
                    "local-gateway" => Item::LocalGateway(LocalGateway {
                        id: id.clone(),
                        name,
                        prefixes: prefix_list,
                    }),
                    _ => {
                        let (Some(gateway), Some(local_gateway)) = (from, to) else {
                            return Err(Cursor::error_at(
                                &tok,
                                "a connection needs `from VNET-GATEWAY` and `to LOCAL-GATEWAY`",
                            ));
                        };
                        Item::Connection(Connection {
                            id: id.clone(),
                            name,
                            gateway,
                            local_gateway,
                        })
                    }
                };
                self.declare(&id, &tok, source, line)?;
                self.push_item(source, line, item);
                Ok(if keyword == "nsg" {
                    Step::Block(Frame::Nsg(self.items.len() - 1))
                } else {
                    Step::Done
                })
            }
            "network-manager" => {
                let (name, built, tok) = Self::name_and_id(
                    c,
                    frames,
                    types::MANAGER,
                    levels::IN_RESOURCE_GROUP,
                    "network manager",
                )?;
                let mut m = Manager {
                    id: String::new(),
                    name,
                    scopes: Vec::new(),
                    accesses: Vec::new(),
                    groups: Vec::new(),
                    scope_connections: Vec::new(),
                    configs: Vec::new(),
                    connectivity: Vec::new(),
                };
                let mut id_clause = None;
                clauses(c, &["id", "scope", "access"], &[], |kw, _, c| {
                    match kw {
                        "id" => id_clause = Some(c.text("an id")?.value.clone()),
                        "scope" => m.scopes = c.list(scope_item)?,
                        _ => {
                            m.accesses = c.list(|c| {
                                enum_word(c, CONFIGURATION_TYPES, "a network manager access")
                            })?
                        }
                    }
                    Ok(())
                })?;
                m.id = Self::settle_id(
                    &tok,
                    built,
                    id_clause,
                    levels::IN_RESOURCE_GROUP,
                    "network manager",
                )?;
                self.declare(&m.id, &tok, source, line)?;
                self.push_item(source, line, Item::Manager(m));
                Ok(Step::Block(Frame::Manager(self.items.len() - 1)))
            }
            "manager-connection" => {
                let (name, built, tok) = Self::name_and_id(
                    c,
                    frames,
                    types::MANAGER_CONNECTION,
                    levels::MG_OR_SUBSCRIPTION,
                    "manager connection",
                )?;
                let mut id_clause = None;
                let mut manager = None;
                let mut state = None;
                clauses(c, &["id", "manager", "state"], &[], |kw, _, c| {
                    match kw {
                        "id" => id_clause = Some(c.text("an id")?.value.clone()),
                        "manager" => manager = Some(r(c.text("a network manager")?, refs::MANAGER)),
                        _ => state = Some(enum_word(c, CONNECTION_STATES, "a connection state")?),
                    }
                    Ok(())
                })?;
                let id = Self::settle_id(
                    &tok,
                    built,
                    id_clause,
                    levels::MG_OR_SUBSCRIPTION,
                    "manager connection",
                )?;
                let Some(manager) = manager else {
                    return Err(c.missing("`manager NETWORK-MANAGER`"));
                };
                self.declare(&id, &tok, source, line)?;
                self.push_item(
                    source,
                    line,
                    Item::ManagerConnection(ManagerConnection {
                        id,
                        name,
                        manager,
                        state,
                    }),
                );
                Ok(Step::Done)
            }
            "policy-definition" => {
                let (name, built, tok) = Self::name_and_id(
                    c,
                    frames,
                    types::POLICY_DEFINITION,
                    levels::MG_OR_SUBSCRIPTION,
                    "policy definition",
                )?;
                let mut id_clause = None;
                let mut group = None;
                let mut defaults = Vec::new();
                let mut condition = None;
                clauses(
                    c,
                    &["id", "group", "param", "where"],
                    &["param"],
                    |kw, _, c| {
                        match kw {
                            "id" => id_clause = Some(c.text("an id")?.value.clone()),
                            "group" => group = Some(r(c.text("a network group")?, refs::GROUP)),
                            "param" => defaults.push(param(c)?),
                            _ => condition = Some(inline_condition(c, true)?),
                        }
                        Ok(())
                    },
                )?;
                let id = Self::settle_id(
                    &tok,
                    built,
                    id_clause,
                    levels::MG_OR_SUBSCRIPTION,
                    "policy definition",
                )?;
                let Some(group) = group else {
                    return Err(c.missing("`group MANAGER/GROUP` (the network group it adds to)"));
                };
                check_condition_form(&tok, condition.is_some(), opens)?;
                self.declare(&id, &tok, source, line)?;
                self.push_item(
                    source,
                    line,
                    Item::PolicyDefinition(PolicyDefinition {
                        id,
                        name,
                        group,
                        condition: condition.unwrap_or(Value::Null),
                        defaults,
                    }),
                );
                Ok(Step::Block(Frame::Condition(CondFrame {
                    op: CondOp::Root,
                    items: Vec::new(),
                    target: CondTarget::Policy(self.items.len() - 1),
                })))
            }
            "policy-assignment" => {
                let (name, built, tok) = Self::name_and_id(
                    c,
                    frames,
                    types::POLICY_ASSIGNMENT,
                    levels::ANY_SCOPE,
                    "policy assignment",
                )?;
                let mut id_clause = None;
                let mut definition = None;
                let mut scope = None;
                let mut not_scopes = Vec::new();
                let mut parameters = Vec::new();
                clauses(
                    c,
                    &["id", "definition", "scope", "not-scopes", "param"],
                    &["param"],
                    |kw, _, c| {
                        match kw {
                            "id" => id_clause = Some(c.text("an id")?.value.clone()),
                            "definition" => {
                                definition = Some(r(
                                    c.text("a policy definition")?,
                                    refs::POLICY_DEFINITION,
                                ));
                            }
                            "scope" => scope = Some(c.text("a scope id")?.value.clone()),
                            "not-scopes" => not_scopes = words(c, "a scope id")?,
                            _ => parameters.push(param(c)?),
                        }
                        Ok(())
                    },
                )?;
                let id = Self::settle_id(
                    &tok,
                    built,
                    id_clause,
                    levels::ANY_SCOPE,
                    "policy assignment",
                )?;
                let Some(definition) = definition else {
                    return Err(c.missing("`definition POLICY-DEFINITION`"));
                };
                let scope = scope.unwrap_or_else(|| assignment_scope_of(&id).to_string());
                self.declare(&id, &tok, source, line)?;
                self.push_item(
                    source,
                    line,
                    Item::PolicyAssignment(PolicyAssignment {
                        id,
                        name,
                        definition,
                        scope,
                        not_scopes,
                        parameters,
                    }),
                );
                Ok(Step::Done)
            }
            "deployment" => {
                let mut d = Deployment {
                    region: String::new(),
                    kind: None,
                    status: String::new(),
                    configs: Vec::new(),
                    commit_time: None,
                };
                let mut seen = (false, false);
                clauses(
                    c,
                    &["region", "type", "status", "configs", "commit-time"],
                    &[],
                    |kw, _, c| {
                        match kw {
                            "region" => {
                                d.region = normalise_region(&c.text("a region")?.value);
                                seen.0 = true;
                            }
                            "type" => {
                                d.kind =
                                    Some(enum_word(c, CONFIGURATION_TYPES, "a deployment type")?)
                            }
                            "status" => {
                                d.status = enum_word(c, DEPLOYMENT_STATES, "a deployment status")?;
                                seen.1 = true;
                            }
                            "configs" => {
                                d.configs = c.list(|c| {
                                    Ok(r(c.text("a configuration (MANAGER/CONFIG)")?, refs::CONFIG))
                                })?;
                            }
                            _ => d.commit_time = Some(c.text("a commit time")?.value.clone()),
                        }
                        Ok(())
                    },
                )?;
                if !seen.0 {
                    return Err(c.missing("`region REGION`"));
                }
                if !seen.1 {
                    return Err(c.missing("`status STATUS` (e.g. status Deployed)"));
                }
                self.push_item(source, line, Item::Deployment(d));
                let n = self.count(source, "deployment");
                self.last_key = Some(key::nth("deployment", n));
                Ok(Step::Done)
            }
            _ => Err(Cursor::error_at(
                first,
                "`arm` takes one JSON resource on the rest of its line: arm {\"id\": ...}",
            )),
        }
    }

    fn include(&mut self, t: &Token, source: usize, line: usize) {
        let at = Self::at(source, line, t);
        let base = self.sources[source].path.parent().map(Path::to_path_buf);
        let path = match base {
            Some(b) if !b.as_os_str().is_empty() => b.join(&t.value),
            _ => PathBuf::from(&t.value),
        };
        let found = super::cursor::shown(t);
        let canonical = match std::fs::canonicalize(&path) {
            Ok(p) => p,
            Err(e) => {
                return self.error(at, found, format!("cannot read `{}`: {e}", path.display()))
            }
        };
        if self.including.iter().any(|(c, _)| *c == canonical) {
            let chain: Vec<String> = self
                .including
                .iter()
                .map(|(_, shown)| shown.display().to_string())
                .chain([path.display().to_string()])
                .collect();
            return self.error(
                at,
                found,
                format!("include cycle: {}", chain.join(" includes ")),
            );
        }
        if !self.included.insert(canonical.clone()) {
            return;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                // The included file's comments and statements are its own.
                let pending = std::mem::take(&mut self.pending);
                let last_key = self.last_key.take();
                self.including.push((canonical, path.clone()));
                self.file(&text, &path);
                self.including.pop();
                self.pending = pending;
                self.last_key = last_key;
            }
            Err(e) => self.error(at, found, format!("cannot read `{}`: {e}", path.display())),
        }
    }

    fn vnet_statement(
        &mut self,
        c: &mut Cursor,
        frames: &[Open],
        source: usize,
        line: usize,
        i: usize,
    ) -> Parsed<()> {
        let Some(first) = c.bump() else {
            return Ok(());
        };
        let Some(Item::Vnet(vnet)) = self.items.get(i) else {
            return Ok(());
        };
        let vnet_id = vnet.id.clone();
        let containers = self.containers(frames);
        let r = |t: &Token, kinds| self.reference(t, kinds, &containers, source, line);
        if first.is_word("address-space") {
            let list = prefixes(c)?;
            c.finish("`,` or the end of the line")?;
            if let Some(Item::Vnet(v)) = self.items.get_mut(i) {
                v.address_space.extend(list);
            }
            self.last_key = Some(key::child(&key::id(&vnet_id), "address-space", 0));
            return Ok(());
        }
        if first.is_word("subnet") {
            let name = c.text("the subnet's name")?;
            let mut s = Subnet {
                id: format!("{vnet_id}/subnets/{}", name.value),
                name: name.value.clone(),
                prefixes: Vec::new(),
                nsg: None,
                delegations: Vec::new(),
            };
            clauses(
                c,
                &["id", "prefix", "nsg", "delegation"],
                &[],
                |kw, _, c| {
                    match kw {
                        "id" => s.id = c.text("an id")?.value.clone(),
                        "prefix" => s.prefixes = prefixes(c)?,
                        "nsg" => s.nsg = Some(r(c.text("an NSG")?, refs::NSG)),
                        _ => {
                            s.delegations =
                                words(c, "a service name (e.g. Microsoft.Sql/managedInstances)")?
                        }
                    }
                    Ok(())
                },
            )?;
            self.declare(&s.id, name, source, line)?;
            if let Some(Item::Vnet(v)) = self.items.get_mut(i) {
                v.subnets.push(s);
            }
            return Ok(());
        }
        if first.is_word("peering") {
            let mut remote = None;
            let mut state = "Connected".to_string();
            clauses(c, &["to", "state"], &[], |kw, _, c| {
                match kw {
                    "to" => remote = Some(r(c.text("the remote vnet")?, refs::VNET)),
                    _ => state = enum_word(c, PEERING_STATES, "a peering state")?,
                }
                Ok(())
            })?;
            let Some(remote) = remote else {
                return Err(Cursor::error_at(first, "a peering needs `to VNET`"));
            };
            if let Some(Item::Vnet(v)) = self.items.get_mut(i) {
                v.peerings.push(Peering { remote, state });
                let n = v.peerings.len();
                self.last_key = Some(key::child(&key::id(&vnet_id), "peering", n));
            }
            return Ok(());
        }
        Err(unknown_word(
            first,
            &["address-space", "subnet", "peering", "}"],
            "in a vnet",
        ))
    }

    /// Addresses after `from` or `to` (`none`: an empty list).
    fn addresses(
        &self,
        c: &mut Cursor,
        admin: bool,
        containers: &[String],
        source: usize,
        line: usize,
    ) -> Parsed<Vec<Address>> {
        if c.eat("none") {
            return Ok(Vec::new());
        }
        if c.at_end()
            || ["ports", "to", "from", "name", "id"]
                .iter()
                .any(|k| c.peek_is(k))
        {
            return Err(c.expected(
                "an address: *, a CIDR, an address, a range a-b, a service tag, `asg NAME`, `group NAME` or `none`",
            ));
        }
        c.list(|c| {
            let Some(t) = c.peek() else {
                return Err(c.missing("an address"));
            };
            if t.is_word("asg") {
                c.bump();
                if admin {
                    return Err(Cursor::error_at(
                        t,
                        "admin rules cannot name application security groups: use `group NAME` (a network group) or prefixes",
                    ));
                }
                let name = c.text("an application security group")?;
                return Ok(Address::Asg(self.reference(name, refs::ASG, containers, source, line)));
            }
            if t.is_word("group") {
                c.bump();
                if !admin {
                    return Err(Cursor::error_at(
                        t,
                        "NSG rules cannot name network groups: use `asg NAME` or prefixes",
                    ));
                }
                let name = c.text("a network group")?;
                return Ok(Address::Group(self.reference(name, refs::GROUP, containers, source, line)));
            }
            if t.is_word("tag") {
                c.bump();
                return Ok(Address::Tag(c.text("a service tag")?.value.clone()));
            }
            let t = c.text(
                "an address: *, a CIDR, an address, a range a-b, a service tag, `asg NAME` or `group NAME`",
            )?;
            match AddressItem::parse_prefix_or_tag(&t.value) {
                Err(m) => Err(Cursor::error_at(t, m)),
                Ok(AddressItem::Tag(_)) => Ok(Address::Tag(t.value.clone())),
                Ok(_) => Ok(Address::Prefix(t.value.clone())),
            }
        })
    }

    fn rule_statement(
        &mut self,
        c: &mut Cursor,
        frames: &[Open],
        source: usize,
        line: usize,
        parent: RuleParent,
    ) -> Parsed<()> {
        let admin = matches!(parent, RuleParent::Collection(..));
        let containers = self.containers(frames);
        let Some(first) = c.peek() else {
            return Ok(());
        };
        let default = c.eat("default");
        if default && admin {
            return Err(Cursor::error_at(
                first,
                "`default` rules belong to NSGs; admin rules are all custom",
            ));
        }
        let options: &[&str] = if admin {
            &["inbound", "outbound", "}"]
        } else {
            &["inbound", "outbound", "default", "}"]
        };
        let dir_t = c.text("`inbound` or `outbound`")?;
        let Some(direction) = Direction::parse(&dir_t.value) else {
            return Err(Cursor::error_at(
                dir_t,
                format!(
                    "expected a rule, `inbound|outbound PRIORITY ACCESS PROTOCOL [from ...] [to ...] [name NAME]`, found `{}`{}",
                    dir_t.value,
                    did_you_mean(&dir_t.value, options)
                ),
            ));
        };
        let prio_t = c.text("a priority")?;
        let range = match (admin, default) {
            (true, _) => 1..=4096,
            (false, false) => 100..=4096,
            (false, true) => 1..=u32::MAX,
        };
        let priority = match prio_t.value.parse::<u32>() {
            Ok(p) if range.contains(&p) => p,
            _ => {
                let what = if admin {
                    "admin rules take 1-4096"
                } else if default {
                    "default rules take a positive integer"
                } else {
                    "NSG rules take 100-4096"
                };
                return Err(Cursor::error_at(
                    prio_t,
                    format!("`{}` is not a valid priority: {what}", prio_t.value),
                ));
            }
        };
        let access_t = c.text("`allow`, `deny` or `always-allow`")?;
        let access = match access_t.value.to_ascii_lowercase().as_str() {
            "allow" => Access::Allow,
            "deny" => Access::Deny,
            "always-allow" | "alwaysallow" if admin => Access::AlwaysAllow,
            "always-allow" | "alwaysallow" => {
                return Err(Cursor::error_at(
                    access_t,
                    "NSG rules take `allow` or `deny`; `always-allow` is for admin rules",
                ))
            }
            _ => {
                return Err(Cursor::error_at(
                    access_t,
                    format!(
                        "`{}` is not an access: expected {}",
                        access_t.value,
                        if admin {
                            "`allow`, `deny` or `always-allow`"
                        } else {
                            "`allow` or `deny`"
                        }
                    ),
                ))
            }
        };
        let proto_t = c.text("a protocol (tcp, udp, icmp, esp, ah or any)")?;
        let Some(protocol) = Protocol::parse(&proto_t.value) else {
            return Err(Cursor::error_at(
                proto_t,
                format!(
                    "`{}` is not a protocol: expected tcp, udp, icmp, esp, ah or any",
                    proto_t.value
                ),
            ));
        };
        // An omitted `from`, `to` or `ports` means any, written the way Azure writes it.
        let any_port = if admin { "0-65535" } else { "*" };
        let any_address = || vec![Address::Prefix("*".to_string())];
        let mut rule = Rule {
            id: String::new(),
            name: format!("{}-{priority}", direction.to_string().to_ascii_lowercase()),
            direction,
            priority,
            access,
            protocol,
            sources: any_address(),
            source_ports: vec![any_port.to_string()],
            destinations: any_address(),
            destination_ports: vec![any_port.to_string()],
        };
        let mut id_clause = None;
        let mut name_tok = None;
        clauses(c, &["from", "to", "name", "id"], &[], |kw, _, c| {
            match kw {
                "from" | "to" => {
                    let list = self.addresses(c, admin, &containers, source, line)?;
                    let ports = if !c.eat("ports") {
                        vec![any_port.to_string()]
                    } else if c.eat("none") {
                        Vec::new()
                    } else {
                        ports(c)?
                    };
                    if kw == "from" {
                        rule.sources = list;
                        rule.source_ports = ports;
                    } else {
                        rule.destinations = list;
                        rule.destination_ports = ports;
                    }
                }
                "name" => {
                    let t = c.text("the rule's name")?;
                    rule.name = t.value.clone();
                    name_tok = Some(t.clone());
                }
                _ => id_clause = Some(c.text("an id")?.value.clone()),
            }
            Ok(())
        })?;
        let (parent_id, segment) = match parent {
            RuleParent::Nsg(i) => (
                self.item_id(i).unwrap_or_default(),
                if default {
                    "defaultSecurityRules"
                } else {
                    "securityRules"
                },
            ),
            RuleParent::Collection(i, k, j) => {
                let id = match self.items.get(i) {
                    Some(Item::Manager(m)) => m
                        .configs
                        .get(k)
                        .and_then(|cfg| cfg.collections.get(j))
                        .map(|col| col.id.clone())
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                (id, "rules")
            }
        };
        rule.id = id_clause.unwrap_or_else(|| format!("{parent_id}/{segment}/{}", rule.name));
        let siblings: Option<&Vec<Rule>> = match parent {
            RuleParent::Nsg(i) => match self.items.get(i) {
                Some(Item::Nsg(n)) if !default => Some(&n.rules),
                _ => None,
            },
            RuleParent::Collection(i, k, j) => match self.items.get(i) {
                Some(Item::Manager(m)) => m
                    .configs
                    .get(k)
                    .and_then(|cfg| cfg.collections.get(j))
                    .map(|col| &col.rules),
                _ => None,
            },
        };
        let clash = siblings.and_then(|list| {
            list.iter()
                .find(|o| o.priority == priority && (admin || o.direction == direction))
                .map(|o| (o.name.clone(), o.id.to_lowercase()))
        });
        if let Some((other, other_id)) = clash {
            let place = self
                .rule_at
                .get(&other_id)
                .map_or(String::new(), |a| format!(" (line {})", a.line + 1));
            let scope = if admin {
                "in this rule collection (admin priorities are unique whatever the direction)"
                    .to_string()
            } else {
                format!(
                    "in this NSG's {} rules",
                    direction.to_string().to_ascii_lowercase()
                )
            };
            return Err(Cursor::error_at(
                prio_t,
                format!("priority {priority} is already used by `{other}`{place} {scope}"),
            ));
        }
        let anchor = name_tok.unwrap_or_else(|| prio_t.clone());
        self.declare(&rule.id, &anchor, source, line)?;
        self.rule_at
            .insert(rule.id.to_lowercase(), Self::at(source, line, &anchor));
        match parent {
            RuleParent::Nsg(i) => {
                if let Some(Item::Nsg(n)) = self.items.get_mut(i) {
                    if default {
                        n.defaults.push(rule);
                    } else {
                        n.rules.push(rule);
                    }
                }
            }
            RuleParent::Collection(i, k, j) => {
                if let Some(Item::Manager(m)) = self.items.get_mut(i) {
                    if let Some(col) = m
                        .configs
                        .get_mut(k)
                        .and_then(|cfg| cfg.collections.get_mut(j))
                    {
                        col.rules.push(rule);
                    }
                }
            }
        }
        Ok(())
    }

    fn manager_statement(
        &mut self,
        c: &mut Cursor,
        frames: &[Open],
        source: usize,
        line: usize,
        i: usize,
        opens: bool,
    ) -> Parsed<Step> {
        let Some(first) = c.bump() else {
            return Ok(Step::Done);
        };
        let Some(Item::Manager(m)) = self.items.get(i) else {
            return Ok(Step::Done);
        };
        let (manager_id, has_scope) = (m.id.clone(), !m.scopes.is_empty());
        let containers = self.containers(frames);
        let r = |t: &Token, kinds| self.reference(t, kinds, &containers, source, line);
        let name = |c: &mut Cursor, what: &str| c.text(&format!("the {what}'s name")).cloned();
        if first.is_word("group") {
            let tok = name(c, "group")?;
            let mut g = Group {
                id: format!("{manager_id}/networkGroups/{}", tok.value),
                name: tok.value.clone(),
                subnet_members: false,
                static_members: Vec::new(),
                dynamic: None,
            };
            let mut members: Vec<Token> = Vec::new();
            let mut dynamic_tok = None;
            clauses(
                c,
                &["id", "member-type", "static", "dynamic"],
                &[],
                |kw, t, c| {
                    match kw {
                        "id" => g.id = c.text("an id")?.value.clone(),
                        "member-type" => {
                            let v = c.text("`vnet` or `subnet`")?;
                            g.subnet_members = match v.value.to_ascii_lowercase().as_str() {
                                "subnet" => true,
                                "vnet" | "virtualnetwork" => false,
                                _ => {
                                    return Err(Cursor::error_at(
                                        v,
                                        format!(
                                        "`{}` is not a member type: expected `vnet` or `subnet`",
                                        v.value
                                    ),
                                    ))
                                }
                            };
                        }
                        "static" => {
                            members =
                                c.list(|c| c.text("a member (a vnet, or VNET/SUBNET)").cloned())?;
                        }
                        _ => {
                            dynamic_tok = Some(t.clone());
                            if c.eat("where") {
                                g.dynamic = Some(inline_condition(c, false)?);
                            }
                        }
                    }
                    Ok(())
                },
            )?;
            let kinds = if g.subnet_members {
                refs::SUBNET
            } else {
                refs::VNET
            };
            g.static_members = members.iter().map(|t| r(t, kinds)).collect();
            let mut block = None;
            if let Some(t) = &dynamic_tok {
                if !has_scope {
                    return Err(Cursor::error_at(
                        t,
                        "a dynamic group needs its network manager to have a `scope`: its membership policy is assigned at each scope",
                    ));
                }
                check_condition_form(t, g.dynamic.is_some(), opens)?;
                if g.dynamic.is_none() {
                    g.dynamic = Some(Value::Null);
                    block = Some(());
                }
            }
            self.declare(&g.id, &tok, source, line)?;
            if let Some(Item::Manager(m)) = self.items.get_mut(i) {
                m.groups.push(g);
                let index = m.groups.len() - 1;
                if block.is_some() {
                    return Ok(Step::Block(Frame::Condition(CondFrame {
                        op: CondOp::Root,
                        items: Vec::new(),
                        target: CondTarget::Group(i, index),
                    })));
                }
            }
            return Ok(Step::Done);
        }
        if first.is_word("scope-connection") {
            let tok = name(c, "scope connection")?;
            let mut id = format!("{manager_id}/scopeConnections/{}", tok.value);
            let (mut target, mut tenant, mut state) = (None, None, None);
            clauses(c, &["id", "to", "tenant", "state"], &[], |kw, _, c| {
                match kw {
                    "id" => id = c.text("an id")?.value.clone(),
                    "to" => target = Some(scope_item(c)?),
                    "tenant" => tenant = Some(c.text("a tenant id")?.value.clone()),
                    _ => state = Some(enum_word(c, CONNECTION_STATES, "a connection state")?),
                }
                Ok(())
            })?;
            let Some(target) = target else {
                return Err(c.missing("`to subscription ID` or `to management-group NAME`"));
            };
            self.declare(&id, &tok, source, line)?;
            if let Some(Item::Manager(m)) = self.items.get_mut(i) {
                m.scope_connections.push(ScopeConnection {
                    id,
                    name: tok.value.clone(),
                    target,
                    tenant,
                    state,
                });
            }
            return Ok(Step::Done);
        }
        if first.is_word("security-admin-config") {
            let tok = name(c, "configuration")?;
            let mut config = SecurityConfig {
                id: format!("{manager_id}/securityAdminConfigurations/{}", tok.value),
                name: tok.value.clone(),
                intent: IntentPolicySetting::None,
                collections: Vec::new(),
            };
            clauses(c, &["id", "apply-on-intent"], &[], |kw, _, c| {
                match kw {
                    "id" => config.id = c.text("an id")?.value.clone(),
                    _ => {
                        let v = c.text("`none`, `all` or `allow-rules-only`")?;
                        config.intent = match v.value.to_ascii_lowercase().as_str() {
                            "none" => IntentPolicySetting::None,
                            "all" => IntentPolicySetting::All,
                            "allow-rules-only" | "allowrulesonly" => {
                                IntentPolicySetting::AllowRulesOnly
                            }
                            _ => {
                                return Err(Cursor::error_at(
                                    v,
                                    format!("`{}` is not a setting: expected `none`, `all` or `allow-rules-only`", v.value),
                                ))
                            }
                        };
                    }
                }
                Ok(())
            })?;
            self.declare(&config.id, &tok, source, line)?;
            if let Some(Item::Manager(m)) = self.items.get_mut(i) {
                m.configs.push(config);
                return Ok(Step::Block(Frame::Config(i, m.configs.len() - 1)));
            }
            return Ok(Step::Done);
        }
        if first.is_word("connectivity") {
            let tok = name(c, "configuration")?;
            let mut conn = Connectivity {
                id: format!("{manager_id}/connectivityConfigurations/{}", tok.value),
                name: tok.value.clone(),
                hub_and_spoke: false,
                hubs: Vec::new(),
                global: false,
                groups: Vec::new(),
            };
            let mut topology = false;
            clauses(c, &["id", "topology", "hubs", "global"], &[], |kw, _, c| {
                match kw {
                    "id" => conn.id = c.text("an id")?.value.clone(),
                    "topology" => {
                        let v = c.text("`hub-and-spoke` or `mesh`")?;
                        conn.hub_and_spoke = match v.value.to_ascii_lowercase().as_str() {
                            "hub-and-spoke" | "hubandspoke" => true,
                            "mesh" => false,
                            _ => {
                                return Err(Cursor::error_at(
                                    v,
                                    format!(
                                    "`{}` is not a topology: expected `hub-and-spoke` or `mesh`",
                                    v.value
                                ),
                                ))
                            }
                        };
                        topology = true;
                    }
                    "hubs" => conn.hubs = c.list(|c| Ok(r(c.text("a hub vnet")?, refs::VNET)))?,
                    _ => conn.global = true,
                }
                Ok(())
            })?;
            if !topology {
                return Err(c.missing("`topology hub-and-spoke` or `topology mesh`"));
            }
            self.declare(&conn.id, &tok, source, line)?;
            if let Some(Item::Manager(m)) = self.items.get_mut(i) {
                m.connectivity.push(conn);
                return Ok(Step::Block(Frame::Connectivity(
                    i,
                    m.connectivity.len() - 1,
                )));
            }
            return Ok(Step::Done);
        }
        Err(unknown_word(
            first,
            &[
                "group",
                "scope-connection",
                "security-admin-config",
                "connectivity",
                "}",
            ],
            "in a network manager",
        ))
    }

    fn collection(
        &mut self,
        c: &mut Cursor,
        frames: &[Open],
        source: usize,
        line: usize,
        i: usize,
        k: usize,
    ) -> Parsed<Step> {
        c.bump();
        let containers = self.containers(frames);
        let Some(Item::Manager(m)) = self.items.get(i) else {
            return Ok(Step::Done);
        };
        let Some(config) = m.configs.get(k) else {
            return Ok(Step::Done);
        };
        let tok = c.text("the rule collection's name")?.clone();
        let mut col = Collection {
            id: format!("{}/ruleCollections/{}", config.id, tok.value),
            name: tok.value.clone(),
            applies_to: Vec::new(),
            rules: Vec::new(),
        };
        clauses(c, &["id", "applies-to"], &[], |kw, _, c| {
            match kw {
                "id" => col.id = c.text("an id")?.value.clone(),
                _ => {
                    col.applies_to = c.list(|c| {
                        let t = c.text("a network group")?;
                        Ok(self.reference(t, refs::GROUP, &containers, source, line))
                    })?;
                }
            }
            Ok(())
        })?;
        self.declare(&col.id, &tok, source, line)?;
        if let Some(Item::Manager(m)) = self.items.get_mut(i) {
            if let Some(config) = m.configs.get_mut(k) {
                config.collections.push(col);
                return Ok(Step::Block(Frame::Collection(
                    i,
                    k,
                    config.collections.len() - 1,
                )));
            }
        }
        Ok(Step::Done)
    }

    fn connectivity_group(
        &mut self,
        c: &mut Cursor,
        frames: &[Open],
        source: usize,
        line: usize,
        i: usize,
        k: usize,
    ) -> Parsed<()> {
        c.bump();
        let containers = self.containers(frames);
        let g = c.text("a network group")?;
        let group = self.reference(g, refs::GROUP, &containers, source, line);
        let mut entry = ConnectivityGroup {
            group,
            direct: false,
            global: false,
        };
        clauses(c, &["direct", "global"], &[], |kw, _, _| {
            match kw {
                "direct" => entry.direct = true,
                _ => entry.global = true,
            }
            Ok(())
        })?;
        if let Some(Item::Manager(m)) = self.items.get_mut(i) {
            if let Some(conn) = m.connectivity.get_mut(k) {
                conn.groups.push(entry);
                let n = conn.groups.len();
                self.last_key = Some(key::child(&key::id(&conn.id), "applies-to", n));
            }
        }
        Ok(())
    }

    /// Cuts the first file's statements at its includes.
    fn document(&mut self, per_item: Vec<Vec<Value>>) -> Document {
        let mut parts = Vec::new();
        let mut run = Vec::new();
        let mut includes = std::mem::take(&mut self.root_includes)
            .into_iter()
            .peekable();
        let mut values = Vec::new();
        let mut origins = Vec::new();
        for (i, item_values) in per_item.into_iter().enumerate() {
            while let Some((_, name)) = includes.next_if(|(at, _)| *at <= i) {
                parts.push(Part::Values(std::mem::take(&mut run)));
                parts.push(Part::Include(name));
            }
            if self.item_source.get(i) == Some(&0) {
                run.extend(item_values.iter().cloned());
            }
            let origin = self.origin(i);
            origins.extend(item_values.iter().map(|_| origin.clone()));
            values.extend(item_values);
        }
        for (_, name) in includes {
            parts.push(Part::Values(std::mem::take(&mut run)));
            parts.push(Part::Include(name));
        }
        parts.push(Part::Values(run));
        self.note(0, key::EOF.to_string(), None);
        Document {
            values,
            origins,
            parts,
            notes: std::mem::take(&mut self.notes),
        }
    }

    /// Where item `i`'s statement starts.
    fn origin(&self, i: usize) -> Origin {
        let source = self.item_source.get(i).and_then(|&s| self.sources.get(s));
        let line = self.item_line.get(i).copied().unwrap_or_default();
        let text = source.and_then(|s| s.lines.get(line));
        Origin {
            file: source.map(|s| s.path.clone()).unwrap_or_default(),
            line: line + 1,
            column: text.map_or(1, |t| {
                t.chars().take_while(|c| c.is_whitespace()).count() + 1
            }),
            text: text.cloned().unwrap_or_default(),
        }
    }

    /// Resolves every reference and writes the ARM resources of each item.
    fn emit(&mut self) -> Vec<Vec<Value>> {
        let decls = Decls::of(&self.items);
        let mut problems: Vec<(At, String, String)> = Vec::new();
        let mut values = Vec::new();
        {
            let mut resolve = |r: &Ref| -> String {
                let Some(site) = &r.site else {
                    return r.text.clone();
                };
                match decls.resolve(site.kinds, &r.text, &site.containers) {
                    Ok(d) => d.id.clone(),
                    Err(e) => {
                        let kinds: Vec<&str> = site.kinds.iter().map(|k| k.word()).collect();
                        let kinds = kinds.join(" or ");
                        let message = match e {
                            Unresolved::Unknown => format!(
                                "unknown {kinds} `{}`: nothing of that name is declared (to name a resource outside these files, write its full id){}",
                                r.text,
                                decls
                                    .closest(site.kinds, &r.text)
                                    .map_or(String::new(), |n| format!("; did you mean `{n}`?"))
                            ),
                            Unresolved::Ambiguous(ids) => format!(
                                "`{}` could name several: {}; write more of its path or its full id",
                                r.text,
                                ids.join(", ")
                            ),
                        };
                        problems.push((site.at, r.text.clone(), message));
                        r.text.clone()
                    }
                }
            };
            for item in &self.items {
                values.push(item.to_arm(&mut resolve));
            }
        }
        for (at, found, message) in problems {
            self.error(at, found, message);
        }
        values
    }
}

/// serde_json's message without its own line and column (the DSL's are given instead).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// `where LEAF` or `where not LEAF`, to the end of the line.
fn inline_condition(c: &mut Cursor, parameters: bool) -> Parsed<Value> {
    if c.eat("not") {
        return Ok(serde_json::json!({ "not": cond::leaf(c, parameters)? }));
    }
    cond::leaf(c, parameters)
}

/// A condition comes either after `where` or in a block, not both, and not neither.
fn check_condition_form(t: &Token, inline: bool, opens: bool) -> Parsed<()> {
    match (inline, opens) {
        (true, true) => Err(Cursor::error_at(
            t,
            "give the condition after `where` or in the block, not both",
        )),
        (false, false) => Err(Cursor::error_at(
            t,
            format!(
                "`{}` needs a condition: `where tags['env'] equals prod` on this line, or a block of conditions",
                t.value
            ),
        )),
        _ => Ok(()),
    }
}

/// An assignment's scope when none is given: the scope in its own id, as the loader reads it.
pub fn assignment_scope_of(id: &str) -> &str {
    id.split("/providers/Microsoft.Authorization")
        .next()
        .unwrap_or("")
}

/// Where an admin or NSG rule goes.
#[derive(Clone, Copy)]
enum RuleParent {
    Nsg(usize),
    Collection(usize, usize, usize),
}

/// The byte offset of the JSON in an `arm {...}` line, if the line is one.
fn arm_json(text: &str) -> Option<usize> {
    let trimmed = text.trim_start();
    let lead = text.len() - trimmed.len();
    let word = trimmed.get(..3)?;
    if !word.eq_ignore_ascii_case("arm") {
        return None;
    }
    let rest = &trimmed[3..];
    let gap = rest.len() - rest.trim_start().len();
    (gap > 0 || rest.is_empty()).then_some(lead + 3 + gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Value> {
        match parse(text, Path::new("t.secpath")) {
            Ok(doc) => doc.values,
            Err(e) => panic!("{e}"),
        }
    }

    fn find<'v>(values: &'v [Value], name: &str) -> &'v Value {
        values
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` in {values:#?}"))
    }

    const SUB: &str = "/subscriptions/s1/resourceGroups/rg";

    #[test]
    fn omitted_addresses_and_ports_are_written_as_azure_writes_any() {
        let v = values(
            "in subscription s1 resource-group rg {\n  nsg n {\n    Inbound 100 DENY TCP to * ports 22\n  }\n  network-manager m {\n    security-admin-config c {\n      collection k {\n        outbound 5 deny udp from 10.0.0.0/8 ports none\n      }\n    }\n  }\n}\n",
        );
        let nsg = find(&v, "n");
        let rule = &nsg["properties"]["securityRules"][0];
        assert_eq!(rule["name"], "inbound-100");
        assert_eq!(
            rule["id"],
            format!("{SUB}/providers/Microsoft.Network/networkSecurityGroups/n/securityRules/inbound-100")
        );
        let p = &rule["properties"];
        assert_eq!(p["sourceAddressPrefix"], "*");
        assert_eq!(p["sourcePortRange"], "*");
        assert_eq!(p["destinationPortRange"], "22");
        assert_eq!(p["protocol"], "Tcp");
        let admin = find(&v, "outbound-5");
        let p = &admin["properties"];
        assert_eq!(p["protocol"], "Udp");
        assert_eq!(p["sources"][0]["addressPrefix"], "10.0.0.0/8");
        assert!(
            p.get("sourcePortRanges").is_none(),
            "`none` is an empty list"
        );
        assert_eq!(p["destinations"][0]["addressPrefix"], "*");
        assert_eq!(p["destinationPortRanges"][0], "0-65535");
    }

    #[test]
    fn dynamic_groups_expand_to_a_policy_assigned_at_every_scope() {
        let v = values(
            "in subscription s1 {\n  in resource-group rg {\n    network-manager m scope management-group root, subscription s2 {\n      group g dynamic where tags['env'] equals prod\n    }\n  }\n}\n",
        );
        let def = find(&v, "m-g");
        assert_eq!(
            def["id"],
            "/providers/Microsoft.Management/managementGroups/root/providers/Microsoft.Authorization/policyDefinitions/m-g"
        );
        assert_eq!(
            def["properties"]["policyRule"]["if"],
            serde_json::json!({"field": "tags['env']", "equals": "prod"})
        );
        let scopes: Vec<&Value> = v
            .iter()
            .filter(|x| x["type"] == "Microsoft.Authorization/policyAssignments")
            .map(|x| &x["properties"]["scope"])
            .collect();
        assert_eq!(
            scopes,
            [
                "/providers/Microsoft.Management/managementGroups/root",
                "/subscriptions/s2"
            ]
        );
    }

    #[test]
    fn empty_blocks_and_same_line_braces() {
        let v = values("in subscription s1 {\n  resource-group rg {}\n  in resource-group rg {\n    nsg n {}\n  }\n}\n");
        assert_eq!(find(&v, "rg")["id"], SUB);
        assert!(find(&v, "n")["properties"]["securityRules"]
            .as_array()
            .is_some_and(Vec::is_empty));
    }

    #[test]
    fn one_error_per_bad_line_and_parsing_goes_on() {
        let text = "in subscription s1 resource-group rg {\n  vnet v {\n    subnet a prefix 10.0.0.0/33\n    subnet b prefix 10.0.1.0/24 nsg\n    bogus\n  }\n  nsg n {\n    inbound 99 allow tcp\n  }\n}\n";
        let errors = match parse(text, Path::new("t.secpath")) {
            Ok(_) => panic!("parsed"),
            Err(e) => e,
        };
        let lines: Vec<usize> = errors.errors().iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 8]);
    }
}
