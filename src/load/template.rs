//! ARM templates (authored, or exported with `az group export`) translated into the ARM
//! resources they deploy.
//!
//! The template language is evaluated as far as naming and referencing resources needs:
//! `[...]` strings (`[[` escapes a literal `[`) with `parameters()`, `variables()`,
//! `concat()`, `format()`, `resourceId()`, `subscription()`, `resourceGroup()`, `toLower()`
//! and `toUpper()`, string, integer and boolean literals, and `.property` / `[index]`
//! access. Anything else (`reference()`, `uniqueString()`, `copy` loops) is an error naming
//! the expression and where it is, never a guess. Parameter values come from a parameters
//! file (`$schema` `.../deploymentParameters.json#`) given among the inputs, else from the
//! template's `defaultValue`s.
//!
//! A template deploys into one resource group, which the template does not name:
//! [`TemplateScope`] says which (`--template-scope`), by default [`DEFAULT_SCOPE`].
//! Child resources (`securityRules`, `subnets`, `virtualNetworkPeerings`), nested or
//! top-level, are folded into their parent's inline list by name; a child resource wins
//! over an inline copy of the same name, since ARM deploys it after its parent
//! (exported templates carry both, identical).

use super::json::Origins;
use super::Translation;
use crate::error::{Error, Location, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The resource group templates deploy into unless `--template-scope` says otherwise.
pub const DEFAULT_SCOPE: &str =
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/template";

/// Where a template is deployed: its resource group and, optionally, that group's region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateScope {
    /// The subscription id.
    pub subscription: String,
    /// The resource group name.
    pub resource_group: String,
    /// The resource group's region (`resourceGroup().location`), when known.
    pub location: Option<String>,
}

impl Default for TemplateScope {
    fn default() -> TemplateScope {
        TemplateScope::parse(DEFAULT_SCOPE).expect("the default scope parses")
    }
}

impl TemplateScope {
    /// Parses `/subscriptions/S/resourceGroups/RG`, optionally followed by `@region`.
    pub fn parse(text: &str) -> Option<TemplateScope> {
        let (path, location) = match text.split_once('@') {
            Some((p, l)) => (p, Some(l.to_string())),
            None => (text, None),
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            [s, sub, g, rg]
                if s.eq_ignore_ascii_case("subscriptions")
                    && g.eq_ignore_ascii_case("resourcegroups") =>
            {
                Some(TemplateScope {
                    subscription: (*sub).to_string(),
                    resource_group: (*rg).to_string(),
                    location,
                })
            }
            _ => None,
        }
    }

    fn group_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription, self.resource_group
        )
    }
}

/// True for an ARM template.
pub fn is_template(value: &Value) -> bool {
    schema_has(value, "deploymenttemplate")
        || (value.get("resources").is_some_and(Value::is_array)
            && value.get("contentVersion").is_some())
}

/// True for an ARM parameters file.
pub fn is_parameters(value: &Value) -> bool {
    schema_has(value, "deploymentparameters")
}

fn schema_has(value: &Value, word: &str) -> bool {
    value
        .get("$schema")
        .and_then(Value::as_str)
        .is_some_and(|s| s.to_ascii_lowercase().contains(word))
}

/// Child types folded into their parent: (child type segment, parent's inline list).
const FOLDED: [(&str, &str); 3] = [
    ("securityrules", "securityRules"),
    ("subnets", "subnets"),
    ("virtualnetworkpeerings", "virtualNetworkPeerings"),
];

/// Translates a template with the values of a parameters file (`parameters` of it).
pub fn translate(
    template: &Value,
    file: &Path,
    parameters: Option<&Value>,
    scope: &TemplateScope,
) -> Result<Translation> {
    let ctx = Context {
        template,
        file,
        parameters,
        scope,
    };
    let mut flat = Vec::new();
    let list = template
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.error("resources", "expected an array of resources"))?;
    for (i, r) in list.iter().enumerate() {
        ctx.resource(r, &format!("resources[{i}]"), None, &mut flat)?;
    }
    Ok(fold(flat))
}

/// A resource evaluated: its ARM shape and where it came from.
struct Evaluated {
    value: Value,
    path: String,
    /// (type, full name) for folding children into parents.
    kind: String,
    name: String,
}

