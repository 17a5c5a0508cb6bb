//! Connection tracking for packet captures (SEMANTICS D6: admin rules and NSGs are stateful).
//!
//! The first packet of a connection is judged; every later packet in either direction belongs
//! to it and shares its verdict, as Azure's flow records make replies pass. A denied first
//! packet makes no flow record: later packets its way share its deny, but a packet the other
//! way starts a connection of its own, judged on its own. A TCP connection
//! closed by RST or by FIN from both ends ends at the next SYN on its ports; until then
//! late packets (the last ACK, data in flight) still belong to it. Every connection (UDP,
//! ICMP and other protocols, TCP left idle or closed) ends after an idle timeout (Azure's
//! default flow timeout is 4 minutes). A TCP packet seen
//! first as SYN+ACK opened in the other direction, so the connection's forward flow is its
//! reverse. Under `--admin-stateless` the admin rules judge every reply of an allowed
//! connection again: a connection counts the replies they deny, and the rule that denied
//! them, beside its own verdict ([`ConnTracker::deny_reply`]). Finished connections are
//! handed back so memory stays bounded by the connections open at once, not by the
//! capture's length.

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

/// A direction-free key: both directions of a connection map to it, the lower (address,
/// port) end first. IPv4 keys, the common case, pack into two words of their own table, so
/// that an entry (key and [`Live`]) takes 56 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    V4(V4Key),
    V6(V6Key),
}

/// Lower address and port, higher address and port, protocol: `[lo << 32 | hi, lo_port <<
/// 24 | hi_port << 8 | protocol]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct V4Key([u64; 2]);

/// Any other flow (IPv4 addresses of a mixed flow kept as their `u32`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct V6Key {
    lo: u128,
    hi: u128,
    ports: u32,
    protocol: u8,
}

impl Key {
    /// The key of `flow`'s connection, and whether `flow` travels from `lo` to `hi`.
    fn of(flow: &Flow) -> (Key, bool) {
        let (src_port, dst_port) = (flow.src_port.unwrap_or(0), flow.dst_port.unwrap_or(0));
        let ports = |lo: u16, hi: u16| u32::from(lo) << 16 | u32::from(hi);
        if let (IpAddr::V4(src), IpAddr::V4(dst)) = (flow.src, flow.dst) {
            let a = (u32::from(src), src_port);
            let b = (u32::from(dst), dst_port);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let addresses = u64::from(lo.0) << 32 | u64::from(hi.0);
            let rest = u64::from(ports(lo.1, hi.1)) << 8 | u64::from(flow.protocol);
            return (Key::V4(V4Key([addresses, rest])), a <= b);
        }
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let a = (bits(flow.src), src_port);
        let b = (bits(flow.dst), dst_port);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let key = V6Key {
            lo: lo.0,
            hi: hi.0,
            ports: ports(lo.1, hi.1),
            protocol: flow.protocol,
        };
        (Key::V6(key), a <= b)
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
    /// The earliest time (ms) of any of its packets, if the capture has times: the first
    /// packet's, unless the capture's clock steps back (pcapng interfaces merged, a host's
    /// clock corrected).
    pub first_ms: Option<u64>,
    /// The latest time (ms) of any of its packets, so never before `first_ms`.
    pub last_ms: Option<u64>,
    /// Packets in both directions.
    pub packets: u64,
    /// Of those, packets from the responder to the initiator.
    pub replies: u64,
    /// Of the replies, those an admin rule denied although the connection was allowed (D6
    /// `--admin-stateless`); `packets - replies_denied` packets had the connection's verdict.
    pub replies_denied: u64,
    /// The admin rule that denied them (every reply is the same flow, so one rule).
    pub reply_rule: Option<RuleHit>,
    /// Bytes on the wire in both directions.
    pub bytes: u64,
}

/// [`Live::flags`]: the initiator is the key's `lo` end.
const FORWARD_FROM_LO: u8 = 1;
/// [`Live::flags`]: the initiator sent a FIN.
const FIN_FORWARD: u8 = 2;
/// [`Live::flags`]: the responder sent a FIN.
const FIN_REVERSE: u8 = 4;
/// [`Live::flags`]: an end sent a RST.
const CLOSED: u8 = 8;
/// [`Live::flags`]: `last_ms` holds a time.
const TIMED: u8 = 16;

/// What every packet of a live connection reads and writes, kept in the lookup table next to
/// its key. Replay is bound by this lookup's cache misses (connections interleave, so each
/// packet's entry is a different one): with the whole [`Connection`] in the table an entry
/// took 248 bytes, and 4,096 connections no longer fitted the L2 cache. Packed as here, an
/// IPv4 entry takes 56 bytes; the rest waits in [`ConnTracker::slots`].
#[derive(Clone, Copy, Debug)]
struct Live {
    last_ms: u64,
    /// Packets from the key's `lo` end, and from its `hi` end.
    packets: [u64; 2],
    bytes: u64,
    /// Index of the rest in `slots`.
    slot: u32,
    verdict: Verdict,
    /// [`FORWARD_FROM_LO`], [`FIN_FORWARD`], [`FIN_REVERSE`], [`CLOSED`], [`TIMED`].
    flags: u8,
}

impl Live {
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn last_ms(&self) -> Option<u64> {
        self.has(TIMED).then_some(self.last_ms)
    }

