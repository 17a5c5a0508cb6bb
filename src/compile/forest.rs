//! The decision trees of one rule table: one over its first rules and, where that one
//! cannot hold them all, one more per breadth class of the rest.
//!
//! A single tree over every rule is the fastest lookup (module `tree`), but wide rules copy
//! themselves into both sides of most cuts, so on some sets (ClassBench's fw shape above
//! all) no tree over every rule fits the byte budget. Such sets, like most rule lists, put
//! their specific rules first, so the *head* tree covers the longest run of rules from the
//! first that fits. The rest (the *tail*) are split by how wide their addresses are, as in
//! CutSplit: a rule's source and destination are each narrow (more specific than a /8) or
//! wide, which makes four classes; within a class the rules share which fields are worth
//! cutting, and each class's tree stays small. A flow that no head rule matches walks every
//! tail tree, and the first match is the lowest table index among their answers; a batch
//! gathers the flows that missed the head and walks them eight at a time, so a tail walk
//! costs as much as a head walk.
//!
//! A class whose tree does not fit what is left of the budget (rules wide at both ends, on
//! the sets measured) has none, and where no class has one, the forest is the head alone,
//! over as many rules as the whole budget allows. The table's bit-vectors answer for the
//! rules the forest does not [`cover`](Forest::covers), and a flow that misses the head
//! takes the earliest of the tail trees' answer and theirs.
//!
//! Measured (`secpath bench --classbench`, best of two, M lookups/s), head tree and
//! bit-vectors over the rest → head and tail trees: db_generator's fw1 10K 13.9–14.6 →
//! 17.2–17.4 (39 % of its flows miss the head); `benches/classbench_gen.py`'s fw 10K 10.0 →
//! 12.1 and ipc 10K 13.7 → 16.2, with their rules wide at both ends left to bit-vectors.
//!
//! Measured and lost: splitting the class wide at both ends again by destination port (fewer
//! than 1,100 ports or not) gives every class a tree (generated fw 1K: 52 and 76 rules in
//! 0.29 MiB), but a missed flow then walks four tail trees: fw 1K 32.0 → 29.3, db_generator's
//! fw1 10K 16.7 → 14.4. Tail trees in what a head holding 3/4 of the rules leaves of the
//! budget: on generated fw 1K the wide class (128 rules) fits no tree in the 0.5 MiB left,
//! and the two that fit (60 rules) changed nothing measurable.

use super::tree::{FlowKey, Ranges, Shape, Tree, LANES, LEAF_SIZES};

/// The share of the rules a head alone must hold to be kept without tail trees: flows that
/// miss a head are few when it holds most rules, and the head's quarter of the budget that
/// tail trees would take costs more than they save. Measured (M lookups/s, head alone →
/// head and tail trees; published sets, then `benches/classbench_gen.py`'s): fw1 1K (head
/// alone over 90 % of the rules) 44.8 → 33.7, ipc1 10K (97 %) 36.7 → 29.6, fw1 10K (59 %)
/// 14.0 → 17.1; fw 1K (78 %) 30.2 → 26.4, ipc 10K (66 %) 13.7 → 16.2, fw 10K (44 %) 10.0
/// → 12.1.
const HEAD_ENOUGH: f64 = 0.75;

/// A source or destination narrower than this many addresses is narrow (a /8 holds 2^24).
const NARROW_BELOW: u64 = 1 << 24;

/// The head tree over a table's first rules, and the tail's trees over the rest.
#[derive(Clone, Debug)]
pub(crate) struct Forest {
    head: Tree,
    /// Rules the head holds: table indices `0..head_rules`.
    head_rules: usize,
    /// The tail's trees, by their first rule.
    tail: Vec<TailTree>,
}

/// One breadth class of the tail.
#[derive(Clone, Debug)]
struct TailTree {
    tree: Tree,
    /// The table index of each of the tree's rules, ascending.
    rules: Vec<u32>,
}

impl Forest {
    /// The forest over `shapes` (in table order) within `budget` bytes: one tree over every
    /// rule where one fits; else the longest head that fits alone, where it holds
    /// [`HEAD_ENOUGH`] of the rules; else a head given three quarters of the budget and a
    /// tree for each breadth class of the rest that fits what is left, where one does; else
    /// that longest head. `None` when not even a head over a few rules fits. The rules it
    /// does not [`cover`](Self::covers) are left to the table's bit-vectors.
    pub(crate) fn build(shapes: &[Shape], budget: usize) -> Option<Forest> {
        let n = shapes.len();
        let alone = |head, head_rules| Forest {
            head,
            head_rules,
            tail: Vec::new(),
        };
        if let Some(head) = fitting(shapes, budget, &LEAF_SIZES) {
            return Some(alone(head, n));
        }
        let longest = head_over_first(shapes, budget);
        let enough = |&(_, at): &(Tree, usize)| at as f64 >= n as f64 * HEAD_ENOUGH;
        if longest.as_ref().is_some_and(enough) {
            return longest.map(|(head, at)| alone(head, at));
        }
        let with_tail = head_over_first(shapes, budget / 4 * 3).and_then(|(head, at)| {
            let left = budget.checked_sub(head.bytes())?;
            let tail = tail_trees(shapes, at, left);
            (!tail.is_empty()).then_some(Forest {
                head,
                head_rules: at,
                tail,
            })
        });
        with_tail.or_else(|| longest.map(|(head, at)| alone(head, at)))
    }

