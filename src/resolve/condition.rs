//! Azure Policy `if` conditions, as used by AVNM dynamic network-group membership (SEMANTICS §2.2).
//!
//! A policy definition with effect `addToNetworkGroup` puts every VNet (or subnet) whose
//! `policyRule.if` holds into the group. This module parses that JSON into a [`Condition`] tree
//! and evaluates it against one resource's [`ConditionContext`].
//!
//! Fields: `name`, `id`, `location`, `type`, `tags['k']` (also `tags.k`, `tags[k]`). Values: literals
//! and `[subscription()|resourceGroup().Name|Id|tags['k']]` (also Azure Policy's own
//! `subscription().subscriptionId` and `.displayName`), `[parameters('p')]`, also allowed as
//! operator arguments. Everything is case-insensitive (keywords, function, tag and parameter names,
//! string comparisons) because Azure Policy is: `"equals": "prod"` matches a tag `Env: Prod`.
//! A missing value (absent tag or parameter) fails every positive operator and, each `notX` being
//! the logical NOT of `X`, satisfies the negations. Non-string values compare by their JSON text.

use std::collections::BTreeMap;

use serde_json::Value;

/// The fields of one VNet (or subnet) a condition can read.
pub struct ConditionContext<'a> {
    /// The resource's name.
    pub name: &'a str,
    /// The resource's full ARM id.
    pub id: &'a str,
    /// The resource's region, e.g. `eastus`.
    pub location: &'a str,
    /// The resource type, e.g. `Microsoft.Network/virtualNetworks`.
    pub resource_type: &'a str,
    /// The resource's tags, keys as written; looked up case-insensitively.
    pub tags: &'a BTreeMap<String, String>,
    /// The subscription holding the resource, for `[subscription()...]`.
    pub subscription: ContainerFields<'a>,
    /// The resource group holding the resource, for `[resourceGroup()...]`.
    pub resource_group: ContainerFields<'a>,
    /// Values of the assignment's parameters (merged over the definition's defaultValue), for `[parameters('x')]`.
    pub parameters: &'a BTreeMap<String, Value>,
}

/// What `subscription()` or `resourceGroup()` exposes to a condition.
pub struct ContainerFields<'a> {
    /// The container's name.
    pub name: &'a str,
    /// The container's id, as given (e.g. `/subscriptions/<guid>`).
    pub id: &'a str,
    /// The container's tags, keys as written; looked up case-insensitively.
    pub tags: &'a BTreeMap<String, String>,
}

/// A parsed policy condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// True when every member is (true when empty).
    AllOf(Vec<Condition>),
    /// True when some member is (false when empty).
    AnyOf(Vec<Condition>),
    /// The negation of the inner condition.
    Not(Box<Condition>),
    /// One operand tested by one operator.
    Leaf(Leaf),
}

/// One comparison: `operand` `operator` `argument`, inverted when `negated` (`notEquals`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// What is tested: a `field` ([`Expr::Field`]) or a `value`.
    pub operand: Expr,
    /// The positive form of the operator.
    pub operator: Operator,
    /// True for `notEquals`, `notContains`, `notIn`, `notLike`.
    pub negated: bool,
    /// The operator's argument (for `exists`, the expected presence).
    pub argument: Expr,
}

/// A resource property named by `"field"`.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    /// `name`.
    Name,
    /// `id`.
    Id,
    /// `location`.
    Location,
    /// `type`.
    Type,
    /// `tags['k']`, `tags.k` or `tags[k]`.
    Tag(String),
}

/// A value: a resource field, a JSON literal or a supported template expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `"field": ...` — a property of the resource.
    Field(FieldRef),
    /// A JSON literal (a string with any `[[` escape already undone).
    Literal(Value),
    /// `[parameters('p')]`.
    Parameter(String),
    /// `[subscription().…]`.
    Subscription(ContainerProp),
    /// `[resourceGroup().…]`.
    ResourceGroup(ContainerProp),
}

/// A property of `subscription()` or `resourceGroup()`.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerProp {
    /// `.Name`.
    Name,
    /// `.Id`.
    Id,
    /// `subscription().subscriptionId`: the bare GUID, the last segment of the `Id`.
    SubscriptionId,
    /// `.tags['k']`.
    Tag(String),
}

