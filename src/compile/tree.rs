//! A HyperSplit-style decision tree over the IPv4 five-tuple: the fast path of
//! [`CompiledTable`](super::CompiledTable) for tables without application security groups.
//!
//! Each internal node cuts one field's value range in two at a rule boundary; each leaf holds a
//! few rules, in table order, as entries (one range per field) laid out field by field in
//! [`Group`]s of eight, which a flow is checked against eight at a time. A rule sits in every
//! child its ranges meet, so a field that lists several prefixes or port ranges is handled as
//! it is; where several of a rule's ranges meet one leaf, the leaf holds one entry per
//! combination, all with the rule's index. The split of a node is, among the cuts that leave
//! each child fewer rules, the one that minimises the rules in both children plus those in the
//! larger one: copies cost as much as imbalance. Measured at acl 1K with leaves of 8 entries,
//! this cost and the larger child alone both built ~105,000 entries (the leaf size is what
//! matters, see [`LEAF_SIZES`]); the total alone carved one rule off at a time, into paths of 50 and
//! more. Rules after one that covers a node's whole region can never be first there and are
//! dropped.
//!
//! Fields are keyed as `u32`: protocol, source address, source port, destination address,
//! destination port. A flow without ports matches every rule's port fields (SEMANTICS §3.1):
//! its port key is [`NO_PORT`], one past the largest port, and every rule's port list includes
//! it, so such flows walk the tree like any other.
//!
//! The builder makes a binary tree; the lookup walks it packed three levels to a [`Block`] of
//! one cache line (seven cuts, eight children), so a walk waits for a third of the loads. Each
//! leaf's entries end with one that holds every key and names no rule, so a leaf is known by
//! where it starts and its scan needs no count.
//!
//! Measured (`secpath bench --iter 5`, best of five interleaved runs on a loaded 2-core
//! machine, M lookups/s), binary nodes → blocks: acl 1K 16.2 → 20.9, fw 1K 17.0 → 18.1, fw 10K
//! 17.2 → 18.2, for 3–7 % more bytes. Measured and lost: prefetching the first lines of each
//! lane's leaf as its walk ends (16.1, 15.9, 13.7).
//!
//! Leaves are checked eight entries at a time ([`Group`]), in code compiled for AVX2 where the
//! CPU has it (checked once a lookup or a batch of eight) and for the baseline otherwise.
//! Measured (`secpath bench --iter 5`, best of three, the previous build in the same run on a
//! loaded 2-core machine, M lookups/s), one entry at a time with leaves of 16 → groups with
//! leaves of 31: fw 1K 22.0 → 36.9, fw 10K 21.7 → 37.2, acl 1K 24.7 → 32.4 (tables 0.09 → 0.04
//! MiB and 0.50 → 0.35 MiB). The scan used to be half of a lookup, one early exit (and one
//! mispredicted branch) an entry. Larger leaves now cost little to scan and copy rules less,
//! see [`LEAF_SIZES`]. Without AVX2 (the same code for SSE2) fw 1K ran at 18.6, as before. Measured
//! and lost: bounds narrowed to their field (`i16` ports, `i8` protocol; 32 bytes an entry, not
//! 48), whose mixed lane widths the compiler splits into scalar code (fw 1K 23.3 against 30.5
//! in the same run); and, for the sets whose one tree is over budget (ipc 1K, acl 10K, ipc 10K:
//! wildcards copy a rule into both sides of most cuts, 1.3 million entries for ipc 1K's 1,000
//! rules), three trees over the rules with a narrow source, a narrow destination and neither,
//! as in CutSplit, each scan stopping once no rule of its tree could beat the best so far:
//! 0.13–1.3 MiB, but 8.1–10.0 M lookups/s against the bit-vectors' 10.6–15.6.
//!
//! Under AVX2 a block's seven cuts are checked in one compare: each cut's field is moved into
//! its lane (`vpermd`), the lanes that pass become bits (`vmovmskps`), and a table of 256 maps
//! the bits to the child; the eight walks of a batch step together without a branch, one
//! already in a leaf stepping through the root and staying put. Measured (`secpath bench
//! --classbench`, published sets, interleaved best of three, M lookups/s), scalar cuts →
//! vector cuts → branchless steps: acl1 1K 39.3 → 46.2 → 47.2, fw1 1K 32.2 → 39.7 → 43.5,
//! ipc1 1K 40.0 → 48.7 → 51.4, fw1 10K 12.0 → 13.8 → 13.7. Measured and lost: checking a
//! leaf's groups two at a time, so that leaves of 15 entries take one pass without a branch
//! (acl1 1K 65 → 48); loading a key's lanes field by field, to spare a load across the
//! caller's narrower stores (acl1 1K 67 → 62); prefetching each lane's first leaf group
//! when its walk ends (within the noise, also at 10K).
//!
//! Bounded: a build that would exceed its byte budget (see [`Tree::build`]) gives up, and
//! the caller keeps the bit-vector table.