    /// Whether a packet arriving now ends this connection before it belongs to it: idle past
    /// the timeout, or a SYN (or SYN+ACK, when the capture missed the SYN) after a FIN or RST:
    /// the ports used again. Any other packet after a close (the last ACK of the FIN
    /// handshake, a retransmitted FIN, data in flight behind a RST) still belongs to it, as to
    /// a stateful firewall's closing entry; judged alone it would count a connection and its
    /// rules again, or be judged the other way round and denied.
    fn stale(&self, syn: bool, now: Option<u64>, timeout: u64) -> bool {
        let idle = matches!((self.last_ms(), now), (Some(last), Some(now)) if now.saturating_sub(last) > timeout);
        let reopened = syn && self.has(CLOSED | FIN_FORWARD | FIN_REVERSE);
        idle || reopened
    }

    /// Counts a packet of `length` bytes from the `lo` end (or the `hi` end), at `now`.
    fn count(&mut self, from_lo: bool, length: u32, now: Option<u64>) {
        self.packets[usize::from(!from_lo)] += 1;
        self.bytes += u64::from(length);
        if let Some(now) = now {
            self.last_ms = match self.last_ms() {
                Some(last) => last.max(now),
                None => now,
            };
            self.flags |= TIMED;
        }
    }

    /// Packets from the initiator, and from the responder.
    fn forward_and_replies(&self) -> (u64, u64) {
        let [lo, hi] = self.packets;
        if self.has(FORWARD_FROM_LO) {
            (lo, hi)
        } else {
            (hi, lo)
        }
    }
}

/// The part of a connection no packet after the first needs.
#[derive(Debug)]
struct Cold {
    id: u64,
    forward: Flow,
    judgement: Judgement,
    first_ms: Option<u64>,
    replies_denied: u64,
    reply_rule: Option<RuleHit>,
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

/// When idle connections are swept: before every 65,536th packet (`SWEEP_EVERY`), at that packet's
/// time. A sweep only ends connections whose next packet would find them stale anyway, but
/// with out-of-order packet times it can still decide one: a replay split across threads
/// keeps one clock for the whole capture and sweeps every shard where one tracker would have
/// swept, so the shards end the same connections.
#[derive(Default)]
pub struct SweepClock {
    packets: u64,
}

impl SweepClock {
    /// Counts a packet read at `time_ms`; the time to sweep at, when a sweep is due first.
    pub fn tick(&mut self, time_ms: Option<u64>) -> Option<u64> {
        self.packets += 1;
        if self.packets % SWEEP_EVERY == 0 {
            time_ms
        } else {
            None
        }
    }
}

/// The table of open connections.
pub struct ConnTracker {
    v4: HashMap<V4Key, Live>,
    v6: HashMap<V6Key, Live>,
    /// The cold halves of open connections; `None` where a slot is free.
    slots: Vec<Option<Cold>>,
    free: Vec<u32>,
    idle_timeout_ms: u64,
    next_id: u64,
    /// `None` for a shard, which its dispatcher sweeps ([`ConnTracker::shard`]).
    clock: Option<SweepClock>,
    /// Whether the packet of the last [`Seen::Opens`] travels against its forward flow (a
    /// SYN+ACK seen first), for [`ConnTracker::open`] to count it in the right direction.
    opening_reply: bool,
    finished: Vec<Connection>,
}

impl ConnTracker {
    /// A tracker with the given idle timeout, numbering connections from `first_id`.
    pub fn new(idle_timeout_ms: u64, first_id: u64) -> ConnTracker {
        ConnTracker {
            v4: HashMap::default(),
            v6: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            idle_timeout_ms,
            next_id: first_id,
            clock: Some(SweepClock::default()),
            opening_reply: false,
            finished: Vec::new(),
        }
    }

