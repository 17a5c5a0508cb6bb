//! Flows: `PROTO SRC[:PORT] -> DST[:PORT]` (SEMANTICS §1.3), parsed with nom.

use crate::error::{Error, Result};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till1, take_while1};
use nom::character::complete::{char, digit1, multispace0, multispace1};
use nom::combinator::{all_consuming, map_res, opt};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// IANA protocol numbers secpath names.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ESP.
    pub const ESP: u8 = 50;
    /// AH.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// One 5-tuple. Ports are present exactly when the protocol is TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Flow {
    /// IANA protocol number.
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// Source port (TCP/UDP only).
    pub src_port: Option<u16>,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port (TCP/UDP only).
    pub dst_port: Option<u16>,
}

impl Flow {
    /// True for protocols with ports.
    pub fn has_ports(protocol: u8) -> bool {
        matches!(protocol, proto::TCP | proto::UDP)
    }

    /// Parses `tcp 10.0.1.4:50000 -> 10.1.0.5:443`.
    pub fn parse(text: &str) -> Result<Flow> {
        let err = |message: String| Error::Flow {
            text: text.to_string(),
            message,
        };
        let (_, (protocol, (src, src_port), (dst, dst_port))) = all_consuming(flow_syntax)
            .parse(text.trim())
            .map_err(|_| {
                let shape = "expected `PROTO SRC[:PORT] -> DST[:PORT]`, e.g. `tcp 10.0.1.4:50000 -> 10.1.0.5:443` (IPv6 with a port in brackets: `[2001:db8::1]:53`)";
                err(match endpoint_problem(text) {
                    Some(problem) => format!("{problem}; {shape}"),
                    None => shape.to_string(),
                })
            })?;
        let protocol = protocol_number(protocol).ok_or_else(|| {
            err(format!("`{protocol}` is not a protocol: expected tcp, udp, icmp, icmpv6, esp, ah or a number 0-255"))
        })?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(err(
                "source and destination must both be IPv4 or both IPv6".to_string()
            ));
        }
        // SEMANTICS §3.1: ports are ignored for protocols without ports, so ports given
        // with one are dropped (as `eval` drops them from a record), not an error.
        let (src_port, dst_port) = match (Flow::has_ports(protocol), src_port, dst_port) {
            (true, Some(s), Some(d)) => (Some(s), Some(d)),
            (true, _, _) => {
                return Err(err(
                    "TCP and UDP flows need both ports (`SRC:PORT -> DST:PORT`)".to_string(),
                ))
            }
            (false, _, _) => (None, None),
        };
        Ok(Flow {
            protocol,
            src,
            src_port,
            dst,
            dst_port,
        })
    }

    /// The protocol's name (`tcp`, `icmpv6`) or its number. Borrowed for the named
    /// protocols: `eval` writes one a flow.
    pub fn protocol_name(&self) -> Cow<'static, str> {
        match PROTOCOL_NAMES.iter().find(|(n, _)| *n == self.protocol) {
            Some((_, name)) => Cow::Borrowed(name),
            None => Cow::Owned(self.protocol.to_string()),
        }
    }
}

/// The protocols with names, as flows and rules spell them.
const PROTOCOL_NAMES: [(u8, &str); 6] = [
    (proto::TCP, "tcp"),
    (proto::UDP, "udp"),
    (proto::ICMP, "icmp"),
    (proto::ICMPV6, "icmpv6"),
    (proto::ESP, "esp"),
    (proto::AH, "ah"),
];

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn end(f: &mut fmt::Formatter<'_>, ip: IpAddr, port: Option<u16>) -> fmt::Result {
            match (ip, port) {
                (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
                (ip, Some(p)) => write!(f, "{ip}:{p}"),
                (ip, None) => write!(f, "{ip}"),
            }
        }
        f.write_str(&self.protocol_name())?;
        f.write_str(" ")?;
        end(f, self.src, self.src_port)?;
        f.write_str(" -> ")?;
        end(f, self.dst, self.dst_port)
    }
}

/// A protocol name (`tcp`, `icmpv6`, case-insensitive) or number.
pub fn protocol_number(text: &str) -> Option<u8> {
    match PROTOCOL_NAMES
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(text))
    {
        Some((number, _)) => Some(*number),
        None => text.parse().ok(),
    }
}

type Endpoint = (IpAddr, Option<u16>);

