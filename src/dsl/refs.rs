//! Names to ids: how a reference written in the DSL finds the resource it names.
//!
//! A reference is either an ARM id (a word starting with `/`, `subscriptions/` or
//! `providers/`, or any quoted string), taken as is, or a name path: the resource's name,
//! optionally preceded by its parents' (`hub/web` for subnet `web` of VNet `hub`,
//! `avnm/ng-spokes` for a network group). A name path is looked for among the resources the
//! document declares, first inside the innermost container of the reference (the enclosing
//! network manager, the resource group, the subscription...), then further out; the first
//! level with exactly one match wins, and a level with several is an error (ambiguous).
//! Names compare case-insensitively, as ARM does. The printer writes the shortest name path
//! that resolves back to exactly the same id text, so conversion never changes an id.

use super::item::{DeclKind, Item};
use crate::model::ResourceId;
use std::collections::HashMap;

/// A declared resource that references can name.
#[derive(Clone, Debug)]
pub struct Decl {
    /// Its kind.
    pub kind: DeclKind,
    /// Its name path (`[vnet, subnet]`).
    pub path: Vec<String>,
    /// Its id as written.
    pub id: String,
}

/// Why a name path resolves to nothing usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// Nothing of that kind has that name.
    Unknown,
    /// Several resources match at the nearest level that has any (their ids).
    Ambiguous(Vec<String>),
}

/// Every declared resource, indexed by lower-case name.
#[derive(Default)]
pub struct Decls {
    list: Vec<Decl>,
    by_name: HashMap<String, Vec<usize>>,
    by_id: HashMap<String, Vec<usize>>,
}

/// True when a reference text is an ARM id rather than a name path.
pub fn is_full_id(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    text.starts_with('/') || lower.starts_with("subscriptions/") || lower.starts_with("providers/")
}

impl Decls {
    /// Adds one declaration.
    pub fn add(&mut self, kind: DeclKind, path: Vec<String>, id: &str) {
        let key = path.last().map(|n| n.to_lowercase()).unwrap_or_default();
        self.by_name.entry(key).or_default().push(self.list.len());
        self.by_id
            .entry(id.to_string())
            .or_default()
            .push(self.list.len());
        self.list.push(Decl {
            kind,
            path,
            id: id.to_string(),
        });
    }

    /// The declarations of `items`.
    pub fn of(items: &[Item]) -> Decls {
        let mut d = Decls::default();
        for item in items {
            d.add_item(item);
        }
        d
    }

    /// Adds the declarations of one item.
    pub fn add_item(&mut self, item: &Item) {
        let one = |n: &str| vec![n.to_string()];
        let two = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        match item {
            Item::Vnet(v) => {
                self.add(DeclKind::Vnet, one(&v.name), &v.id);
                for s in &v.subnets {
                    self.add(DeclKind::Subnet, two(&v.name, &s.name), &s.id);
                }
            }
            Item::Nsg(n) => self.add(DeclKind::Nsg, one(&n.name), &n.id),
            Item::Asg(a) => self.add(DeclKind::Asg, one(&a.name), &a.id),
            Item::PublicIp(p) => self.add(DeclKind::PublicIp, one(&p.name), &p.id),
            Item::Nic(n) => self.add(DeclKind::Nic, one(&n.name), &n.id),
            Item::VnetGateway(g) => self.add(DeclKind::VnetGateway, one(&g.name), &g.id),
            Item::LocalGateway(g) => self.add(DeclKind::LocalGateway, one(&g.name), &g.id),
            Item::Manager(m) => {
                self.add(DeclKind::Manager, one(&m.name), &m.id);
                for g in &m.groups {
                    self.add(DeclKind::Group, two(&m.name, &g.name), &g.id);
                }
                for c in &m.configs {
                    self.add(DeclKind::SecurityConfig, two(&m.name, &c.name), &c.id);
                }
                for c in &m.connectivity {
                    self.add(DeclKind::ConnectivityConfig, two(&m.name, &c.name), &c.id);
                }
            }
            Item::PolicyDefinition(p) => self.add(DeclKind::PolicyDefinition, one(&p.name), &p.id),
            _ => {}
        }
    }

    /// Resolves a name path of one of `kinds` from `containers` (innermost first; `""`
    /// stands for the whole document).
    pub fn resolve(
        &self,
        kinds: &[DeclKind],
        written: &str,
        containers: &[String],
    ) -> Result<&Decl, Unresolved> {
        let segments: Vec<&str> = written.split('/').collect();
        let Some(last) = segments.last() else {
            return Err(Unresolved::Unknown);
        };
        let candidates: Vec<&Decl> = self
            .by_name
            .get(&last.to_lowercase())
            .into_iter()
            .flatten()
            .map(|&i| &self.list[i])
            .filter(|d| kinds.contains(&d.kind) && ends_with(&d.path, &segments))
            .collect();
        for container in containers {
            let inside: Vec<&Decl> = if container.is_empty() {
                candidates.clone()
            } else {
                let c = ResourceId::new(container);
                candidates
                    .iter()
                    .copied()
                    .filter(|d| ResourceId::new(&d.id).is_within(&c))
                    .collect()
            };
            match inside.as_slice() {
                [] => continue,
                [one] => return Ok(one),
                many => {
                    return Err(Unresolved::Ambiguous(
                        many.iter().map(|d| d.id.clone()).collect(),
                    ))
                }
            }
        }
        Err(Unresolved::Unknown)
    }

