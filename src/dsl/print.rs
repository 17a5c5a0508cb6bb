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

struct Printer<'d> {
    out: String,
    decls: &'d Decls,
    stack: Vec<Frame>,
}

/// Writes items as canonical DSL text.
pub fn print(items: &[Item]) -> String {
    let decls = Decls::of(items);
    let mut p = Printer {
        out: String::new(),
        decls: &decls,
        stack: Vec::new(),
    };
    let placements: Vec<(Vec<Frame>, Option<String>)> = items.iter().map(placement).collect();
    for (i, item) in items.iter().enumerate() {
        let (context, built) = &placements[i];
        let common = p
            .stack
            .iter()
            .zip(context)
            .take_while(|(a, b)| a == b)
            .count();
        let keep = if context.is_empty() { 0 } else { common };
        p.close_to(keep);
        for f in &context[keep..] {
            p.line(&f.open_in());
            p.stack.push(f.clone());
        }
        let mut lines = p.item(item, built.as_deref());
        // A declared container opens its block when the next item lives in it.
        if let Some(own) = own_frame(item, &p.stack) {
            let mut inner = p.stack.clone();
            inner.push(own.clone());
            let next_inside = placements.get(i + 1).is_some_and(|(next, _)| {
                next.len() >= inner.len() && next[..inner.len()] == inner[..]
            });
            if next_inside {
                if let Some(head) = lines.first_mut() {
                    head.push_str(" {");
                }
                p.lines(&lines);
                p.stack.push(own);
                continue;
            }
        }
        p.lines(&lines);
    }
    p.close_to(0);
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
const KEYWORDS: [&str; 8] = ["asg", "group", "tag", "ports", "to", "from", "name", "id"];

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
    fn indent(&self) -> String {
        "  ".repeat(self.stack.len())
    }

    fn line(&mut self, text: &str) {
        let pad = self.indent();
        let _ = writeln!(self.out, "{pad}{text}");
    }

    fn lines(&mut self, lines: &[String]) {
        for l in lines {
            self.line(l);
        }
    }

    fn close_to(&mut self, depth: usize) {
        while self.stack.len() > depth {
            self.stack.pop();
            self.line("}");
        }
    }

    /// Containers for references: the given enclosing ids, then the context prefixes.
    fn containers(&self, inner: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = inner.iter().map(|s| s.to_string()).collect();
        out.extend(self.stack.iter().rev().map(|f| f.prefix.clone()));
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

    #[allow(clippy::too_many_lines)]
    fn item(&self, item: &Item, built: Option<&str>) -> Vec<String> {
        let top = self.containers(&[]);
        match item {
            Item::ManagementGroup(g) => {
                let mut s = format!("management-group {}", word_or_quoted(&g.name));
                if let Some(p) = &g.parent {
                    let _ = write!(s, " parent {}", word_or_quoted(p));
                }
                if let Some(t) = &g.tenant {
                    let _ = write!(s, " tenant {}", word_or_quoted(t));
                }
                vec![s]
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
                vec![s]
            }
            Item::ResourceGroup(g) => {
                let mut s = Self::head("resource-group", &g.name, &g.id, built);
                if !g.tags.is_empty() {
                    let _ = write!(s, " tags {}", tags_text(&g.tags));
                }
                vec![s]
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
                vec![s]
            }
            Item::PublicIp(p) => {
                let mut s = Self::head("public-ip", &p.name, &p.id, built);
                if let Some(sku) = &p.sku {
                    let _ = write!(s, " sku {}", word_or_quoted(sku));
                }
                vec![s]
            }
            Item::Nsg(n) => {
                let mut lines = vec![Self::head("nsg", &n.name, &n.id, built)];
                let containers = self.containers(&[&n.id]);
                for r in &n.rules {
                    let own = format!("{}/securityRules/{}", n.id, r.name);
                    lines.push(format!("  {}", self.rule(r, false, &own, &containers)));
                }
                if !builtin_defaults(n) {
                    for r in &n.defaults {
                        let own = format!("{}/defaultSecurityRules/{}", n.id, r.name);
                        lines.push(format!("  {}", self.rule(r, true, &own, &containers)));
                    }
                }
                close_block(&mut lines);
                lines
            }
            Item::Asg(a) => vec![Self::head("asg", &a.name, &a.id, built)],
            Item::VnetGateway(g) => {
                let mut s = Self::head("vnet-gateway", &g.name, &g.id, built);
                if !g.subnets.is_empty() {
                    let _ = write!(s, " subnet {}", self.refs(refs::SUBNET, &g.subnets, &top));
                }
                vec![s]
            }
            Item::LocalGateway(g) => {
                let mut s = Self::head("local-gateway", &g.name, &g.id, built);
                if !g.prefixes.is_empty() {
                    let _ = write!(s, " prefix {}", join_words(&g.prefixes));
                }
                vec![s]
            }
            Item::Connection(c) => {
                let mut s = Self::head("connection", &c.name, &c.id, built);
                let _ = write!(
                    s,
                    " from {} to {}",
                    self.r(refs::VNET_GATEWAY, &c.gateway, &top),
                    self.r(refs::LOCAL_GATEWAY, &c.local_gateway, &top)
                );
                vec![s]
            }
            Item::Manager(m) => self.manager(m, built),
            Item::ManagerConnection(c) => {
                let mut s = Self::head("manager-connection", &c.name, &c.id, built);
                let _ = write!(s, " manager {}", self.r(refs::MANAGER, &c.manager, &top));
                if let Some(state) = &c.state {
                    let _ = write!(s, " state {}", word_or_quoted(state));
                }
                vec![s]
            }
            Item::PolicyDefinition(d) => {
                let mut s = Self::head("policy-definition", &d.name, &d.id, built);
                let _ = write!(s, " group {}", self.r(refs::GROUP, &d.group, &top));
                for (k, v) in &d.defaults {
                    let _ = write!(s, " param {}", param_text(k, v));
                }
                condition_lines(s, &d.condition)
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
                vec![s]
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
                vec![s]
            }
            Item::Arm(v) => vec![format!("arm {v}")],
        }
    }

    fn vnet(&self, v: &Vnet, built: Option<&str>) -> Vec<String> {
        let mut s = Self::head("vnet", &v.name, &v.id, built);
        if !v.location.is_empty() {
            let _ = write!(s, " region {}", word_or_quoted(&v.location));
        }
        if !v.tags.is_empty() {
            let _ = write!(s, " tags {}", tags_text(&v.tags));
        }
        let mut lines = vec![s];
        let containers = self.containers(&[&v.id]);
        if !v.address_space.is_empty() {
            lines.push(format!("  address-space {}", join_words(&v.address_space)));
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
            lines.push(s);
        }
        for p in &v.peerings {
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
            lines.push(s);
        }
        close_block(&mut lines);
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

    /// One rule line; `own` is the id its name builds.
    fn rule(&self, r: &Rule, default: bool, own: &str, containers: &[String]) -> String {
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
            if list.is_empty() && ports.is_empty() {
                continue;
            }
            s.push(' ');
            s.push_str(word);
            if !list.is_empty() {
                let _ = write!(s, " {}", self.addresses(list, containers));
            }
            if !ports.is_empty() {
                let _ = write!(s, " ports {}", join_words(ports));
            }
        }
        let auto = format!("{}-{}", direction_word(r.direction), r.priority);
        if r.name != auto {
            let _ = write!(s, " name {}", word_or_quoted(&r.name));
        }
        if r.id != own {
            let _ = write!(s, " id {}", word_or_quoted(&r.id));
        }
        s
    }

    fn manager(&self, m: &Manager, built: Option<&str>) -> Vec<String> {
        let mut s = Self::head("network-manager", &m.name, &m.id, built);
        if !m.scopes.is_empty() {
            let list: Vec<String> = m.scopes.iter().map(scope_text).collect();
            let _ = write!(s, " scope {}", list.join(", "));
        }
        if !m.accesses.is_empty() {
            let _ = write!(s, " access {}", join_words(&m.accesses));
        }
        let mut lines = vec![s];
        let inside = self.containers(&[&m.id]);
        let child_id = |id: &str, segment: &str, name: &str| {
            (id != format!("{}/{segment}/{name}", m.id))
                .then(|| format!(" id {}", word_or_quoted(id)))
        };
        for g in &m.groups {
            let mut s = format!("  group {}", word_or_quoted(&g.name));
            s.push_str(&child_id(&g.id, "networkGroups", &g.name).unwrap_or_default());
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
                    lines.extend(condition_lines(s, c));
                }
                None => lines.push(s),
            }
        }
        for c in &m.scope_connections {
            let mut s = format!("  scope-connection {}", word_or_quoted(&c.name));
            s.push_str(&child_id(&c.id, "scopeConnections", &c.name).unwrap_or_default());
            let _ = write!(s, " to {}", scope_text(&c.target));
            if let Some(t) = &c.tenant {
                let _ = write!(s, " tenant {}", word_or_quoted(t));
            }
            if let Some(st) = &c.state {
                let _ = write!(s, " state {}", word_or_quoted(st));
            }
            lines.push(s);
        }
        for c in &m.configs {
            let mut s = format!("  security-admin-config {}", word_or_quoted(&c.name));
            s.push_str(
                &child_id(&c.id, "securityAdminConfigurations", &c.name).unwrap_or_default(),
            );
            match c.intent {
                IntentPolicySetting::None => {}
                IntentPolicySetting::All => s.push_str(" apply-on-intent all"),
                IntentPolicySetting::AllowRulesOnly => {
                    s.push_str(" apply-on-intent allow-rules-only")
                }
            }
            let mut block = vec![s];
            let in_config = self.containers(&[&c.id, &m.id]);
            for col in &c.collections {
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
                let mut inner = vec![s];
                let in_collection = self.containers(&[&col.id, &c.id, &m.id]);
                for r in &col.rules {
                    let own = format!("{}/rules/{}", col.id, r.name);
                    inner.push(format!(
                        "      {}",
                        self.rule(r, false, &own, &in_collection)
                    ));
                }
                close_block_at(&mut inner, "    ");
                block.extend(inner);
            }
            close_block_at(&mut block, "  ");
            lines.extend(block);
        }
        for c in &m.connectivity {
            let mut s = format!("  connectivity {}", word_or_quoted(&c.name));
            s.push_str(&child_id(&c.id, "connectivityConfigurations", &c.name).unwrap_or_default());
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
            let mut block = vec![s];
            let in_conn = self.containers(&[&c.id, &m.id]);
            for g in &c.groups {
                let mut s = format!("    applies-to {}", self.r(refs::GROUP, &g.group, &in_conn));
                if g.direct {
                    s.push_str(" direct");
                }
                if g.global {
                    s.push_str(" global");
                }
                block.push(s);
            }
            close_block_at(&mut block, "  ");
            lines.extend(block);
        }
        close_block(&mut lines);
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

/// A head line followed by its condition: `head where LEAF`, or `head {` + lines + `}`.
/// Lines after the first are indented relative to the head's own indent.
fn condition_lines(head: String, condition: &serde_json::Value) -> Vec<String> {
    let pad: String = head.chars().take_while(|c| *c == ' ').collect();
    if let Some(leaf) = cond::leaf_text(condition) {
        return vec![format!("{head} where {leaf}")];
    }
    if let Some(inner) = condition
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("not")))
        .and_then(|(_, v)| cond::leaf_text(v))
    {
        return vec![format!("{head} where not {inner}")];
    }
    let mut body = Vec::new();
    let depth = pad.len() / 2 + 1;
    cond::lines(condition, depth, true, &mut body);
    let mut out = vec![format!("{head} {{")];
    out.extend(body);
    out.push(format!("{pad}}}"));
    out
}

/// Turns `lines` (a head and indented children) into a block when it has children.
fn close_block(lines: &mut Vec<String>) {
    close_block_at(lines, "");
}

fn close_block_at(lines: &mut Vec<String>, pad: &str) {
    if lines.len() > 1 {
        if let Some(head) = lines.first_mut() {
            head.push_str(" {");
        }
        lines.push(format!("{pad}}}"));
    }
}