use smallvec::SmallVec;

/// Fields per flow key.
pub(crate) const FIELDS: usize = 5;

/// The port key of a flow without ports; every rule's port fields contain it.
pub(crate) const NO_PORT: u32 = 1 << 16;

/// A flow as the tree sees it: protocol, source, source port, destination, destination port,
/// then zeros to eight, so that a node's 3-bit field tag indexes it without a bounds check.
pub(crate) type FlowKey = [u32; 8];

/// Lookups [`Tree::first_match_batch`] walks together. Measured on the fw 1K set: eight
/// walks together ran 9.3–11.8 M lookups/s against 7.5–8.3 one at a time; sixteen were no
/// faster than eight (fw 10K, acl 1K).
pub(crate) const LANES: usize = 8;

/// The ranges of one rule field: sorted, disjoint, inclusive.
pub(crate) type Ranges = SmallVec<[(u32, u32); 2]>;

/// One rule as the tree sees it: its ranges per field.
pub(crate) type Shape = [Ranges; FIELDS];

/// The source and destination port fields.
const PORT_FIELDS: [usize; 2] = [2, 4];

/// Entries a leaf may hold before the builder tries to split it, as [`Tree::build`] is
/// asked for: with its sentinel, two or four [`Group`]s. The smaller leaves scan faster and
/// the larger copy rules less, so a table takes the smaller where its tree fits the budget
/// (see `Forest::build`). Measured with scalar cuts (best of three, M
/// lookups/s, tables): fw 1K 33.2 / 36.9 / 30.9 and acl 1K 20.9 / 32.4 / 24.9 at 23 / 31 /
/// 39 entries, acl 1K's tree taking 0.48 / 0.35 / 0.28 MiB; with vector cuts (published
/// sets, best of two), 15 / 23 / 31 entries: acl1 1K 60.9 / 54.0 / 47.9, ipc1 1K 65.7 / 56.5 /
/// 51.1, acl1 10K 49.5 / 47.7 / 44.5, ipc1 10K 39.4 / 37.6 / 35.8; fw1 1K 34.5 / 37.0 / 43.5,
/// whose tree over every rule fits at none of them and over fewer rules the smaller the
/// leaves. With one entry checked at a time, 8 had built 7.5× the entries of 16 on the acl
/// 1K set for the same lookup rate. Measured and lost: leaves of 7 entries (one group, so no
/// scan loop) tried first, before 15 and 31 (published sets, best of three): acl1 1K 70.9 →
/// 67.5, ipc1 1K 73.6 → 69.8, fw1 1K 59.3 → 51.3, for deeper trees that took twice as long
/// to build (ipc 10K 0.47 → 0.80 s); and, in a batch, checking every walk's first leaf group
/// before any walk's second (acl1 1K 69.7 → 64.6, ipc1 1K 76.3 → 66.5).
pub(crate) const LEAF_SIZES: [usize; 2] = [15, 31];

/// Deepest path; a node there becomes a leaf whatever it holds.
const MAX_DEPTH: usize = 64;

/// Node tag of a leaf (fields are 0 to 4).
const LEAF_TAG: u32 = 7;

/// A node of the binary tree the builder makes: internal (`link` = first child << 3 |
/// field; keys `<= split` go to the first child, others to the next) or a leaf (`link` =
/// first entry << 3 | [`LEAF_TAG`]).
#[derive(Clone, Copy, Debug)]
struct Node {
    split: u32,
    link: u32,
}

/// Three levels of the binary tree in one cache line: seven cuts in heap order (cut `i` has
/// children `2i + 1` and `2i + 2`; `7..15` are `children`), [`bias`]ed so that one signed
/// compare orders them, their fields three bits each in `cuts[FIELDS_AT]` (so that every place
/// indexes `cuts` masked to three bits, without a bounds check, and the eight lanes load as
/// one vector), and eight [`Child`] links. A leaf above the third level stands in as a cut no
/// key passes (`u32::MAX` on the protocol) with the leaf on both sides.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Block {
    cuts: [i32; 8],
    children: [Child; 8],
}

/// For each set of cuts a key passes (bit `i` for cut `i`, as `vmovmskps` gives them), the
/// child the three-level walk through a [`Block`] reaches: the vector walk compares a key
/// with all seven cuts at once and looks its way up here.
#[cfg(target_arch = "x86_64")]
const EXITS: [u8; 256] = {
    let mut exits = [0; 256];
    let mut passed = 0;
    while passed < 256 {
        let mut place = 0;
        let mut level = 0;
        while level < 3 {
            place = 2 * place + 1 + ((passed >> place) & 1);
            level += 1;
        }
        exits[passed] = (place - 7) as u8;
        passed += 1;
    }
    exits
};

