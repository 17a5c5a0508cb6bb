//! Service tags: the three built-in ones computed per enforcement point, and the rest from
//! Azure's published service-tag JSON (SEMANTICS §3.1).

use crate::error::Result;
use crate::load::json::Node;
use crate::model::addr::{parse_net, set_of};
use crate::model::AddrSet;
use std::collections::BTreeMap;
use std::path::Path;

/// The tags whose content depends on where the rule is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinTag {
    /// The VNet's space, peers, connected groups, on-premises, 168.63.129.16.
    VirtualNetwork,
    /// 168.63.129.16 and fe80::1234:5678:9abc.
    AzureLoadBalancer,
    /// Public unicast space minus `VirtualNetwork`.
    Internet,
}

impl BuiltinTag {
    /// Recognises the tag names, including the classic spellings.
    pub fn parse(name: &str) -> Option<BuiltinTag> {
        match name.to_ascii_lowercase().as_str() {
            "virtualnetwork" | "virtual_network" => Some(BuiltinTag::VirtualNetwork),
            "azureloadbalancer" | "azure_loadbalancer" => Some(BuiltinTag::AzureLoadBalancer),
            "internet" => Some(BuiltinTag::Internet),
            _ => None,
        }
    }
}

/// The Azure host address behind DNS, health probes and the `AzureLoadBalancer` tag.
pub const AZURE_HOST: &str = "168.63.129.16/32";

/// `AzureLoadBalancer`: the host's health-probe addresses.
pub fn azure_load_balancer() -> AddrSet {
    set_of(&[AZURE_HOST, "fe80::1234:5678:9abc/128"])
}

/// Public unicast space: everything but the listed special-purpose blocks (SEMANTICS §3.1),
/// and for IPv6 their equivalents: global unicast `2000::/3`, the only space IANA hands out.
/// Outside it lie the unspecified and loopback addresses, unique-local `fc00::/7`,
/// link-local `fe80::/10`, multicast `ff00::/8`, the IPv4-compatible and IPv4-mapped
/// `::/96` and `::ffff:0:0/96`, and the rest, reserved by the IETF as `240.0.0.0/4` is.
pub fn public_unicast() -> AddrSet {
    let mut s = AddrSet::all();
    s.subtract(&set_of(&[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/3",
        "4000::/2",
        "8000::/1",
    ]));
    s
}

/// Tags read from `--service-tags`, by lower-case name.
#[derive(Clone, Debug, Default)]
pub struct ServiceTags {
    tags: BTreeMap<String, AddrSet>,
}

impl ServiceTags {
    /// No tags beyond the built-in ones.
    pub fn none() -> ServiceTags {
        ServiceTags::default()
    }

    /// Reads Azure's published format: `{"values": [{"name": ..., "properties":
    /// {"addressPrefixes": [...]}}]}`.
    pub fn load(path: &Path) -> Result<ServiceTags> {
        let text = crate::load::read_text(path)?;
        let value = crate::load::parse_json(path, &text)?;
        let root = Node::root(&value, path);
        let mut tags = BTreeMap::new();
        for entry in root.array("values")? {
            let name = entry.req_str("name")?;
            // Every entry of Azure's file lists its prefixes, if none; a missing list is a
            // malformed entry, not a tag that matches nothing.
            let prefixes = entry.at("properties.addressPrefixes").ok_or_else(|| {
                entry.error(format!(
                    "service tag `{name}` has no `properties.addressPrefixes`"
                ))
            })?;
            let mut set = AddrSet::new();
            for p in prefixes.elements()? {
                let text = p.as_str()?;
                let net = parse_net(text)
                    .ok_or_else(|| p.error(format!("`{text}` is not a valid CIDR prefix")))?;
                set.insert_net(net);
            }
            tags.insert(name.to_ascii_lowercase(), set);
        }
        if tags.is_empty() && root.get("values").is_none() {
            return Err(root.error("expected Azure's service-tag JSON: an object with `values`"));
        }
        Ok(ServiceTags { tags })
    }

    /// Whether no file was read (or it listed no tag).
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The addresses of a tag from the file.
    pub fn get(&self, name: &str) -> Option<&AddrSet> {
        self.tags.get(&name.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_space_excludes_private_and_special_blocks() {
        let p = public_unicast();
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "224.0.0.1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::3",
            "::ffff:8.8.8.8",
            "fec0::1",
            "4000::1",
            "1fff:ffff::1",
        ] {
            assert!(!p.contains(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "20.38.1.1",
            "168.63.129.16",
            "2001:4860::1",
            "2000::",
            "2001:db8::1",
            "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            assert!(p.contains(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn builtin_names_and_classic_spellings() {
        assert_eq!(BuiltinTag::parse("INTERNET"), Some(BuiltinTag::Internet));
        assert_eq!(
            BuiltinTag::parse("VIRTUAL_NETWORK"),
            Some(BuiltinTag::VirtualNetwork)
        );
        assert_eq!(
            BuiltinTag::parse("AZURE_LOADBALANCER"),
            Some(BuiltinTag::AzureLoadBalancer)
        );
        assert_eq!(BuiltinTag::parse("Storage"), None);
    }
}