/// The positive operators; the `not…` forms set [`Leaf::negated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Equal text.
    Equals,
    /// Substring.
    Contains,
    /// Equal to an element of the argument array.
    In,
    /// Matches a pattern where each `*` stands for any text.
    Like,
    /// Presence equals the boolean argument.
    Exists,
}

/// A condition that cannot be parsed, with the JSON path of the offending part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConditionError {
    /// JSON path, e.g. `properties.policyRule.if.allOf[1].field`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> ConditionError {
    ConditionError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Parses the `if` object of a policy rule. `path` is the JSON path of `value` used in errors
/// (e.g. `properties.policyRule.if`), extended as you descend: `properties.policyRule.if.allOf[1].field`.
pub fn parse_condition(value: &Value, path: &str) -> Result<Condition, ConditionError> {
    let obj = value
        .as_object()
        .ok_or_else(|| err(path, "expected a condition object"))?;
    for (key, inner) in obj {
        let kind = key.to_ascii_lowercase();
        if !matches!(kind.as_str(), "allof" | "anyof" | "not") {
            continue;
        }
        if obj.len() != 1 {
            return Err(err(path, format!("`{key}` cannot have sibling keys")));
        }
        let path = format!("{path}.{key}");
        let wrap = match kind.as_str() {
            "allof" => Condition::AllOf,
            "anyof" => Condition::AnyOf,
            _ => return Ok(Condition::Not(Box::new(parse_condition(inner, &path)?))),
        };
        let items = inner
            .as_array()
            .ok_or_else(|| err(&path, "expected an array of conditions"))?;
        let conds = items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_condition(c, &format!("{path}[{i}]")))
            .collect::<Result<_, _>>()?;
        return Ok(wrap(conds));
    }
    parse_leaf(obj, path).map(Condition::Leaf)
}

fn parse_leaf(obj: &serde_json::Map<String, Value>, path: &str) -> Result<Leaf, ConditionError> {
    let (operands, ops): (Vec<_>, Vec<_>) = obj
        .iter()
        .partition(|(k, _)| k.eq_ignore_ascii_case("field") || k.eq_ignore_ascii_case("value"));
    let [(key, v)] = operands[..] else {
        return Err(err(path, "expected one `field` or `value`"));
    };
    let key_path = format!("{path}.{key}");
    let operand = if key.eq_ignore_ascii_case("field") {
        Expr::Field(parse_field(v, &key_path)?)
    } else {
        parse_expr(v, &key_path)?
    };
    let (key, arg) = match ops[..] {
        [op] => op,
        [] => return Err(err(path, "no operator")),
        _ => {
            let names: Vec<_> = ops.iter().map(|(k, _)| k).collect();
            return Err(err(path, format!("more than one operator: {names:?}")));
        }
    };
    let path = format!("{path}.{key}");
    let (operator, negated) = match key.to_ascii_lowercase().as_str() {
        "equals" => (Operator::Equals, false),
        "notequals" => (Operator::Equals, true),
        "contains" => (Operator::Contains, false),
        "notcontains" => (Operator::Contains, true),
        "in" => (Operator::In, false),
        "notin" => (Operator::In, true),
        "like" => (Operator::Like, false),
        "notlike" => (Operator::Like, true),
        "exists" => (Operator::Exists, false),
        _ => return Err(err(&path, format!("unknown operator `{key}`"))),
    };
    let argument = parse_expr(arg, &path)?;
    let problem = match (&argument, operator) {
        (Expr::Literal(v), Operator::In) if !v.is_array() => "expects an array",
        (Expr::Literal(v), Operator::Exists) if as_bool(v).is_none() => "expects true or false",
        _ => {
            return Ok(Leaf {
                operand,
                operator,
                negated,
                argument,
            })
        }
    };
    Err(err(&path, format!("`{key}` {problem}")))
}

fn parse_field(v: &Value, path: &str) -> Result<FieldRef, ConditionError> {
    let s = v.as_str().ok_or_else(|| err(path, "expected a string"))?;
    let field = match s.to_ascii_lowercase().as_str() {
        "name" => FieldRef::Name,
        "id" => FieldRef::Id,
        "location" => FieldRef::Location,
        "type" => FieldRef::Type,
        _ => strip_ci(s, "tags")
            .and_then(tag_key)
            .map(FieldRef::Tag)
            .ok_or_else(|| err(path, format!("unsupported field `{s}`")))?,
    };
    Ok(field)
}

