//! One rule table (one direction of one enforcement point) compiled so that classifying a
//! flow costs a few binary searches and one short word loop, whatever the number of rules —
//! or, where it fits, one walk down a decision tree.
//!
//! Two lookups, chosen per table when it is compiled:
//!
//! - A decision tree (module `tree`, HyperSplit-style) for tables where no rule names an
//!   ASG and the tree fits a byte budget of 128 KiB + 384 bytes a rule, 2 MiB at least
//!   (under 4 MiB at 10,000 rules). It answers flows with IPv4 addresses at both ends;
//!   other flows go to the bit-vectors of the rules that name an IPv6 address, the only
//!   ones that can match them. [`CompiledTable::first_match_batch`] walks eight flows'
//!   trees together.
//!   Where no tree over every rule fits, a head tree covers the longest run of rules from
//!   the first that fits (found by halving), and trees over the rest by breadth class
//!   (module `forest`) or, where those do not fit or would not pay, bit-vectors over the
//!   rest answer the flows none of the head's rules matches: every rule of the rest comes
//!   after every rule of the head, so the first match is still the table's first.
//! - The bit-vector classifier below for every other table.
//!
//! Measured on ClassBench-shaped sets (`secpath bench --iter 5`, one core, two interleaved
//! runs on a loaded 2-core machine, M lookups/s; bit-vectors → tree, with DPDK's
//! `dpdk-test-acl` in the same run): acl 1K 9.6–9.7 → 13.2–14.2 (rte_acl 28–30), fw 1K
//! 5.0–10.8 → 12.7–13.5 (rte_acl 25–36), fw 10K 8.4–8.5 → 9.4–12.7 (rte_acl 35–38); table
//! bytes acl 1K 0.24 → 0.46 MB, fw 1K 0.19 → 0.09 MB, fw 10K 2.9 → 0.09 MB (a wildcard rule
//! in the fw sets hides every rule after it, and the tree drops them); compile 17–26 ms at
//! acl 1K, 17–21 ms at fw 10K. Checksums equal the bit-vectors' on every set. (Leaves
//! checked eight entries at a time have since doubled the tree's rate on fw: see module
//! `tree`.) The ipc 1K, acl 10K and ipc 10K sets outgrow any budget (wildcards in one
//! address field copy rules into every subtree of the other: ipc 1K's 1,000 rules had
//! made 1.3 million entries when a 64 MB budget ran out) and kept the bit-vectors until
//! the tree over their first rules below; the abandoned build was most of their compile
//! time (ipc 1K 19 ms, acl 10K 200 ms).
//!
//! Measured and lost: one tree per group of rules (narrow source / narrow destination /
//! neither, as in CutSplit) fits every set in 0.05–0.62 MB, but a lookup then scans a leaf
//! in each of three trees, and was 2–3× slower than the bit-vectors (ipc 10K 3.9–4.2
//! against 7.0–7.5 M/s, even with each scan stopping at the best rule so far); measured
//! again with the faster leaves, it still lost (module `tree`).
//!
//! A tree over the first rules, bit-vectors over the rest, against bit-vectors over every
//! rule (`secpath bench --iter 3`, two interleaved runs each on a loaded 2-core machine, M
//! lookups/s, same checksums; sets from `benches/classbench_gen.py` and from ClassBench's
//! own db_generator and trace_generator on the published seeds): fw 1K 11.3–12.9 →
//! 16.2–17.3 (the tree over 750 of the 1,000 rules), ipc 1K 10.5–11.8 → 20.6–21.3 (937),
//! acl 10K 7.6–7.8 → 11.9–15.2 (8,750), ipc 10K 5.0–6.8 → 6.6–8.6 (6,250), fw 10K 5.9–6.4
//! → 5.2–6.7 (3,437: no gain); db_generator's fw1 1K 9.5–12.6 → 12.6–13.5, ipc1 10K
//! 8.7–10.3 → 11.4–12.8, fw1 10K 3.6–3.7 → 4.2–4.6 (a tree over only 293 of its 9,384).
//! Tables grow to at most 3.2 MB, compile time to at most 0.38 s at 10K (the probes).
//! The tree over a run first had the budget of the run's own rules; given the whole
//! table's, it covers more (`secpath bench --iter 10`, M lookups/s, tables; same
//! checksums): db_generator's fw1 10K 9.3–9.9 → 13.9 (1.6 → 3.2 MiB), ipc1 10K 18.1–18.4 →
//! 18.8–19.2 (2.6 → 3.6 MiB), fw 10K 11.5–12.7 → 11.5–13.5 (2.2 → 3.6 MiB), ipc 10K
//! 16.7–17.9 → 17.3–18.0 (3.0 → 3.7 MiB); acl 10K unchanged (3.0 MiB), compile time at most
//! 0.21 s. Seven probes rather than five found longer runs still, but fw 10K's table grew
//! to 4.5 MiB.
//!
//! Measured and lost: trees for tables that name ASGs, the endpoints' memberships keyed as two
//! more fields (a field that names addresses and ASGs is two boxes, addresses with any
//! membership and any address with the memberships it names), which would give NSG
//! templates trees: on the enterprise snapshot 4.4 → 3.0 M decisions/s within the 1 MiB
//! floor (its random port ranges copied rules into 57 MiB of trees) and no gain within
//! 16–128 KiB, where few fit; on Contoso 6.8 → 5.9 (its NSGs' inline bit-vectors are a few
//! loads, a membership key costs more).
//!
//! Measured and lost: the rest compiled the same way again, up to four trees in a chain
//! (fw 1K 15.1–15.6 → 11.9–12.4, ipc 10K 5.8–7.5 → 4.1–4.7, fw 10K 3.8–3.9 → 3.1): a flow
//! that the first tree misses then walks more trees before the bit-vectors, and most of the
//! rest is wide rules whose trees cover little.
//!
//! The sets above were drawn in random order, so a wildcard early in the fw sets hid most
//! of them. `benches/classbench_gen.py` now writes filters most specific first, as
//! ClassBench's db_generator does; on such sets every shape but acl 1K is too big for one
//! tree (fw 1K: 0.19 MB of bit-vectors, 11 M lookups/s against `rte_acl`'s 27 in the same
//! run). Sets made by db_generator itself from the published seeds agree: acl1 1K and 10K
//! and ipc1 1K get a tree; fw1 1K and 10K and ipc1 10K keep the bit-vectors.
//!
//! The bit-vector classifier:
//!
//! The classic field-decomposition classifier (Lakshman & Stiliadis; "bit-vector" search):
//! each field's value space is cut into elementary intervals at every rule boundary, and
//! each interval maps to the bit-vector of the rules whose field contains it. A flow looks up
//! one interval per field, ANDs the five vectors (protocol, source address, source port,
//! destination address, destination port), and the lowest set bit is the first rule, in
//! table order, that matches every field — exactly what the linear scan
//! [`eval::matching::first_match`](crate::eval::matching::first_match) returns.
//!
//! - Addresses: an interval map per family (IPv4 keyed by `u32`, IPv6 by `u128`).
//!   Application security groups cannot be intervals: per ASG, the vector of rules naming it;
//!   a source matches `addresses | OR(vectors of the source NIC's ASGs)`.
//! - Ports: an interval map keyed by `u16`; a flow without ports matches every rule's port
//!   fields (SEMANTICS §3.1), so it uses the all-rules vector.
//! - Protocol: a direct 256-entry table, filled by
//!   [`protocol_matches`] so D3 is decided in one place.
//!
//! Identical vectors are stored once, and their 512-rule blocks are shared between vectors
//! (module `bits`), so memory is intervals × one index, distinct vectors × one `u32`
//! per block, and the distinct blocks. Measured on ClassBench-shaped sets of 10,000 rules
//! (acl / fw / ipc), whole vectors took 24.3 / 18.1 / 21.6 MiB; shared blocks take
//! 3.2 / 2.4 / 2.9 MiB, with the same lookup rate or better in the same run (the tables now
//! stay in the last-level cache).