/// A link from a block: a block index << 1, or a leaf's first entry << 1 | 1.
type Child = u32;

/// Where a [`Block`] keeps its cuts' fields.
const FIELDS_AT: usize = 7;

/// A link to no leaf, for a block that is missing (never, in a built tree).
const NOWHERE: Child = u32::MAX;

/// The rule of a leaf's last entry, which holds every key: no rule.
const NO_RULE: u32 = u32::MAX;

/// One rule in a leaf as the builder makes it: a single range per field.
#[derive(Clone, Copy, Debug)]
struct Entry {
    ranges: Region,
    rule: u32,
}

/// The last entry of every leaf: it holds every key and names no rule.
const SENTINEL: Entry = Entry {
    ranges: SPACE,
    rule: NO_RULE,
};

/// Entries checked together: a [`Group`] holds this many, field by field.
const WIDTH: usize = 8;

/// What an entry costs in a group, for the build's budget.
const ENTRY_BYTES: usize = std::mem::size_of::<Group>() / WIDTH;

/// [`WIDTH`] leaf entries laid out field by field (bounds biased to `i32`, so that every
/// comparison is one signed compare), so that a flow is checked against all of them with a
/// few vector compares and no branch: the lowest set bit of [`Group::holding`] is the first
/// entry holding the key. A leaf is a run of groups; its entries end with [`SENTINEL`] and
/// the last group is padded with copies of it, so a scan stops there at the latest.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Group {
    lo: [[i32; WIDTH]; FIELDS],
    hi: [[i32; WIDTH]; FIELDS],
    rules: [u32; WIDTH],
}

/// A field value as a group stores it: order-preserving from `u32` to `i32`.
#[inline(always)]
fn bias(value: u32) -> i32 {
    (value ^ 0x8000_0000) as i32
}

impl Group {
    /// Lays out `entries` (at most [`WIDTH`]), padded with the sentinel.
    fn of(entries: &[Entry]) -> Group {
        let mut group = Group {
            lo: [[bias(0); WIDTH]; FIELDS],
            hi: [[bias(u32::MAX); WIDTH]; FIELDS],
            rules: [NO_RULE; WIDTH],
        };
        for (lane, e) in entries.iter().take(WIDTH).enumerate() {
            for (field, &(lo, hi)) in e.ranges.iter().enumerate() {
                group.lo[field][lane] = bias(lo);
                group.hi[field][lane] = bias(hi);
            }
            group.rules[lane] = e.rule;
        }
        group
    }

    /// A bit per entry that holds `key` (biased), lowest for the first entry. Lanes are
    /// all-ones or zero `i32` masks, the shape vector compares produce, so that the
    /// compiler keeps the whole check in vector registers.
    #[inline(always)]
    fn holding(&self, key: &[i32; FIELDS]) -> u32 {
        let mut holds = [-1i32; WIDTH];
        for ((lo, hi), &k) in self.lo.iter().zip(&self.hi).zip(key) {
            for ((h, &lo), &hi) in holds.iter_mut().zip(lo).zip(hi) {
                *h &= -i32::from(lo <= k) & -i32::from(k <= hi);
            }
        }
        holds
            .iter()
            .enumerate()
            .fold(0, |mask, (lane, &h)| mask | (h as u32 >> 31) << lane)
    }

    /// [`holding`](Self::holding) in AVX2 instructions: the portable code's lane masks are
    /// gathered into bits with shifts and shuffles, where one `vmovmskps` does it.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    fn holding_avx2(&self, key: &[i32; FIELDS]) -> u32 {
        use std::arch::x86_64::*;
        let mut outside = _mm256_setzero_si256();
        for ((lo, hi), &k) in self.lo.iter().zip(&self.hi).zip(key) {
            let k = _mm256_set1_epi32(k);
            // SAFETY: each pointer is to eight `i32`s, the width of an unaligned load.
            let (lo, hi) = unsafe {
                (
                    _mm256_loadu_si256(lo.as_ptr().cast()),
                    _mm256_loadu_si256(hi.as_ptr().cast()),
                )
            };
            let out = _mm256_or_si256(_mm256_cmpgt_epi32(lo, k), _mm256_cmpgt_epi32(k, hi));
            outside = _mm256_or_si256(outside, out);
        }
        !(_mm256_movemask_ps(_mm256_castsi256_ps(outside)) as u32) & 0xff
    }
}

/// The tree: packed blocks, the root's link and the leaves' groups.
#[derive(Clone, Debug)]
pub(crate) struct Tree {
    blocks: Vec<Block>,
    root: Child,
    groups: Vec<Group>,
}