fn parse_expr(v: &Value, path: &str) -> Result<Expr, ConditionError> {
    let Some(s) = v.as_str() else {
        return Ok(Expr::Literal(v.clone()));
    };
    if let Some(rest) = s.strip_prefix("[[") {
        return Ok(Expr::Literal(Value::String(format!("[{rest}"))));
    }
    let Some(inner) = s.strip_prefix('[') else {
        return Ok(Expr::Literal(v.clone()));
    };
    let bad = || err(path, format!("unsupported expression `{s}`"));
    let inner = inner.strip_suffix(']').ok_or_else(bad)?.trim();
    if let Some(args) = strip_ci(inner, "parameters(") {
        let name = args
            .strip_suffix(')')
            .and_then(|a| quoted(a.trim()))
            .ok_or_else(bad)?;
        return Ok(Expr::Parameter(name));
    }
    let (wrap, rest): (fn(ContainerProp) -> Expr, _) = match strip_ci(inner, "subscription().") {
        Some(rest) => (Expr::Subscription, rest),
        None => (
            Expr::ResourceGroup,
            strip_ci(inner, "resourceGroup().").ok_or_else(bad)?,
        ),
    };
    let of_subscription = matches!(wrap(ContainerProp::Id), Expr::Subscription(_));
    let prop = match rest.to_ascii_lowercase().as_str() {
        "name" => ContainerProp::Name,
        "id" => ContainerProp::Id,
        // Azure Policy's own names for the subscription object's properties, which real
        // definitions use as often as the AVNM editor's `Name` and `Id` [S18].
        "displayname" if of_subscription => ContainerProp::Name,
        "subscriptionid" if of_subscription => ContainerProp::SubscriptionId,
        _ => strip_ci(rest, "tags")
            .and_then(tag_key)
            .map(ContainerProp::Tag)
            .ok_or_else(bad)?,
    };
    Ok(wrap(prop))
}

/// `s` without `prefix`, matched ASCII-case-insensitively.
fn strip_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let (head, tail) = s.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(tail)
}

/// The key of a tag accessor following `tags`: `['k']`, `[k]` or `.k`.
fn tag_key(accessor: &str) -> Option<String> {
    let bare = |k: &str| (!k.is_empty() && !k.contains(['\'', '[', ']'])).then(|| k.to_string());
    match accessor.strip_prefix('.') {
        Some(key) => bare(key),
        None => {
            let inner = accessor.strip_prefix('[')?.strip_suffix(']')?.trim();
            quoted(inner).or_else(|| bare(inner))
        }
    }
}

/// A non-empty single-quoted string, `''` standing for `'`.
fn quoted(s: &str) -> Option<String> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    (!inner.is_empty() && !inner.replace("''", "").contains('\'')).then(|| inner.replace("''", "'"))
}

/// The value under `key`, matched case-insensitively as Azure Policy matches tag and
/// parameter names (an exact match first).
pub fn lookup<'m, V>(map: &'m BTreeMap<String, V>, key: &str) -> Option<&'m V> {
    let lower = key.to_lowercase();
    let mut folded = map.iter().filter(|(k, _)| k.to_lowercase() == lower);
    map.get(key).or_else(|| folded.next().map(|(_, v)| v))
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => v.as_str()?.to_ascii_lowercase().parse().ok(),
    }
}

/// A value's text, lowercased: a string as is, anything else as JSON.
fn text(v: &Value) -> String {
    let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    s.to_lowercase()
}