use super::bits::{self, Arena, Inline, InlineVectors, Interner, Intersect, Store, NARROW};
use super::forest::{earliest, Forest, SMALL_TREE};
use super::tree::{FlowKey, Ranges, Shape, LANES, NO_PORT};
use crate::eval::matching::{protocol_matches, EndpointAsgs};
use crate::flow::Flow;
use crate::model::{AddrSet, PortRange};
use crate::options::AnyProtocol;
use crate::resolve::{AddrMatch, ResolvedRule};
use std::net::IpAddr;

/// What a lookup knows of a flow's endpoints beyond their addresses: their NICs' ASGs, and
/// the pseudo-ASG (module `local`) each is in at the point, if the table is a template's.
/// Kept apart from the NIC's list so that nothing is copied to add it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ends<'a> {
    pub(crate) asgs: EndpointAsgs<'a>,
    /// `[source, destination]` pseudo-ASGs.
    pub(crate) local: [Option<usize>; 2],
}

impl<'a> From<EndpointAsgs<'a>> for Ends<'a> {
    fn from(asgs: EndpointAsgs<'a>) -> Ends<'a> {
        Ends {
            asgs,
            local: [None, None],
        }
    }
}

/// A value type that can be cut into intervals: ports, IPv4 and IPv6 addresses.
pub(crate) trait Key: Copy + Ord {
    /// The smallest value.
    const MIN: Self;
    /// Bits of a value.
    const BITS: u32;
    /// The next value, `None` at the maximum.
    fn succ(self) -> Option<Self>;
    /// The `bits` bits (0 to 16) after the top `skip` ones, as an index.
    fn window(self, skip: u32, bits: u32) -> usize;
}

/// Implements [`Key`] for an unsigned integer type.
macro_rules! key {
    ($t:ty) => {
        impl Key for $t {
            const MIN: $t = 0;
            const BITS: u32 = <$t>::BITS;
            fn window(self, skip: u32, bits: u32) -> usize {
                self.checked_shl(skip)
                    .and_then(|x| x.checked_shr(<$t>::BITS - bits))
                    .map_or(0, |t| t as usize)
            }
            fn succ(self) -> Option<$t> {
                self.checked_add(1)
            }
        }
    };
}

key!(u16);
key!(u32);
key!(u128);

/// An [`IntervalMap`] index entry with this bit set names a second-level index.
const DEEP: u32 = 1 << 31;

/// Where a deep entry keeps its second level's width; below it, the level's offset.
const DEEP_WIDTH_AT: u32 = 26;

/// Runs longer than this get a second-level index.
const LONG_RUN: usize = 16;

/// A step function over a key space: `starts[i]..starts[i + 1]` maps to `ids[i]`.
///
/// Lookup indexes the key's top bits into the run of `starts` that share them, then binary
/// searches that run only: a map of `n` boundaries takes `2n`–`4n` index slots (at most
/// 65,537), so runs are short and the search's dependent loads drop from `log2 n` to a few.
/// Measured on ClassBench-shaped sets, best of four interleaved runs on a loaded 2-core
/// machine: at 10,000 rules acl 3.5 → 7.7, fw 5.6 → 8.4, ipc 3.5 → 5.9 M lookups/s; at 1,000
/// rules acl 6.9 → 9.5, fw 8.5 → 12.5, ipc 11.1 → 10.5 (noise). Tables grow by the index:
/// 3.2 → 3.8 MiB at 10,000 acl rules.
///
/// Where many starts share their top bits (an enterprise's addresses all lie in 10/8, and
/// ClassBench's acl and ipc prefixes cluster too), the run of such a slot is long; it gets a
/// second-level index on the next bits, sized to the run the same way, so its search stays
/// short too. Measured (same runs, loaded 2-core machine, best of two, M lookups/s, with
/// the previous commit's other compile changes that do not touch lookups): acl 10K
/// 4.2 → 6.3, ipc 10K 5.3 → 6.5 (tables under 0.1% larger); enterprise decisions ~6%
/// faster, its tables 44 → 50 MB (thousands of small maps, each with a 10/8 second level).
///
/// Measured before and lost, at 1,000 rules: a static 16-ary B+-tree (a cache line of keys
/// per level, counted with vector compares) was ~10% slower than a plain binary search; a
/// 65,536-entry direct index for ports saved ~7% for 256–512 KiB per port field per table,
/// too much for a policy with hundreds of tables (the index here is sized to the map).
#[derive(Clone, Debug)]
pub(crate) struct IntervalMap<K, V> {
    /// Sorted; `starts[0]` is `K::MIN`, so every key has an interval.
    starts: Vec<K>,
    /// One vector per interval (as its [`Store`] keeps it); adjacent intervals never share one.
    ids: Vec<V>,
    /// Bits of the key that `index` is indexed by.
    bits: u32,
    /// `index[t]`: how many starts have top bits below `t`; `2^bits + 1` entries. An entry
    /// marked [`DEEP`] instead holds the width `w` and offset `o` of its slot's second level:
    /// `deep[o + u]` is how many starts lie below the slot's sub-slot `u`, for `u` in
    /// `0..=2^w`.
    index: Vec<u32>,
    deep: Vec<u32>,
}

