//! Matching one flow against one resolved rule, field by field (SEMANTICS §3.1).
//!
//! The five booleans are the ones Network Watcher's NSG diagnostics report \[S34\], so a
//! trace says not just *that* a rule missed but *which field* made it miss.

use crate::flow::{proto, Flow};
use crate::model::{PortRange, Protocol};
use crate::options::AnyProtocol;
use crate::resolve::ResolvedRule;
use serde::Serialize;

/// Which of a rule's five fields matched a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MatchVector {
    /// Protocol.
    pub protocol: bool,
    /// Source address (or ASG).
    pub source: bool,
    /// Source port.
    pub source_port: bool,
    /// Destination address (or ASG).
    pub destination: bool,
    /// Destination port.
    pub destination_port: bool,
}

impl MatchVector {
    /// True when every field matched: the rule applies.
    pub fn all(&self) -> bool {
        self.protocol
            && self.source
            && self.source_port
            && self.destination
            && self.destination_port
    }
}

/// The ASGs of the NICs at each end of the flow (empty when an end is not a NIC).
#[derive(Clone, Copy, Debug, Default)]
pub struct EndpointAsgs<'a> {
    /// Source NIC's ASGs.
    pub src: &'a [usize],
    /// Destination NIC's ASGs.
    pub dst: &'a [usize],
}

/// Matches `flow` against `rule`.
pub fn match_rule(
    rule: &ResolvedRule,
    flow: &Flow,
    asgs: EndpointAsgs,
    any: AnyProtocol,
) -> MatchVector {
    MatchVector {
        protocol: protocol_matches(rule.rule.fields.protocol, flow.protocol, any),
        source: rule.sources.matches(flow.src, asgs.src),
        source_port: port_matches(&rule.source_ports, flow.src_port),
        destination: rule.destinations.matches(flow.dst, asgs.dst),
        destination_port: port_matches(&rule.destination_ports, flow.dst_port),
    }
}

/// The reference classifier for one rule table: the index of the first rule (in the
/// table's order) that matches every field, by a linear scan.
pub fn first_match(
    rules: &[ResolvedRule],
    flow: &Flow,
    asgs: EndpointAsgs,
    any: AnyProtocol,
) -> Option<usize> {
    rules
        .iter()
        .position(|r| match_rule(r, flow, asgs, any).all())
}

/// D3: `Any` matches every IP protocol, or only TCP/UDP/ICMP/ICMPv6. `Icmp` matches both
/// ICMP versions.
pub fn protocol_matches(rule: Protocol, flow: u8, any: AnyProtocol) -> bool {
    match rule {
        Protocol::Any => {
            any == AnyProtocol::All
                || matches!(flow, proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6)
        }
        Protocol::Tcp => flow == proto::TCP,
        Protocol::Udp => flow == proto::UDP,
        Protocol::Icmp => flow == proto::ICMP || flow == proto::ICMPV6,
        Protocol::Esp => flow == proto::ESP,
        Protocol::Ah => flow == proto::AH,
        Protocol::Number(n) => flow == n,
    }
}

/// Ports are ignored for flows without ports (ICMP, ESP, AH, others), even when the rule
/// names some (SEMANTICS §3.1).
pub fn port_matches(ranges: &[PortRange], port: Option<u16>) -> bool {
    match port {
        None => true,
        Some(p) => ranges.iter().any(|r| r.contains(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_protocol_switch() {
        assert!(protocol_matches(Protocol::Any, 47, AnyProtocol::All));
        assert!(!protocol_matches(
            Protocol::Any,
            47,
            AnyProtocol::TcpUdpIcmp
        ));
        assert!(protocol_matches(
            Protocol::Any,
            proto::ICMPV6,
            AnyProtocol::TcpUdpIcmp
        ));
        assert!(protocol_matches(
            Protocol::Icmp,
            proto::ICMPV6,
            AnyProtocol::All
        ));
        assert!(!protocol_matches(
            Protocol::Tcp,
            proto::UDP,
            AnyProtocol::All
        ));
    }

    #[test]
    fn ports_ignored_without_ports() {
        let r = [PortRange { lo: 22, hi: 22 }];
        assert!(port_matches(&r, None));
        assert!(port_matches(&r, Some(22)));
        assert!(!port_matches(&r, Some(23)));
        assert!(!port_matches(&[], Some(22)));
    }
}