/// What the builder makes: binary nodes (root first) and the leaves' entries.
struct Binary {
    nodes: Vec<Node>,
    entries: Vec<Entry>,
}

/// A node's region: one inclusive range per field.
type Region = [(u32, u32); FIELDS];

/// The whole key space.
const SPACE: Region = [
    (0, 255),
    (0, u32::MAX),
    (0, NO_PORT),
    (0, u32::MAX),
    (0, NO_PORT),
];

impl Tree {
    /// Builds the tree over `shapes` (in table order) with leaves of up to `leaf` entries
    /// (one of [`LEAF_SIZES`]), or `None` when its nodes and entries would take more than
    /// `budget` bytes.
    pub(crate) fn build(shapes: &[Shape], budget: usize, leaf: usize) -> Option<Tree> {
        let mut builder = Builder {
            shapes,
            leaf,
            tree: Binary {
                nodes: vec![Node { split: 0, link: 0 }],
                entries: Vec::new(),
            },
            budget,
            scratch: Scratch::default(),
        };
        let all = (0..u32::try_from(shapes.len()).ok()?).collect();
        builder.node(0, all, SPACE, 0)?;
        let binary = builder.tree;
        let mut tree = Tree {
            blocks: Vec::new(),
            root: 0,
            groups: Vec::new(),
        };
        let leaves = tree.group(&binary.entries);
        tree.root = tree.pack(&binary.nodes, &leaves, 0)?;
        tree.blocks.shrink_to_fit();
        tree.groups.shrink_to_fit();
        (tree.bytes() <= budget).then_some(tree)
    }

    /// Lays out every leaf of `entries` (runs ending with the sentinel) as groups; for each
    /// leaf's first entry, the index of its first group.
    fn group(&mut self, entries: &[Entry]) -> Vec<u32> {
        let mut first = vec![0; entries.len()];
        let mut start = 0;
        for (end, e) in entries.iter().enumerate() {
            if e.rule != NO_RULE {
                continue;
            }
            if let Some(slot) = first.get_mut(start) {
                *slot = u32::try_from(self.groups.len()).unwrap_or(u32::MAX);
            }
            let leaf = entries.get(start..=end).unwrap_or(&[]);
            self.groups.extend(leaf.chunks(WIDTH).map(Group::of));
            start = end + 1;
        }
        first
    }

    /// Packs the binary subtree at `nodes[at]` into blocks; its link. `leaves` maps a
    /// leaf's first entry to its first group.
    fn pack(&mut self, nodes: &[Node], leaves: &[u32], at: usize) -> Option<Child> {
        let node = *nodes.get(at)?;
        if node.link & 7 == LEAF_TAG {
            return Some(*leaves.get((node.link >> 3) as usize)? << 1 | 1);
        }
        let index = self.blocks.len();
        let mut block = Block {
            cuts: [bias(u32::MAX); 8],
            children: [NOWHERE; 8],
        };
        self.blocks.push(block);
        // The binary node at each heap place; a leaf takes both places below its own.
        let mut places = [at; 15];
        let mut fields = 0;
        for place in 0..7 {
            let node = *nodes.get(places[place])?;
            let mut below = [places[place]; 2];
            if node.link & 7 != LEAF_TAG {
                block.cuts[place] = bias(node.split);
                fields |= (node.link & 7) << (3 * place);
                let first = (node.link >> 3) as usize;
                below = [first, first + 1];
            }
            places[2 * place + 1..2 * place + 3].copy_from_slice(&below);
        }
        block.cuts[FIELDS_AT] = fields as i32;
        for (slot, &place) in block.children.iter_mut().zip(&places[7..]) {
            *slot = self.pack(nodes, leaves, place)?;
        }
        *self.blocks.get_mut(index)? = block;
        Some(u32::try_from(index).ok()? << 1)
    }