impl<K: Key, V: Copy + Default + PartialEq> IntervalMap<K, V> {
    /// The vector of the interval holding `key`.
    #[inline]
    pub(crate) fn get(&self, key: K) -> V {
        let (lo, hi) = self.run(key);
        let hi = hi.min(self.starts.len());
        let run = self.starts.get(lo..hi).unwrap_or(&[]);
        let i = lo + run.partition_point(|&s| s <= key);
        self.ids
            .get(i.saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }

    /// The range of `starts` that shares `key`'s indexed bits.
    #[inline]
    fn run(&self, key: K) -> (usize, usize) {
        let t = key.window(0, self.bits);
        let entry = self.index.get(t).copied().unwrap_or(0);
        if entry & DEEP == 0 {
            return (entry as usize, self.below(t + 1));
        }
        let (width, at) = deep_entry(entry);
        let u = at + key.window(self.bits, width);
        let count = |u: usize| self.deep.get(u).map_or(usize::MAX, |&x| x as usize);
        (count(u), count(u + 1))
    }

    /// How many starts have top bits below `t`.
    #[inline]
    fn below(&self, t: usize) -> usize {
        match self.index.get(t) {
            Some(&e) if e & DEEP != 0 => self.deep.get(deep_entry(e).1).map_or(0, |&x| x as usize),
            Some(&e) => e as usize,
            None => usize::MAX,
        }
    }

    /// Builds the top-bits index over `starts` (none below 16 starts, else about two to
    /// four slots per start), and a second level for each run longer than [`LONG_RUN`].
    fn index(&mut self) {
        let n = self.starts.len();
        self.bits = if n < 16 || u32::try_from(n).is_err() {
            0
        } else {
            (n.ilog2() + 2).min(16)
        };
        let counts = counts_below(&self.starts, 0, self.bits, 0);
        self.index = Vec::with_capacity(counts.len());
        for (t, &lo) in counts.iter().enumerate() {
            let hi = counts.get(t + 1).map_or(lo, |&hi| hi);
            let run = self.starts.get(lo as usize..hi as usize).unwrap_or(&[]);
            let width = (run.len().max(1).ilog2() + 2)
                .min(16)
                .min(K::BITS - self.bits);
            match u32::try_from(self.deep.len()) {
                Ok(at) if run.len() > LONG_RUN && width > 0 && at < 1 << DEEP_WIDTH_AT => {
                    self.deep
                        .extend(counts_below(run, self.bits, width, lo as usize));
                    self.index.push(DEEP | width << DEEP_WIDTH_AT | at);
                }
                _ => self.index.push(lo),
            }
        }
    }

    /// Heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<K>()
            + self.ids.capacity() * std::mem::size_of::<V>()
            + (self.index.capacity() + self.deep.capacity()) * std::mem::size_of::<u32>()
    }

    /// Cuts the key space at every boundary of `ranges` (inclusive `(lo, hi, item)`) and
    /// stores, per interval, the vector of the items whose ranges cover it. An item's
    /// ranges may overlap each other.
    pub(crate) fn build<S: Store<Id = V>>(
        ranges: &[(K, K, usize)],
        interner: &mut S,
    ) -> IntervalMap<K, V> {
        // +1 where a range starts, -1 just past where it ends (none past the maximum).
        let mut events: Vec<(K, bool, usize)> = Vec::with_capacity(ranges.len() * 2);
        for &(lo, hi, item) in ranges {
            events.push((lo, true, item));
            if let Some(next) = hi.succ() {
                events.push((next, false, item));
            }
        }
        events.sort_unstable_by_key(|e| e.0);
        let items = ranges.iter().map(|r| r.2 + 1).max().unwrap_or(0);
        let mut cover = vec![0u32; items];
        let mut current = interner.zeroed();
        let mut map = IntervalMap {
            starts: vec![K::MIN],
            ids: vec![interner.intern(&current)],
            bits: 0,
            index: Vec::new(),
            deep: Vec::new(),
        };
        let mut rest = events.as_slice();
        while let Some(&(at, _, _)) = rest.first() {
            let same = rest.partition_point(|e| e.0 == at);
            let (here, later) = rest.split_at(same);
            rest = later;
            for &(_, start, item) in here {
                let Some(count) = cover.get_mut(item) else {
                    continue;
                };
                if start {
                    *count += 1;
                    bits::set(&mut current, item);
                } else {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        bits::clear(&mut current, item);
                    }
                }
            }
            let id = interner.intern(&current);
            if at == K::MIN {
                map.ids[0] = id;
            } else if map.ids.last() != Some(&id) {
                map.starts.push(at);
                map.ids.push(id);
            }
        }
        map.starts.shrink_to_fit();
        map.ids.shrink_to_fit();
        map.index();
        map
    }
}

/// The width and offset of a [`DEEP`] index entry.
#[inline]
fn deep_entry(entry: u32) -> (u32, usize) {
    (
        (entry & !DEEP) >> DEEP_WIDTH_AT,
        (entry & ((1 << DEEP_WIDTH_AT) - 1)) as usize,
    )
}

/// For each `t` in `0..=2^bits`: `base` plus how many of `keys` (sorted) have the `bits`
/// bits after their top `skip` ones below `t`.
fn counts_below<K: Key>(keys: &[K], skip: u32, bits: u32, base: usize) -> Vec<u32> {
    let slots = 1usize << bits;
    let mut counts = Vec::with_capacity(slots + 1);
    let mut below = 0usize;
    for t in 0..slots {
        while keys.get(below).is_some_and(|k| k.window(skip, bits) < t) {
            below += 1;
        }
        counts.push(u32::try_from(base + below).unwrap_or(u32::MAX));
    }
    counts.push(u32::try_from(base + keys.len()).unwrap_or(u32::MAX));
    counts
}

/// One address field of a table: addresses per family, plus rules naming ASGs; vectors as
/// `V` (see [`Store`]).
#[derive(Clone, Debug)]
struct AddrField<V> {
    v4: IntervalMap<u32, V>,
    v6: IntervalMap<u128, V>,
    /// `(ASG index, vector of the rules naming it)`, sorted by ASG.
    asgs: Vec<(usize, V)>,
}

impl<V: Copy + Default + PartialEq> AddrField<V> {
    fn build<'r, S: Store<Id = V>>(
        fields: impl Iterator<Item = &'r AddrMatch>,
        store: &mut S,
    ) -> AddrField<V> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut asgs: Vec<(usize, Vec<u64>)> = Vec::new();
        for (rule, field) in fields.enumerate() {
            push_ranges(&field.set, rule, &mut v4, &mut v6);
            for &asg in &field.asgs {
                let at = match asgs.binary_search_by_key(&asg, |a| a.0) {
                    Ok(at) => at,
                    Err(at) => {
                        asgs.insert(at, (asg, store.zeroed()));
                        at
                    }
                };
                if let Some((_, v)) = asgs.get_mut(at) {
                    bits::set(v, rule);
                }
            }
        }
        AddrField {
            v4: IntervalMap::build(&v4, store),
            v6: IntervalMap::build(&v6, store),
            asgs: asgs
                .into_iter()
                .map(|(asg, v)| (asg, store.intern(&v)))
                .collect(),
        }
    }

    /// The vector of rules whose address list holds `ip`.
    #[inline]
    fn addresses(&self, ip: IpAddr) -> V {
        match ip {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => self.v6.get(u128::from(a)),
        }
    }

    /// The vector of the rules naming the pseudo-ASG `tag` (module `local`), if any does:
    /// pseudo-ASGs are the two largest indexes, so they end `asgs` and no search is needed.
    #[inline]
    fn local(&self, tag: usize) -> Option<V> {
        let last = self.asgs.get(self.asgs.len().saturating_sub(2)..)?;
        last.iter().find(|a| a.0 == tag).map(|a| a.1)
    }

    /// The vector of the rules naming `asg`, if any does.
    #[inline]
    fn asg(&self, asg: usize) -> Option<V> {
        self.asgs
            .binary_search_by_key(&asg, |a| a.0)
            .ok()
            .and_then(|at| self.asgs.get(at))
            .map(|a| a.1)
    }

    fn bytes(&self) -> usize {
        self.v4.bytes() + self.v6.bytes() + self.asgs.capacity() * std::mem::size_of::<(usize, V)>()
    }
}

