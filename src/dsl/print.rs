//! Items to canonical DSL text.
//!
//! Items are written in input order, so the model read back has its resources in the same
//! order. Each item goes in the context block its id names (`subscription`, `resource-group`,
//! `management-group`); consecutive items share blocks, and a declared subscription,
//! resource group or management group opens its block when the next item lives in it.
//! Names are written where they resolve back to exactly the same id, full ids elsewhere;
//! an `id` clause appears only where the context would build a different id. Two spaces
//! indent each block level.

use super::cond;
use super::item::*;
use super::lex::{is_bare, quote, word_or_quoted};
use super::notes::{key, Notes};
use super::parse::{assignment_scope_of, levels, Level};
use super::refs::{is_full_id, Decls};
use crate::model::{Access, AddressItem, Direction, IntentPolicySetting, PortRange, Protocol};
use std::fmt::Write;

/// One context block: what it is and the prefix it gives ids.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Frame {
    level: Level,
    name: String,
    prefix: String,
}

/// An open block of the printer: the context it gives and its notes key.
struct Open {
    frame: Frame,
    key: String,
}

impl Frame {
    fn open_in(&self) -> String {
        let word = match self.level {
            Level::Subscription => "subscription",
            Level::ResourceGroup => "resource-group",
            _ => "management-group",
        };
        format!("in {word} {} {{", word_or_quoted(&self.name))
    }
}

/// The context frames an id sits in, and where its scope part ends.
fn split_scope(id: &str) -> (Vec<Frame>, &str) {
    let segment = |s: &str| -> (String, usize) {
        let end = s.find('/').unwrap_or(s.len());
        (s[..end].to_string(), end)
    };
    if let Some(rest) = id.strip_prefix("/subscriptions/") {
        let (sub, end) = segment(rest);
        if sub.is_empty() {
            return (Vec::new(), id);
        }
        let sub_prefix = format!("/subscriptions/{sub}");
        let mut frames = vec![Frame {
            level: Level::Subscription,
            name: sub,
            prefix: sub_prefix.clone(),
        }];
        let rest = &rest[end..];
        if let Some(r) = rest.strip_prefix("/resourceGroups/") {
            let (rg, end) = segment(r);
            if !rg.is_empty() {
                frames.push(Frame {
                    level: Level::ResourceGroup,
                    prefix: format!("{sub_prefix}/resourceGroups/{rg}"),
                    name: rg,
                });
                return (frames, &r[end..]);
            }
        }
        return (frames, rest);
    }
    if let Some(rest) = id.strip_prefix("/providers/Microsoft.Management/managementGroups/") {
        let (mg, end) = segment(rest);
        if !mg.is_empty() && rest[end..].starts_with("/providers/") {
            return (
                vec![Frame {
                    level: Level::ManagementGroup,
                    prefix: management_group_id(&mg),
                    name: mg,
                }],
                &rest[end..],
            );
        }
    }
    (Vec::new(), id)
}

fn level_of(frames: &[Frame]) -> Level {
    frames.last().map_or(Level::Root, |f| f.level)
}

/// Where an item goes, and the id its context would build for it (`None`: no context
/// builds it, an `id` clause is needed).
fn placement(item: &Item) -> (Vec<Frame>, Option<String>) {
    let resource = |id: &str, ty: &str, name: &str, allowed: &[Level]| {
        let (frames, _) = split_scope(id);
        let prefix = frames.last().map_or(String::new(), |f| f.prefix.clone());
        let built = allowed
            .contains(&level_of(&frames))
            .then(|| format!("{prefix}/providers/{ty}/{name}"));
        (frames, built)
    };
    let rg = levels::IN_RESOURCE_GROUP;
    match item {
        Item::ManagementGroup(_) | Item::Subscription(_) | Item::Deployment(_) | Item::Arm(_) => {
            (Vec::new(), None)
        }
        Item::ResourceGroup(g) => {
            let (mut frames, rest) = split_scope(&g.id);
            let own = (rest.is_empty() && level_of(&frames) == Level::ResourceGroup)
                .then(|| frames.pop())
                .flatten();
            match own {
                Some(_) => {
                    let prefix = frames.last().map_or(String::new(), |f| f.prefix.clone());
                    (frames, Some(format!("{prefix}/resourceGroups/{}", g.name)))
                }
                None => (Vec::new(), None),
            }
        }
        Item::Vnet(v) => resource(&v.id, types::VNET, &v.name, rg),
        Item::Nic(n) => resource(&n.id, types::NIC, &n.name, rg),
        Item::PublicIp(p) => resource(&p.id, types::PUBLIC_IP, &p.name, rg),
        Item::Nsg(n) => resource(&n.id, types::NSG, &n.name, rg),
        Item::Asg(a) => resource(&a.id, types::ASG, &a.name, rg),
        Item::VnetGateway(g) => resource(&g.id, types::VNET_GATEWAY, &g.name, rg),
        Item::LocalGateway(g) => resource(&g.id, types::LOCAL_GATEWAY, &g.name, rg),
        Item::Connection(c) => resource(&c.id, types::CONNECTION, &c.name, rg),
        Item::Manager(m) => resource(&m.id, types::MANAGER, &m.name, rg),
        Item::ManagerConnection(c) => resource(
            &c.id,
            types::MANAGER_CONNECTION,
            &c.name,
            levels::MG_OR_SUBSCRIPTION,
        ),
        Item::PolicyDefinition(d) => resource(
            &d.id,
            types::POLICY_DEFINITION,
            &d.name,
            levels::MG_OR_SUBSCRIPTION,
        ),
        Item::PolicyAssignment(a) => {
            resource(&a.id, types::POLICY_ASSIGNMENT, &a.name, levels::ANY_SCOPE)
        }
    }
}

