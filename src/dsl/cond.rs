//! Dynamic-membership conditions (SEMANTICS §2.2) and JSON values in DSL form.
//!
//! A condition line is `[field|value] OPERAND OPERATOR ARGUMENT`, e.g.
//! `tags['env'] equals prod`, `[subscription().tags['tier']] in (gold, silver)`,
//! `name exists true`. The operand is a field (`name`, `id`, `location`, `type`,
//! `tags['k']`) unless it starts with `[` (an expression) or `value` says otherwise.
//! Values are JSON: bare words are strings unless they read as `true`, `false`, `null` or
//! a number; quoted text is always a string; `(a, b)` is an array. Expression strings such
//! as `[parameters('p')]` are written as in Azure Policy and passed on unchanged.
//! Combinators are blocks: `all-of {`, `any-of {`, `not {` (or `not LEAF` on one line).

use super::cursor::{Cursor, LineError, Parsed};
use super::lex::{is_bare, quote, word_or_quoted, Kind, Token};
use crate::resolve::condition::{parse_condition, Condition, Expr};
use serde_json::{Map, Value};

/// The operators of Azure Policy conditions secpath evaluates, as the DSL and JSON spell
/// them.
pub const OPERATORS: [&str; 9] = [
    "equals",
    "notEquals",
    "contains",
    "notContains",
    "in",
    "notIn",
    "like",
    "notLike",
    "exists",
];

/// Words that start a condition line other than a leaf.
const CONDITION_WORDS: [&str; 5] = ["field", "value", "not", "all-of", "any-of"];

/// How deep lists and condition blocks may nest (the loader and serde_json recurse).
pub const MAX_DEPTH: usize = 32;

/// A JSON value: a word, a quoted string, or a parenthesised list.
pub fn literal(c: &mut Cursor) -> Parsed<Value> {
    nested_literal(c, 0)
}

fn nested_literal(c: &mut Cursor, depth: usize) -> Parsed<Value> {
    let Some(t) = c.peek() else {
        return Err(c.missing("a value"));
    };
    match t.kind {
        Kind::Word => {
            c.bump();
            Ok(word_value(&t.value))
        }
        Kind::Str => {
            c.bump();
            Ok(Value::String(t.value.clone()))
        }
        Kind::LParen => {
            if depth >= MAX_DEPTH {
                return Err(Cursor::error_at(
                    t,
                    format!("lists nest at most {MAX_DEPTH} deep"),
                ));
            }
            c.bump();
            let mut items = Vec::new();
            if c.eat_kind(Kind::RParen) {
                return Ok(Value::Array(items));
            }
            loop {
                items.push(nested_literal(c, depth + 1)?);
                if c.eat_kind(Kind::RParen) {
                    return Ok(Value::Array(items));
                }
                if !c.eat_kind(Kind::Comma) {
                    return Err(c.expected("`,` or `)`"));
                }
            }
        }
        _ => Err(c.expected("a value (a word, a \"string\" or a list `(a, b)`)")),
    }
}

/// What a bare word means as a JSON value.
fn word_value(w: &str) -> Value {
    match w {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => match serde_json::from_str::<serde_json::Number>(w) {
            Ok(n) => Value::Number(n),
            Err(_) => Value::String(w.to_string()),
        },
    }
}

/// The DSL text of a JSON value, or `None` for objects (which the DSL cannot write).
pub fn literal_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(s) if is_bare(s) && word_value(s) == *v => s.clone(),
        Value::String(s) => quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(literal_text).collect();
            format!("({})", parts?.join(", "))
        }
        Value::Object(_) => return None,
    })
}

