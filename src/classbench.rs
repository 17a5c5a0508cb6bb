//! ClassBench filter sets, the packet-classification field's standard benchmark input.
//!
//! Both published layouts are read: whitespace-separated five fields (`@SRC/LEN DST/LEN
//! LO : HI LO : HI PROTO/MASK`), and db_generator's tab-separated output with a trailing
//! flags column, which is ignored. Each filter becomes an Allow rule of one NSG table, in file
//! order (the first filter has the highest priority), named by its 1-based line number. A flow
//! matching no filter meets the table's end, which secpath reports as a deny — as an NSG's
//! `DenyAllInBound` would.

use crate::error::{Error, Location, Result};
use crate::eval::{Decided, Layer, Side, Verdict};
use crate::model::addr::parse_net;
use crate::model::{
    Access, AddrSet, AddressItem, Direction, PortRange, Protocol, ResourceId, Rule, RuleFields,
};
use crate::resolve::{AddrMatch, ResolvedRule, RuleSource};
use smallvec::smallvec;
use std::path::Path;

/// The decision for a flow whose first matching filter is `hit`: allowed by that filter, or
/// denied at the end of the table.
pub fn decided(rules: &[ResolvedRule], hit: Option<usize>) -> Decided {
    let rule = hit.and_then(|i| rules.get(i));
    Decided {
        verdict: if rule.is_some() {
            Verdict::Allow
        } else {
            Verdict::Deny
        },
        layer: Some(Layer::Nsg),
        side: Some(Side::Destination),
        resource: rule.map(|r| r.rule.id.clone()),
    }
}

/// Reads a filter set into one ordered rule table.
pub fn load_filters(path: &Path) -> Result<Vec<ResolvedRule>> {
    let text = crate::load::read_text(path)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let at = |message: String| {
            Error::invalid(
                Location {
                    file: path.to_path_buf(),
                    path: format!("line {}", i + 1),
                },
                message,
            )
        };
        let priority = u32::try_from(rules.len() + 1).map_err(|_| at("too many filters".into()))?;
        rules.push(filter(line, i + 1, priority).map_err(at)?);
    }
    // No filter would deny every flow at the end of the table: that is never what was meant.
    if rules.is_empty() {
        return Err(Error::invalid(
            Location {
                file: path.to_path_buf(),
                path: "line 1".to_string(),
            },
            "no ClassBench filter (`@SRC DST SPLO : SPHI DPLO : DPHI PROTO/MASK ...`) in the file",
        ));
    }
    Ok(rules)
}

/// One filter line; `number` names the rule, `priority` orders it.
fn filter(line: &str, number: usize, priority: u32) -> Result<ResolvedRule, String> {
    let body = line
        .trim()
        .strip_prefix('@')
        .ok_or("a ClassBench filter starts with `@`")?;
    let words: Vec<&str> = body.split_whitespace().filter(|w| *w != ":").collect();
    // SRC DST SPLO SPHI DPLO DPHI PROTO [FLAGS]; a port written `lo:hi` is one word.
    let words: Vec<&str> = words
        .iter()
        .flat_map(|w| w.split(':').filter(|p| !p.is_empty()))
        .collect();
    if words.len() < 7 {
        return Err(format!(
            "expected `@SRC/LEN DST/LEN LO : HI LO : HI PROTO/MASK`, found {} fields",
            words.len()
        ));
    }
    // db_generator's flags column (`0x0000/0x0200`) is the only thing that may follow.
    let flags = "a flags column (`0xVALUE/0xMASK`)";
    match words.get(7..).unwrap_or(&[]) {
        [] => {}
        [word] if is_hex_pair(word) => {}
        [word] => return Err(format!("`{word}` is not {flags}")),
        more => {
            let n = more.len();
            return Err(format!(
                "{n} fields after the protocol: only {flags} may follow it"
            ));
        }
    }
    let net = |w: &str| parse_net(w).ok_or_else(|| format!("`{w}` is not a prefix"));
    let port = |w: &str| {
        w.parse::<u16>()
            .map_err(|_| format!("`{w}` is not a port 0-65535"))
    };
    let range = |lo: &str, hi: &str| -> Result<PortRange, String> {
        let r = PortRange {
            lo: port(lo)?,
            hi: port(hi)?,
        };
        if r.lo > r.hi {
            return Err(format!("port range {lo} : {hi} runs backwards"));
        }
        Ok(r)
    };
    let (src, dst) = (net(words[0])?, net(words[1])?);
    let (sports, dports) = (range(words[2], words[3])?, range(words[4], words[5])?);
    let protocol = protocol(words[6])?;
    let rule = Rule {
        id: ResourceId::new(&format!("classbench/{number}")),
        name: number.to_string(),
        priority,
        access: Access::Allow,
        direction: Direction::Inbound,
        fields: RuleFields {
            protocol,
            sources: smallvec![AddressItem::Net(src)],
            source_ports: smallvec![sports],
            destinations: smallvec![AddressItem::Net(dst)],
            destination_ports: smallvec![dports],
        },
        is_default: false,
    };
    Ok(ResolvedRule {
        rule: std::sync::Arc::new(rule),
        source: RuleSource::Nsg { nsg: 0 },
        sources: AddrMatch {
            set: AddrSet::from_net(src),
            asgs: smallvec![],
        },
        source_ports: smallvec![sports],
        destinations: AddrMatch {
            set: AddrSet::from_net(dst),
            asgs: smallvec![],
        },
        destination_ports: smallvec![dports],
    })
}