    /// A tracker for one shard of a capture split across threads: it never sweeps by
    /// itself; the dispatcher, which sees every packet, says when with [`ConnTracker::sweep`].
    pub fn shard(idle_timeout_ms: u64) -> ConnTracker {
        ConnTracker {
            clock: None,
            ..ConnTracker::new(idle_timeout_ms, 1)
        }
    }

    fn live_mut(&mut self, key: &Key) -> Option<&mut Live> {
        match key {
            Key::V4(k) => self.v4.get_mut(k),
            Key::V6(k) => self.v6.get_mut(k),
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Live> {
        match key {
            Key::V4(k) => self.v4.remove(k),
            Key::V6(k) => self.v6.remove(k),
        }
    }

    fn insert(&mut self, key: Key, live: Live) {
        match key {
            Key::V4(k) => self.v4.insert(k, live),
            Key::V6(k) => self.v6.insert(k, live),
        };
    }

    /// The keys of the open connections `wanted` says.
    fn keys_where(&self, wanted: impl Fn(&Live) -> bool) -> Vec<Key> {
        let v4 = self.v4.iter().map(|(k, c)| (Key::V4(*k), c));
        let v6 = self.v6.iter().map(|(k, c)| (Key::V6(*k), c));
        v4.chain(v6)
            .filter(|(_, c)| wanted(c))
            .map(|(k, _)| k)
            .collect()
    }

    /// Classifies a packet: the start of a connection, or part of one.
    pub fn packet(&mut self, flow: &Flow, info: &PacketInfo, time_ms: Option<u64>) -> Seen {
        if let Some(now) = self.clock.as_mut().and_then(|c| c.tick(time_ms)) {
            self.sweep(now);
        }
        let (key, from_lo) = Key::of(flow);
        let flags = info.tcp_flags.unwrap_or(0);
        let syn = flow.protocol == proto::TCP && flags & SYN != 0;
        let timeout = self.idle_timeout_ms;
        match self.live_mut(&key) {
            // A denied first packet makes no flow record, so nothing lets a packet the other
            // way through as a reply: it starts a flow of its own.
            Some(c)
                if !c.stale(syn, time_ms, timeout)
                    && (c.verdict == Verdict::Allow || from_lo == c.has(FORWARD_FROM_LO)) =>
            {
                let reply = from_lo != c.has(FORWARD_FROM_LO);
                let stepped_back = match (c.last_ms(), time_ms) {
                    (Some(last), Some(now)) => now < last,
                    _ => false,
                };
                c.count(from_lo, info.length, time_ms);
                if flags & RST != 0 {
                    c.flags |= CLOSED;
                }
                if flags & FIN != 0 {
                    c.flags |= if reply { FIN_REVERSE } else { FIN_FORWARD };
                }
                let (verdict, slot) = (c.verdict, c.slot);
                if stepped_back {
                    self.earliest(slot, time_ms);
                }
                return Seen::Belongs {
                    verdict,
                    reply,
                    connection: ConnectionRef(slot),
                };
            }
            Some(_) => self.end(&key),
            None => {}
        }
        let synack_first = flow.protocol == proto::TCP && flags & (SYN | ACK) == SYN | ACK;
        self.opening_reply = synack_first;
        let forward = if synack_first { reverse(flow) } else { *flow };
        Seen::Opens { forward }
    }

    /// Keeps `now` as the connection's first time when it is earlier: only called when the
    /// capture's clock stepped back, so that a packet does not touch the cold part.
    fn earliest(&mut self, slot: u32, now: Option<u64>) {
        let cold = self.slots.get_mut(slot as usize).and_then(Option::as_mut);
        if let (
            Some(Cold {
                first_ms: Some(first),
                ..
            }),
            Some(now),
        ) = (cold, now)
        {
            *first = (*first).min(now);
        }
    }

    /// Records a connection opened by `packet` (after `Seen::Opens`), judged `judgement`.
    pub fn open(
        &mut self,
        forward: Flow,
        judgement: Judgement,
        info: &PacketInfo,
        time_ms: Option<u64>,
    ) -> ConnectionRef {
        let id = self.next_id;
        self.next_id += 1;
        let verdict = judgement.verdict;
        let (key, forward_from_lo) = Key::of(&forward);
        let cold = Cold {
            id,
            forward,
            judgement,
            first_ms: time_ms,
            replies_denied: 0,
            reply_rule: None,
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
        let mut live = Live {
            last_ms: 0,
            packets: [0; 2],
            bytes: 0,
            slot,
            verdict,
            flags: if forward_from_lo { FORWARD_FROM_LO } else { 0 },
        };
        if info.tcp_flags.unwrap_or(0) & RST != 0 {
            live.flags |= CLOSED;
        }
        live.count(forward_from_lo != self.opening_reply, info.length, time_ms);
        self.opening_reply = false;
        self.insert(key, live);
        ConnectionRef(slot)
    }

    /// The rule that decided a live connection (kept out of the per-packet path: the CLI
    /// needs only the verdict, a per-record engine also names the rule).
    pub fn rule_of(&self, connection: ConnectionRef) -> Option<&RuleHit> {
        let cold = self.slots.get(connection.0 as usize)?.as_ref()?;
        cold.judgement.rule.as_ref()
    }

    /// Counts a reply of a live connection that the admin rule `rule` denied (D6
    /// `--admin-stateless`). Whether it is the connection's first denied reply: that one adds
    /// the rule's hit, once per connection as the rule that decided the connection did.
    pub fn deny_reply(&mut self, connection: ConnectionRef, rule: Option<&RuleHit>) -> bool {
        let Some(cold) = self
            .slots
            .get_mut(connection.0 as usize)
            .and_then(Option::as_mut)
        else {
            return false;
        };
        cold.replies_denied += 1;
        if cold.replies_denied > 1 {
            return false;
        }
        cold.reply_rule = rule.cloned();
        true
    }

    /// The id the next connection will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Whether connections finished since [`ConnTracker::take_finished`] was last called.
    pub fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Connections that finished since the last call (draining keeps the list's memory).
    pub fn take_finished(&mut self) -> std::vec::Drain<'_, Connection> {
        self.finished.drain(..)
    }

    /// Ends the capture: every connection still open, in order of id.
    pub fn finish(&mut self) -> Vec<Connection> {
        for key in self.keys_where(|_| true) {
            self.end(&key);
        }
        let mut all: Vec<Connection> = self.take_finished().collect();
        all.sort_by_key(|c| c.id);
        all
    }

    /// Moves the connection at `key` to the finished list.
    fn end(&mut self, key: &Key) {
        let Some(live) = self.remove(key) else {
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
        let (forward, replies) = live.forward_and_replies();
        self.finished.push(Connection {
            id: cold.id,
            forward: cold.forward,
            judgement: cold.judgement,
            first_ms: cold.first_ms,
            last_ms: live.last_ms(),
            packets: forward + replies,
            replies,
            replies_denied: cold.replies_denied,
            reply_rule: cold.reply_rule,
            bytes: live.bytes,
        });
    }

    /// Ends every connection idle at `now`.
    pub fn sweep(&mut self, now: u64) {
        let timeout = self.idle_timeout_ms;
        for key in self.keys_where(|c| c.stale(false, Some(now), timeout)) {
            self.end(&key);
        }
    }
}

/// Which of `shards` a packet of `flow` goes to: the same for both directions, so that all
/// packets of a connection meet in one shard's tracker. The reader computes it for every
/// packet, so it is a multiply-and-shift hash of the key's words, not a general hasher.
pub fn shard_of(flow: &Flow, shards: usize) -> usize {
    const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
    let word = match Key::of(flow).0 {
        Key::V4(V4Key([addresses, rest])) => addresses ^ rest.wrapping_mul(MIX),
        Key::V6(k) => {
            let fold = |x: u128| x as u64 ^ (x >> 64) as u64;
            fold(k.lo) ^ fold(k.hi).rotate_left(32) ^ u64::from(k.ports).wrapping_mul(MIX)
        }
    };
    // The hash's high half, scaled to `shards` (no division).
    let high = word.wrapping_mul(MIX) >> 32;
    ((high * shards as u64) >> 32) as usize
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
        let done: Vec<Connection> = t.take_finished().collect();
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].packets, done[0].bytes),
            (4, 240),
            "both directions counted"
        );
        assert_eq!((done[0].first_ms, done[0].last_ms), (Some(0), Some(3)));
    }