struct Context<'a> {
    template: &'a Value,
    file: &'a Path,
    parameters: Option<&'a Value>,
    scope: &'a TemplateScope,
}

impl Context<'_> {
    fn error(&self, path: &str, message: impl Into<String>) -> Error {
        Error::invalid(
            Location {
                file: self.file.to_path_buf(),
                path: path.to_string(),
            },
            message,
        )
    }

    /// Evaluates one resource (and its nested children) into `out`.
    fn resource(
        &self,
        r: &Value,
        path: &str,
        parent: Option<(&str, &str)>,
        out: &mut Vec<Evaluated>,
    ) -> Result<()> {
        if r.get("copy").is_some() {
            return Err(self.error(&format!("{path}.copy"), COPY_UNSUPPORTED));
        }
        if let Some(at) = r
            .get("properties")
            .and_then(|p| property_copy(p, "properties"))
        {
            return Err(self.error(&format!("{path}.{at}"), COPY_UNSUPPORTED));
        }
        if let Some(c) = r.get("condition") {
            if self.eval_value(c, &format!("{path}.condition"))? == Value::Bool(false) {
                return Ok(());
            }
        }
        let text = |key: &str| -> Result<String> {
            let v = r
                .get(key)
                .ok_or_else(|| self.error(path, format!("missing required field `{key}`")))?;
            match self.eval_value(v, &format!("{path}.{key}"))? {
                Value::String(s) => Ok(s),
                other => Err(self.error(
                    &format!("{path}.{key}"),
                    format!("expected a string, found {other}"),
                )),
            }
        };
        let (mut kind, mut name) = (text("type")?, text("name")?);
        if let Some((pk, pn)) = parent {
            if !kind.contains('/') || !kind.contains('.') {
                kind = format!("{pk}/{kind}");
                name = format!("{pn}/{name}");
            }
        }
        let mut value = Map::new();
        for key in ["location", "tags", "properties", "kind", "sku"] {
            if let Some(v) = r.get(key) {
                value.insert(
                    key.to_string(),
                    self.eval_value(v, &format!("{path}.{key}"))?,
                );
            }
        }
        value.insert("id".to_string(), json!(self.resource_id(&kind, &name)));
        value.insert("type".to_string(), json!(kind));
        value.insert(
            "name".to_string(),
            json!(name.rsplit('/').next().unwrap_or(&name)),
        );
        out.push(Evaluated {
            value: Value::Object(value),
            path: path.to_string(),
            kind: kind.clone(),
            name: name.clone(),
        });
        if let Some(children) = r.get("resources").and_then(Value::as_array) {
            for (i, c) in children.iter().enumerate() {
                self.resource(
                    c,
                    &format!("{path}.resources[{i}]"),
                    Some((&kind, &name)),
                    out,
                )?;
            }
        }
        Ok(())
    }

    fn resource_id(&self, kind: &str, name: &str) -> String {
        let mut types = kind.split('/');
        let namespace = types.next().unwrap_or("");
        let mut id = format!("{}/providers/{namespace}", self.scope.group_id());
        for (t, n) in types.zip(name.split('/')) {
            id.push_str(&format!("/{t}/{n}"));
        }
        id
    }

    /// Evaluates every expression string inside `v`.
    fn eval_value(&self, v: &Value, path: &str) -> Result<Value> {
        Ok(match v {
            Value::String(s) => self.eval_string(s, path)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.eval_value(x, &format!("{path}[{i}]")))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, x)| Ok((k.clone(), self.eval_value(x, &format!("{path}.{k}"))?)))
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    fn eval_string(&self, s: &str, path: &str) -> Result<Value> {
        let t = s.trim();
        if let Some(rest) = t.strip_prefix("[[") {
            return Ok(json!(format!("[{rest}")));
        }
        let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
            return Ok(json!(s));
        };
        let mut parser = Parser { text: inner, at: 0 };
        let expr = parser
            .expression()
            .and_then(|e| parser.end().map(|()| e))
            .map_err(|m| self.error(path, format!("expression `{s}`: {m}")))?;
        self.eval(&expr, 0)
            .map_err(|m| self.error(path, format!("expression `{s}`: {m}")))
    }

    fn eval(&self, e: &Expr, depth: usize) -> Result<Value, String> {
        if depth > 32 {
            return Err("variables refer to each other too deeply (a cycle?)".to_string());
        }
        match e {
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Member(base, key) => {
                let v = self.eval(base, depth)?;
                v.get(key).cloned().ok_or_else(|| {
                    let region_missing = key == "location"
                        && matches!(&**base, Expr::Call(f, _) if f.eq_ignore_ascii_case("resourceGroup"));
                    if region_missing {
                        "`resourceGroup().location` needs the resource group's region: give it with --template-scope ID@REGION".to_string()
                    } else {
                        format!("no property `{key}` in {v}")
                    }
                })
            }
            Expr::Index(base, index) => {
                let v = self.eval(base, depth)?;
                let i = self.eval(index, depth)?;
                match (&v, &i) {
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|n| a.get(n as usize))
                        .cloned()
                        .ok_or_else(|| format!("index {n} out of range")),
                    (Value::Object(m), Value::String(k)) => m
                        .get(k)
                        .cloned()
                        .ok_or_else(|| format!("no property `{k}`")),
                    _ => Err(format!("cannot index {v} with {i}")),
                }
            }
            Expr::Call(name, args) => {
                let args: Vec<Value> = args
                    .iter()
                    .map(|a| self.eval(a, depth))
                    .collect::<Result<_, _>>()?;
                self.call(name, &args, depth)
            }
        }
    }

    fn call(&self, name: &str, args: &[Value], depth: usize) -> Result<Value, String> {
        let text = |i: usize| -> Result<&str, String> {
            args.get(i)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{name}() expects a string as argument {}", i + 1))
        };
        match name.to_ascii_lowercase().as_str() {
            "parameters" => self.parameter(text(0)?, depth + 1),
            "variables" => {
                let key = text(0)?;
                let variables = self.template.get("variables");
                let v = member(variables, key).ok_or_else(|| match member(variables, "copy") {
                    Some(_) => format!("variable `{key}` may come from the variables' `copy` loop: {COPY_UNSUPPORTED}"),
                    None => format!("no variable `{key}` in the template"),
                })?;
                self.eval_variable(v, depth + 1)
            }
            "concat" => concat(args),
            "format" => format_text(text(0)?, &args[1..]),
            "tolower" => Ok(json!(text(0)?.to_lowercase())),
            "toupper" => Ok(json!(text(0)?.to_uppercase())),
            "resourceid" => self.resource_id_call(args),
            "subscription" => Ok(json!({
                "id": format!("/subscriptions/{}", self.scope.subscription),
                "subscriptionId": self.scope.subscription,
            })),
            "resourcegroup" => {
                let mut rg = json!({
                    "id": self.scope.group_id(),
                    "name": self.scope.resource_group,
                });
                if let Some(l) = &self.scope.location {
                    rg["location"] = json!(l);
                }
                Ok(rg)
            }
            _ => Err(format!("function `{name}()` is not supported: {SUPPORTED}")),
        }
    }

    fn parameter(&self, key: &str, depth: usize) -> Result<Value, String> {
        let given = member(self.parameters.and_then(|p| p.get("parameters")), key);
        if let Some(given) = given {
            if let Some(v) = given.get("value") {
                return Ok(v.clone());
            }
            if given.get("reference").is_some() {
                return Err(format!(
                    "parameter `{key}` is a Key Vault reference in the parameters file: secpath cannot read its value; give it as `value`"
                ));
            }
        }
        let declared = member(self.template.get("parameters"), key)
            .ok_or_else(|| format!("no parameter `{key}` in the template"))?;
        let default = declared
            .get("defaultValue")
            .ok_or_else(|| format!("parameter `{key}` has no value: give a parameters file"))?;
        self.eval_variable(default, depth)
    }

    /// A variable's (or default's) value, its expressions evaluated.
    fn eval_variable(&self, v: &Value, depth: usize) -> Result<Value, String> {
        match v {
            Value::String(s) => {
                let t = s.trim();
                if let Some(rest) = t.strip_prefix("[[") {
                    return Ok(json!(format!("[{rest}")));
                }
                match t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                    Some(inner) => {
                        let mut parser = Parser { text: inner, at: 0 };
                        let e = parser.expression()?;
                        parser.end()?;
                        self.eval(&e, depth)
                    }
                    None => Ok(v.clone()),
                }
            }
            Value::Array(items) => items
                .iter()
                .map(|x| self.eval_variable(x, depth))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Value::Object(map) => map
                .iter()
                .map(|(k, x)| Ok((k.clone(), self.eval_variable(x, depth)?)))
                .collect::<Result<Map<_, _>, String>>()
                .map(Value::Object),
            other => Ok(other.clone()),
        }
    }

    /// `resourceId([subscriptionId], [resourceGroupName], type, name1, name2...)`.
    fn resource_id_call(&self, args: &[Value]) -> Result<Value, String> {
        let texts: Vec<&str> = args
            .iter()
            .map(|a| {
                a.as_str()
                    .ok_or_else(|| "resourceId() expects strings".to_string())
            })
            .collect::<Result<_, _>>()?;
        let at = texts
            .iter()
            .position(|t| t.contains('/') && t.contains('.'))
            .ok_or_else(|| {
                "resourceId() needs a resource type such as Microsoft.Network/networkSecurityGroups"
                    .to_string()
            })?;
        let (sub, rg) = match &texts[..at] {
            [] => (
                self.scope.subscription.as_str(),
                self.scope.resource_group.as_str(),
            ),
            [rg] => (self.scope.subscription.as_str(), *rg),
            [sub, rg] => (*sub, *rg),
            _ => return Err(
                "resourceId() takes at most a subscription and a resource group before the type"
                    .to_string(),
            ),
        };
        let scope = TemplateScope {
            subscription: sub.to_string(),
            resource_group: rg.to_string(),
            location: None,
        };
        let ctx = Context {
            scope: &scope,
            ..*self
        };
        Ok(json!(ctx.resource_id(texts[at], &texts[at + 1..].join("/"))))
    }
}