/// True for `0xVALUE/0xMASK` in hexadecimal, as db_generator writes its flags.
fn is_hex_pair(word: &str) -> bool {
    let hex = |w: &str| {
        w.strip_prefix("0x")
            .or_else(|| w.strip_prefix("0X"))
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_hexdigit()))
    };
    word.split_once('/').is_some_and(|(v, m)| hex(v) && hex(m))
}

/// `0x06/0xFF` is TCP exactly; a zero mask is any protocol. Other masks have no meaning in a
/// security rule and are refused.
fn protocol(word: &str) -> Result<Protocol, String> {
    let (value, mask) = word
        .split_once('/')
        .ok_or_else(|| format!("`{word}` is not PROTO/MASK"))?;
    let hex = |t: &str| u8::from_str_radix(t.trim_start_matches("0x").trim_start_matches("0X"), 16);
    let (value, mask) = (hex(value), hex(mask));
    match (value, mask) {
        (Ok(_), Ok(0)) => Ok(Protocol::Any),
        (Ok(6), Ok(0xff)) => Ok(Protocol::Tcp),
        (Ok(17), Ok(0xff)) => Ok(Protocol::Udp),
        (Ok(n), Ok(0xff)) => Ok(Protocol::Number(n)),
        _ => Err(format!(
            "`{word}`: expected a protocol value with mask 0xFF or 0x00"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_layouts() {
        let plain = filter(
            "@192.151.10.0/24 97.110.168.0/22 0 : 65535 1521 : 1521 0x06/0xFF",
            1,
            1,
        )
        .unwrap();
        assert_eq!(plain.rule.fields.protocol, Protocol::Tcp);
        assert_eq!(plain.destination_ports[0], PortRange { lo: 1521, hi: 1521 });
        let tabbed = filter(
            "@0.0.0.0/0\t10.0.0.0/8\t1024 : 65535\t53 : 53\t0x11/0xFF\t0x0000/0x0200",
            7,
            2,
        )
        .unwrap();
        assert_eq!(tabbed.rule.name, "7");
        assert_eq!(tabbed.rule.fields.protocol, Protocol::Udp);
        assert!(
            tabbed.sources.set.is_all() || tabbed.sources.set.contains("1.2.3.4".parse().unwrap())
        );
        let any = filter("@1.2.3.4/32 5.6.7.8/32 0 : 65535 0 : 65535 0x00/0x00", 1, 1).unwrap();
        assert_eq!(any.rule.fields.protocol, Protocol::Any);
        let gre = filter("@1.2.3.4/32 5.6.7.8/32 0 : 65535 0 : 65535 0x2F/0xFF", 1, 1).unwrap();
        assert_eq!(gre.rule.fields.protocol, Protocol::Number(47));
    }

    #[test]
    fn a_file_may_begin_with_a_byte_order_mark() {
        let path = std::env::temp_dir().join(format!("secpath-bom-{}.rules", std::process::id()));
        let text = "\u{feff}@1.2.3.4/32 5.6.7.8/32 0 : 65535 22 : 22 0x06/0xFF\r\n";
        std::fs::write(&path, text).unwrap();
        let rules = load_filters(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].destination_ports[0], PortRange { lo: 22, hi: 22 });
    }

    #[test]
    fn refuses_bad_filters() {
        for (line, why) in [
            (
                "192.151.10.0/24 97.110.168.0/22 0 : 65535 1521 : 1521 0x06/0xFF",
                "starts with `@`",
            ),
            (
                "@1.2.3.4/33 5.6.7.8/32 0 : 65535 0 : 65535 0x06/0xFF",
                "not a prefix",
            ),
            (
                "@1.2.3.4/32 5.6.7.8/32 9 : 1 0 : 65535 0x06/0xFF",
                "backwards",
            ),
            (
                "@1.2.3.4/32 5.6.7.8/32 0 : 70000 0 : 65535 0x06/0xFF",
                "not a port",
            ),
            (
                "@1.2.3.4/32 5.6.7.8/32 0 : 65535 0 : 65535 0x06/0x0F",
                "mask",
            ),
            ("@1.2.3.4/32 5.6.7.8/32", "found 2 fields"),
            (
                "@1.2.3.4/32 5.6.7.8/32 0 : 65535 0 : 65535 0x06/0xFF extra",
                "`extra` is not a flags column",
            ),
            (
                "@1.2.3.4/32 5.6.7.8/32 0 : 65535 0 : 65535 0x06/0xFF 0x0000/0x0200 7",
                "2 fields after the protocol",
            ),
        ] {
            let e = filter(line, 1, 1).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
    }
}