    /// Whether the forest answers for the table's rule `rule`: every rule it does not
    /// comes after the head's, and a flow that misses the head must be checked against them
    /// too.
    pub(crate) fn covers(&self, rule: usize) -> bool {
        let tail =
            |t: &TailTree| u32::try_from(rule).is_ok_and(|r| t.rules.binary_search(&r).is_ok());
        rule < self.head_rules || self.tail.iter().any(tail)
    }

    /// The head's first rule holding `key`.
    #[inline]
    pub(crate) fn head_match(&self, key: &FlowKey) -> Option<usize> {
        self.head.first_match(key)
    }

    /// The tail trees' first rule holding `key`.
    pub(crate) fn tail_match(&self, key: &FlowKey) -> Option<usize> {
        let answers = self.tail.iter().map(|t| t.rule(t.tree.first_match(key)));
        answers.fold(None, earliest)
    }

    /// The head's answers for [`LANES`] keys at once (its walks interleaved).
    #[inline]
    pub(crate) fn head_batch(&self, keys: &[FlowKey; LANES]) -> [Option<usize>; LANES] {
        self.head.first_match_batch(keys)
    }

    /// The tail's answers for [`LANES`] keys that missed the head.
    pub(crate) fn tail_batch(&self, keys: &[FlowKey; LANES]) -> [Option<usize>; LANES] {
        let mut best = [None; LANES];
        for t in &self.tail {
            for (best, hit) in best.iter_mut().zip(t.tree.first_match_batch(keys)) {
                *best = earliest(*best, t.rule(hit));
            }
        }
        best
    }

    /// Heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.head.bytes()
            + self
                .tail
                .iter()
                .map(|t| t.tree.bytes() + t.rules.capacity() * 4)
                .sum::<usize>()
    }
}

impl TailTree {
    /// The table index of the tree's rule `hit`, if any.
    #[inline]
    fn rule(&self, hit: Option<usize>) -> Option<usize> {
        self.rules.get(hit?).map(|&r| r as usize)
    }
}