fn flow_syntax(input: &str) -> IResult<&str, (&str, Endpoint, Endpoint)> {
    (
        take_while1(|c: char| c.is_ascii_alphanumeric()),
        preceded(multispace1, endpoint),
        preceded(delimited(multispace0, tag("->"), multispace0), endpoint),
    )
        .parse(input)
}

fn port(input: &str) -> IResult<&str, u16> {
    map_res(digit1, str::parse::<u16>).parse(input)
}

/// `text` as a port, in the flow-spec grammar (decimal digits, 0-65535, no sign), for the
/// readers of flow files' port cells.
pub(crate) fn port_number(text: &str) -> Option<u16> {
    all_consuming(port).parse(text).ok().map(|(_, p)| p)
}

fn endpoint(input: &str) -> IResult<&str, Endpoint> {
    let bracketed = (
        delimited(
            char('['),
            map_res(take_till1(|c| c == ']'), str::parse::<IpAddr>),
            char(']'),
        ),
        opt(preceded(char(':'), port)),
    );
    let v4 = (
        map_res(
            take_while1(|c: char| c.is_ascii_digit() || c == '.'),
            str::parse::<IpAddr>,
        ),
        opt(preceded(char(':'), port)),
    );
    let bare_v6 = map_res(
        take_while1(|c: char| c.is_ascii_hexdigit() || c == ':' || c == '.'),
        |s: &str| s.parse::<IpAddr>().map(|ip| (ip, None)),
    );
    alt((bracketed, v4, bare_v6)).parse(input)
}

/// What is wrong with one end of a flow that does not parse, where the shape
/// `PROTO SRC -> DST` is right but an end is not: a port out of range, a prefix, or
/// something that is not an address. `None` when no end is to blame.
fn endpoint_problem(text: &str) -> Option<String> {
    let (_, ends) = text.trim().split_once(char::is_whitespace)?;
    let (src, dst) = ends.split_once("->")?;
    [src.trim(), dst.trim()].into_iter().find_map(|end| {
        if endpoint(end).is_ok_and(|(rest, _)| rest.is_empty()) {
            return None;
        }
        let (address, port) = match end.strip_prefix('[') {
            Some(v6) => {
                let (address, rest) = v6.split_once(']')?;
                (address, rest.strip_prefix(':'))
            }
            None if end.matches(':').count() == 1 => {
                end.split_once(':').map(|(a, p)| (a, Some(p)))?
            }
            None => (end, None),
        };
        if address.contains('/') {
            Some(format!(
                "`{address}` is a prefix: a flow names one address at each end"
            ))
        } else if address.parse::<IpAddr>().is_err() {
            Some(format!("`{address}` is not an IP address"))
        } else {
            port.filter(|p| p.parse::<u16>().is_err())
                .map(|p| format!("`{p}` is not a port: expected a number 0-65535"))
        }
    })
}

