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
use super::judge::{Judgement, RuleHit};
use crate::eval::Verdict;
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
    /// The key of `flow`'s connection, and whether `flow` travels from `lo` to `hi`.
    fn of(flow: &Flow) -> (Key, bool) {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let a = (bits(flow.src), flow.src_port.unwrap_or(0));
        let b = (bits(flow.dst), flow.dst_port.unwrap_or(0));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let key = Key {
            lo: lo.0,
            hi: hi.0,
            ports: u32::from(lo.1) << 16 | u32::from(hi.1),
            family_protocol: u16::from(flow.protocol) | u16::from(flow.src.is_ipv6()) << 8,
        };
        (key, a <= b)
    }
}

/// One tracked connection, as handed back when it ends.
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
}

/// What every packet of a live connection reads and writes, kept in the lookup table next to
/// its key. Replay is bound by this lookup's cache misses: with the whole [`Connection`] in
/// the table an entry took 248 bytes, and 4,096 connections no longer fitted the L2 cache
/// (the key load was 40 % of the tracker's time); the rest waits in [`ConnTracker::slots`].
#[derive(Clone, Copy, Debug)]
struct Live {
    /// Index of the rest in `slots`.
    slot: u32,
    verdict: Verdict,
    /// The initiator is the key's `lo` end.
    forward_from_lo: bool,
    fin_forward: bool,
    fin_reverse: bool,
    closed: bool,
    last_ms: Option<u64>,
    packets: u64,
    bytes: u64,
}

impl Live {
    /// Whether a packet arriving now ends this connection before it belongs to it.
    fn stale(&self, fresh_syn: bool, now: Option<u64>, timeout: u64) -> bool {
        let idle = matches!((self.last_ms, now), (Some(last), Some(now)) if now.saturating_sub(last) > timeout);
        let reopened = fresh_syn && (self.closed || self.fin_forward || self.fin_reverse);
        idle || self.closed || reopened
    }
}

/// The part of a connection no packet after the first needs.
#[derive(Debug)]
struct Cold {
    id: u64,
    forward: Flow,
    judgement: Judgement,
    first_ms: Option<u64>,
}

/// What the tracker made of a packet.
pub enum Seen {
    /// It opens a connection: judge `forward` and call [`ConnTracker::open`].
    Opens {
        /// The flow as the initiator sent it.
        forward: Flow,
    },
    /// It belongs to a live connection; `reply` when it travels against the forward flow.
    Belongs {
        /// The connection's verdict.
        verdict: Verdict,
        /// Travelling from responder to initiator.
        reply: bool,
        /// The connection, for [`ConnTracker::rule_of`].
        connection: ConnectionRef,
    },
}

/// A live connection, named for [`ConnTracker::rule_of`] (valid until the next packet).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionRef(u32);

/// The table of open connections.
pub struct ConnTracker {
    open: HashMap<Key, Live>,
    /// The cold halves of open connections; `None` where a slot is free.
    slots: Vec<Option<Cold>>,
    free: Vec<u32>,
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
            slots: Vec::new(),
            free: Vec::new(),
            idle_timeout_ms,
            next_id: first_id,
            packets: 0,
            finished: Vec::new(),
        }
    }

    /// Classifies a packet: the start of a connection, or part of one.
    pub fn packet(&mut self, flow: &Flow, info: &PacketInfo, time_ms: Option<u64>) -> Seen {
        self.packets += 1;
        if self.packets % SWEEP_EVERY == 0 {
            if let Some(now) = time_ms {
                self.sweep(now);
            }
        }
        let (key, from_lo) = Key::of(flow);
        let flags = info.tcp_flags.unwrap_or(0);
        let fresh_syn = flow.protocol == proto::TCP && flags & (SYN | ACK) == SYN;
        let timeout = self.idle_timeout_ms;
        match self.open.get_mut(&key) {
            Some(c) if !c.stale(fresh_syn, time_ms, timeout) => {
                let reply = from_lo != c.forward_from_lo;
                c.packets += 1;
                c.bytes += u64::from(info.length);
                c.last_ms = time_ms.or(c.last_ms);
                c.closed |= flags & RST != 0;
                if flags & FIN != 0 {
                    if reply {
                        c.fin_reverse = true;
                    } else {
                        c.fin_forward = true;
                    }
                    c.closed |= c.fin_forward && c.fin_reverse;
                }
                return Seen::Belongs {
                    verdict: c.verdict,
                    reply,
                    connection: ConnectionRef(c.slot),
                };
            }
            Some(_) => self.end(&key),
            None => {}
        }
        let synack_first = flow.protocol == proto::TCP && flags & (SYN | ACK) == SYN | ACK;
        let forward = if synack_first { reverse(flow) } else { *flow };
        Seen::Opens { forward }
    }

    /// Records a connection opened by `packet` (after `Seen::Opens`), judged `judgement`.
    pub fn open(
        &mut self,
        forward: Flow,
        judgement: Judgement,
        info: &PacketInfo,
        time_ms: Option<u64>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let (key, forward_from_lo) = Key::of(&forward);
        let live = Live {
            slot: 0,
            verdict: judgement.verdict,
            forward_from_lo,
            fin_forward: false,
            fin_reverse: false,
            closed: info.tcp_flags.unwrap_or(0) & RST != 0,
            last_ms: time_ms,
            packets: 1,
            bytes: u64::from(info.length),
        };
        let cold = Cold {
            id,
            forward,
            judgement,
            first_ms: time_ms,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(cold);
                slot
            }
            None => {
                self.slots.push(Some(cold));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.open.insert(key, Live { slot, ..live });
    }

    /// The rule that decided a live connection (kept out of the per-packet path: the CLI
    /// needs only the verdict, a per-record engine also names the rule).
    pub fn rule_of(&self, connection: ConnectionRef) -> Option<&RuleHit> {
        let cold = self.slots.get(connection.0 as usize)?.as_ref()?;
        cold.judgement.rule.as_ref()
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
        let keys: Vec<Key> = self.open.keys().copied().collect();
        for key in keys {
            self.end(&key);
        }
        let mut all = self.take_finished();
        all.sort_by_key(|c| c.id);
        all
    }

    /// Moves the connection at `key` to the finished list.
    fn end(&mut self, key: &Key) {
        let Some(live) = self.open.remove(key) else {
            return;
        };
        let Some(cold) = self
            .slots
            .get_mut(live.slot as usize)
            .and_then(Option::take)
        else {
            return;
        };
        self.free.push(live.slot);
        self.finished.push(Connection {
            id: cold.id,
            forward: cold.forward,
            judgement: cold.judgement,
            first_ms: cold.first_ms,
            last_ms: live.last_ms,
            packets: live.packets,
            bytes: live.bytes,
        });
    }

    fn sweep(&mut self, now: u64) {
        let timeout = self.idle_timeout_ms;
        let idle: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, c)| c.stale(false, Some(now), timeout))
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            self.end(&key);
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
            Seen::Belongs { reply, verdict, .. } => assert!(reply && verdict == Verdict::Allow),
            Seen::Opens { .. } => panic!("the SYN+ACK belongs to the connection"),
        }
        t.packet(&out, &info(FIN | ACK), Some(2));
        t.packet(&reverse(&out), &info(FIN | ACK), Some(3));
        assert!(
            matches!(t.packet(&out, &info(SYN), Some(4)), Seen::Opens { .. }),
            "closed: a new SYN opens anew"
        );
        let done = t.take_finished();
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].packets, done[0].bytes),
            (4, 240),
            "both directions counted"
        );
        assert_eq!((done[0].first_ms, done[0].last_ms), (Some(0), Some(3)));
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