/// An address set as inclusive `u32`/`u128` ranges tagged with `rule`.
fn push_ranges(
    set: &AddrSet,
    rule: usize,
    v4: &mut Vec<(u32, u32, usize)>,
    v6: &mut Vec<(u128, u128, usize)>,
) {
    v4.extend(set.v4_ranges().map(|(lo, hi)| (lo, hi, rule)));
    v6.extend(set.v6_ranges().map(|(lo, hi)| (lo, hi, rule)));
}

/// Port lists as ranges tagged with their rule.
fn port_ranges<'r>(lists: impl Iterator<Item = &'r [PortRange]>) -> Vec<(u16, u16, usize)> {
    lists
        .enumerate()
        .flat_map(|(rule, list)| list.iter().map(move |r| (r.lo, r.hi, rule)))
        .collect()
}

/// The bit-vector classifier over a table's rules; see the module documentation. `I`
/// intersects the vectors: shared blocks in an arena, or inline for narrow tables.
#[derive(Clone, Debug)]
struct VectorTable<I: Intersect> {
    /// Every distinct vector of this table.
    vectors: I,
    /// The vector with every rule's bit: the port field of a flow without ports.
    all: I::Id,
    /// Per IP protocol number, its entry in `protocols`: one cache line covers ICMP, TCP
    /// and UDP.
    protocol: Box<[u8; 256]>,
    /// The distinct protocol vectors.
    protocols: Vec<I::Id>,
    source: AddrField<I::Id>,
    source_port: IntervalMap<u16, I::Id>,
    destination: AddrField<I::Id>,
    destination_port: IntervalMap<u16, I::Id>,
}

impl<I: Intersect> VectorTable<I> {
    /// Compiles borrowed rules, in evaluation order, keeping vectors in `store`.
    fn build<S: Store<Id = I::Id, Finished = I>>(
        rules: &[&ResolvedRule],
        any: AnyProtocol,
        mut store: S,
    ) -> VectorTable<I> {
        let mut all = store.zeroed();
        for rule in 0..rules.len() {
            bits::set(&mut all, rule);
        }
        let all = store.intern(&all);
        let mut protocol = Box::new([0; 256]);
        let mut distinct: Vec<Vec<u64>> = Vec::new();
        for (number, slot) in (0..=u8::MAX).zip(protocol.iter_mut()) {
            let mut v = store.zeroed();
            for (i, r) in rules.iter().enumerate() {
                if protocol_matches(r.rule.fields.protocol, number, any) {
                    bits::set(&mut v, i);
                }
            }
            let at = distinct.iter().position(|d| *d == v).unwrap_or_else(|| {
                distinct.push(v);
                distinct.len() - 1
            });
            // At most 256 distinct vectors, one per protocol number.
            *slot = u8::try_from(at).unwrap_or(u8::MAX);
        }
        let protocols = distinct.iter().map(|v| store.intern(v)).collect();
        let source = AddrField::build(rules.iter().map(|r| &r.sources), &mut store);
        let destination = AddrField::build(rules.iter().map(|r| &r.destinations), &mut store);
        let source_port = port_ranges(rules.iter().map(|r| r.source_ports.as_slice()));
        let source_port = IntervalMap::build(&source_port, &mut store);
        let destination_port = port_ranges(rules.iter().map(|r| r.destination_ports.as_slice()));
        let destination_port = IntervalMap::build(&destination_port, &mut store);
        VectorTable {
            vectors: store.finish(),
            all,
            protocol,
            protocols,
            source,
            source_port,
            destination,
            destination_port,
        }
    }

    /// The index of the first rule matching `flow` (whose endpoints are in `ends`' ASGs).
    #[inline]
    fn first_match<'t>(&'t self, flow: &Flow, ends: Ends<'t>) -> Option<usize> {
        let ports = |map: &IntervalMap<u16, I::Id>, port: Option<u16>| match port {
            Some(p) => map.get(p),
            None => self.all,
        };
        let class = self.protocol[usize::from(flow.protocol)];
        let fields = [
            self.protocols
                .get(usize::from(class))
                .copied()
                .unwrap_or_default(),
            self.source.addresses(flow.src),
            ports(&self.source_port, flow.src_port),
            self.destination.addresses(flow.dst),
            ports(&self.destination_port, flow.dst_port),
        ];
        if self.source.asgs.is_empty() && self.destination.asgs.is_empty() {
            return self.vectors.first_common(fields);
        }
        let named = |field: &'t AddrField<I::Id>, nic: &'t [usize], local: Option<usize>| {
            let nic = nic.iter().filter_map(move |&a| field.asg(a));
            nic.chain(local.and_then(|t| field.local(t)))
        };
        let [src, dst] = ends.local;
        self.vectors.first_common_with(
            fields,
            named(&self.source, ends.asgs.src, src),
            named(&self.destination, ends.asgs.dst, dst),
        )
    }

    /// Heap and inline bytes.
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.vectors.bytes()
            + std::mem::size_of::<[u8; 256]>()
            + self.protocols.capacity() * std::mem::size_of::<I::Id>()
            + self.source.bytes()
            + self.destination.bytes()
            + self.source_port.bytes()
            + self.destination_port.bytes()
    }
}

/// A table's bit-vector classifier, its vectors inline where it has at most [`NARROW`]
/// rules (see module `bits`).
#[derive(Clone, Debug)]
enum Vectors {
    Narrow(VectorTable<InlineVectors>),
    Wide(VectorTable<Arena>),
}

impl Vectors {
    /// Compiles borrowed rules, in evaluation order.
    fn build(rules: &[&ResolvedRule], any: AnyProtocol) -> Vectors {
        if rules.len() <= NARROW {
            Vectors::Narrow(VectorTable::build(rules, any, Inline::default()))
        } else {
            Vectors::Wide(VectorTable::build(rules, any, Interner::new(rules.len())))
        }
    }

    /// The index of the first rule matching `flow` (whose endpoints are in `ends`' ASGs).
    #[inline]
    fn first_match(&self, flow: &Flow, ends: Ends) -> Option<usize> {
        match self {
            Vectors::Narrow(t) => t.first_match(flow, ends),
            Vectors::Wide(t) => t.first_match(flow, ends),
        }
    }

    /// Heap and inline bytes.
    fn bytes(&self) -> usize {
        match self {
            Vectors::Narrow(t) => t.bytes(),
            Vectors::Wide(t) => t.bytes(),
        }
    }

