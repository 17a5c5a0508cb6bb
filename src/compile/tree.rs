//! A HyperSplit-style decision tree over the IPv4 five-tuple: the fast path of
//! [`CompiledTable`](super::CompiledTable) for tables without application security groups.
//!
//! Each internal node cuts one field's value range in two at a rule boundary; each leaf holds
//! a few rules, in table order, as compact entries (one range per field) that a flow is
//! checked against linearly. A rule sits in every child its ranges meet, so a field that
//! lists several prefixes or port ranges is handled as it is; where several of a rule's
//! ranges meet one leaf, the leaf holds one entry per combination, all with the rule's index.
//! The split of a node is, among the cuts that leave each child fewer rules, the one that
//! minimises the rules in both children plus those in the larger one: copies cost as much
//! as imbalance. Measured at acl 1K with leaves of 8 entries, this cost and the larger child
//! alone both built ~105,000 entries (the leaf size is what matters, see [`LEAF`]); the
//! total alone carved one rule off at a time, into paths of 50 and more. Rules after one
//! that covers a node's whole region can never be first there and are dropped.
//!
//! Fields are keyed as `u32`: protocol, source address, source port, destination address,
//! destination port. A flow without ports matches every rule's port fields (SEMANTICS §3.1):
//! its port key is [`NO_PORT`], one past the largest port, and every rule's port list
//! includes it, so such flows walk the tree like any other.
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

/// Entries a leaf may hold before the builder tries to split it. Measured at 1,000 rules:
/// 8 built 7.5× the entries of 16 on the acl set (3.4 MiB against 0.45 MiB) for the same
/// lookup rate within noise.
const LEAF: usize = 16;

/// Deepest path; a node there becomes a leaf whatever it holds.
const MAX_DEPTH: usize = 64;

/// Node tag of a leaf (fields are 0 to 4).
const LEAF_TAG: u32 = 7;

/// A node: internal (`link` = first child << 3 | field; keys `<= split` go to the first
/// child, others to the next) or a leaf (`link` = first entry << 3 | [`LEAF_TAG`], `split` =
/// entry count).
#[derive(Clone, Copy, Debug)]
struct Node {
    split: u32,
    link: u32,
}

/// A leaf with no entries.
const EMPTY: Node = Node {
    split: 0,
    link: LEAF_TAG,
};

/// One rule in a leaf: a single range per field. Ports are clipped to `u16` (empty as
/// `(1, 0)`), since a flow without ports matches any port range anyway.
#[derive(Clone, Copy, Debug)]
struct Entry {
    src: [u32; 2],
    dst: [u32; 2],
    sport: [u16; 2],
    dport: [u16; 2],
    proto: [u8; 2],
    rule: u32,
}

impl Entry {
    /// True when the entry holds `key`; every comparison is made, without branches.
    #[inline]
    fn holds(&self, key: &FlowKey) -> bool {
        let [proto, src, sport, dst, dport, ..] = *key;
        let within = |lo: u32, hi: u32, k: u32| (lo <= k) & (k <= hi);
        let port = |r: [u16; 2], k: u32| (k == NO_PORT) | within(r[0].into(), r[1].into(), k);
        within(self.proto[0].into(), self.proto[1].into(), proto)
            & within(self.src[0], self.src[1], src)
            & within(self.dst[0], self.dst[1], dst)
            & port(self.sport, sport)
            & port(self.dport, dport)
    }
}

/// The tree: nodes (root first) and the leaves' entries.
#[derive(Clone, Debug)]
pub(crate) struct Tree {
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
    /// Builds the tree over `shapes` (in table order), or `None` when its nodes and entries
    /// would take more than `budget` bytes.
    pub(crate) fn build(shapes: &[Shape], budget: usize) -> Option<Tree> {
        let mut builder = Builder {
            shapes,
            tree: Tree {
                nodes: vec![Node { split: 0, link: 0 }],
                entries: Vec::new(),
            },
            budget,
        };
        let all = (0..u32::try_from(shapes.len()).ok()?).collect();
        builder.node(0, all, SPACE, 0)?;
        builder.tree.nodes.shrink_to_fit();
        builder.tree.entries.shrink_to_fit();
        Some(builder.tree)
    }

    /// The index of the first rule holding `key`.
    #[inline]
    pub(crate) fn first_match(&self, key: &FlowKey) -> Option<usize> {
        let mut node = self.root();
        while node.link & 7 != LEAF_TAG {
            node = self.child(node, key);
        }
        self.scan(node, key)
    }

    /// [`first_match`](Self::first_match) for [`LANES`] keys at once: the walks advance
    /// level by level together, so their node loads overlap instead of each waiting for
    /// the last.
    #[inline]
    pub(crate) fn first_match_batch(&self, keys: &[FlowKey; LANES]) -> [Option<usize>; LANES] {
        let mut at = [self.root(); LANES];
        let mut walking = true;
        while walking {
            walking = false;
            for (node, key) in at.iter_mut().zip(keys) {
                if node.link & 7 != LEAF_TAG {
                    *node = self.child(*node, key);
                    walking = true;
                }
            }
        }
        let mut out = [None; LANES];
        for ((slot, node), key) in out.iter_mut().zip(at).zip(keys) {
            *slot = self.scan(node, key);
        }
        out
    }