    /// The index of the first rule holding `key`.
    #[inline]
    pub(crate) fn first_match(&self, key: &FlowKey) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, as checked just above.
            return unsafe { self.find_avx2(key) };
        }
        self.find(key)
    }

    /// [`find`](Self::find) in AVX2 instructions, as [`batch_avx2`](Self::batch_avx2).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn find_avx2(&self, key: &FlowKey) -> Option<usize> {
        let child = |tree: &Self, at, key: &_| vector::child(tree, at, key);
        self.walk([*key], [vector::lanes(key)], child, |g, k| {
            g.holding_avx2(k)
        })[0]
    }

    /// The walk of [`first_match`](Self::first_match).
    fn find(&self, key: &FlowKey) -> Option<usize> {
        self.walk([*key], [*key], Self::child, Group::holding)[0]
    }

    /// [`first_match`](Self::first_match) for [`LANES`] keys at once: the walks advance
    /// block by block together, so their loads overlap instead of each waiting for the last.
    #[inline]
    pub(crate) fn first_match_batch(&self, keys: &[FlowKey; LANES]) -> [Option<usize>; LANES] {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, as checked just above.
            return unsafe { self.batch_avx2(keys) };
        }
        self.batch(keys)
    }

    /// [`batch`](Self::batch) in AVX2 instructions: a block's seven cuts are checked in one
    /// compare, and a [`Group`] of entries in one compare per bound.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn batch_avx2(&self, keys: &[FlowKey; LANES]) -> [Option<usize>; LANES] {
        let lanes = keys.map(|key| vector::lanes(&key));
        let child = |tree: &Self, at, key: &_| vector::child(tree, at, key);
        self.walk(*keys, lanes, child, |group, key| group.holding_avx2(key))
    }

    /// The walks of [`first_match_batch`](Self::first_match_batch).
    fn batch(&self, keys: &[FlowKey; LANES]) -> [Option<usize>; LANES] {
        self.walk(*keys, *keys, Self::child, Group::holding)
    }

    /// Walks `N` keys down together, each as `lanes` holds it for `child`, then scans each
    /// one's leaf with `holding`.
    #[inline(always)]
    fn walk<const N: usize, K>(
        &self,
        keys: [FlowKey; N],
        lanes: [K; N],
        child: impl Fn(&Self, Child, &K) -> Child,
        holding: impl Fn(&Group, &[i32; FIELDS]) -> u32,
    ) -> [Option<usize>; N] {
        let mut at = [self.root; N];
        // Until every walk is in a leaf, each steps, without a branch: one in a leaf steps
        // through the root and stays where it is.
        while at.iter().fold(0, |blocks, link| blocks | !link) & 1 != 0 {
            for (link, key) in at.iter_mut().zip(&lanes) {
                let leaf = 0u32.wrapping_sub(*link & 1);
                let next = child(self, *link & !leaf, key);
                *link = next ^ ((next ^ *link) & leaf);
            }
        }
        let mut out = [None; N];
        for ((slot, link), key) in out.iter_mut().zip(at).zip(&keys) {
            *slot = self.scan(link, key, &holding);
        }
        out
    }

    /// The link that `key` takes out of block `at`: three cuts, each on the field its three
    /// bits name.
    #[inline(always)]
    fn child(&self, at: Child, key: &FlowKey) -> Child {
        let Some(block) = self.blocks.get((at >> 1) as usize) else {
            return NOWHERE;
        };
        let fields = block.cuts[FIELDS_AT] as u32;
        let step = |place: usize| {
            let field = (fields >> (3 * place)) & 7;
            2 * place + 1 + usize::from(bias(key[field as usize]) > block.cuts[place & 7])
        };
        block.children[(step(step(step(0))) - 7) & 7]
    }

    /// The first rule of the leaf at `at` holding `key` (its sentinel holds every key).
    #[inline(always)]
    fn scan(
        &self,
        at: Child,
        key: &FlowKey,
        holding: impl Fn(&Group, &[i32; FIELDS]) -> u32,
    ) -> Option<usize> {
        let biased = [
            bias(key[0]),
            bias(key[1]),
            bias(key[2]),
            bias(key[3]),
            bias(key[4]),
        ];
        // A plain loop rather than iterator adapters, which would not be inlined into
        // `batch_avx2` and so would lose its vector width.
        let mut at = (at >> 1) as usize;
        while let Some(group) = self.groups.get(at) {
            let holding = holding(group, &biased);
            if holding != 0 {
                let rule = group.rules[(holding.trailing_zeros() as usize) & (WIDTH - 1)];
                return (rule != NO_RULE).then_some(rule as usize);
            }
            at += 1;
        }
        None
    }

    /// Heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Block>()
            + self.groups.capacity() * std::mem::size_of::<Group>()
    }
}

/// The AVX2 walk: a key is one vector of its [`bias`]ed fields, and a block's cuts are
/// compared with the fields they name all at once.
#[cfg(target_arch = "x86_64")]
mod vector {
    use super::{Child, FlowKey, Tree, EXITS, FIELDS_AT, NOWHERE};
    use std::arch::x86_64::*;