/// Where, under `v` (at `path`), a property `copy` loop is: ARM allows one in any object of a
/// resource's properties (a rule's `destinationPortRanges` built by one, say). Left unread,
/// the property it builds would be absent, and an absent rule field matches anything (D4).
fn property_copy(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            if k.eq_ignore_ascii_case("copy") && v.is_array() {
                Some(format!("{path}.{k}"))
            } else {
                property_copy(v, &format!("{path}.{k}"))
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| property_copy(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Why a `copy` loop (of resources, properties or variables) is an error.
const COPY_UNSUPPORTED: &str = "copy loops are not supported: secpath does not expand them (deploy the template and read the resources instead)";

/// The member `key` of an object, its name compared as ARM compares parameter and variable
/// names: "Template functions and their parameters are case-insensitive".
fn member<'v>(object: Option<&'v Value>, key: &str) -> Option<&'v Value> {
    let object = object?.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn concat(args: &[Value]) -> Result<Value, String> {
    if args.iter().all(Value::is_array) {
        return Ok(Value::Array(
            args.iter()
                .flat_map(|a| a.as_array().cloned().unwrap_or_default())
                .collect(),
        ));
    }
    let mut out = String::new();
    for a in args {
        match a {
            Value::String(s) => out.push_str(s),
            Value::Number(n) => out.push_str(&n.to_string()),
            other => return Err(format!("concat() cannot join {other} with strings")),
        }
    }
    Ok(json!(out))
}

/// `format(pattern, args...)`: .NET composite formatting, which ARM's `format()` is. `{{` and
/// `}}` are literal braces; each format item is `{index[,alignment][:formatString]}`.
fn format_text(pattern: &str, args: &[Value]) -> Result<Value, String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let brace = &rest[at..=at];
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix(brace) {
            out.push_str(brace);
            rest = escaped;
            continue;
        }
        if brace == "}" {
            return Err(format!(
                "unmatched `}}` in format string `{pattern}` (a literal `}}` is written `}}}}`)"
            ));
        }
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in format string `{pattern}`"))?;
        out.push_str(&format_item(&after[..close], args, pattern)?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(json!(out))
}

/// The widest alignment or digit count secpath pads to: ARM names are short, and a hostile
/// `{0,999999999}` must be an error, not a huge allocation.
const MAX_FORMAT_WIDTH: usize = 1000;

/// One format item, `index[,alignment][:formatString]` (the text between its braces).
fn format_item(item: &str, args: &[Value], pattern: &str) -> Result<String, String> {
    let not_a_placeholder = || format!("`{{{item}}}` is not a placeholder in `{pattern}`");
    let (head, spec) = match item.split_once(':') {
        Some((head, spec)) => (head, Some(spec)),
        None => (item, None),
    };
    let (index, alignment) = match head.split_once(',') {
        Some((index, alignment)) => (index, Some(alignment)),
        None => (head, None),
    };
    let index: usize = index.trim().parse().map_err(|_| not_a_placeholder())?;
    let alignment: i64 = match alignment {
        Some(a) => a.trim().parse().map_err(|_| not_a_placeholder())?,
        None => 0,
    };
    let arg = args.get(index).ok_or_else(|| {
        format!(
            "format string `{pattern}` uses {{{index}}} but has {} arguments",
            args.len()
        )
    })?;
    // .NET hands a format string only to numbers; a string or a bool prints as it is.
    let text = match spec {
        Some(spec) if arg.is_number() => {
            format_number(arg, spec).map_err(|m| format!("`{{{item}}}`: {m}"))?
        }
        _ => plain(arg),
    };
    align(text, alignment).map_err(|m| format!("`{{{item}}}`: {m}"))
}

/// An argument formatted without a format string: a string as it is, anything else as JSON.
fn plain(arg: &Value) -> String {
    match arg {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Pads `text` with spaces to `alignment` characters: on the left when positive (right
/// aligned), on the right when negative, as .NET does.
fn align(text: String, alignment: i64) -> Result<String, String> {
    let width = usize::try_from(alignment.unsigned_abs()).unwrap_or(usize::MAX);
    if width > MAX_FORMAT_WIDTH {
        return Err(format!(
            "alignment {alignment} is wider than secpath pads ({MAX_FORMAT_WIDTH})"
        ));
    }
    let pad = " ".repeat(width.saturating_sub(text.chars().count()));
    Ok(if alignment < 0 {
        text + &pad
    } else {
        pad + &text
    })
}

/// Why a format string is refused: the .NET standard numeric formats that make sense for
/// ARM's integers are supported; anything else would be a guess at .NET's output.
const FORMAT_SUPPORTED: &str = "secpath supports D, N and X (or d, n, x), each with an optional digit count, applied to integers";

/// An integer argument formatted with a standard numeric format string: `D`, `N` or `X`
/// followed by an optional precision, in the invariant culture (ARM's).
fn format_number(arg: &Value, spec: &str) -> Result<String, String> {
    let unsupported = || format!("format string `{spec}` is not supported: {FORMAT_SUPPORTED}");
    let mut chars = spec.chars();
    let letter = chars
        .next()
        .filter(|c| matches!(c, 'D' | 'd' | 'N' | 'n' | 'X' | 'x'))
        .ok_or_else(unsupported)?;
    let precision: Option<usize> = match chars.as_str() {
        "" => None,
        d if d.bytes().all(|b| b.is_ascii_digit()) => Some(d.parse().unwrap_or(usize::MAX)),
        _ => return Err(unsupported()),
    };
    if precision.is_some_and(|p| p > MAX_FORMAT_WIDTH) {
        return Err(format!(
            "{spec} asks for more digits than secpath pads ({MAX_FORMAT_WIDTH})"
        ));
    }
    let n = arg
        .as_i64()
        .ok_or_else(|| format!("format string `{spec}` formats integers, not {arg}"))?;
    Ok(match letter {
        'D' | 'd' => decimal(n, precision.unwrap_or(0)),
        'N' | 'n' => grouped(n, precision.unwrap_or(2)),
        'X' => hex(n, precision.unwrap_or(0)).to_uppercase(),
        _ => hex(n, precision.unwrap_or(0)),
    })
}

/// `D`: the digits zero-padded to `width`, a `-` before them for negatives.
fn decimal(n: i64, width: usize) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{:0width$}", n.unsigned_abs())
}

/// `N`: `,` between thousands and `decimals` zeros after a `.` (an integer has no fraction).
fn grouped(n: i64, decimals: usize) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::from(if n < 0 { "-" } else { "" });
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    if decimals > 0 {
        out.push('.');
        out.push_str(&"0".repeat(decimals));
    }
    out
}

/// `x`: lower-case hex zero-padded to `width`; a negative number is its 64-bit two's
/// complement, as .NET formats ARM's integers (`Int64`).
fn hex(n: i64, width: usize) -> String {
    format!("{n:0width$x}")
}

/// Folds child resources into their parent's inline list (the child wins by name) and
/// returns the translation.
fn fold(flat: Vec<Evaluated>) -> Translation {
    let mut origins = Origins::default();
    let mut kept: Vec<Evaluated> = Vec::new();
    let mut children: Vec<(Evaluated, &str)> = Vec::new();
    // Parents first: a template replaces live resources by id with their children, so a
    // child read before its parent would be replaced too.
    let mut flat = flat;
    flat.sort_by_key(|e| e.kind.matches('/').count());
    for e in flat {
        let last = e.kind.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
        match FOLDED.iter().find(|(t, _)| *t == last) {
            Some((_, list)) if e.kind.matches('/').count() == 2 => children.push((e, list)),
            _ => kept.push(e),
        }
    }
    let mut loose = Vec::new();
    let mut child_origins: Vec<(usize, String, String)> = Vec::new();
    for (child, list) in children {
        let parent_kind = child.kind.rsplit_once('/').map_or("", |(p, _)| p);
        let parent_name = child.name.rsplit_once('/').map_or("", |(p, _)| p);
        let short = child.name.rsplit('/').next().unwrap_or("").to_string();
        let Some(p) = kept.iter().position(|k| {
            k.kind.eq_ignore_ascii_case(parent_kind) && k.name.eq_ignore_ascii_case(parent_name)
        }) else {
            loose.push(child);
            continue;
        };
        let mut entry = child.value.clone();
        if let Some(obj) = entry.as_object_mut() {
            obj.remove("type");
        }
        let props = kept[p].value.as_object_mut().and_then(|o| {
            o.entry("properties")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        });
        let Some(props) = props else { continue };
        let items = props.entry(list.to_string()).or_insert_with(|| json!([]));
        let Some(items) = items.as_array_mut() else {
            continue;
        };
        let n = match items.iter().position(|x| {
            x.get("name")
                .and_then(Value::as_str)
                .is_some_and(|nm| nm.eq_ignore_ascii_case(&short))
        }) {
            Some(n) => {
                items[n] = entry;
                n
            }
            None => {
                items.push(entry);
                items.len() - 1
            }
        };
        child_origins.push((p, format!("properties.{list}[{n}]"), child.path));
    }
    kept.extend(loose);
    for (i, e) in kept.iter().enumerate() {
        origins.add(format!("[{i}]"), e.path.clone());
    }
    for (p, inner, path) in child_origins {
        origins.add(format!("[{p}].{inner}"), path);
    }
    Translation {
        resources: kept.into_iter().map(|e| e.value).collect(),
        origins,
        removed: Vec::new(),
        warnings: Vec::new(),
        associations: Vec::new(),
    }
}

/// What an unsupported function's error lists.
const SUPPORTED: &str = "secpath evaluates parameters(), variables(), concat(), format(), resourceId(), subscription(), resourceGroup(), toLower() and toUpper()";

/// A parsed template expression.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Literal(Value),
    Call(String, Vec<Expr>),
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
}

/// A hand-written recursive-descent parser over the text inside `[...]`.
struct Parser<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Parser<'t> {
    fn rest(&self) -> &'t str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.rest().starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.skip_space();
        if self.rest().is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected `{}`", self.rest()))
        }
    }

    fn expression(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        loop {
            if self.eat('.') {
                e = Expr::Member(Box::new(e), self.identifier()?);
            } else if self.eat('[') {
                let index = self.expression()?;
                if !self.eat(']') {
                    return Err("expected `]`".to_string());
                }
                e = Expr::Index(Box::new(e), Box::new(index));
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.skip_space();
        let rest = self.rest();
        if rest.starts_with('\'') {
            return self.string();
        }
        if rest.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            let len = rest
                .char_indices()
                .skip(1)
                .find(|(_, c)| !c.is_ascii_digit())
                .map_or(rest.len(), |(i, _)| i);
            let n: i64 = rest[..len]
                .parse()
                .map_err(|_| format!("bad number `{}`", &rest[..len]))?;
            self.at += len;
            return Ok(Expr::Literal(json!(n)));
        }
        let name = self.identifier()?;
        match name.as_str() {
            "true" => return Ok(Expr::Literal(json!(true))),
            "false" => return Ok(Expr::Literal(json!(false))),
            _ => {}
        }
        if self.eat('.') {
            let function = self.identifier()?;
            return Err(format!(
                "user-defined function `{name}.{function}()` is not supported: {SUPPORTED}"
            ));
        }
        if !self.eat('(') {
            return Err(format!("expected `(` after `{name}`"));
        }
        let mut args = Vec::new();
        if !self.eat(')') {
            loop {
                args.push(self.expression()?);
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(format!("expected `,` or `)` in the arguments of {name}()"));
                }
            }
        }
        Ok(Expr::Call(name, args))
    }

    fn identifier(&mut self) -> Result<String, String> {
        self.skip_space();
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return Err(format!("expected a name at `{rest}`"));
        }
        self.at += len;
        Ok(rest[..len].to_string())
    }

    fn string(&mut self) -> Result<Expr, String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let rest = self.rest();
            let Some(q) = rest.find('\'') else {
                return Err("unclosed string literal".to_string());
            };
            out.push_str(&rest[..q]);
            self.at += q + 1;
            if self.rest().starts_with('\'') {
                out.push('\'');
                self.at += 1;
            } else {
                return Ok(Expr::Literal(json!(out)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(template: Value, params: Option<Value>, text: &str) -> Result<Value> {
        let scope =
            TemplateScope::parse("/subscriptions/s1/resourceGroups/rg1@westeurope").unwrap();
        let ctx = Context {
            template: &template,
            file: Path::new("t.json"),
            parameters: params.as_ref(),
            scope: &scope,
        };
        ctx.eval_string(text, "x")
    }

    #[test]
    fn the_naming_functions_evaluate() {
        let t = json!({
            "parameters": {"nsg": {"type": "string", "defaultValue": "nsg-web"}, "env": {"type": "string"}},
            "variables": {"rule": "[concat(parameters('nsg'), '/allow-https')]", "n": 3}
        });
        let p = json!({"parameters": {"env": {"value": "prod"}}});
        assert_eq!(
            eval(t.clone(), Some(p.clone()), "[variables('rule')]").unwrap(),
            json!("nsg-web/allow-https")
        );
        assert_eq!(
            eval(
                t.clone(),
                Some(p.clone()),
                "[format('{0}-{1}', parameters('env'), variables('n'))]"
            )
            .unwrap(),
            json!("prod-3")
        );
        assert_eq!(
            eval(t.clone(), None, "[resourceId('Microsoft.Network/networkSecurityGroups/securityRules', parameters('nsg'), 'r1')]").unwrap(),
            json!("/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg-web/securityRules/r1")
        );
        assert_eq!(
            eval(t.clone(), None, "[resourceId('other', 'Microsoft.Network/virtualNetworks', 'v')]").unwrap(),
            json!("/subscriptions/s1/resourceGroups/other/providers/Microsoft.Network/virtualNetworks/v")
        );
        assert_eq!(
            eval(t.clone(), None, "[resourceGroup().location]").unwrap(),
            json!("westeurope")
        );
        assert_eq!(
            eval(t.clone(), None, "[[literal]").unwrap(),
            json!("[literal]")
        );
        assert_eq!(eval(t, None, "plain").unwrap(), json!("plain"));
    }

    /// `format()` evaluated with a template that needs nothing else.
    fn format(expression: &str) -> Result<Value> {
        eval(json!({}), None, expression)
    }

    #[test]
    fn format_applies_dotnet_numeric_format_strings_to_integers() {
        let cases = [
            ("[format('nsg-{0:D2}', 1)]", "nsg-01"),
            ("[format('{0:d3}', -7)]", "-007"),
            ("[format('{0:D}', 42)]", "42"),
            ("[format('{0:D1}', 1234)]", "1234"),
            // Microsoft's own format() example.
            ("[format('{0:N0}', 8175133)]", "8,175,133"),
            ("[format('{0:N2}', -1234567)]", "-1,234,567.00"),
            ("[format('{0:n}', 999)]", "999.00"),
            ("[format('{0:X4}', 255)]", "00FF"),
            ("[format('{0:x}', 48879)]", "beef"),
            ("[format('{0:x}', -1)]", "ffffffffffffffff"),
        ];
        for (expression, expected) in cases {
            assert_eq!(format(expression).unwrap(), json!(expected), "{expression}");
        }
    }

    #[test]
    fn format_aligns_and_unescapes_braces() {
        let cases = [
            ("[format('[{0,4}]', 'ab')]", "[  ab]"),
            ("[format('[{0,-4}]', 'ab')]", "[ab  ]"),
            ("[format('[{0,5:D3}]', 7)]", "[  007]"),
            ("[format('[{0,1}]', 'abc')]", "[abc]"),
            ("[format('nsg-{{a}}-{0}', 'x')]", "nsg-{a}-x"),
            ("[format('{{{0}}}', 'x')]", "{x}"),
            ("[format('{{0}}')]", "{0}"),
            ("[format('{1}-{0}', 'a', 2)]", "2-a"),
            // .NET ignores a format string on what is not a number.
            ("[format('{0:D2}', 'web')]", "web"),
        ];
        for (expression, expected) in cases {
            assert_eq!(format(expression).unwrap(), json!(expected), "{expression}");
        }
    }

    #[test]
    fn format_refuses_what_it_would_have_to_guess() {
        let cases = [
            (
                "[format('{0:F2}', 1)]",
                "format string `F2` is not supported",
            ),
            (
                "[format('{0:000}', 1)]",
                "format string `000` is not supported",
            ),
            (
                "[format('{0:D2x}', 1)]",
                "format string `D2x` is not supported",
            ),
            ("[format('{0}-{1}', 'a')]", "uses {1} but has 1 arguments"),
            ("[format('{a}', 'x')]", "`{a}` is not a placeholder"),
            ("[format('{0,x}', 'x')]", "`{0,x}` is not a placeholder"),
            ("[format('a}b')]", "unmatched `}`"),
            ("[format('a{0', 'x')]", "unclosed `{`"),
            ("[format('{0,99999}', 'x')]", "wider than secpath pads"),
            ("[format('{0:D99999}', 1)]", "more digits than secpath pads"),
        ];
        for (expression, message) in cases {
            let e = format(expression).unwrap_err().to_string();
            assert!(
                e.contains(message) && e.contains(&format!("expression `{expression}`")),
                "{expression}: {e}"
            );
        }
    }

    #[test]
    fn what_it_cannot_evaluate_is_an_error_naming_the_expression() {
        let t = json!({"parameters": {"env": {"type": "string"}}});
        let e = eval(t.clone(), None, "[uniqueString(resourceGroup().id)]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("uniqueString") && e.contains("not supported"),
            "{e}"
        );
        let e = eval(t.clone(), None, "[parameters('env')]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("parameters file"), "{e}");
        let cycle = json!({"parameters": {"p": {"defaultValue": "[variables('v')]"}},
                           "variables": {"v": "[parameters('p')]"}});
        let looped = json!({"variables": {"copy": [{"name": "rules", "count": 2, "input": {}}]}});
        let e = eval(looped, None, "[variables('rules')]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("copy loops are not supported"), "{e}");
        let e = eval(cycle, None, "[variables('v')]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cycle"), "{e}");
        let e = eval(t, None, "[concat('a', ]").unwrap_err().to_string();
        assert!(e.contains("expression `[concat('a', ]`"), "{e}");
    }

    #[test]
    fn parameter_and_variable_names_are_case_insensitive_as_in_arm() {
        let t = json!({"parameters": {"port": {"type": "string", "defaultValue": "80"}},
                       "variables": {"sshPort": "22"}});
        let given = json!({"parameters": {"Port": {"value": "443"}}});
        assert_eq!(
            eval(t.clone(), Some(given), "[PARAMETERS('PORT')]").unwrap(),
            json!("443")
        );
        assert_eq!(
            eval(t.clone(), None, "[variables('SshPort')]").unwrap(),
            json!("22")
        );
        let vault = json!({"parameters": {"port": {"reference": {"secretName": "p"}}}});
        let e = eval(t, Some(vault), "[parameters('port')]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Key Vault reference"), "{e}");
    }

    #[test]
    fn scopes_parse() {
        assert_eq!(TemplateScope::default().resource_group, "template");
        assert!(TemplateScope::parse("/subscriptions/s").is_none());
        assert_eq!(
            TemplateScope::parse("/subscriptions/s/resourceGroups/g@eastus")
                .unwrap()
                .location
                .as_deref(),
            Some("eastus")
        );
    }
}