    /// How many distinct vectors it stores.
    fn distinct_vectors(&self) -> usize {
        match self {
            Vectors::Narrow(t) => t.vectors.len(),
            Vectors::Wide(t) => t.vectors.len(),
        }
    }
}

/// How a table is looked up.
#[derive(Clone, Debug)]
enum Lookup {
    /// Bit-vectors over every rule: tables naming ASGs, or where no tree fits.
    Vectors(Vectors),
    /// The forest over the table's rules (all of them where it fits) for flows with IPv4
    /// addresses at both ends; for other flows, those of the rules it covers that name
    /// IPv6 addresses (no other covered rule can match them). Then, for a flow none of the
    /// head's rules matches, the rules the forest does not cover (each comes after every
    /// rule of the head, so it is the first match only where none of those matches).
    Tree {
        forest: Forest,
        v6: Subset,
        rest: Option<Box<Subset>>,
    },
}

/// Some of a table's rules, as bit-vectors.
#[derive(Clone, Debug)]
struct Subset {
    /// Table index of each rule of `vectors`, ascending.
    rules: Vec<usize>,
    vectors: Vectors,
}

impl Subset {
    /// The rules of `numbered` (table index, rule), in order.
    fn of<'r>(
        numbered: impl Iterator<Item = (usize, &'r ResolvedRule)>,
        any: AnyProtocol,
    ) -> Subset {
        let (rules, kept): (Vec<usize>, Vec<&ResolvedRule>) = numbered.unzip();
        Subset {
            rules,
            vectors: Vectors::build(&kept, any),
        }
    }

    /// The first of these rules matching `flow`, as a table index.
    #[inline]
    fn first_match(&self, flow: &Flow, ends: Ends) -> Option<usize> {
        let i = self.vectors.first_match(flow, ends)?;
        self.rules.get(i).copied()
    }

    /// The earlier of table rule `found` and the subset's first match: the subset is not
    /// looked up where its first rule comes after `found`. On generated fw 10K, a sixth of
    /// the flows that miss the head tree are decided by a tail tree this way.
    #[inline]
    fn earliest_with(
        subset: Option<&Subset>,
        found: Option<usize>,
        flow: &Flow,
        ends: Ends,
    ) -> Option<usize> {
        match subset {
            Some(s)
                if s.rules
                    .first()
                    .is_some_and(|&r| found.is_none_or(|f| r < f)) =>
            {
                earliest(found, s.first_match(flow, ends))
            }
            _ => found,
        }
    }

    /// Heap and inline bytes.
    fn bytes(&self) -> usize {
        self.vectors.bytes() + self.rules.capacity() * std::mem::size_of::<usize>()
    }
}

/// Flows of a batch that missed a forest's head, gathered for its tail trees.
#[derive(Default)]
struct Missed {
    keys: [FlowKey; LANES],
    at: [usize; LANES],
    n: usize,
}

impl Missed {
    fn push(&mut self, key: FlowKey, at: usize) {
        if let (Some(k), Some(a)) = (self.keys.get_mut(self.n), self.at.get_mut(self.n)) {
            (*k, *a) = (key, at);
            self.n += 1;
        }
    }

    fn full(&self) -> bool {
        self.n == LANES
    }

    /// Walks the gathered flows down `forest`'s tail trees, checks them against the
    /// `rest`, and writes their answers to their places in `out` (flows are `flows`' at the
    /// same places).
    fn flush(
        &mut self,
        forest: &Forest,
        rest: Option<&Subset>,
        flows: &[Flow],
        ends: Ends,
        out: &mut [Option<usize>],
    ) {
        if self.n == 0 {
            return;
        }
        let found = forest.tail_batch(&self.keys);
        for (&at, hit) in self.at.iter().zip(found).take(self.n) {
            if let (Some(slot), Some(flow)) = (out.get_mut(at), flows.get(at)) {
                *slot = Subset::earliest_with(rest, hit, flow, ends);
            }
        }
        self.n = 0;
    }
}

/// A rule table compiled for lookup; see the module documentation.
///
/// ```
/// use secpath::compile::table::CompiledTable;
/// use secpath::eval::matching::EndpointAsgs;
/// use secpath::flow::Flow;
/// use secpath::options::AnyProtocol;
///
/// let table = CompiledTable::new(&[], AnyProtocol::All);
/// let flow = Flow::parse("tcp 10.0.0.1:5000 -> 10.0.0.2:443").unwrap();
/// assert_eq!(table.first_match(&flow, EndpointAsgs::default()), None);
/// ```
#[derive(Clone, Debug)]
pub struct CompiledTable {
    lookup: Lookup,
}

impl CompiledTable {
    /// Compiles `rules`, in evaluation order, with D3 (`any`) fixed for the table.
    pub fn new(rules: &[ResolvedRule], any: AnyProtocol) -> CompiledTable {
        CompiledTable::build(&rules.iter().collect::<Vec<_>>(), any)
    }

    /// Compiles borrowed rules, in evaluation order: a tree where no rule names an ASG and
    /// the tree fits [`tree_budget`], bit-vectors otherwise.
    pub(crate) fn build(rules: &[&ResolvedRule], any: AnyProtocol) -> CompiledTable {
        let asgs = rules
            .iter()
            .any(|r| !r.sources.asgs.is_empty() || !r.destinations.asgs.is_empty());
        let forest = (!asgs)
            .then(|| {
                let shapes: Vec<Shape> = rules.iter().map(|r| shape(r, any)).collect();
                Forest::build(&shapes, tree_budget(rules.len()))
            })
            .flatten();
        let lookup = match forest {
            Some(forest) => {
                let (covered, rest): (Vec<_>, Vec<_>) = rules
                    .iter()
                    .copied()
                    .enumerate()
                    .partition(|(i, _)| forest.covers(*i));
                let v6 = covered.into_iter().filter(|(_, r)| names_ipv6(r));
                Lookup::Tree {
                    v6: Subset::of(v6, any),
                    rest: (!rest.is_empty()).then(|| Box::new(Subset::of(rest.into_iter(), any))),
                    forest,
                }
            }
            None => Lookup::Vectors(Vectors::build(rules, any)),
        };
        CompiledTable { lookup }
    }

    /// The index of the first rule matching `flow` (whose endpoints' NICs are in `asgs`):
    /// the same answer as [`eval::matching::first_match`](crate::eval::matching::first_match)
    /// on the rules this table was built from.
    #[inline]
    pub fn first_match(&self, flow: &Flow, asgs: EndpointAsgs) -> Option<usize> {
        self.first_match_at(flow, asgs.into())
    }

    /// [`first_match`](Self::first_match) with the endpoints' pseudo-ASGs as well.
    #[inline]
    pub(crate) fn first_match_at(&self, flow: &Flow, ends: Ends) -> Option<usize> {
        match &self.lookup {
            Lookup::Vectors(v) => v.first_match(flow, ends),
            Lookup::Tree { forest, v6, rest } => {
                let rest = rest.as_deref();
                match flow_key(flow) {
                    Some(key) => forest.head_match(&key).or_else(|| {
                        Subset::earliest_with(rest, forest.tail_match(&key), flow, ends)
                    }),
                    None => Subset::earliest_with(rest, v6.first_match(flow, ends), flow, ends),
                }
            }
        }
    }

