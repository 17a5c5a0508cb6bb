//! Connection tracking for packet captures (SEMANTICS D6: admin rules and NSGs are stateful).
//!
//! The first packet of a connection is judged; every later packet in either direction belongs
//! to it and shares its verdict, as Azure's flow records make replies pass. TCP connections
//! end on RST or on FIN from both ends; UDP, ICMP and other protocols (and TCP left idle) end
//! after an idle timeout (Azure's default flow timeout is 4 minutes). A TCP packet seen
//! first as SYN+ACK opened in the other direction, so the connection's forward flow is its
//! reverse. Finished connections are handed back so memory stays bounded by the connections
//! open at once, not by the capture's length.

use super::capture::PacketInfo;
use super::judge::Judgement;
use crate::flow::{proto, Flow};
use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// Idle entries are swept every this many packets.
const SWEEP_EVERY: u64 = 1 << 16;

/// A direction-free key: both directions of a connection map to it. Addresses are packed
/// into `u128`s (IPv4 as IPv4-mapped, with the family kept apart in `family_protocol`) so
/// that hashing and comparing a key costs a few machine words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    lo: u128,
    hi: u128,
    /// `lo`'s port in the high half, `hi`'s in the low half.
    ports: u32,
    /// The protocol, plus 256 for IPv6.
    family_protocol: u16,
}

impl Key {
    fn of(flow: &Flow) -> Key {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let a = (bits(flow.src), flow.src_port.unwrap_or(0));
        let b = (bits(flow.dst), flow.dst_port.unwrap_or(0));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Key {
            lo: lo.0,
            hi: hi.0,
            ports: u32::from(lo.1) << 16 | u32::from(hi.1),
            family_protocol: u16::from(flow.protocol) | u16::from(flow.src.is_ipv6()) << 8,
        }
    }
}

/// One tracked connection.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Sequence number, from 1, in order of first packet.
    pub id: u64,
    /// The flow as its initiator sent it.
    pub forward: Flow,
    /// What secpath decided for it.
    pub judgement: Judgement,
    /// First packet's time (ms), if the capture has times.
    pub first_ms: Option<u64>,
    /// Last packet's time (ms).
    pub last_ms: Option<u64>,
    /// Packets in both directions.
    pub packets: u64,
    /// Bytes on the wire in both directions.
    pub bytes: u64,
    fin_forward: bool,
    fin_reverse: bool,
    closed: bool,
}

/// What the tracker made of a packet.
pub enum Seen<'a> {
    /// It opens a connection: judge `forward` and call [`ConnTracker::open`].
    Opens {
        /// The flow as the initiator sent it.
        forward: Flow,
    },
    /// It belongs to this connection; `reply` when it travels against the forward flow.
    Belongs {
        /// The connection.
        connection: &'a Connection,
        /// Travelling from responder to initiator.
        reply: bool,
    },
}

/// The table of open connections.
pub struct ConnTracker {
    open: HashMap<Key, Connection>,
    idle_timeout_ms: u64,
    next_id: u64,
    packets: u64,
    finished: Vec<Connection>,
}

impl ConnTracker {
    /// A tracker with the given idle timeout, numbering connections from `first_id`.
    pub fn new(idle_timeout_ms: u64, first_id: u64) -> ConnTracker {
        ConnTracker {
            open: HashMap::default(),
            idle_timeout_ms,
            next_id: first_id,
            packets: 0,
            finished: Vec::new(),
        }
    }