    /// The root, or an empty leaf for an empty tree.
    #[inline]
    fn root(&self) -> Node {
        self.nodes.first().copied().unwrap_or(EMPTY)
    }

    /// The child of internal node `node` that `key` goes to.
    #[inline]
    fn child(&self, node: Node, key: &FlowKey) -> Node {
        let field = key[(node.link & 7) as usize];
        let child = (node.link >> 3) as usize + usize::from(field > node.split);
        self.nodes.get(child).copied().unwrap_or(EMPTY)
    }

    /// The first rule of leaf `node` holding `key`.
    #[inline]
    fn scan(&self, node: Node, key: &FlowKey) -> Option<usize> {
        let start = (node.link >> 3) as usize;
        let leaf = self.entries.get(start..start + node.split as usize)?;
        leaf.iter().find(|e| e.holds(key)).map(|e| e.rule as usize)
    }

    /// Heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
    }
}

/// Builds a [`Tree`] depth first.
struct Builder<'s> {
    shapes: &'s [Shape],
    tree: Tree,
    /// Bytes left for nodes and entries.
    budget: usize,
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
        let split = (entries > LEAF && depth < MAX_DEPTH)
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
    fn best_split(&self, rules: &[u32], region: &Region) -> Option<(usize, u32)> {
        self.fewer_rules(rules, region).or_else(|| {
            PORT_FIELDS.into_iter().find_map(|field| {
                let (lo, hi) = region.get(field)?;
                (*lo < NO_PORT && *hi == NO_PORT).then_some((field, NO_PORT - 1))
            })
        })
    }

    /// The split of [`best_split`](Self::best_split) that leaves each child fewer rules.
    fn fewer_rules(&self, rules: &[u32], region: &Region) -> Option<(usize, u32)> {
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
        &self,
        rules: &[u32],
        field: usize,
        bounds: (u32, u32),
    ) -> Option<((usize, usize), u32)> {
        let mut lows = Vec::with_capacity(rules.len());
        let mut highs = Vec::with_capacity(rules.len());
        let mut points = Vec::with_capacity(rules.len() * 2);
        for &r in rules {
            let Some(f) = self.shape(r).and_then(|s| s.get(field)) else {
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
        let n = lows.len();
        points
            .iter()
            .map(|&p| {
                let left = lows.partition_point(|&l| l <= p);
                let right = n - highs.partition_point(|&h| h <= p);
                ((left + right + left.max(right), left.max(right)), p)
            })
            .filter(|c| c.0 .1 < n)
            .min_by_key(|c| c.0)
    }

    /// Makes node `at` a leaf holding `rules` over `region`.
    fn leaf(&mut self, at: usize, rules: &[u32], region: &Region) -> Option<()> {
        let start = self.tree.entries.len();
        for &rule in rules {
            let shape = self.shape(rule)?.clone();
            let mut combos: Vec<Region> = vec![*region];
            for (field, f) in shape.iter().enumerate() {
                let ranges: SmallVec<[(u32, u32); 2]> = meeting(f, *region.get(field)?).collect();
                combos = combos
                    .iter()
                    .flat_map(|c| {
                        ranges.iter().map(move |&r| {
                            let mut c = *c;
                            if let Some(slot) = c.get_mut(field) {
                                *slot = r;
                            }
                            c
                        })
                    })
                    .collect();
            }
            self.spend(combos.len() * std::mem::size_of::<Entry>())?;
            self.tree
                .entries
                .extend(combos.iter().map(|c| entry(rule, c)));
        }
        let count = u32::try_from(self.tree.entries.len() - start).ok()?;
        *self.tree.nodes.get_mut(at)? = Node {
            split: count,
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

/// The entry for `rule` over one range per field.
fn entry(rule: u32, c: &Region) -> Entry {
    let narrow = |r: (u32, u32), max: u32| -> [u32; 2] {
        if r.0 > max {
            [1, 0]
        } else {
            [r.0, r.1.min(max)]
        }
    };
    let port = |r| narrow(r, u32::from(u16::MAX)).map(|p| u16::try_from(p).unwrap_or(0));
    let [proto, src, sport, dst, dport] = *c;
    Entry {
        src: [src.0, src.1],
        dst: [dst.0, dst.1],
        sport: port(sport),
        dport: port(dport),
        proto: narrow(proto, 255).map(|p| u8::try_from(p).unwrap_or(0)),
        rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn shape(fields: [&[(u32, u32)]; FIELDS]) -> Shape {
        fields.map(|f| f.iter().copied().collect())
    }

    /// The linear scan over shapes.
    fn scan(shapes: &[Shape], key: &FlowKey) -> Option<usize> {
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
        let tree = Tree::build(&shapes, 1 << 20).expect("within budget");
        for a in (0..45_000u32).step_by(37) {
            for (proto, dport) in [(6, 80), (17, 3), (1, NO_PORT), (6, 39), (6, 41)] {
                let key = [proto, a, NO_PORT, 7, dport, 0, 0, 0];
                assert_eq!(tree.first_match(&key), scan(&shapes, &key), "{key:?}");
            }
        }
    }

    #[test]
    fn a_spent_budget_gives_up() {
        let s: Shape = [(); FIELDS].map(|_| smallvec![(0, 0)]);
        assert!(Tree::build(std::slice::from_ref(&s), 4).is_none());
        assert!(Tree::build(&[s], 1024).is_some());
    }
}