    /// After a denied SYN, the other end's own SYN is a new flow, not a reply: Azure keeps no
    /// record of a denied flow to admit or deny it by.
    #[test]
    fn a_packet_against_a_denied_connection_opens_its_own() {
        let mut t = ConnTracker::new(240_000, 1);
        let out = tcp("10.0.0.1", 5000, "10.0.0.2", 9999);
        let Seen::Opens { forward } = t.packet(&out, &info(SYN), Some(0)) else {
            panic!("opens")
        };
        let deny = Judgement {
            verdict: Verdict::Deny,
            ..allow()
        };
        t.open(forward, deny, &info(SYN), Some(0));
        assert!(
            matches!(
                t.packet(&out, &info(SYN), Some(1)),
                Seen::Belongs {
                    verdict: Verdict::Deny,
                    reply: false,
                    ..
                }
            ),
            "a retransmitted SYN shares the deny"
        );
        match t.packet(&reverse(&out), &info(SYN), Some(2)) {
            Seen::Opens { forward } => assert_eq!(forward, reverse(&out)),
            Seen::Belongs { .. } => panic!("the other end's SYN is a flow of its own"),
        }
    }

    #[test]
    fn a_clock_stepping_back_keeps_the_earliest_and_latest_times() {
        let mut t = ConnTracker::new(240_000, 1);
        let out = tcp("10.0.0.1", 5000, "10.0.0.2", 443);
        let Seen::Opens { forward } = t.packet(&out, &info(SYN), Some(500)) else {
            panic!("opens")
        };
        t.open(forward, allow(), &info(SYN), Some(500));
        t.packet(&reverse(&out), &info(SYN | ACK), Some(900));
        t.packet(&out, &info(ACK), Some(200));
        let done = t.finish();
        assert_eq!(
            (done[0].packets, done[0].first_ms, done[0].last_ms),
            (3, Some(200), Some(900))
        );
    }

    #[test]
    fn packets_are_counted_by_direction_from_the_first() {
        let mut t = ConnTracker::new(240_000, 1);
        let reply = tcp("10.0.0.2", 443, "10.0.0.1", 5000);
        let Seen::Opens { forward } = t.packet(&reply, &info(SYN | ACK), None) else {
            panic!("opens")
        };
        t.open(forward, allow(), &info(SYN | ACK), None);
        t.packet(&forward, &info(ACK), None);
        t.packet(&forward, &info(ACK), None);
        let done = t.finish();
        assert_eq!(
            (done[0].packets, done[0].replies),
            (3, 1),
            "the SYN+ACK is a reply"
        );
        assert_eq!(done[0].last_ms, None);
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

    #[test]
    fn both_directions_of_a_connection_go_to_the_same_shard() {
        let shards: std::collections::BTreeSet<usize> = (0..200)
            .map(|port| {
                let out = tcp("10.0.0.1", 5000 + port, "10.0.0.2", 443);
                let to = shard_of(&out, 4);
                assert_eq!(to, shard_of(&reverse(&out), 4));
                to
            })
            .collect();
        assert_eq!(shards.len(), 4, "connections spread over every shard");
    }
}