    /// `key`'s fields, biased, one to a lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn lanes(key: &FlowKey) -> __m256i {
        // SAFETY: a key is eight `u32`s, the width of an unaligned load.
        let key = unsafe { _mm256_loadu_si256(key.as_ptr().cast()) };
        _mm256_xor_si256(key, _mm256_set1_epi32(i32::MIN))
    }

    /// [`Tree::child`] with one compare: each cut's field is moved into its lane, the
    /// lanes that pass their cut become bits, and [`EXITS`] maps the bits to the child.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn child(tree: &Tree, at: Child, key: &__m256i) -> Child {
        let Some(block) = tree.blocks.get((at >> 1) as usize) else {
            return NOWHERE;
        };
        // SAFETY: `cuts` is eight `i32`s, the width of an unaligned load.
        let cuts = unsafe { _mm256_loadu_si256(block.cuts.as_ptr().cast()) };
        let packed = _mm256_set1_epi32(block.cuts[FIELDS_AT]);
        let shifts = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21);
        let fields = _mm256_and_si256(_mm256_srlv_epi32(packed, shifts), _mm256_set1_epi32(7));
        let keys = _mm256_permutevar8x32_epi32(*key, fields);
        let passed = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(keys, cuts)));
        block.children[usize::from(EXITS[(passed & 0xff) as usize]) & 7]
    }
}

/// Builds a [`Tree`] depth first.
struct Builder<'s> {
    shapes: &'s [Shape],
    /// Entries a leaf may hold before the builder tries to split it.
    leaf: usize,
    tree: Binary,
    /// Bytes left for nodes and entries.
    budget: usize,
    /// Reused by every [`split_in`](Builder::split_in): allocating them anew there was a
    /// tenth of a build's time.
    scratch: Scratch,
}

/// A field's candidate cuts and its rules' spans, sorted by [`Builder::split_in`].
#[derive(Default)]
struct Scratch {
    lows: Vec<u32>,
    highs: Vec<u32>,
    points: Vec<u32>,
}

/// The ranges of `ranges` that meet `bounds`, clipped to it.
fn meeting(ranges: &Ranges, bounds: (u32, u32)) -> impl Iterator<Item = (u32, u32)> + '_ {
    ranges
        .iter()
        .filter(move |r| r.0 <= bounds.1 && bounds.0 <= r.1)
        .map(move |r| (r.0.max(bounds.0), r.1.min(bounds.1)))
}