    /// [`first_match`](Self::first_match) for each of `flows`, written to the same position
    /// of `out` (positions past the shorter of the two are left alone). Faster than one flow
    /// at a time on a tree, whose walks are then interleaved.
    pub fn first_match_batch(&self, flows: &[Flow], asgs: EndpointAsgs, out: &mut [Option<usize>]) {
        let Lookup::Tree { forest, rest, .. } = &self.lookup else {
            for (slot, flow) in out.iter_mut().zip(flows) {
                *slot = self.first_match(flow, asgs);
            }
            return;
        };
        let mut missed = Missed::default();
        let n = flows.len().min(out.len());
        for start in (0..n).step_by(LANES) {
            let end = (start + LANES).min(n);
            let (Some(slots), Some(group)) = (out.get_mut(start..end), flows.get(start..end))
            else {
                break;
            };
            let mut keys = [FlowKey::default(); LANES];
            let all_v4 = keys
                .iter_mut()
                .zip(group)
                .all(|(key, flow)| flow_key(flow).map(|k| *key = k).is_some());
            if !all_v4 || group.len() < LANES {
                for (slot, flow) in slots.iter_mut().zip(group) {
                    *slot = self.first_match(flow, asgs);
                }
                continue;
            }
            let found = forest.head_batch(&keys);
            // Slices and plain loops: zipping the arrays' own iterators kept every answer on
            // the stack (measured: a third of the instructions of a lookup at acl1 1K).
            if let Some(slots) = slots.get_mut(..LANES) {
                slots.copy_from_slice(&found);
            }
            for lane in (0..LANES).filter(|&lane| found[lane].is_none()) {
                missed.push(keys[lane], start + lane);
                if missed.full() {
                    missed.flush(forest, rest.as_deref(), flows, asgs.into(), out);
                }
            }
        }
        missed.flush(forest, rest.as_deref(), flows, asgs.into(), out);
    }

    /// Heap and inline bytes of the compiled form.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<CompiledTable>()
            + match &self.lookup {
                Lookup::Vectors(v) => v.bytes(),
                Lookup::Tree { forest, v6, rest } => {
                    forest.bytes() + v6.bytes() + rest.as_ref().map_or(0, |r| r.bytes())
                }
            }
    }

    /// How many distinct rule vectors the table stores.
    pub fn distinct_vectors(&self) -> usize {
        match &self.lookup {
            Lookup::Vectors(v) => v.distinct_vectors(),
            Lookup::Tree { v6, rest, .. } => {
                let rest = rest.as_ref().map_or(0, |r| r.vectors.distinct_vectors());
                v6.vectors.distinct_vectors() + rest
            }
        }
    }
}

/// Bytes a tree over `rules` rules may take: 128 KiB and 384 bytes a rule, which keeps a
/// table of 10,000 rules under 4 MiB (see the module documentation for what fits), and at
/// least [`SMALL_TREE`], which small tables fill with smaller leaves or more rules in the
/// head and still stay in a core's L2 cache. It is a bound, not an allocation: most
/// tables' trees are far smaller. Measured (M lookups/s, 128 KiB + 384 bytes a rule → at
/// least 1 MiB): published acl1 1K 68.5 → 72.1, fw1 1K 43.2 → 48.6, ipc1 1K 73.1 → 76.1;
/// generated acl 1K 52.3 → 55.0 (0.34 → 0.88 MiB), ipc 1K 39.1 → 45.8, fw 1K 28.5 → 29.3.
/// At least 1 MiB → 2 MiB (best of three interleaved): published fw1 1K 51.3 → 56.4 (its
/// head of 811 rules with leaves of 15, 1.7 MiB, against leaves of 31), and see
/// `head_over_first` (module `forest`) for generated fw 1K.
fn tree_budget(rules: usize) -> usize {
    ((128 << 10) + rules * 384).max(SMALL_TREE)
}

/// The tree's key for `flow`, if both its addresses are IPv4.
#[inline]
fn flow_key(flow: &Flow) -> Option<FlowKey> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (flow.src, flow.dst) else {
        return None;
    };
    let port = |p: Option<u16>| p.map_or(NO_PORT, u32::from);
    Some([
        u32::from(flow.protocol),
        u32::from(src),
        port(flow.src_port),
        u32::from(dst),
        port(flow.dst_port),
        0,
        0,
        0,
    ])
}

/// True when the rule's source or destination names an IPv6 address.
fn names_ipv6(rule: &ResolvedRule) -> bool {
    [&rule.sources, &rule.destinations]
        .iter()
        .any(|m| m.set.v6_ranges().next().is_some())
}

/// A rule's IPv4 fields as the tree's ranges.
fn shape(rule: &ResolvedRule, any: AnyProtocol) -> Shape {
    let protocol = (0..=u8::MAX)
        .filter(|&n| protocol_matches(rule.rule.fields.protocol, n, any))
        .map(|n| (u32::from(n), u32::from(n)));
    let v4 = |m: &AddrMatch| m.set.v4_ranges().collect::<Vec<_>>().into_iter();
    let ports = |list: &[PortRange]| {
        let ranges = list.iter().map(|r| (u32::from(r.lo), u32::from(r.hi)));
        merged(ranges.chain([(NO_PORT, NO_PORT)]))
    };
    [
        merged(protocol),
        merged(v4(&rule.sources)),
        ports(&rule.source_ports),
        merged(v4(&rule.destinations)),
        ports(&rule.destination_ports),
    ]
}