/// Whether `text` matches `pattern`, where each `*` stands for any (possibly empty) text.
fn like(text: &str, pattern: &str) -> bool {
    let Some((first, tail)) = pattern.split_once('*') else {
        return text == pattern;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = tail.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

impl Expr {
    fn resolve(&self, ctx: &ConditionContext<'_>) -> Option<Value> {
        let (container, prop) = match self {
            Expr::Field(FieldRef::Name) => return Some(ctx.name.into()),
            Expr::Field(FieldRef::Id) => return Some(ctx.id.into()),
            Expr::Field(FieldRef::Location) => return Some(ctx.location.into()),
            Expr::Field(FieldRef::Type) => return Some(ctx.resource_type.into()),
            Expr::Field(FieldRef::Tag(k)) => return lookup(ctx.tags, k).map(|v| v.as_str().into()),
            Expr::Literal(v) => return Some(v.clone()),
            Expr::Parameter(p) => return lookup(ctx.parameters, p).cloned(),
            Expr::Subscription(prop) => (&ctx.subscription, prop),
            Expr::ResourceGroup(prop) => (&ctx.resource_group, prop),
        };
        match prop {
            ContainerProp::Name => Some(container.name.into()),
            ContainerProp::Id => Some(container.id.into()),
            ContainerProp::SubscriptionId => container.id.rsplit('/').next().map(Into::into),
            ContainerProp::Tag(k) => lookup(container.tags, k).map(|v| v.as_str().into()),
        }
    }
}

impl Leaf {
    fn evaluate(&self, ctx: &ConditionContext<'_>) -> bool {
        let lhs = self.operand.resolve(ctx).map(|v| text(&v));
        let arg = self.argument.resolve(ctx);
        let pair = lhs.as_deref().zip(arg.as_ref());
        let hit = match self.operator {
            Operator::Exists => return arg.as_ref().and_then(as_bool) == Some(lhs.is_some()),
            Operator::Equals => pair.is_some_and(|(l, a)| l == text(a)),
            Operator::Contains => pair.is_some_and(|(l, a)| l.contains(&text(a))),
            Operator::In => pair.is_some_and(|(l, a)| {
                a.as_array()
                    .is_some_and(|xs| xs.iter().any(|x| text(x) == l))
            }),
            Operator::Like => pair.is_some_and(|(l, a)| like(l, &text(a))),
        };
        hit != self.negated
    }
}

impl Condition {
    /// Whether the resource described by `ctx` satisfies this condition.
    pub fn evaluate(&self, ctx: &ConditionContext<'_>) -> bool {
        match self {
            Condition::AllOf(cs) => cs.iter().all(|c| c.evaluate(ctx)),
            Condition::AnyOf(cs) => cs.iter().any(|c| c.evaluate(ctx)),
            Condition::Not(c) => !c.evaluate(ctx),
            Condition::Leaf(leaf) => leaf.evaluate(ctx),
        }
    }

    /// The parameters it names (`[parameters('p')]`), each as often as named: a definition
    /// must declare every one (Azure Policy refuses it otherwise).
    pub fn parameters(&self) -> Vec<&str> {
        match self {
            Condition::AllOf(cs) | Condition::AnyOf(cs) => {
                cs.iter().flat_map(Condition::parameters).collect()
            }
            Condition::Not(c) => c.parameters(),
            Condition::Leaf(leaf) => [&leaf.operand, &leaf.argument]
                .into_iter()
                .filter_map(|e| match e {
                    Expr::Parameter(p) => Some(p.as_str()),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// The parameter a string names when it is exactly `[parameters('p')]`.
pub fn parameter_reference(text: &str) -> Option<String> {
    match parse_expr(&Value::String(text.to_string()), "") {
        Ok(Expr::Parameter(p)) => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each non-blank line of `cases` is `true|false <condition JSON>`: evaluates the condition
    /// against one VNet and checks the outcome.
    fn check(cases: &str) {
        let maps = [
            vec![("Env", "Prod"), ("it's", "q")],
            vec![("CostCenter", "42")],
            vec![("tier", "Front")],
        ];
        let [tags, sub_tags, rg_tags] =
            maps.map(|m| m.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        let params =
            json!({"envs": ["prod", "test"], "Region": "EastUS", "count": 42, "yes": true});
        let ctx = ConditionContext {
            name: "vnet-Prod-01",
            id: "/subscriptions/1111/resourceGroups/RG-Net/providers/x/v",
            location: "eastus",
            resource_type: "Microsoft.Network/virtualNetworks",
            tags: &tags,
            subscription: ContainerFields {
                name: "Sub-A",
                id: "/subscriptions/1111",
                tags: &sub_tags,
            },
            resource_group: ContainerFields {
                name: "RG-Net",
                id: "/x/RG-Net",
                tags: &rg_tags,
            },
            parameters: &serde_json::from_value(params).unwrap(),
        };
        for line in cases.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (want, cond) = line.split_once(' ').unwrap();
            let cond = parse_condition(&serde_json::from_str(cond).unwrap(), "if").unwrap();
            assert_eq!(cond.evaluate(&ctx).to_string(), want, "{line}");
        }
    }

    /// Each non-blank line of `cases` is `<condition JSON> => <error>`: checks the parse error.
    fn check_errors(cases: &str) {
        for line in cases.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (cond, want) = line.split_once(" => ").unwrap();
            let got = parse_condition(&serde_json::from_str(cond).unwrap(), "if").unwrap_err();
            assert_eq!(got.to_string(), want, "{line}");
        }
    }

    #[test]
    fn operators_compare_case_insensitively() {
        check(
            r#"
            true  {"field": "name", "equals": "VNET-prod-01"}
            true  {"FIELD": "NAME", "EQUALS": "vnet-prod-01"}
            false {"field": "name", "equals": "vnet-prod"}
            true  {"field": "name", "notEquals": "other"}
            false {"field": "name", "NotEquals": "VNET-PROD-01"}
            true  {"field": "name", "contains": "PROD"}
            false {"field": "name", "contains": "dev"}
            true  {"field": "name", "notContains": "dev"}
            false {"field": "name", "notcontains": "prod"}
            true  {"field": "location", "in": ["westus", "EastUS"]}
            false {"field": "location", "in": []}
            true  {"field": "location", "notIn": ["westus"]}
            false {"field": "location", "notin": ["EASTUS"]}
            true  {"field": "name", "like": "VNET-*"}
            false {"field": "name", "like": "*-02"}
            true  {"field": "name", "notLike": "*-02"}
            false {"field": "name", "notlike": "*prod*"}
            true  {"field": "tags['env']", "exists": true}
            true  {"field": "tags['env']", "Exists": "TRUE"}
            false {"field": "tags['env']", "exists": false}
            false {"field": "tags['absent']", "exists": true}
            true  {"field": "tags['absent']", "exists": "false"}
            true  {"field": "name", "exists": true}
            "#,
        );
        let hits = ["*-01", "v*-*-*1", "*", "vnet-prod-01", "**p**"];
        assert!(hits.iter().all(|p| like("vnet-prod-01", p)));
        assert!(!["v*x*", "*01-*", ""]
            .iter()
            .any(|p| like("vnet-prod-01", p)));
        assert!(!like("aba", "ab*ba") && like("abba", "ab*ba") && like("", "*"));
    }

    #[test]
    fn fields_values_and_parameters() {
        check(
            r#"
            true  {"field": "id", "like": "/subscriptions/1111/resourcegroups/rg-net/*"}
            true  {"field": "Location", "equals": "EastUS"}
            true  {"field": "type", "equals": "microsoft.network/virtualnetworks"}
            true  {"field": "TAGS['ENV']", "equals": "prod"}
            true  {"field": "tags.Env", "equals": "prod"}
            true  {"field": "tags[env]", "equals": "prod"}
            true  {"field": "tags[ 'Env' ]", "equals": "prod"}
            true  {"field": "tags['it''s']", "equals": "q"}
            true  {"value": "[subscription().Name]", "equals": "sub-a"}
            true  {"value": "[Subscription().id]", "equals": "/SUBSCRIPTIONS/1111"}
            true  {"value": "[subscription().tags['costcenter']]", "equals": "42"}
            true  {"value": "[subscription().subscriptionId]", "equals": "1111"}
            false {"value": "[subscription().SubscriptionID]", "equals": "/subscriptions/1111"}
            true  {"value": "[subscription().displayName]", "equals": "sub-a"}
            true  {"value": "[resourceGroup().Name]", "equals": "rg-net"}
            true  {"value": "[ RESOURCEGROUP().ID ]", "like": "*/rg-net"}
            true  {"value": "[resourceGroup().tags['Tier']]", "in": ["front", "back"]}
            true  {"value": "[resourceGroup().tags.tier]", "equals": "front"}
            true  {"field": "location", "equals": "[parameters('region')]"}
            true  {"value": "[Parameters( 'REGION' )]", "equals": "eastus"}
            true  {"field": "tags['env']", "in": "[parameters('envs')]"}
            false {"field": "name", "in": "[parameters('envs')]"}
            true  {"field": "name", "notIn": "[parameters('envs')]"}
            false {"field": "name", "in": "[parameters('region')]"}
            true  {"field": "name", "exists": "[parameters('yes')]"}
            true  {"value": "[parameters('count')]", "equals": 42}
            true  {"value": 42, "in": ["42", 7]}
            true  {"value": true, "equals": "TRUE"}
            true  {"value": "[[literal]", "equals": "[[LITERAL]"}
            true  {"value": "plain", "equals": "PLAIN"}
            "#,
        );
        let leaf = Leaf {
            operand: Expr::Literal(json!("[x")),
            operator: Operator::Like,
            negated: true,
            argument: Expr::Parameter("p".into()),
        };
        let cond = json!({"value": "[[x", "notLike": "[parameters('p')]"});
        assert_eq!(parse_condition(&cond, "if"), Ok(Condition::Leaf(leaf)));
    }

    #[test]
    fn absent_values_fail_positive_and_satisfy_negated_operators() {
        check(
            r#"
            false {"field": "tags['absent']", "equals": "x"}
            true  {"field": "tags['absent']", "notEquals": "x"}
            false {"field": "tags.absent", "contains": ""}
            true  {"field": "tags.absent", "notContains": ""}
            false {"field": "tags['absent']", "in": ["x"]}
            true  {"field": "tags['absent']", "notIn": ["x"]}
            false {"field": "tags['absent']", "like": "*"}
            true  {"field": "tags['absent']", "notLike": "*"}
            false {"value": "[resourceGroup().tags['absent']]", "equals": "front"}
            true  {"value": "[resourceGroup().tags['absent']]", "exists": false}
            false {"value": "[parameters('none')]", "equals": "x"}
            true  {"value": "[parameters('none')]", "notEquals": "x"}
            false {"field": "name", "equals": "[parameters('none')]"}
            true  {"field": "name", "notEquals": "[parameters('none')]"}
            "#,
        );
    }

    #[test]
    fn combinators_nest() {
        check(
            r#"
            true  {"allOf": []}
            false {"anyOf": []}
            true  {"allOf": [{"field": "name", "like": "v*"}, {"anyOf": [{"field": "id", "equals": "x"}, {"not": {"field": "id", "equals": "y"}}]}]}
            false {"AllOf": [{"field": "name", "like": "v*"}, {"field": "name", "like": "x*"}]}
            true  {"ANYOF": [{"field": "name", "like": "x*"}, {"field": "name", "like": "v*"}]}
            true  {"Not": {"not": {"field": "name", "like": "v*"}}}
            false {"not": {"allOf": [{"field": "name", "like": "v*"}, {"not": {"field": "id", "equals": "y"}}]}}
            "#,
        );
    }

    #[test]
    fn errors_carry_their_path() {
        check_errors(
            r#"
            "x" => if: expected a condition object
            {"allOf": [{}]} => if.allOf[0]: expected one `field` or `value`
            {"anyOf": [{"not": {"equals": 1}}]} => if.anyOf[0].not: expected one `field` or `value`
            {"anyOf": [{"allOf": []}, 3]} => if.anyOf[1]: expected a condition object
            {"allOf": {}} => if.allOf: expected an array of conditions
            {"not": [], "field": "name"} => if: `not` cannot have sibling keys
            {"field": "name", "value": 1, "in": []} => if: expected one `field` or `value`
            {"field": "name"} => if: no operator
            {"field": "name", "equals": "a", "like": "b"} => if: more than one operator: ["equals", "like"]
            {"not": {"field": "name", "matches": "a"}} => if.not.matches: unknown operator `matches`
            {"field": "name", "In": "a"} => if.In: `In` expects an array
            {"field": "name", "notIn": {}} => if.notIn: `notIn` expects an array
            {"field": "name", "exists": "yes"} => if.exists: `exists` expects true or false
            {"field": 3, "equals": "a"} => if.field: expected a string
            {"allOf": [{"allOf": []}, {"field": "Microsoft.Network/virtualNetworks/subnets", "equals": "a"}]} => if.allOf[1].field: unsupported field `Microsoft.Network/virtualNetworks/subnets`
            {"field": "tags", "exists": true} => if.field: unsupported field `tags`
            {"field": "tags['a']['b']", "exists": true} => if.field: unsupported field `tags['a']['b']`
            {"field": "tag['a']", "exists": true} => if.field: unsupported field `tag['a']`
            "#,
        );
        let exprs = [
            "[concat('a')]",
            "[subscription().tenantId]",
            "[resourceGroup().subscriptionId]",
            "[resourceGroup().displayName]",
            "[resourceGroup().tags]",
        ];
        for expr in exprs
            .into_iter()
            .chain(["[parameters(p)]", "[parameters('p')", "["])
        {
            check_errors(&format!(
                r#"{{"value": "{expr}", "exists": true}} => if.value: unsupported expression `{expr}`
                {{"field": "id", "notEquals": "{expr}"}} => if.notEquals: unsupported expression `{expr}`"#
            ));
        }
    }
}