    /// Classifies a packet: the start of a connection, or part of one.
    pub fn packet(&mut self, flow: &Flow, info: &PacketInfo, time_ms: Option<u64>) -> Seen<'_> {
        self.packets += 1;
        if self.packets % SWEEP_EVERY == 0 {
            if let Some(now) = time_ms {
                self.sweep(now);
            }
        }
        let key = Key::of(flow);
        let flags = info.tcp_flags.unwrap_or(0);
        let timeout = self.idle_timeout_ms;
        let stale = |c: &Connection| {
            let idle = matches!((c.last_ms, time_ms), (Some(last), Some(now)) if now.saturating_sub(last) > timeout);
            let fresh_syn = flow.protocol == proto::TCP
                && flags & (SYN | ACK) == SYN
                && (c.closed || c.fin_forward || c.fin_reverse);
            idle || c.closed || fresh_syn
        };
        match self.open.get(&key).map(stale) {
            Some(false) => {}
            found => {
                if found.is_some() {
                    if let Some(old) = self.open.remove(&key) {
                        self.finished.push(old);
                    }
                }
                let synack_first = flow.protocol == proto::TCP && flags & (SYN | ACK) == SYN | ACK;
                let forward = if synack_first { reverse(flow) } else { *flow };
                return Seen::Opens { forward };
            }
        }
        let c = self.open.get_mut(&key).expect("live, checked above");
        let reply = c.forward.src != flow.src || c.forward.src_port != flow.src_port;
        c.packets += 1;
        c.bytes += u64::from(info.length);
        c.last_ms = time_ms.or(c.last_ms);
        if flags & RST != 0 {
            c.closed = true;
        }
        if flags & FIN != 0 {
            if reply {
                c.fin_reverse = true;
            } else {
                c.fin_forward = true;
            }
            c.closed |= c.fin_forward && c.fin_reverse;
        }
        Seen::Belongs {
            connection: c,
            reply,
        }
    }

    /// Records a connection opened by `packet` (after `Seen::Opens`), judged `judgement`.
    pub fn open(
        &mut self,
        forward: Flow,
        judgement: Judgement,
        info: &PacketInfo,
        time_ms: Option<u64>,
    ) -> &Connection {
        let id = self.next_id;
        self.next_id += 1;
        let flags = info.tcp_flags.unwrap_or(0);
        let c = Connection {
            id,
            forward,
            judgement,
            first_ms: time_ms,
            last_ms: time_ms,
            packets: 1,
            bytes: u64::from(info.length),
            fin_forward: false,
            fin_reverse: false,
            closed: flags & RST != 0,
        };
        let key = Key::of(&forward);
        self.open.insert(key, c);
        &self.open[&key]
    }

    /// The id the next connection will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Connections that finished since the last call.
    pub fn take_finished(&mut self) -> Vec<Connection> {
        std::mem::take(&mut self.finished)
    }

    /// Ends the capture: every connection still open, in order of id.
    pub fn finish(&mut self) -> Vec<Connection> {
        let mut all = self.take_finished();
        all.extend(self.open.drain().map(|(_, c)| c));
        all.sort_by_key(|c| c.id);
        all
    }

    fn sweep(&mut self, now: u64) {
        let timeout = self.idle_timeout_ms;
        let idle: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, c)| {
                c.closed
                    || c.last_ms
                        .is_some_and(|last| now.saturating_sub(last) > timeout)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            if let Some(c) = self.open.remove(&key) {
                self.finished.push(c);
            }
        }
    }
}

/// The same flow in the other direction.
pub fn reverse(flow: &Flow) -> Flow {
    Flow {
        protocol: flow.protocol,
        src: flow.dst,
        src_port: flow.dst_port,
        dst: flow.src,
        dst_port: flow.src_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Verdict;

    fn tcp(src: &str, sport: u16, dst: &str, dport: u16) -> Flow {
        Flow {
            protocol: 6,
            src: src.parse().unwrap(),
            src_port: Some(sport),
            dst: dst.parse().unwrap(),
            dst_port: Some(dport),
        }
    }

    fn info(flags: u8) -> PacketInfo {
        PacketInfo {
            tcp_flags: Some(flags),
            length: 60,
            fragment: false,
        }
    }

    fn allow() -> Judgement {
        Judgement {
            verdict: Verdict::Allow,
            rule: None,
            hits: Default::default(),
        }
    }

    #[test]
    fn a_handshake_makes_one_connection_and_replies_belong_to_it() {
        let mut t = ConnTracker::new(240_000, 1);
        let out = tcp("10.0.0.1", 5000, "10.0.0.2", 443);
        let Seen::Opens { forward } = t.packet(&out, &info(SYN), Some(0)) else {
            panic!("opens")
        };
        assert_eq!(forward, out);
        t.open(forward, allow(), &info(SYN), Some(0));
        match t.packet(&reverse(&out), &info(SYN | ACK), Some(1)) {
            Seen::Belongs { reply, connection } => assert!(reply && connection.packets == 2),
            Seen::Opens { .. } => panic!("the SYN+ACK belongs to the connection"),
        }
        t.packet(&out, &info(FIN | ACK), Some(2));
        t.packet(&reverse(&out), &info(FIN | ACK), Some(3));
        assert!(
            matches!(t.packet(&out, &info(SYN), Some(4)), Seen::Opens { .. }),
            "closed: a new SYN opens anew"
        );
        assert_eq!(t.take_finished().len(), 1);
    }

    #[test]
    fn synack_first_flips_the_direction_and_idle_udp_expires() {
        let mut t = ConnTracker::new(1000, 1);
        let reply = tcp("10.0.0.2", 443, "10.0.0.1", 5000);
        let Seen::Opens { forward } = t.packet(&reply, &info(SYN | ACK), None) else {
            panic!()
        };
        assert_eq!(forward, reverse(&reply));
        let udp = Flow {
            protocol: 17,
            ..tcp("10.0.0.1", 53, "10.0.0.2", 53)
        };
        let quiet = PacketInfo {
            tcp_flags: None,
            length: 80,
            fragment: false,
        };
        let Seen::Opens { forward } = t.packet(&udp, &quiet, Some(0)) else {
            panic!()
        };
        t.open(forward, allow(), &quiet, Some(0));
        assert!(matches!(
            t.packet(&udp, &quiet, Some(500)),
            Seen::Belongs { .. }
        ));
        assert!(
            matches!(t.packet(&udp, &quiet, Some(5000)), Seen::Opens { .. }),
            "idle past the timeout"
        );
    }
}