    /// The declared name of one of `kinds` closest to `written`, for suggestions.
    pub fn closest(&self, kinds: &[DeclKind], written: &str) -> Option<String> {
        let written = written.to_lowercase();
        self.list
            .iter()
            .filter(|d| kinds.contains(&d.kind))
            .map(|d| d.path.join("/"))
            .map(|name| (super::parse::distance(&written, &name.to_lowercase()), name))
            .filter(|(d, name)| *d <= 2.max(name.len() / 4))
            .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
            .map(|(_, name)| name)
    }

    /// The shortest name path of one of `kinds` that resolves from `containers` to exactly
    /// `id` (same text), if there is one.
    pub fn shortest(&self, kinds: &[DeclKind], id: &str, containers: &[String]) -> Option<String> {
        let decl = self
            .by_id
            .get(id)
            .into_iter()
            .flatten()
            .map(|&i| &self.list[i])
            .find(|d| kinds.contains(&d.kind) && d.id == id)?;
        (1..=decl.path.len()).find_map(|n| {
            let candidate = decl.path[decl.path.len() - n..].join("/");
            let usable = decl.path.iter().all(|s| !s.is_empty() && !s.contains('/'))
                && !is_full_id(&candidate)
                && super::lex::is_bare(&candidate);
            let back = self.resolve(kinds, &candidate, containers);
            (usable && back.is_ok_and(|d| d.id == id)).then_some(candidate)
        })
    }
}

fn ends_with(path: &[String], segments: &[&str]) -> bool {
    segments.len() <= path.len()
        && path[path.len() - segments.len()..]
            .iter()
            .zip(segments)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> Decls {
        let mut d = Decls::default();
        let rg = |r: &str, n: &str| {
            format!("/subscriptions/s/resourceGroups/{r}/providers/Microsoft.Network/virtualNetworks/{n}")
        };
        d.add(DeclKind::Vnet, vec!["hub".into()], &rg("a", "hub"));
        d.add(DeclKind::Vnet, vec!["hub".into()], &rg("b", "hub"));
        d.add(DeclKind::Vnet, vec!["spoke".into()], &rg("b", "spoke"));
        d.add(
            DeclKind::Subnet,
            vec!["spoke".into(), "web".into()],
            &format!("{}/subnets/web", rg("b", "spoke")),
        );
        d
    }

    #[test]
    fn nearest_container_wins_and_ambiguity_is_reported() {
        let d = decls();
        let in_a = vec![
            "/subscriptions/s/resourceGroups/a".to_string(),
            String::new(),
        ];
        assert!(d
            .resolve(&[DeclKind::Vnet], "HUB", &in_a)
            .unwrap()
            .id
            .contains("/a/"));
        let outside = vec![String::new()];
        assert!(matches!(
            d.resolve(&[DeclKind::Vnet], "hub", &outside),
            Err(Unresolved::Ambiguous(ids)) if ids.len() == 2
        ));
        assert_eq!(
            d.resolve(&[DeclKind::Vnet], "nope", &outside).unwrap_err(),
            Unresolved::Unknown
        );
        assert!(d.resolve(&[DeclKind::Subnet], "web", &outside).is_ok());
        assert!(d
            .resolve(&[DeclKind::Subnet], "spoke/web", &outside)
            .is_ok());
        assert!(d.resolve(&[DeclKind::Subnet], "hub/web", &outside).is_err());
    }

    #[test]
    fn shortest_round_trips() {
        let d = decls();
        let outside = vec![String::new()];
        let id = "/subscriptions/s/resourceGroups/b/providers/Microsoft.Network/virtualNetworks/spoke/subnets/web";
        assert_eq!(
            d.shortest(&[DeclKind::Subnet], id, &outside).as_deref(),
            Some("web")
        );
        let hub_a =
            "/subscriptions/s/resourceGroups/a/providers/Microsoft.Network/virtualNetworks/hub";
        assert_eq!(d.shortest(&[DeclKind::Vnet], hub_a, &outside), None);
        assert_eq!(
            d.shortest(&[DeclKind::Vnet], &hub_a.to_uppercase(), &outside),
            None
        );
        assert!(is_full_id("subscriptions/x"));
        assert!(!is_full_id("hub/web"));
    }
}