/// `ranges` sorted, with overlapping and adjacent ones joined.
fn merged(ranges: impl Iterator<Item = (u32, u32)>) -> Ranges {
    let mut all: Vec<(u32, u32)> = ranges.collect();
    all.sort_unstable();
    let mut out = Ranges::new();
    for (lo, hi) in all {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::SmallVec;
    use std::collections::BTreeSet;

    #[test]
    fn intervals_merge_and_cover_the_whole_space() {
        let mut interner = Interner::new(3);
        let map = IntervalMap::<u16, usize>::build(
            &[(0, 9, 0), (5, 65535, 1), (10, 20, 2), (15, 30, 2)],
            &mut interner,
        );
        let arena = interner.finish();
        let rules_at = |p: u16| bits::ones(arena.get(map.get(p))).collect::<Vec<_>>();
        assert_eq!(rules_at(0), [0]);
        assert_eq!(rules_at(5), [0, 1]);
        assert_eq!(rules_at(10), [1, 2]);
        assert_eq!(rules_at(20), [1, 2], "rule 2's ranges overlap");
        assert_eq!(rules_at(30), [1, 2]);
        assert_eq!(rules_at(31), [1]);
        assert_eq!(rules_at(65535), [1]);
        assert_eq!(map.starts, [0, 5, 10, 31]);
    }

    /// Each key's vector in `map` holds exactly the items whose ranges contain the key.
    fn assert_agrees_with_scan(
        ranges: &[(u32, u32, usize)],
        map: &IntervalMap<u32, usize>,
        arena: &bits::Arena,
        keys: impl IntoIterator<Item = u32>,
    ) {
        for key in keys {
            let want: BTreeSet<usize> = ranges
                .iter()
                .filter(|r| r.0 <= key && key <= r.1)
                .map(|r| r.2)
                .collect();
            let got: BTreeSet<usize> = bits::ones(arena.get(map.get(key))).collect();
            assert_eq!(got, want, "key {key:#x}");
        }
    }

    /// Each range's edges and the keys just outside them.
    fn boundaries(ranges: &[(u32, u32, usize)]) -> impl Iterator<Item = u32> + '_ {
        ranges
            .iter()
            .flat_map(|r| [r.0.wrapping_sub(1), r.0, r.1, r.1.wrapping_add(1)])
    }

    #[test]
    fn lookups_agree_with_a_scan_of_the_ranges() {
        for n in [1usize, 15, 16, 17, 300] {
            let ranges: Vec<(u32, u32, usize)> = (0..n as u32)
                .map(|i| (i * 7 + 1, i * 7 + 3 + i % 5, i as usize % 3))
                .collect();
            let mut interner = Interner::new(3);
            let map = IntervalMap::build(&ranges, &mut interner);
            let keys = (0..n as u32 * 7 + 10).chain([u32::MAX - 1, u32::MAX]);
            assert_agrees_with_scan(&ranges, &map, &interner.finish(), keys);
        }
    }

    /// A linear congruential generator: the same table and flows every run.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n.max(1)
        }
    }

    /// One address block (/0 to /32 in 0–3.x.x.x), sometimes with an ASG.
    fn side(r: &mut Lcg) -> AddrMatch {
        let len = [0u8, 8, 16, 24, 32][r.below(5) as usize];
        let mut m = block(len, r);
        if r.below(10) == 0 {
            m.asgs.push(r.below(3) as usize);
        }
        m
    }

    /// One address block of `len` bits in 0–3.x.x.x.
    fn block(len: u8, r: &mut Lcg) -> AddrMatch {
        let mut m = AddrMatch::default();
        let base = (r.below(4) as u32) << 24 | r.below(1 << 24) as u32;
        if let Ok(net) = ipnet::Ipv4Net::new(base.into(), len) {
            m.set.insert_net(net.trunc().into());
        }
        m
    }

    fn ports(r: &mut Lcg) -> SmallVec<[PortRange; 2]> {
        let lo = [0, 80, 443, 1024][r.below(4) as usize];
        let hi = [65535, 80, 443, 2000][r.below(4) as usize];
        smallvec::smallvec![PortRange { lo, hi: hi.max(lo) }]
    }

    fn rule(i: usize, r: &mut Lcg) -> ResolvedRule {
        use crate::model::{Access, Direction, Protocol, ResourceId, Rule, RuleFields};
        use crate::resolve::RuleSource;
        let (sources, destinations) = (side(r), side(r));
        let (source_ports, destination_ports) = (ports(r), ports(r));
        let protocol = [Protocol::Any, Protocol::Tcp, Protocol::Udp][r.below(3) as usize];
        ResolvedRule {
            rule: std::sync::Arc::new(Rule {
                id: ResourceId::new(&format!("/r/{i}")),
                name: format!("r{i}"),
                priority: 100,
                access: Access::Deny,
                direction: Direction::Inbound,
                fields: RuleFields {
                    protocol,
                    sources: SmallVec::new(),
                    source_ports: source_ports.clone(),
                    destinations: SmallVec::new(),
                    destination_ports: destination_ports.clone(),
                },
                is_default: false,
            }),
            source: RuleSource::Nsg { nsg: 0 },
            sources,
            source_ports,
            destinations,
            destination_ports,
        }
    }

    /// An address in a random rule's block, moved by -1, 0 or +1.
    fn address(rules: &[ResolvedRule], source: bool, r: &mut Lcg) -> IpAddr {
        let at = r.below(rules.len() as u64) as usize;
        let field = rules
            .get(at)
            .map(|x| if source { &x.sources } else { &x.destinations });
        let base = field
            .and_then(|f| f.set.to_cidrs().first().copied())
            .map_or(0, |n| match n.network() {
                IpAddr::V4(a) => u32::from(a),
                IpAddr::V6(_) => 0,
            });
        IpAddr::from(
            base.wrapping_add(r.below(3) as u32)
                .wrapping_sub(1)
                .to_be_bytes(),
        )
    }

    /// Random flows near the rules' blocks, with random endpoint ASGs.
    fn flows(rules: &[ResolvedRule], r: &mut Lcg) -> Vec<(Flow, EndpointAsgs<'static>)> {
        let asg_lists: [&'static [usize]; 4] = [&[], &[0], &[1, 2], &[0, 1, 2, 3, 4, 5]];
        (0..3000)
            .map(|_| {
                let protocol = [6u8, 17, 1, 50][r.below(4) as usize];
                let ported = protocol == 6 || protocol == 17;
                let mut port = || ported.then(|| [0, 80, 443, 1500, 65535][r.below(5) as usize]);
                let (src_port, dst_port) = (port(), port());
                let flow = Flow {
                    protocol,
                    src: address(rules, true, r),
                    src_port,
                    dst: address(rules, false, r),
                    dst_port,
                };
                let asgs = EndpointAsgs {
                    src: asg_lists[r.below(4) as usize],
                    dst: asg_lists[r.below(4) as usize],
                };
                (flow, asgs)
            })
            .collect()
    }

    #[test]
    fn tables_of_many_blocks_agree_with_the_linear_scan() {
        use crate::eval::matching::first_match;
        let mut r = Lcg(7);
        // Several 512-rule blocks, few rules per flow: many flows are decided late or not.
        let mut rules: Vec<ResolvedRule> = (0..3000).map(|i| rule(i, &mut r)).collect();
        for with_asgs in [true, false] {
            if !with_asgs {
                for rule in &mut rules {
                    rule.sources.asgs.clear();
                    rule.destinations.asgs.clear();
                }
            }
            for any in [AnyProtocol::All, AnyProtocol::TcpUdpIcmp] {
                let table = CompiledTable::new(&rules, any);
                let tree = matches!(table.lookup, Lookup::Tree { .. });
                assert!(!(tree && with_asgs), "no tree where a rule names an ASG");
                for (flow, asgs) in flows(&rules, &mut r) {
                    assert_eq!(
                        table.first_match(&flow, asgs),
                        first_match(&rules, &flow, asgs, any),
                        "{flow} {asgs:?}"
                    );
                }
            }
        }
    }

    /// Most rules wide: a head tree over the first ones and tail trees over the rest.
    #[test]
    fn a_tree_over_the_first_rules_and_trees_over_the_rest_agree_with_the_scan() {
        head_and_tail_agree_with_the_scan(900, 300, true);
    }

    /// Few rules wide: a head tree over the first ones and bit-vectors over the rest.
    #[test]
    fn a_tree_over_the_first_rules_and_bit_vectors_over_the_rest_agree_with_the_scan() {
        head_and_tail_agree_with_the_scan(3000, 2400, false);
    }

    /// Host-to-host rules up to `specific`, then rules from one host to anywhere and from
    /// anywhere to one host: every cut on one address copies the rules wild in it, so no
    /// tree over all of them fits, but one over the first ones does. The rest get trees of
    /// their own or not, as `tail_trees` expects.
    fn head_and_tail_agree_with_the_scan(total: usize, specific: usize, tail_trees: bool) {
        use crate::eval::matching::first_match;
        let mut r = Lcg(5);
        let mut rules: Vec<ResolvedRule> = (0..total).map(|i| rule(i, &mut r)).collect();
        for (i, rule) in rules.iter_mut().enumerate() {
            let (src, dst) = match i {
                _ if i < specific => (32, 32),
                _ if i % 2 == 0 => (32, 0),
                _ => (0, 32),
            };
            (rule.sources, rule.destinations) = (block(src, &mut r), block(dst, &mut r));
        }
        let any_v6: ipnet::IpNet = "::/0".parse().unwrap();
        rules[5].destinations.set.insert_net(any_v6);
        rules[600].sources.set.insert_net(any_v6);
        let mut flows: Vec<Flow> = flows(&rules, &mut r).into_iter().map(|f| f.0).collect();
        let first = |m: &AddrMatch| m.set.to_cidrs().first().map(|n| n.network());
        // Every other flow between the hosts of a rule, the rules taken evenly.
        let every = (rules.len() / (flows.len() / 2)).max(1);
        for (flow, rule) in flows
            .iter_mut()
            .step_by(2)
            .zip(rules.iter().step_by(every).cycle())
        {
            (flow.src, flow.dst) = (
                first(&rule.sources).unwrap(),
                first(&rule.destinations).unwrap(),
            );
        }
        for flow in flows.iter_mut().step_by(29) {
            flow.src = IpAddr::from([0x2001u16, 0xdb8, 0, 0, 0, 0, 0, 1]);
            flow.dst = IpAddr::from([0x2001u16, 0xdb8, 0, 0, 0, 0, 0, 2]);
        }
        let table = CompiledTable::new(&rules, AnyProtocol::All);
        let Lookup::Tree { forest, rest, .. } = &table.lookup else {
            panic!("expected a tree: {:?}", table.bytes());
        };
        let rest = rest.as_ref().map_or(0, |r| r.rules.len());
        assert_eq!(rest == 0, tail_trees, "{rest} rules left to bit-vectors");
        assert!(
            !forest.covers(rules.len() - 1) || tail_trees,
            "a forest over every rule"
        );
        let none = EndpointAsgs::default();
        let mut batch = vec![None; flows.len()];
        table.first_match_batch(&flows, none, &mut batch);
        let mut decided = [0; 3];
        for (flow, got) in flows.iter().zip(&batch) {
            let want = first_match(&rules, flow, none, AnyProtocol::All);
            assert_eq!(table.first_match(flow, none), want, "{flow}");
            assert_eq!(*got, want, "batch: {flow}");
            decided[want.map_or(2, |i| usize::from(i >= specific))] += 1;
        }
        assert!(
            decided.iter().all(|&n| n > 40),
            "head, tail, none: {decided:?}"
        );
    }

    #[test]
    fn batches_agree_with_single_lookups() {
        let mut r = Lcg(11);
        let mut rules: Vec<ResolvedRule> = (0..60).map(|i| rule(i, &mut r)).collect();
        let mut flows: Vec<Flow> = flows(&rules, &mut r).into_iter().map(|f| f.0).collect();
        // IPv6 flows break up some groups of lanes.
        for flow in flows.iter_mut().step_by(37) {
            flow.dst = IpAddr::from([0u16, 0, 0, 0, 0, 0xffff, 0, 1]);
        }
        let none = EndpointAsgs::default();
        for with_asgs in [true, false] {
            if !with_asgs {
                for rule in &mut rules {
                    rule.sources.asgs.clear();
                    rule.destinations.asgs.clear();
                }
            }
            let table = CompiledTable::new(&rules, AnyProtocol::All);
            let tree = matches!(table.lookup, Lookup::Tree { .. });
            assert_eq!(
                tree, !with_asgs,
                "a tree exactly where no rule names an ASG"
            );
            let mut out = vec![Some(usize::MAX); flows.len() + 3];
            table.first_match_batch(&flows, none, &mut out);
            for (flow, got) in flows.iter().zip(&out) {
                assert_eq!(*got, table.first_match(flow, none), "{flow}");
            }
            assert_eq!(out[flows.len()..], [Some(usize::MAX); 3], "left alone");
        }
    }

    #[test]
    fn indexed_lookups_agree_across_the_key_space() {
        // Boundaries spread over all top bits, some sharing them, up to the maximum.
        let ranges: Vec<(u32, u32, usize)> = (0..400u32)
            .map(|i| {
                let lo = i.wrapping_mul(0x9E37_79B9) & !0xFF;
                (lo, lo.saturating_add(i % 3 * 0x80), i as usize % 5)
            })
            .chain([(u32::MAX - 1, u32::MAX, 4)])
            .collect();
        let mut interner = Interner::new(5);
        let map = IntervalMap::build(&ranges, &mut interner);
        assert!(map.bits > 8, "the index is in use");
        let keys = boundaries(&ranges).chain([0, u32::MAX]);
        assert_agrees_with_scan(&ranges, &map, &interner.finish(), keys);
    }

    #[test]
    fn clustered_starts_get_a_second_level_that_agrees_with_a_scan() {
        // An enterprise's shape: a few spread blocks, and many in 10/8 (one top-level slot).
        let spread = (1..20u32).map(|i| (i << 27, (i << 27) + 0xFFFF, 0));
        let clustered = (0..300u32).map(|i| {
            let lo = 10 << 24 | i.wrapping_mul(0x9E37) & 0x00FF_FF00;
            (lo, lo + (i % 4) * 0x40, i as usize % 7)
        });
        let ranges: Vec<(u32, u32, usize)> = spread.chain(clustered).collect();
        let mut interner = Interner::new(7);
        let map = IntervalMap::build(&ranges, &mut interner);
        assert!(!map.deep.is_empty(), "the 10/8 slot has a second level");
        let keys = boundaries(&ranges).chain([0, u32::MAX, 10 << 24, (11 << 24) - 1]);
        assert_agrees_with_scan(&ranges, &map, &interner.finish(), keys);
    }

    #[test]
    fn an_empty_map_has_one_interval() {
        let mut interner = Interner::new(0);
        let map = IntervalMap::<u128, usize>::build(&[], &mut interner);
        assert_eq!(map.get(u128::MAX), map.get(0));
        assert_eq!(bits::ones(interner.finish().get(map.get(7))).count(), 0);
    }
}