/// The block a declared container opens, if the item is one.
fn own_frame(item: &Item, context: &[Frame]) -> Option<Frame> {
    let prefix = context.last().map_or(String::new(), |f| f.prefix.clone());
    match item {
        Item::ManagementGroup(g) => Some(Frame {
            level: Level::ManagementGroup,
            prefix: management_group_id(&g.name),
            name: g.name.clone(),
        }),
        Item::Subscription(s) => Some(Frame {
            level: Level::Subscription,
            prefix: format!("/subscriptions/{}", s.subscription_id),
            name: s.subscription_id.clone(),
        }),
        Item::ResourceGroup(g) if level_of(context) == Level::Subscription => Some(Frame {
            level: Level::ResourceGroup,
            prefix: format!("{prefix}/resourceGroups/{}", g.name),
            name: g.name.clone(),
        }),
        _ => None,
    }
}

/// One output line: its text (with its indentation inside the item), the notes key of the
/// statement it writes, or the key of the block its `}` closes.
struct Out {
    text: String,
    key: Option<String>,
    closes: Option<String>,
}

fn out(text: String, key: String) -> Out {
    Out {
        text,
        key: Some(key),
        closes: None,
    }
}

/// A piece of a document: items, or an `include` line.
pub enum Part {
    /// Items, written in order.
    Items(Vec<Item>),
    /// `include "FILE"`.
    Include(String),
}

struct Printer<'d> {
    out: String,
    decls: &'d Decls,
    notes: &'d Notes,
    stack: Vec<Open>,
    counts: std::collections::HashMap<&'static str, usize>,
    /// The last line written closed a top-level block.
    after_top_block: bool,
}

/// Writes a document: items in context blocks, includes in place, comments kept.
pub fn print_document(parts: &[Part], decls: &Decls, notes: &Notes) -> String {
    let mut p = Printer {
        out: String::new(),
        decls,
        notes,
        stack: Vec::new(),
        counts: std::collections::HashMap::new(),
        after_top_block: false,
    };
    for part in parts {
        match part {
            Part::Items(items) => {
                p.items(items);
                p.close_to(0);
            }
            Part::Include(name) => {
                let k = p.next("include");
                p.emit(vec![out(
                    format!("include {}", quote(name)),
                    key::nth("include", k),
                )]);
            }
        }
    }
    if let Some(note) = notes.get(key::EOF) {
        let mut lines = note.leading.clone();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        p.comments("", note.blank_before, &lines);
    }
    p.out
}

fn join_words(list: &[String]) -> String {
    list.iter()
        .map(|s| word_or_quoted(s))
        .collect::<Vec<_>>()
        .join(",")
}

fn tags_text(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{}={}", word_or_quoted(k), word_or_quoted(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn scope_text(s: &Scope) -> String {
    match s {
        Scope::Subscription(x) => format!("subscription {}", word_or_quoted(x)),
        Scope::ManagementGroup(x) => format!("management-group {}", word_or_quoted(x)),
    }
}

/// Words that would be read as keywords where an address or name is expected.
const KEYWORDS: [&str; 9] = [
    "asg", "group", "tag", "ports", "to", "from", "name", "id", "none",
];