/// A dotted-quad IPv4 address, as strict as `Ipv4Addr::from_str` (no leading zeros), in
/// one pass over the bytes (two addresses a tuple: splitting each into parts first cost
/// more than the rest of the tuple's fields).
fn dotted_quad(field: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let (mut part, mut value, mut digits) = (0, 0u32, 0);
    for &b in field {
        if b == b'.' {
            if digits == 0 || part == 3 {
                return None;
            }
            octets[part] = u8::try_from(value).ok()?;
            (part, value, digits) = (part + 1, 0, 0);
            continue;
        }
        let digit = b.wrapping_sub(b'0');
        // A fourth digit, or a digit after a leading zero, is not dotted-quad.
        if digit > 9 || digits == 3 || (digits == 1 && value == 0) {
            return None;
        }
        (value, digits) = (value * 10 + u32::from(digit), digits + 1);
    }
    if digits == 0 || part != 3 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// An IP address from its text: IPv4 in one pass over the bytes (see [`dotted_quad`]), any
/// other text through the standard library. Shared by the flow-file and flow-log readers,
/// whose hot loops read two addresses a record.
pub(crate) fn address(field: &[u8]) -> Option<IpAddr> {
    match dotted_quad(field) {
        Some(v4) => Some(IpAddr::V4(v4)),
        None => std::str::from_utf8(field).ok()?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_end_of_a_flow_is_named() {
        for (text, problem) in [
            (
                "tcp 10.0.1.5:5000 -> 10.0.1.4:65536",
                "`65536` is not a port",
            ),
            (
                "tcp 010.0.2.4:5000 -> 10.0.1.4:80",
                "`010.0.2.4` is not an IP address",
            ),
            (
                "tcp 10.0.2.0/24:5000 -> 10.0.1.4:80",
                "`10.0.2.0/24` is a prefix",
            ),
            (
                "udp [2001:db8::1]:70000 -> [2001:db8::2]:53",
                "`70000` is not a port",
            ),
            (
                "icmp 10.0.0.1 -> 10.0.0.x",
                "`10.0.0.x` is not an IP address",
            ),
        ] {
            let message = Flow::parse(text).unwrap_err().to_string();
            assert!(message.contains(problem), "{text}: {message}");
            assert!(message.contains("expected `PROTO SRC[:PORT]"), "{message}");
        }
        let shape = Flow::parse("tcp 10.0.0.1:1 10.0.0.2:2")
            .unwrap_err()
            .to_string();
        assert!(!shape.contains("is not"), "{shape}");
        // A stray control character is shown escaped, not printed.
        let stray = Flow::parse("tcp 1.2.3.4:1 -> 10.1.1.4:22\u{1}")
            .unwrap_err()
            .to_string();
        assert!(stray.contains("`22\\u{1}` is not a port"), "{stray}");
        assert!(!stray.contains('\u{1}'), "{stray}");
    }

    #[test]
    fn ports_of_a_protocol_without_ports_are_dropped() {
        let flow = Flow::parse("icmp 10.0.0.1:3 -> 10.0.0.2:4").unwrap();
        assert_eq!((flow.src_port, flow.dst_port), (None, None));
        assert_eq!(flow.to_string(), "icmp 10.0.0.1 -> 10.0.0.2");
        let half = Flow::parse("tcp 10.0.0.1 -> 10.0.0.2:22").unwrap_err();
        assert!(half.to_string().contains("need both ports"), "{half}");
    }

    #[test]
    fn address_parsing_agrees_with_the_standard_library() {
        for text in [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1..2.3",
            "1.2.3.",
            "",
            "a.b.c.d",
            "1.2.3.04",
            "1.2.3.0",
            "1.2.3.-4",
            "1234.1.1.1",
            ".1.2.3",
            "1.2.3.4.",
            "00.1.2.3",
            "1.2.3.255",
            "1.2.3.256",
            "1.2.3.4 ",
            "9.99.199.249",
        ] {
            assert_eq!(dotted_quad(text.as_bytes()), text.parse().ok(), "{text}");
            assert_eq!(address(text.as_bytes()), text.parse().ok(), "{text}");
        }
        assert_eq!(address(b"2001:db8::1"), "2001:db8::1".parse().ok());
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let text: String = (0..seed % 17)
                .map(|i| b"0123456789.25."[((seed >> (4 * i)) % 14) as usize] as char)
                .collect();
            assert_eq!(dotted_quad(text.as_bytes()), text.parse().ok(), "{text}");
        }
    }

    #[test]
    fn parses_the_documented_forms() {
        let f = Flow::parse("tcp 10.0.1.4:50000 -> 10.1.0.5:443").unwrap();
        assert_eq!(
            (f.protocol, f.src_port, f.dst_port),
            (6, Some(50000), Some(443))
        );
        let f = Flow::parse("icmp 10.0.1.4 -> 8.8.8.8").unwrap();
        assert_eq!((f.protocol, f.src_port), (1, None));
        let f = Flow::parse("udp [2001:db8::1]:53 -> [2001:db8::2]:53").unwrap();
        assert_eq!(f.dst, "2001:db8::2".parse::<IpAddr>().unwrap());
        assert_eq!(
            Flow::parse("icmpv6 2001:db8::1 -> 2001:db8::2")
                .unwrap()
                .protocol,
            58
        );
        assert_eq!(Flow::parse("47 10.0.0.1 -> 10.0.0.2").unwrap().protocol, 47);
        assert_eq!(
            Flow::parse("TCP 1.2.3.4:1->5.6.7.8:2").unwrap().to_string(),
            "tcp 1.2.3.4:1 -> 5.6.7.8:2"
        );
    }

    #[test]
    fn rejects_with_reasons() {
        for (text, why) in [
            ("tcp 10.0.0.1 -> 10.0.0.2:80", "both ports"),
            ("gre 10.0.0.1 -> 10.0.0.2", "not a protocol"),
            ("tcp 10.0.0.1:70000 -> 10.0.0.2:80", "expected `PROTO"),
            ("tcp 10.0.0.1:1 -> [::1]:80", "both be IPv4"),
            ("tcp 10.0.0.300:1 -> 10.0.0.2:80", "expected `PROTO"),
            ("", "expected `PROTO"),
        ] {
            let e = Flow::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