/// The earlier of two rules, either perhaps missing.
pub(crate) fn earliest(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A tree over `shapes` within `budget` with the first of `leaf_sizes` (ascending) that
/// fits, tried only where the last, largest, fits. A tree with smaller leaves is the one
/// with larger leaves split further (the builder's cuts do not depend on the leaf size),
/// and a split copies the rules that meet both sides, so where the largest leaves do not
/// fit, smaller ones do not either, and a build that fails runs until the whole budget is
/// spent. Compile time (`secpath bench --classbench`, generated 1K sets, ms): fw 70 → 57,
/// ipc 59 → 47; acl, whose tree fits, 10 → 14.
fn fitting(shapes: &[Shape], budget: usize, leaf_sizes: &[usize]) -> Option<Tree> {
    let (&largest, smaller) = leaf_sizes.split_last()?;
    let tree = Tree::build(shapes, budget, largest)?;
    let smaller = smaller
        .iter()
        .find_map(|&leaf| Tree::build(shapes, budget, leaf));
    Some(smaller.unwrap_or(tree))
}

/// A tree over the longest run of `shapes` from the first that fits `budget`, and how many
/// rules it holds: the most of the first half, quarter, ... (each probe halves the gap
/// between a run that fits and one that does not) with the largest leaves, which copy rules
/// least; then over the same run with the smallest leaves, which scan faster, where they
/// fit; else over one probe's step fewer rules with the smallest leaves, where that tree
/// stays within [`SMALL_TREE`].
///
/// Measured (published sets, M lookups/s): ipc1 10K, whose 9,255 rules also fit with
/// leaves of 15 (3.4 MiB against 2.0), 35.8 → 39.4. Giving up a step of rules for the
/// smallest leaves (`secpath bench --classbench`, best of three interleaved, with the 2 MiB
/// floor of the table's budget): `benches/classbench_gen.py`'s fw 1K 33.0 → 36.7 (812 rules
/// with leaves of 15 against 843 with leaves of 31, both 1.0 MiB), ipc 1K 47.9 → 48.8 (937
/// against 968). Bounding that tree matters: with no bound, acl 10K's head of 8,437 rules
/// with leaves of 15 (3.6 MiB, more than a core's cache) ran at 22.1 against 24.9 for
/// 8,750 rules with leaves of 31 (2.8 MiB).
fn head_over_first(shapes: &[Shape], budget: usize) -> Option<(Tree, usize)> {
    let (largest, at) = longest_run(shapes, budget)?;
    let smallest = &LEAF_SIZES[..1];
    if let Some(tree) = fitting(shapes.get(..at)?, budget, smallest) {
        return Some((tree, at));
    }
    let fewer = at.saturating_sub(shapes.len() >> PREFIX_PROBES);
    let faster = (fewer > 0)
        .then(|| fitting(shapes.get(..fewer)?, budget.min(SMALL_TREE), smallest))
        .flatten();
    Some(faster.map_or((largest, at), |tree| (tree, fewer)))
}

/// The probes of [`head_over_first`], with the largest leaves.
fn longest_run(shapes: &[Shape], budget: usize) -> Option<(Tree, usize)> {
    let leaf = LEAF_SIZES[LEAF_SIZES.len() - 1];
    let (mut fits, mut over) = (None, shapes.len());
    let mut at = 0;
    for _ in 0..PREFIX_PROBES {
        let mid = (at + over) / 2;
        if mid <= at {
            break;
        }
        match Tree::build(shapes.get(..mid)?, budget, leaf) {
            Some(tree) => {
                at = mid;
                fits = Some((tree, mid));
            }
            None => over = mid,
        }
    }
    fits
}

/// Halvings [`head_over_first`] tries.
const PREFIX_PROBES: usize = 5;

/// Bytes of a tree that stays in a core's cache on the machines measured (2 MiB of L2): a
/// table's budget is at least this, and a head over fewer rules for smaller leaves is kept
/// only within it.
pub(crate) const SMALL_TREE: usize = 2 << 20;

/// Trees over the breadth classes of `shapes[at..]`, narrowest first, each with the
/// smallest of [`LEAF_SIZES`] that fits what is left of `budget`; a class whose tree does
/// not fit gets none. The class of rules wide at both ends is the one that does not, on
/// the sets measured: ClassBench-shaped fw 10K's 1,526 such rules outgrow 256 MiB.
fn tail_trees(shapes: &[Shape], at: usize, mut budget: usize) -> Vec<TailTree> {
    let mut classes: [(Vec<Shape>, Vec<u32>); 4] = Default::default();
    for (i, shape) in (0u32..).zip(shapes).skip(at) {
        let class = usize::from(narrow(&shape[1])) * 2 + usize::from(narrow(&shape[3]));
        if let Some((shapes, rules)) = classes.get_mut(class) {
            shapes.push(shape.clone());
            rules.push(i);
        }
    }
    let mut trees = Vec::new();
    for (shapes, mut rules) in classes.into_iter().rev().filter(|c| !c.0.is_empty()) {
        rules.shrink_to_fit();
        let room = budget.saturating_sub(rules.len() * 4);
        let Some(tree) = fitting(&shapes, room, &LEAF_SIZES) else {
            continue;
        };
        budget = budget.saturating_sub(tree.bytes() + rules.len() * 4);
        trees.push(TailTree { tree, rules });
    }
    trees.sort_by_key(|t| t.rules.first().copied());
    trees
}

/// Whether an address field spans fewer than [`NARROW_BELOW`] addresses.
fn narrow(ranges: &Ranges) -> bool {
    let width: u64 = ranges.iter().map(|&(lo, hi)| u64::from(hi - lo) + 1).sum();
    width < NARROW_BELOW
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::tree::tests::scan;
    use crate::compile::tree::{FIELDS, NO_PORT};
    use proptest::prelude::*;
    use smallvec::smallvec;

    /// A rule over a /`len` address (wide below 8) at `base`, any protocol and ports.
    fn rule(src: (u32, u32), dst: (u32, u32), port: u32) -> Shape {
        let prefix = |(base, len): (u32, u32)| {
            let span = if len == 0 {
                u32::MAX
            } else {
                (1u32 << (32 - len)) - 1
            };
            smallvec![(base & !span, (base & !span) | span)]
        };
        [
            smallvec![(0, 255)],
            prefix(src),
            smallvec![(0, NO_PORT)],
            prefix(dst),
            smallvec![(port, port), (NO_PORT, NO_PORT)],
        ]
    }

    fn shapes() -> impl Strategy<Value = Vec<Shape>> {
        let len = prop_oneof![Just(0u32), Just(4), 8..33u32];
        let end = (0..16u32, len).prop_map(|(b, l)| (b << 28, l));
        let shape = (end.clone(), end, 0..4u32).prop_map(|(s, d, p)| rule(s, d, p));
        prop::collection::vec(shape, 1..300)
    }

    fn keys() -> impl Strategy<Value = Vec<FlowKey>> {
        let address = (0..16u32, 0..4u32).prop_map(|(b, low)| b << 28 | low);
        let port = prop_oneof![0..5u32, Just(NO_PORT)];
        let key = (0..3u32, address.clone(), port.clone(), address, port)
            .prop_map(|(a, b, c, d, e)| [a, b, c, d, e, 0, 0, 0]);
        prop::collection::vec(key, LANES..8 * LANES)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Whatever the budget, a forest answers the scan's first match among the rules it
        /// covers, one key or a block at a time.
        #[test]
        fn forests_agree_with_a_scan(
            shapes in shapes(),
            keys in keys(),
            budget in prop_oneof![Just(4096usize), Just(16 << 10), Just(64 << 10), Just(1 << 24)],
        ) {
            let Some(forest) = Forest::build(&shapes, budget) else { return Ok(()) };
            prop_assert!(forest.bytes() <= budget);
            // The scan over the rules the forest covers; the others never match.
            let never: Shape = Default::default();
            let covered: Vec<Shape> = (0..shapes.len())
                .map(|i| if forest.covers(i) { shapes[i].clone() } else { never.clone() })
                .collect();
            for lanes in keys.chunks_exact(LANES) {
                let lanes: &[FlowKey; LANES] = lanes.try_into().expect("a batch");
                let head = forest.head_batch(lanes);
                let tail = forest.tail_batch(lanes);
                for ((key, head), tail) in lanes.iter().zip(head).zip(tail) {
                    let want = scan(&covered, key);
                    let one = forest.head_match(key).or_else(|| forest.tail_match(key));
                    prop_assert_eq!(one, want, "{:?}", key);
                    prop_assert_eq!(head.or(tail), want, "{:?}", key);
                }
            }
        }
    }

    /// Where the smallest leaves do not fit the longest run, some budget gives up one
    /// probe's step of rules for them, and every head found agrees with the scan.
    #[test]
    fn a_head_gives_up_a_step_of_rules_for_smaller_leaves() {
        let shapes: Vec<Shape> = (0..256u32)
            .map(|i| {
                rule(
                    ((i % 16) << 28 | i << 12, 20),
                    ((i % 7) << 28, 4 + i % 5),
                    i % 4,
                )
            })
            .collect();
        let step = shapes.len() >> PREFIX_PROBES;
        let mut gave_up = false;
        for budget in (12..24).map(|b| 1usize << b) {
            let Some((head, at)) = head_over_first(&shapes, budget) else {
                continue;
            };
            let (_, longest) = longest_run(&shapes, budget).expect("a run fits");
            assert!(at == longest || at + step == longest, "{at} of {longest}");
            gave_up |= at < longest;
            let run = &shapes[..at];
            for i in 0..2048u32 {
                let key = [
                    i % 3,
                    i.wrapping_mul(0x9E37_79B9),
                    NO_PORT,
                    i << 28,
                    i % 5,
                    0,
                    0,
                    0,
                ];
                assert_eq!(head.first_match(&key), scan(run, &key), "{key:?}");
            }
        }
        assert!(gave_up, "no budget gave up rules for smaller leaves");
    }

    /// Specific rules first, then many wide ones: the head cannot hold them all in a small
    /// budget, and the tail trees take the rest.
    #[test]
    fn a_wide_tail_gets_its_own_trees() {
        let mut shapes: Vec<Shape> = (0..64u32)
            .map(|i| rule((i << 24, 24), (i << 20, 24), i % 4))
            .collect();
        for i in 0..200u32 {
            let wide = (i % 16) << 28;
            shapes.push(match i % 3 {
                0 => rule((wide, 4), (i << 20, 16), i % 5),
                1 => rule((i << 20, 16), (wide, 0), i % 5),
                _ => rule((0, 0), (wide, 4), i % 5),
            });
        }
        assert_eq!(shapes[0].len(), FIELDS);
        let whole = Forest::build(&shapes, 1 << 24).expect("fits");
        assert!(whole.tail.is_empty());
        assert!((0..shapes.len()).all(|i| whole.covers(i)));
        let budget = whole.bytes() / 8;
        let forest = Forest::build(&shapes, budget).expect("fits");
        assert!(!forest.tail.is_empty(), "{} bytes", forest.bytes());
        assert!(forest.head_rules < shapes.len());
        assert!((0..shapes.len()).all(|i| forest.covers(i)));
    }
}