fn address_word(text: &str) -> String {
    if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(text)) {
        quote(text)
    } else {
        word_or_quoted(text)
    }
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

fn access_word(a: Access) -> &'static str {
    match a {
        Access::Allow => "allow",
        Access::Deny => "deny",
        Access::AlwaysAllow => "always-allow",
    }
}

fn protocol_word(p: Protocol) -> String {
    match p {
        Protocol::Any => "any".to_string(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

/// True when an NSG's default rules are exactly the six the loader adds when none are given.
fn builtin_defaults(nsg: &Nsg) -> bool {
    use AddressItem::{Any, Tag};
    let vnet = || Tag("VirtualNetwork".to_string());
    let expected = [
        (
            "AllowVnetInBound",
            Direction::Inbound,
            65000,
            vnet(),
            vnet(),
            Access::Allow,
        ),
        (
            "AllowAzureLoadBalancerInBound",
            Direction::Inbound,
            65001,
            Tag("AzureLoadBalancer".to_string()),
            Any,
            Access::Allow,
        ),
        (
            "DenyAllInBound",
            Direction::Inbound,
            65500,
            Any,
            Any,
            Access::Deny,
        ),
        (
            "AllowVnetOutBound",
            Direction::Outbound,
            65000,
            vnet(),
            vnet(),
            Access::Allow,
        ),
        (
            "AllowInternetOutBound",
            Direction::Outbound,
            65001,
            Any,
            Tag("Internet".to_string()),
            Access::Allow,
        ),
        (
            "DenyAllOutBound",
            Direction::Outbound,
            65500,
            Any,
            Any,
            Access::Deny,
        ),
    ];
    let one = |list: &[Address], want: &AddressItem| match list {
        [Address::Prefix(t) | Address::Tag(t)] => {
            AddressItem::parse_prefix_or_tag(t).is_ok_and(|a| a == *want)
        }
        _ => false,
    };
    let all_ports =
        |list: &[String]| matches!(list, [p] if PortRange::parse(p) == Ok(PortRange::ALL));
    nsg.defaults.len() == expected.len()
        && nsg
            .defaults
            .iter()
            .zip(&expected)
            .all(|(r, (name, dir, prio, src, dst, access))| {
                r.id == format!("{}/defaultSecurityRules/{name}", nsg.id)
                    && r.name == *name
                    && r.direction == *dir
                    && r.priority == *prio
                    && r.access == *access
                    && r.protocol == Protocol::Any
                    && one(&r.sources, src)
                    && one(&r.destinations, dst)
                    && all_ports(&r.source_ports)
                    && all_ports(&r.destination_ports)
            })
}

impl Printer<'_> {
    /// The next number for a statement kind without an id.
    fn next(&mut self, kind: &'static str) -> usize {
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        *n
    }

    fn prefixes(&self) -> Vec<Frame> {
        self.stack.iter().map(|o| o.frame.clone()).collect()
    }

    /// Writes lines at the current depth, with their comments.
    fn emit(&mut self, lines: Vec<Out>) {
        let base = "  ".repeat(self.stack.len());
        for line in lines {
            let inner: String = line.text.chars().take_while(|c| *c == ' ').collect();
            let pad = format!("{base}{inner}");
            let text = line.text.trim_start();
            let top = self.stack.is_empty() && inner.is_empty();
            let mut trailing = None;
            if let Some(end) = &line.closes {
                if let Some(note) = self.notes.get(&key::end(end)) {
                    self.comments(&format!("{pad}  "), note.blank_before, &note.leading);
                    trailing = note.trailing.clone();
                }
            }
            if let Some(k) = &line.key {
                let note = self.notes.get(k);
                let blank = note.is_some_and(|n| n.blank_before)
                    || (top && (text.ends_with('{') || self.after_top_block));
                if blank && !self.out.is_empty() && !self.out.ends_with("\n\n") {
                    self.out.push('\n');
                }
                if let Some(note) = note {
                    self.comments(&pad, false, &note.leading);
                    trailing = note.trailing.clone();
                }
            }
            match trailing {
                Some(c) => {
                    let _ = writeln!(self.out, "{pad}{text} {c}");
                }
                None => {
                    let _ = writeln!(self.out, "{pad}{text}");
                }
            }
            if line.key.is_some() || line.closes.is_some() {
                self.after_top_block = top && text == "}";
            }
        }
    }

    /// Comment lines (an empty one is a blank line) at `pad`.
    fn comments(&mut self, pad: &str, blank_before: bool, lines: &[String]) {
        if blank_before && !lines.is_empty() && !self.out.is_empty() && !self.out.ends_with("\n\n")
        {
            self.out.push('\n');
        }
        for c in lines {
            if c.is_empty() {
                self.out.push('\n');
            } else {
                let _ = writeln!(self.out, "{pad}{c}");
            }
        }
    }

    fn close_to(&mut self, depth: usize) {
        while self.stack.len() > depth {
            let Some(open) = self.stack.pop() else {
                break;
            };
            self.emit(vec![Out {
                text: "}".to_string(),
                key: None,
                closes: Some(open.key),
            }]);
        }
    }

    fn items(&mut self, items: &[Item]) {
        let placements: Vec<(Vec<Frame>, Option<String>)> = items.iter().map(placement).collect();
        for (i, item) in items.iter().enumerate() {
            let (context, built) = &placements[i];
            let current = self.prefixes();
            let common = current
                .iter()
                .zip(context)
                .take_while(|(a, b)| a == b)
                .count();
            self.close_to(common);
            for f in &context[common..] {
                let k = key::context(&f.prefix);
                self.emit(vec![out(f.open_in(), k.clone())]);
                self.stack.push(Open {
                    frame: f.clone(),
                    key: k,
                });
            }
            let mut lines = self.item(item, built.as_deref());
            // A declared container opens its block when the next item lives in it.
            if let Some(own) = own_frame(item, &self.prefixes()) {
                let mut inner = self.prefixes();
                inner.push(own.clone());
                let next_inside = placements.get(i + 1).is_some_and(|(next, _)| {
                    next.len() >= inner.len() && next[..inner.len()] == inner[..]
                });
                if next_inside {
                    let k = lines
                        .first()
                        .and_then(|l| l.key.clone())
                        .unwrap_or_default();
                    if let Some(head) = lines.first_mut() {
                        head.text.push_str(" {");
                    }
                    self.emit(lines);
                    self.stack.push(Open { frame: own, key: k });
                    continue;
                }
            }
            self.emit(lines);
        }
    }

    /// Containers for references: the given enclosing ids, then the context prefixes.
    fn containers(&self, inner: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = inner.iter().map(|s| s.to_string()).collect();
        out.extend(self.stack.iter().rev().map(|o| o.frame.prefix.clone()));
        out.push(String::new());
        out
    }

    /// A reference: the shortest name that resolves back to it, else its id.
    fn r(&self, kinds: &[DeclKind], r: &Ref, containers: &[String]) -> String {
        if let Some(name) = self.decls.shortest(kinds, &r.text, containers) {
            return name;
        }
        if is_full_id(&r.text) && is_bare(&r.text) {
            r.text.clone()
        } else {
            quote(&r.text)
        }
    }

    fn refs(&self, kinds: &[DeclKind], list: &[Ref], containers: &[String]) -> String {
        list.iter()
            .map(|x| self.r(kinds, x, containers))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `NAME` plus an `id` clause when the context builds a different id.
    fn head(word: &str, name: &str, id: &str, built: Option<&str>) -> String {
        let mut s = format!("{word} {}", word_or_quoted(name));
        if built != Some(id) {
            let _ = write!(s, " id {}", word_or_quoted(id));
        }
        s
    }

    /// Makes `lines` (a head and indented children) a block closed at `pad` when it has
    /// children or comments before its `}`.
    fn close_block(&self, lines: &mut Vec<Out>, pad: &str, owner: &str) {
        let end_note = self.notes.get(&key::end(owner)).is_some();
        if lines.len() > 1 || end_note {
            if let Some(head) = lines.first_mut() {
                head.text.push_str(" {");
            }
            lines.push(Out {
                text: format!("{pad}}}"),
                key: None,
                closes: Some(owner.to_string()),
            });
        }
    }

    fn item(&mut self, item: &Item, built: Option<&str>) -> Vec<Out> {
        let top = self.containers(&[]);
        let one = |text: String, id: &str| vec![out(text, key::id(id))];
        match item {
            Item::ManagementGroup(g) => {
                let mut s = format!("management-group {}", word_or_quoted(&g.name));
                if let Some(p) = &g.parent {
                    let _ = write!(s, " parent {}", word_or_quoted(p));
                }
                if let Some(t) = &g.tenant {
                    let _ = write!(s, " tenant {}", word_or_quoted(t));
                }
                one(s, &management_group_id(&g.name))
            }
            Item::Subscription(sub) => {
                let mut s = format!("subscription {}", word_or_quoted(&sub.subscription_id));
                if sub.name != sub.subscription_id {
                    let _ = write!(s, " name {}", word_or_quoted(&sub.name));
                }
                if let Some(t) = &sub.tenant {
                    let _ = write!(s, " tenant {}", word_or_quoted(t));
                }
                match sub.ancestors.as_slice() {
                    [] => {}
                    [one] => {
                        let _ = write!(s, " parent {}", word_or_quoted(one));
                    }
                    many => {
                        let _ = write!(s, " ancestors {}", join_words(many));
                    }
                }
                if !sub.tags.is_empty() {
                    let _ = write!(s, " tags {}", tags_text(&sub.tags));
                }
                one(s, &format!("/subscriptions/{}", sub.subscription_id))
            }
            Item::ResourceGroup(g) => {
                let mut s = Self::head("resource-group", &g.name, &g.id, built);
                if !g.tags.is_empty() {
                    let _ = write!(s, " tags {}", tags_text(&g.tags));
                }
                one(s, &g.id)
            }
            Item::Vnet(v) => self.vnet(v, built),
            Item::Nic(n) => {
                let mut s = Self::head("nic", &n.name, &n.id, built);
                if let Some(nsg) = &n.nsg {
                    let _ = write!(s, " nsg {}", self.r(refs::NSG, nsg, &top));
                }
                if n.private_endpoint {
                    s.push_str(" private-endpoint");
                }
                for c in &n.ip_configs {
                    let _ = write!(
                        s,
                        " ip {} subnet {}",
                        word_or_quoted(&c.address),
                        self.r(refs::SUBNET, &c.subnet, &top)
                    );
                    if !c.asgs.is_empty() {
                        let _ = write!(s, " asg {}", self.refs(refs::ASG, &c.asgs, &top));
                    }
                    if let Some(p) = &c.public_ip {
                        let _ = write!(s, " public-ip {}", self.r(refs::PUBLIC_IP, p, &top));
                    }
                }
                one(s, &n.id)
            }
            Item::PublicIp(p) => {
                let mut s = Self::head("public-ip", &p.name, &p.id, built);
                if let Some(sku) = &p.sku {
                    let _ = write!(s, " sku {}", word_or_quoted(sku));
                }
                one(s, &p.id)
            }
            Item::Nsg(n) => {
                let own = key::id(&n.id);
                let mut lines = vec![out(Self::head("nsg", &n.name, &n.id, built), own.clone())];
                let containers = self.containers(&[&n.id]);
                for r in &n.rules {
                    let built = format!("{}/securityRules/{}", n.id, r.name);
                    let text = format!("  {}", self.rule(r, false, &built, &containers));
                    lines.push(out(text, key::id(&r.id)));
                }
                if !builtin_defaults(n) {
                    for r in &n.defaults {
                        let built = format!("{}/defaultSecurityRules/{}", n.id, r.name);
                        let text = format!("  {}", self.rule(r, true, &built, &containers));
                        lines.push(out(text, key::id(&r.id)));
                    }
                }
                self.close_block(&mut lines, "", &own);
                lines
            }
            Item::Asg(a) => one(Self::head("asg", &a.name, &a.id, built), &a.id),
            Item::VnetGateway(g) => {
                let mut s = Self::head("vnet-gateway", &g.name, &g.id, built);
                if !g.subnets.is_empty() {
                    let _ = write!(s, " subnet {}", self.refs(refs::SUBNET, &g.subnets, &top));
                }
                one(s, &g.id)
            }
            Item::LocalGateway(g) => {
                let mut s = Self::head("local-gateway", &g.name, &g.id, built);
                if !g.prefixes.is_empty() {
                    let _ = write!(s, " prefix {}", join_words(&g.prefixes));
                }
                one(s, &g.id)
            }
            Item::Connection(c) => {
                let mut s = Self::head("connection", &c.name, &c.id, built);
                let _ = write!(
                    s,
                    " from {} to {}",
                    self.r(refs::VNET_GATEWAY, &c.gateway, &top),
                    self.r(refs::LOCAL_GATEWAY, &c.local_gateway, &top)
                );
                one(s, &c.id)
            }
            Item::Manager(m) => self.manager(m, built),
            Item::ManagerConnection(c) => {
                let mut s = Self::head("manager-connection", &c.name, &c.id, built);
                let _ = write!(s, " manager {}", self.r(refs::MANAGER, &c.manager, &top));
                if let Some(state) = &c.state {
                    let _ = write!(s, " state {}", word_or_quoted(state));
                }
                one(s, &c.id)
            }
            Item::PolicyDefinition(d) => {
                let mut s = Self::head("policy-definition", &d.name, &d.id, built);
                let _ = write!(s, " group {}", self.r(refs::GROUP, &d.group, &top));
                for (k, v) in &d.defaults {
                    let _ = write!(s, " param {}", param_text(k, v));
                }
                self.condition_lines(s, &key::id(&d.id), &d.condition)
            }
            Item::PolicyAssignment(a) => {
                let mut s = Self::head("policy-assignment", &a.name, &a.id, built);
                let _ = write!(
                    s,
                    " definition {}",
                    self.r(refs::POLICY_DEFINITION, &a.definition, &top)
                );
                if a.scope != assignment_scope_of(&a.id) {
                    let _ = write!(s, " scope {}", word_or_quoted(&a.scope));
                }
                if !a.not_scopes.is_empty() {
                    let _ = write!(s, " not-scopes {}", join_words(&a.not_scopes));
                }
                for (k, v) in &a.parameters {
                    let _ = write!(s, " param {}", param_text(k, v));
                }
                one(s, &a.id)
            }
            Item::Deployment(d) => {
                let mut s = format!("deployment region {}", word_or_quoted(&d.region));
                if let Some(k) = &d.kind {
                    let _ = write!(s, " type {}", word_or_quoted(k));
                }
                let _ = write!(s, " status {}", word_or_quoted(&d.status));
                if !d.configs.is_empty() {
                    let _ = write!(s, " configs {}", self.refs(refs::CONFIG, &d.configs, &top));
                }
                if let Some(t) = &d.commit_time {
                    let _ = write!(s, " commit-time {}", word_or_quoted(t));
                }
                let n = self.next("deployment");
                vec![out(s, key::nth("deployment", n))]
            }
            Item::Arm(v) => {
                let n = self.next("arm");
                vec![out(format!("arm {v}"), key::nth("arm", n))]
            }
        }
    }

    fn vnet(&self, v: &Vnet, built: Option<&str>) -> Vec<Out> {
        let own = key::id(&v.id);
        let mut s = Self::head("vnet", &v.name, &v.id, built);
        if !v.location.is_empty() {
            let _ = write!(s, " region {}", word_or_quoted(&v.location));
        }
        if !v.tags.is_empty() {
            let _ = write!(s, " tags {}", tags_text(&v.tags));
        }
        let mut lines = vec![out(s, own.clone())];
        let containers = self.containers(&[&v.id]);
        if !v.address_space.is_empty() {
            lines.push(out(
                format!("  address-space {}", join_words(&v.address_space)),
                key::child(&own, "address-space", 0),
            ));
        }
        for sub in &v.subnets {
            let mut s = format!("  subnet {}", word_or_quoted(&sub.name));
            if sub.id != format!("{}/subnets/{}", v.id, sub.name) {
                let _ = write!(s, " id {}", word_or_quoted(&sub.id));
            }
            if !sub.prefixes.is_empty() {
                let _ = write!(s, " prefix {}", join_words(&sub.prefixes));
            }
            if let Some(nsg) = &sub.nsg {
                let _ = write!(s, " nsg {}", self.r(refs::NSG, nsg, &containers));
            }
            if !sub.delegations.is_empty() {
                let _ = write!(s, " delegation {}", join_words(&sub.delegations));
            }
            lines.push(out(s, key::id(&sub.id)));
        }
        for (i, p) in v.peerings.iter().enumerate() {
            let mut s = format!(
                "  peering to {}",
                self.r(refs::VNET, &p.remote, &containers)
            );
            if !p.state.eq_ignore_ascii_case("connected") {
                let state = if p.state.is_empty() {
                    "Disconnected"
                } else {
                    &p.state
                };
                let _ = write!(s, " state {}", word_or_quoted(state));
            }
            lines.push(out(s, key::child(&own, "peering", i + 1)));
        }
        self.close_block(&mut lines, "", &own);
        lines
    }

    fn addresses(&self, list: &[Address], containers: &[String]) -> String {
        list.iter()
            .map(|a| match a {
                Address::Prefix(t) => address_word(t),
                Address::Tag(t) => match AddressItem::parse_prefix_or_tag(t) {
                    Ok(AddressItem::Tag(_)) => address_word(t),
                    _ => format!("tag {}", word_or_quoted(t)),
                },
                Address::Asg(r) => format!("asg {}", self.r(refs::ASG, r, containers)),
                Address::Group(r) => format!("group {}", self.r(refs::GROUP, r, containers)),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// One rule line; `built` is the id its name builds.
    fn rule(&self, r: &Rule, default: bool, built: &str, containers: &[String]) -> String {
        let mut s = String::new();
        if default {
            s.push_str("default ");
        }
        let _ = write!(
            s,
            "{} {} {} {}",
            direction_word(r.direction),
            r.priority,
            access_word(r.access),
            protocol_word(r.protocol)
        );
        for (word, list, ports) in [
            ("from", &r.sources, &r.source_ports),
            ("to", &r.destinations, &r.destination_ports),
        ] {
            let all_ports =
                matches!(ports.as_slice(), [p] if PortRange::parse(p) == Ok(PortRange::ALL));
            let any_address = matches!(list.as_slice(), [Address::Prefix(t) | Address::Tag(t)]
                if AddressItem::parse_prefix_or_tag(t) == Ok(AddressItem::Any));
            if all_ports && any_address {
                continue;
            }
            let addresses = if list.is_empty() {
                "none".to_string()
            } else {
                self.addresses(list, containers)
            };
            let _ = write!(s, " {word} {addresses}");
            if ports.is_empty() {
                s.push_str(" ports none");
            } else if !all_ports {
                let _ = write!(s, " ports {}", join_words(ports));
            }
        }
        let auto = format!("{}-{}", direction_word(r.direction), r.priority);
        if r.name != auto {
            let _ = write!(s, " name {}", word_or_quoted(&r.name));
        }
        if r.id != built {
            let _ = write!(s, " id {}", word_or_quoted(&r.id));
        }
        s
    }

    fn manager(&self, m: &Manager, built: Option<&str>) -> Vec<Out> {
        let own = key::id(&m.id);
        let mut s = Self::head("network-manager", &m.name, &m.id, built);
        if !m.scopes.is_empty() {
            let list: Vec<String> = m.scopes.iter().map(scope_text).collect();
            let _ = write!(s, " scope {}", list.join(", "));
        }
        if !m.accesses.is_empty() {
            let _ = write!(s, " access {}", join_words(&m.accesses));
        }
        let mut lines = vec![out(s, own.clone())];
        let inside = self.containers(&[&m.id]);
        let child_id = |id: &str, segment: &str, name: &str| {
            if id == format!("{}/{segment}/{name}", m.id) {
                String::new()
            } else {
                format!(" id {}", word_or_quoted(id))
            }
        };
        for g in &m.groups {
            let mut s = format!("  group {}", word_or_quoted(&g.name));
            s.push_str(&child_id(&g.id, "networkGroups", &g.name));
            if g.subnet_members {
                s.push_str(" member-type subnet");
            }
            let kinds = if g.subnet_members {
                refs::SUBNET
            } else {
                refs::VNET
            };
            if !g.static_members.is_empty() {
                let _ = write!(
                    s,
                    " static {}",
                    self.refs(kinds, &g.static_members, &inside)
                );
            }
            match &g.dynamic {
                Some(c) => {
                    s.push_str(" dynamic");
                    lines.extend(self.condition_lines(s, &key::id(&g.id), c));
                }
                None => lines.push(out(s, key::id(&g.id))),
            }
        }
        for c in &m.scope_connections {
            let mut s = format!("  scope-connection {}", word_or_quoted(&c.name));
            s.push_str(&child_id(&c.id, "scopeConnections", &c.name));
            let _ = write!(s, " to {}", scope_text(&c.target));
            if let Some(t) = &c.tenant {
                let _ = write!(s, " tenant {}", word_or_quoted(t));
            }
            if let Some(st) = &c.state {
                let _ = write!(s, " state {}", word_or_quoted(st));
            }
            lines.push(out(s, key::id(&c.id)));
        }
        for c in &m.configs {
            let config_key = key::id(&c.id);
            let mut s = format!("  security-admin-config {}", word_or_quoted(&c.name));
            s.push_str(&child_id(&c.id, "securityAdminConfigurations", &c.name));
            match c.intent {
                IntentPolicySetting::None => {}
                IntentPolicySetting::All => s.push_str(" apply-on-intent all"),
                IntentPolicySetting::AllowRulesOnly => {
                    s.push_str(" apply-on-intent allow-rules-only")
                }
            }
            let mut block = vec![out(s, config_key.clone())];
            let in_config = self.containers(&[&c.id, &m.id]);
            for col in &c.collections {
                let col_key = key::id(&col.id);
                let mut s = format!("    collection {}", word_or_quoted(&col.name));
                if col.id != format!("{}/ruleCollections/{}", c.id, col.name) {
                    let _ = write!(s, " id {}", word_or_quoted(&col.id));
                }
                if !col.applies_to.is_empty() {
                    let _ = write!(
                        s,
                        " applies-to {}",
                        self.refs(refs::GROUP, &col.applies_to, &in_config)
                    );
                }
                let mut inner = vec![out(s, col_key.clone())];
                let in_collection = self.containers(&[&col.id, &c.id, &m.id]);
                for r in &col.rules {
                    let built = format!("{}/rules/{}", col.id, r.name);
                    let text = format!("      {}", self.rule(r, false, &built, &in_collection));
                    inner.push(out(text, key::id(&r.id)));
                }
                self.close_block(&mut inner, "    ", &col_key);
                block.extend(inner);
            }
            self.close_block(&mut block, "  ", &config_key);
            lines.extend(block);
        }
        for c in &m.connectivity {
            let conn_key = key::id(&c.id);
            let mut s = format!("  connectivity {}", word_or_quoted(&c.name));
            s.push_str(&child_id(&c.id, "connectivityConfigurations", &c.name));
            let topology = if c.hub_and_spoke {
                "hub-and-spoke"
            } else {
                "mesh"
            };
            let _ = write!(s, " topology {topology}");
            if !c.hubs.is_empty() {
                let _ = write!(s, " hubs {}", self.refs(refs::VNET, &c.hubs, &inside));
            }
            if c.global {
                s.push_str(" global");
            }
            let mut block = vec![out(s, conn_key.clone())];
            let in_conn = self.containers(&[&c.id, &m.id]);
            for (i, g) in c.groups.iter().enumerate() {
                let mut s = format!("    applies-to {}", self.r(refs::GROUP, &g.group, &in_conn));
                if g.direct {
                    s.push_str(" direct");
                }
                if g.global {
                    s.push_str(" global");
                }
                block.push(out(s, key::child(&conn_key, "applies-to", i + 1)));
            }
            self.close_block(&mut block, "  ", &conn_key);
            lines.extend(block);
        }
        self.close_block(&mut lines, "", &own);
        lines
    }

    /// A head line followed by its condition: `head where LEAF`, or `head {` + lines + `}`.
    /// `owner` is the notes key of the group or policy definition.
    fn condition_lines(
        &self,
        head: String,
        owner: &str,
        condition: &serde_json::Value,
    ) -> Vec<Out> {
        let pad: String = head.chars().take_while(|c| *c == ' ').collect();
        if let Some(leaf) = cond::leaf_text(condition) {
            return vec![out(format!("{head} where {leaf}"), owner.to_string())];
        }
        let negated_leaf = condition
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("not")))
            .and_then(|(_, v)| cond::leaf_text(v));
        if let Some(inner) = negated_leaf {
            return vec![out(format!("{head} where not {inner}"), owner.to_string())];
        }
        let root = key::condition(owner);
        let mut body = Vec::new();
        cond::lines(condition, pad.len() / 2 + 1, true, &mut body);
        let mut lines = vec![out(format!("{head} {{"), owner.to_string())];
        let mut open: Vec<String> = Vec::new();
        let mut n = 0;
        for text in body {
            if text.trim() == "}" {
                let closes = open.pop().unwrap_or_else(|| root.clone());
                lines.push(Out {
                    text,
                    key: None,
                    closes: Some(closes),
                });
                continue;
            }
            n += 1;
            let k = key::child(&root, "line", n);
            if text.ends_with('{') {
                open.push(k.clone());
            }
            lines.push(out(text, k));
        }
        lines.push(Out {
            text: format!("{pad}}}"),
            key: None,
            closes: Some(root),
        });
        lines
    }
}

fn param_text(k: &str, v: &serde_json::Value) -> String {
    format!(
        "{} = {}",
        word_or_quoted(k),
        cond::literal_text(v).unwrap_or_else(|| "null".to_string())
    )
}