/// One condition leaf: `[field|value] OPERAND OPERATOR ARGUMENT`, to the end of the line.
/// `parameters` says whether it may name `[parameters('p')]`: a policy definition's may, a
/// group's `dynamic` condition may not (nothing gives its policy a parameter's value).
pub fn leaf(c: &mut Cursor, parameters: bool) -> Parsed<Value> {
    let (key, operand, operand_at) = if c.eat("field") {
        let t = c.text("a field (name, id, location, type or tags['k'])")?;
        ("field", Value::String(t.value.clone()), t)
    } else if c.eat("value") {
        let Some(t) = c.peek() else {
            return Err(c.missing("a value"));
        };
        ("value", literal(c)?, t)
    } else {
        let t = c.text(
            "a condition: a field (name, id, location, type, tags['k']), an expression [...], `all-of`, `any-of` or `not`",
        )?;
        if t.kind == Kind::Word && t.value.starts_with('[') {
            ("value", Value::String(t.value.clone()), t)
        } else {
            ("field", Value::String(t.value.clone()), t)
        }
    };
    let op = c.text("an operator")?;
    let Some(name) = OPERATORS
        .iter()
        .find(|o| op.kind == Kind::Word && o.eq_ignore_ascii_case(&op.value))
    else {
        return Err(Cursor::error_at(
            op,
            format!(
                "`{}` is not a condition operator: expected one of {}",
                op.value,
                OPERATORS.join(", ")
            ),
        ));
    };
    let at = c.peek().cloned();
    let argument = literal(c)?;
    if name.eq_ignore_ascii_case("in") || name.eq_ignore_ascii_case("notIn") {
        check_in_argument(&argument, at.as_ref(), c)?;
    }
    c.finish("the end of the condition")?;
    let mut m = Map::new();
    m.insert(key.to_string(), operand);
    m.insert((*name).to_string(), argument);
    let leaf = Value::Object(m);
    // Checked here as the loader reads it, so that a mistake is reported at its own text,
    // not at the statement whose policy the condition ends up in.
    let argument_at = at.as_ref().unwrap_or(op);
    let on_operand = |path: &str| path.eq_ignore_ascii_case(&format!(".{key}"));
    let condition = parse_condition(&leaf, "").map_err(|e| {
        let t = if on_operand(&e.path) {
            operand_at
        } else {
            argument_at
        };
        Cursor::error_at(t, e.message)
    })?;
    let Condition::Leaf(l) = &condition else {
        return Ok(leaf);
    };
    if !parameters {
        let named = [(&l.operand, operand_at), (&l.argument, argument_at)];
        if let Some((Expr::Parameter(p), t)) = named
            .into_iter()
            .find(|(e, _)| matches!(e, Expr::Parameter(_)))
        {
            return Err(Cursor::error_at(
                t,
                format!(
                    "a group's `dynamic` condition cannot use parameters (nothing gives `{p}` a value): write the value itself, or use a `policy-definition` with `param {p} = VALUE`"
                ),
            ));
        }
    }
    Ok(leaf)
}

/// `in`/`notIn` take a list, or an expression string that yields one.
fn check_in_argument(argument: &Value, at: Option<&Token>, c: &Cursor) -> Parsed<()> {
    let message = "`in` and `notIn` take a list: write `(a, b)`";
    match (argument, at) {
        (Value::Array(_), _) => Ok(()),
        (Value::String(s), _) if s.starts_with('[') && !s.starts_with("[[") => Ok(()),
        (_, Some(t)) => Err(Cursor::error_at(t, message)),
        (_, None) => Err(LineError {
            message: message.to_string(),
            ..c.missing("a list")
        }),
    }
}

/// Writes a condition as DSL lines at `indent` (the root's members of an `allOf` go straight
/// in the block when `root`). Returns `None` when the condition cannot be written.
pub fn lines(v: &Value, indent: usize, root: bool, out: &mut Vec<String>) -> Option<()> {
    let pad = "  ".repeat(indent);
    let obj = v.as_object()?;
    if let Some((key, inner)) = combinator(obj) {
        match key.as_str() {
            "allof" if root && inner.as_array().is_some_and(|a| a.len() >= 2) => {
                for c in inner.as_array()? {
                    lines(c, indent, false, out)?;
                }
            }
            "allof" | "anyof" => {
                let word = if key == "allof" { "all-of" } else { "any-of" };
                out.push(format!("{pad}{word} {{"));
                for c in inner.as_array()? {
                    lines(c, indent + 1, false, out)?;
                }
                out.push(format!("{pad}}}"));
            }
            _ => match leaf_text(inner) {
                Some(text) => out.push(format!("{pad}not {text}")),
                None => {
                    out.push(format!("{pad}not {{"));
                    lines(inner, indent + 1, false, out)?;
                    out.push(format!("{pad}}}"));
                }
            },
        }
        return Some(());
    }
    out.push(format!("{pad}{}", leaf_text(v)?));
    Some(())
}

/// The combinator key (lower-case) and its operand, for `allOf`/`anyOf`/`not` objects.
fn combinator(obj: &Map<String, Value>) -> Option<(String, &Value)> {
    obj.iter().find_map(|(k, v)| {
        let lower = k.to_ascii_lowercase();
        matches!(lower.as_str(), "allof" | "anyof" | "not").then_some((lower, v))
    })
}