impl Builder<'_> {
    fn shape(&self, rule: u32) -> Option<&Shape> {
        self.shapes.get(rule as usize)
    }

    /// Fills node `at` with the subtree over `rules` (each meeting `region`).
    fn node(&mut self, at: usize, rules: Vec<u32>, region: Region, depth: usize) -> Option<()> {
        let rules = self.reachable(rules, &region);
        let entries: usize = rules.iter().map(|&r| self.combinations(r, &region)).sum();
        let split = (entries > self.leaf && depth < MAX_DEPTH)
            .then(|| self.best_split(&rules, &region))
            .flatten();
        let Some((field, point)) = split else {
            return self.leaf(at, &rules, &region);
        };
        self.spend(2 * std::mem::size_of::<Node>())?;
        let first = self.tree.nodes.len();
        self.tree.nodes.extend([Node { split: 0, link: 0 }; 2]);
        *self.tree.nodes.get_mut(at)? = Node {
            split: point,
            link: u32::try_from(first << 3).ok()? | field as u32,
        };
        for (side, child) in [(false, first), (true, first + 1)] {
            let mut sub = region;
            let bounds = sub.get_mut(field)?;
            *bounds = if side {
                (point + 1, bounds.1)
            } else {
                (bounds.0, point)
            };
            let kept = rules
                .iter()
                .copied()
                .filter(|&r| {
                    self.shape(r)
                        .and_then(|s| s.get(field))
                        .is_some_and(|f| meeting(f, sub[field]).next().is_some())
                })
                .collect();
            self.node(child, kept, sub, depth + 1)?;
        }
        Some(())
    }

    /// `rules` up to and including the first that covers all of `region`: no later one can
    /// be the first match there.
    fn reachable(&self, mut rules: Vec<u32>, region: &Region) -> Vec<u32> {
        let covers = |r: u32| {
            self.shape(r).is_some_and(|s| {
                s.iter()
                    .zip(region)
                    .all(|(f, b)| f.iter().any(|r| r.0 <= b.0 && b.1 <= r.1))
            })
        };
        if let Some(at) = rules.iter().position(|&r| covers(r)) {
            rules.truncate(at + 1);
        }
        rules
    }

    /// Entries rule `rule` needs in a leaf over `region`: the product of its meeting ranges.
    fn combinations(&self, rule: u32, region: &Region) -> usize {
        self.shape(rule).map_or(0, |s| {
            s.iter()
                .zip(region)
                .map(|(f, &b)| meeting(f, b).count())
                .product()
        })
    }

    /// The field and point of the cheapest split (see the module documentation), if some
    /// split leaves each child fewer rules than `rules`; else the cut
    /// between real ports and [`NO_PORT`] of a port field that spans both, which leaves the
    /// same rules but one entry per rule where there were two. Measured and lost: making
    /// that cut first, wherever a region spans both, shrank the fw trees (85 → 38 KB) but
    /// copied acl 1K's rules into four subtrees, past its budget.
    fn best_split(&mut self, rules: &[u32], region: &Region) -> Option<(usize, u32)> {
        self.fewer_rules(rules, region).or_else(|| {
            PORT_FIELDS.into_iter().find_map(|field| {
                let (lo, hi) = region.get(field)?;
                (*lo < NO_PORT && *hi == NO_PORT).then_some((field, NO_PORT - 1))
            })
        })
    }

    /// The split of [`best_split`](Self::best_split) that leaves each child fewer rules.
    fn fewer_rules(&mut self, rules: &[u32], region: &Region) -> Option<(usize, u32)> {
        let mut best: Option<((usize, usize), usize, u32)> = None;
        for (field, &bounds) in region.iter().enumerate() {
            let Some((cost, point)) = self.split_in(rules, field, bounds) else {
                continue;
            };
            if best.is_none_or(|b| cost < b.0) {
                best = Some((cost, field, point));
            }
        }
        best.map(|b| (b.1, b.2))
    }

    /// The cheapest point to split `field` (within `bounds`) at that leaves each child
    /// fewer rules, with its cost (both children plus the larger, then the larger).
    fn split_in(
        &mut self,
        rules: &[u32],
        field: usize,
        bounds: (u32, u32),
    ) -> Option<((usize, usize), u32)> {
        let Scratch {
            lows,
            highs,
            points,
        } = &mut self.scratch;
        lows.clear();
        highs.clear();
        points.clear();
        for &r in rules {
            let Some(f) = self.shapes.get(r as usize).and_then(|s| s.get(field)) else {
                continue;
            };
            let mut span: Option<(u32, u32)> = None;
            for (lo, hi) in meeting(f, bounds) {
                span = Some(span.map_or((lo, hi), |s| (s.0.min(lo), s.1.max(hi))));
                if lo > bounds.0 {
                    points.push(lo - 1);
                }
                if hi < bounds.1 {
                    points.push(hi);
                }
            }
            if let Some((lo, hi)) = span {
                lows.push(lo);
                highs.push(hi);
            }
        }
        lows.sort_unstable();
        highs.sort_unstable();
        points.sort_unstable();
        points.dedup();
        // One sweep over the ascending points: `left` rules start at or below the point,
        // `right` end above it.
        let n = lows.len();
        let (mut left, mut below) = (0, 0);
        let mut best = None;
        for &p in points.iter() {
            while lows.get(left).is_some_and(|&l| l <= p) {
                left += 1;
            }
            while highs.get(below).is_some_and(|&h| h <= p) {
                below += 1;
            }
            let right = n - below;
            let cost = (left + right + left.max(right), left.max(right));
            if cost.1 < n && best.is_none_or(|(b, _)| cost < b) {
                best = Some((cost, p));
            }
        }
        best
    }

    /// Makes node `at` a leaf holding `rules` over `region`.
    fn leaf(&mut self, at: usize, rules: &[u32], region: &Region) -> Option<()> {
        let start = self.tree.entries.len();
        let shapes = self.shapes;
        for &rule in rules {
            let shape = shapes.get(rule as usize)?;
            let entries = &mut self.tree.entries;
            let first = entries.len();
            entries.push(Entry {
                ranges: *region,
                rule,
            });
            // The rule's entries so far, times each range of the next field meeting the
            // region (in place, without a copy of the shape: this loop was a third of the
            // build's time).
            for (field, f) in shape.iter().enumerate() {
                let done = entries.len();
                let mut ranges = meeting(f, *region.get(field)?);
                let Some(head) = ranges.next() else {
                    entries.truncate(first);
                    break;
                };
                for range in ranges {
                    for i in first..done {
                        let mut e = *entries.get(i)?;
                        *e.ranges.get_mut(field)? = range;
                        entries.push(e);
                    }
                }
                for e in entries.get_mut(first..done)? {
                    *e.ranges.get_mut(field)? = head;
                }
            }
            let made = self.tree.entries.len() - first;
            self.spend(made * ENTRY_BYTES)?;
        }
        self.spend(ENTRY_BYTES)?;
        self.tree.entries.push(SENTINEL);
        *self.tree.nodes.get_mut(at)? = Node {
            split: 0,
            link: u32::try_from(start << 3).ok()? | LEAF_TAG,
        };
        Some(())
    }

    /// Takes `bytes` from the budget, or `None` when it is spent.
    fn spend(&mut self, bytes: usize) -> Option<()> {
        self.budget = self.budget.checked_sub(bytes)?;
        Some(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use smallvec::smallvec;

    fn shape(fields: [&[(u32, u32)]; FIELDS]) -> Shape {
        fields.map(|f| f.iter().copied().collect())
    }

    /// The linear scan over shapes: the answer every tree must give.
    pub(in crate::compile) fn scan(shapes: &[Shape], key: &FlowKey) -> Option<usize> {
        shapes.iter().position(|s| {
            s.iter()
                .zip(key)
                .all(|(f, &k)| f.iter().any(|r| r.0 <= k && k <= r.1))
        })
    }

    #[test]
    fn multi_range_rules_and_portless_keys_agree_with_a_scan() {
        let any: &[(u32, u32)] = &[(0, u32::MAX)];
        let ports: &[(u32, u32)] = &[(0, NO_PORT)];
        let mut shapes = Vec::new();
        for i in 0..40u32 {
            let a = i * 1000;
            shapes.push(shape([
                &[(6, 6), (17, 17)],
                &[(a, a + 99), (a + 500, a + 2500)],
                ports,
                any,
                &[(i, i), (80, 80), (NO_PORT, NO_PORT)],
            ]));
        }
        shapes.push(shape([&[(0, 255)], any, ports, any, ports]));
        let tree = Tree::build(&shapes, 1 << 20, LEAF_SIZES[1]).expect("within budget");
        for a in (0..45_000u32).step_by(37) {
            for (proto, dport) in [(6, 80), (17, 3), (1, NO_PORT), (6, 39), (6, 41)] {
                let key = [proto, a, NO_PORT, 7, dport, 0, 0, 0];
                assert_eq!(tree.first_match(&key), scan(&shapes, &key), "{key:?}");
            }
        }
    }

    /// Up to three ranges within `0..=max` (or the whole field), sorted and joined.
    fn field(max: u32, whole: (u32, u32)) -> impl Strategy<Value = Ranges> {
        let one = (0..=max, 0..=max).prop_map(|(a, b)| (a.min(b), a.max(b)));
        prop_oneof![
            Just(smallvec![whole]),
            prop::collection::vec(one, 1..4).prop_map(|mut rs| {
                rs.sort_unstable();
                let mut out = Ranges::new();
                for (lo, hi) in rs {
                    match out.last_mut() {
                        Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
                        _ => out.push((lo, hi)),
                    }
                }
                out
            }),
        ]
    }

    /// A port field holding [`NO_PORT`], as every rule's does.
    fn port() -> impl Strategy<Value = Ranges> {
        field(20, (0, NO_PORT)).prop_map(|mut p| {
            if p.last().is_some_and(|l| l.1 < NO_PORT) {
                p.push((NO_PORT, NO_PORT));
            }
            p
        })
    }

    /// Rules over small field domains, so that they overlap and trees grow deep.
    fn shapes() -> impl Strategy<Value = Vec<Shape>> {
        let shape = (
            field(4, (0, 255)),
            field(80, (0, u32::MAX)),
            port(),
            field(80, (0, u32::MAX)),
            port(),
        )
            .prop_map(|(a, b, c, d, e)| [a, b, c, d, e]);
        prop::collection::vec(shape, 1..400)
    }

    fn keys() -> impl Strategy<Value = Vec<FlowKey>> {
        let port = prop_oneof![0..22u32, Just(NO_PORT)];
        let address = prop_oneof![0..84u32, Just(u32::MAX)];
        let key = (0..6u32, address.clone(), port.clone(), address, port)
            .prop_map(|(a, b, c, d, e)| [a, b, c, d, e, 0, 0, 0]);
        prop::collection::vec(key, LANES * 16)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Single and batched walks of packed trees (deep ones included) give the scan's
        /// answer, both as dispatched (AVX2 where the CPU has it) and as compiled for the
        /// baseline.
        #[test]
        fn trees_agree_with_a_scan(
            shapes in shapes(),
            keys in keys(),
            leaf in prop::sample::select(LEAF_SIZES.to_vec()),
        ) {
            let tree = Tree::build(&shapes, 1 << 24, leaf).expect("within budget");
            for group in keys.chunks_exact(LANES) {
                let lanes: [FlowKey; LANES] = group.try_into().expect("a group of lanes");
                let batches = [tree.first_match_batch(&lanes), tree.batch(&lanes)];
                for (lane, key) in group.iter().enumerate() {
                    let want = scan(&shapes, key);
                    prop_assert_eq!(tree.first_match(key), want, "{:?}", key);
                    prop_assert_eq!(tree.find(key), want, "{:?}", key);
                    for batch in &batches {
                        prop_assert_eq!(batch[lane], want, "{:?}", key);
                    }
                }
            }
        }
    }

    #[test]
    fn a_spent_budget_gives_up() {
        let s: Shape = [(); FIELDS].map(|_| smallvec![(0, 0)]);
        assert!(Tree::build(std::slice::from_ref(&s), 4, LEAF_SIZES[0]).is_none());
        assert!(Tree::build(&[s], 1024, LEAF_SIZES[0]).is_some());
    }
}
