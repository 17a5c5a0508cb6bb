//! The parts of a security rule: protocol, ports, addresses, access, direction.
//!
//! These are plain data, validated when they are built (ports within 0-65535 and ordered,
//! CIDRs well formed), so evaluation never meets a malformed value.

use super::addr::parse_net;
use super::id::ResourceId;
use ipnet::IpNet;
use serde::Serialize;
use smallvec::SmallVec;
use std::fmt;
use std::net::IpAddr;

/// A rule's protocol field (`*` in NSGs and `Any` in admin rules are both [`Protocol::Any`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// Every protocol (SEMANTICS D3 decides whether that means every IP protocol).
    Any,
    /// IP protocol 6.
    Tcp,
    /// IP protocol 17.
    Udp,
    /// ICMP (1) and ICMPv6 (58).
    Icmp,
    /// IP protocol 50.
    Esp,
    /// IP protocol 51.
    Ah,
    /// Any other IP protocol by number (ClassBench filter sets; Azure's APIs have no such
    /// value).
    Number(u8),
}

impl Protocol {
    /// Parses the API's spelling, case-insensitively (`Tcp`, `*`, `Any`, `All`, ...).
    pub fn parse(text: &str) -> Option<Protocol> {
        Some(match text.to_ascii_lowercase().as_str() {
            "*" | "any" | "all" => Protocol::Any,
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "esp" => Protocol::Esp,
            "ah" => Protocol::Ah,
            _ => return None,
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Any => "Any",
            Protocol::Tcp => "Tcp",
            Protocol::Udp => "Udp",
            Protocol::Icmp => "Icmp",
            Protocol::Esp => "Esp",
            Protocol::Ah => "Ah",
            Protocol::Number(n) => return write!(f, "{n}"),
        })
    }
}

/// An inclusive port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port (inclusive).
    pub hi: u16,
}

impl PortRange {
    /// Every port.
    pub const ALL: PortRange = PortRange { lo: 0, hi: 65535 };

    /// Parses `80`, `1000-2000` or `*`; the message says what was expected.
    pub fn parse(text: &str) -> Result<PortRange, String> {
        let t = text.trim();
        if t == "*" {
            return Ok(PortRange::ALL);
        }
        let port = |s: &str| -> Result<u16, String> {
            let s = s.trim();
            let n: u32 = s
                .parse()
                .map_err(|_| format!("`{t}` is not a port: expected 0-65535, `a-b` or `*`"))?;
            u16::try_from(n).map_err(|_| format!("port {n} in `{t}` is out of range 0-65535"))
        };
        let range = match t.split_once('-') {
            Some((a, b)) => PortRange {
                lo: port(a)?,
                hi: port(b)?,
            },
            None => {
                let p = port(t)?;
                PortRange { lo: p, hi: p }
            }
        };
        if range.lo > range.hi {
            return Err(format!(
                "port range `{t}` runs backwards: expected low-high"
            ));
        }
        Ok(range)
    }

    /// True when `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == PortRange::ALL {
            f.write_str("*")
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// One entry of a rule's source or destination list, before tags are expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressItem {
    /// `*` (or `0.0.0.0/0` and `::/0` together, as written by Azure).
    Any,
    /// A CIDR block or a single address.
    Net(IpNet),
    /// An inclusive address range `a-b`.
    Range(IpAddr, IpAddr),
    /// A service tag, expanded per enforcement point (SEMANTICS §3.1).
    Tag(String),
    /// An application security group (NSG rules only).
    Asg(ResourceId),
    /// A network group's members' prefixes (admin rules only).
    NetworkGroup(ResourceId),
}

impl AddressItem {
    /// Parses an NSG address text: `*`, CIDR, address, range, or else a service tag name.
    pub fn parse_prefix_or_tag(text: &str) -> Result<AddressItem, String> {
        let t = text.trim();
        if t == "*" || t.eq_ignore_ascii_case("any") {
            return Ok(AddressItem::Any);
        }
        if let Some(net) = parse_net(t) {
            return Ok(AddressItem::Net(net));
        }
        if let Some((a, b)) = t.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
                if lo.is_ipv4() != hi.is_ipv4() || lo > hi {
                    return Err(format!(
                        "address range `{t}` is empty or mixes IPv4 and IPv6"
                    ));
                }
                return Ok(AddressItem::Range(lo, hi));
            }
        }
        if looks_like_address(t) {
            return Err(format!(
                "`{t}` is not a valid address: expected a CIDR (10.0.0.0/24), an address, a range a-b, `*` or a service tag"
            ));
        }
        Ok(AddressItem::Tag(t.to_string()))
    }

    /// Parses an address that must be an IP prefix (admin `IPPrefix` entries).
    pub fn parse_prefix(text: &str) -> Result<AddressItem, String> {
        match AddressItem::parse_prefix_or_tag(text)? {
            AddressItem::Tag(t) => Err(format!(
                "`{t}` is not a valid IP prefix: expected a CIDR (10.0.0.0/24), an address, a range a-b or `*`"
            )),
            item => Ok(item),
        }
    }
}

/// Text made only of digits, dots, colons, slashes and hex letters is an address attempt,
/// not a tag name: `10.0.0.0/33` must be an error, not the unknown tag `10.0.0.0/33`. So is
/// text that begins with a digit or holds a slash (`10.0.0.0/8x`): no service tag does, and
/// taken for an unknown tag it would match nothing under `--lenient`.
fn looks_like_address(t: &str) -> bool {
    let made_of_address_characters = t.chars().any(|c| c.is_ascii_digit())
        && t.chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/' | '-' | '[' | ']'));
    made_of_address_characters || t.starts_with(|c: char| c.is_ascii_digit()) || t.contains('/')
}