/// One leaf on one line, or `None` when `v` is not a writable leaf.
pub fn leaf_text(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    if combinator(obj).is_some() || obj.len() != 2 {
        return None;
    }
    let mut operand = None;
    let mut operator = None;
    for (k, value) in obj {
        if k.eq_ignore_ascii_case("field") {
            let f = value.as_str()?;
            let keyword =
                f.starts_with('[') || CONDITION_WORDS.iter().any(|w| w.eq_ignore_ascii_case(f));
            operand = Some(if keyword {
                format!("field {}", quote(f))
            } else {
                word_or_quoted(f)
            });
        } else if k.eq_ignore_ascii_case("value") {
            operand = Some(match value.as_str() {
                Some(s) if s.starts_with('[') && is_bare(s) => s.to_string(),
                _ => format!("value {}", literal_text(value)?),
            });
        } else {
            let name = OPERATORS.iter().find(|o| o.eq_ignore_ascii_case(k))?;
            operator = Some(format!("{name} {}", literal_text(value)?));
        }
    }
    Some(format!("{} {}", operand?, operator?))
}

/// True when the whole condition can be written in the DSL (and read back: not nested
/// deeper than [`MAX_DEPTH`]).
pub fn writable(v: &Value) -> bool {
    let mut out = Vec::new();
    depth(v) < MAX_DEPTH && lines(v, 0, true, &mut out).is_some()
}

/// True when a JSON value can be written as a DSL value and read back.
pub fn writable_value(v: &Value) -> bool {
    depth(v) < MAX_DEPTH && literal_text(v).is_some()
}

/// How deep arrays and objects nest in `v`.
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::lex::lex;
    use serde_json::json;

    fn leaf_of(line: &str) -> Parsed<Value> {
        let toks = lex(line).unwrap();
        leaf(&mut Cursor::new(&toks, line.len()), true)
    }

    #[test]
    fn leaves_parse_to_policy_json() {
        assert_eq!(
            leaf_of("tags['env'] equals prod").unwrap(),
            json!({"field": "tags['env']", "equals": "prod"})
        );
        assert_eq!(
            leaf_of("[subscription().tags['tier']] IN (gold, \"5\", 5)").unwrap(),
            json!({"value": "[subscription().tags['tier']]", "in": ["gold", "5", 5]})
        );
        assert_eq!(
            leaf_of("name exists true").unwrap(),
            json!({"field": "name", "exists": true})
        );
        assert_eq!(
            leaf_of("value prod notequals [parameters('p')]").unwrap(),
            json!({"value": "prod", "notEquals": "[parameters('p')]"})
        );
        assert!(leaf_of("name greater 3")
            .unwrap_err()
            .message
            .contains("not a condition operator"));
        assert!(leaf_of("location in westeurope")
            .unwrap_err()
            .message
            .contains("take a list"));
    }

    /// What the loader would refuse in a leaf is reported at the offending text.
    #[test]
    fn leaves_are_checked_where_written() {
        let line = "[subscription().tenantId] equals x";
        let e = leaf_of(line).unwrap_err();
        assert_eq!(
            (e.start, e.found.as_str()),
            (0, "[subscription().tenantId]")
        );
        assert!(
            e.message.contains("unsupported expression"),
            "{}",
            e.message
        );
        let e = leaf_of("name exists maybe").unwrap_err();
        assert_eq!(e.found, "maybe");
        let line = "tags['x'] equals [parameters('p')]";
        let toks = lex(line).unwrap();
        let e = leaf(&mut Cursor::new(&toks, line.len()), false).unwrap_err();
        assert_eq!((e.start, e.found.as_str()), (17, "[parameters('p')]"));
        assert!(e.message.contains("cannot use parameters"), "{}", e.message);
    }

    #[test]
    fn leaves_print_back() {
        for v in [
            json!({"field": "tags['env']", "equals": "prod"}),
            json!({"Value": "[resourceGroup().Name]", "NotLike": "*-test"}),
            json!({"value": 5, "in": [5, "5", true, null, "a b"]}),
        ] {
            let text = leaf_text(&v).unwrap();
            let back = leaf_of(&text).unwrap();
            let key_lower = |v: &Value| -> Value {
                Value::Object(
                    v.as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                        .collect(),
                )
            };
            assert_eq!(key_lower(&back), key_lower(&v), "{text}");
        }
        assert_eq!(leaf_text(&json!({"field": "x", "equals": {"a": 1}})), None);
        // A field named like a keyword is written after `field` (and read back refused: the
        // loader knows no such field).
        let text = leaf_text(&json!({"field": "not", "contains": "x"})).unwrap();
        assert_eq!(text, "field \"not\" contains x");
        assert!(leaf_of(&text)
            .unwrap_err()
            .message
            .contains("unsupported field"));
    }
}