impl fmt::Display for AddressItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressItem::Any => f.write_str("*"),
            AddressItem::Net(n) => write!(f, "{n}"),
            AddressItem::Range(a, b) => write!(f, "{a}-{b}"),
            AddressItem::Tag(t) => f.write_str(t),
            AddressItem::Asg(id) | AddressItem::NetworkGroup(id) => f.write_str(id.name()),
        }
    }
}

/// What a rule does to a flow it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Access {
    /// Admin rules: drop. NSG rules: drop.
    Deny,
    /// Admin rules only: admit and skip the NSGs of this side.
    AlwaysAllow,
    /// Admin rules: hand on to the NSGs. NSG rules: admit.
    Allow,
}

impl Access {
    /// Parses the API spelling, case-insensitively.
    pub fn parse(text: &str) -> Option<Access> {
        Some(match text.to_ascii_lowercase().as_str() {
            "deny" => Access::Deny,
            "alwaysallow" => Access::AlwaysAllow,
            "allow" => Access::Allow,
            _ => return None,
        })
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Deny => "Deny",
            Access::AlwaysAllow => "AlwaysAllow",
            Access::Allow => "Allow",
        })
    }
}

/// Which way a rule looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Traffic entering the enforcement point.
    Inbound,
    /// Traffic leaving it.
    Outbound,
}

impl Direction {
    /// Parses `Inbound`/`Outbound`, case-insensitively.
    pub fn parse(text: &str) -> Option<Direction> {
        match text.to_ascii_lowercase().as_str() {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        })
    }
}

/// The five match fields of a rule as written. Empty lists are kept empty here: whether
/// they mean "any" is SEMANTICS D4, decided when the rule is resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFields {
    /// Protocol.
    pub protocol: Protocol,
    /// Source addresses.
    pub sources: SmallVec<[AddressItem; 2]>,
    /// Source ports.
    pub source_ports: SmallVec<[PortRange; 2]>,
    /// Destination addresses.
    pub destinations: SmallVec<[AddressItem; 2]>,
    /// Destination ports.
    pub destination_ports: SmallVec<[PortRange; 2]>,
}

/// The priority of a rule whose priority a plan does not know: below every real one
/// (admin rules start at 1, NSG rules at 100), so the rule is met before any rule it might
/// precede, and never clashes with another.
pub const UNKNOWN_PRIORITY: u32 = 0;

/// A rule of an NSG or a security admin configuration, as written.
#[derive(Clone, Debug)]
pub struct Rule {
    /// ARM id (for default NSG rules: `{nsg}/defaultSecurityRules/{name}`).
    pub id: ResourceId,
    /// ARM name.
    pub name: String,
    /// 1-4096 (admin), 100-4096 (NSG custom), 65000+ (NSG defaults).
    pub priority: u32,
    /// What a match does.
    pub access: Access,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The match fields.
    pub fields: RuleFields,
    /// True for an NSG's default rules.
    pub is_default: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_and_reject() {
        assert_eq!(
            PortRange::parse("80").unwrap(),
            PortRange { lo: 80, hi: 80 }
        );
        assert_eq!(PortRange::parse(" 1000-2000 ").unwrap().hi, 2000);
        assert_eq!(PortRange::parse("*").unwrap(), PortRange::ALL);
        assert!(PortRange::parse("70000")
            .unwrap_err()
            .contains("out of range"));
        assert!(PortRange::parse("80-20").unwrap_err().contains("backwards"));
        assert!(PortRange::parse("http").unwrap_err().contains("not a port"));
    }

    #[test]
    fn addresses_parse_and_reject() {
        assert_eq!(
            AddressItem::parse_prefix_or_tag("VirtualNetwork").unwrap(),
            AddressItem::Tag("VirtualNetwork".into())
        );
        assert!(matches!(
            AddressItem::parse_prefix_or_tag("10.0.0.1-10.0.0.9").unwrap(),
            AddressItem::Range(..)
        ));
        assert!(AddressItem::parse_prefix_or_tag("10.0.0.0/33").is_err());
        // Mistyped prefixes are errors, not unknown tags that --lenient would let match nothing.
        for typo in ["10.0.0.0/8x", "10.0.0.0 /8", "1O.0.0.0/8", "192.168.l.0"] {
            let e = AddressItem::parse_prefix_or_tag(typo).unwrap_err();
            assert!(e.contains("is not a valid address"), "{typo}: {e}");
        }
        for tag in [
            "Storage.WestEurope",
            "AzureCloud",
            "Sql.EastUS2",
            "AzureFrontDoor.Backend",
        ] {
            assert_eq!(
                AddressItem::parse_prefix_or_tag(tag).unwrap(),
                AddressItem::Tag(tag.into())
            );
        }
        assert!(AddressItem::parse_prefix_or_tag("10.0.0.9-10.0.0.1").is_err());
        assert!(AddressItem::parse_prefix("Internet").is_err());
        assert_eq!(AddressItem::parse_prefix("*").unwrap(), AddressItem::Any);
    }

    #[test]
    fn enums_parse_case_insensitively() {
        assert_eq!(Protocol::parse("*"), Some(Protocol::Any));
        assert_eq!(Protocol::parse("TCP"), Some(Protocol::Tcp));
        assert_eq!(Access::parse("alwaysAllow"), Some(Access::AlwaysAllow));
        assert_eq!(Direction::parse("INBOUND"), Some(Direction::Inbound));
        assert_eq!(Protocol::parse("gre"), None);
    }
}
