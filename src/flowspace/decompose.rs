//! From a [`FlowSet`] back to a few readable [`Cube`]s.
//!
//! The diagram is read one field at a time, in variable order. Within a field, every path
//! from the field's entry node ends at a *boundary* node (the first node of a later field,
//! or the `true` leaf); the field values leading to one boundary node form one interval
//! set, and the rest of the set below that node is decomposed in turn. Every flow of the
//! set lies in exactly one resulting cube, so the cubes are disjoint and cover the set
//! exactly. A last pass merges cubes that differ in a single field (two adjacent /25
//! blocks with the same ports become one /24), which is what makes the output short.

use super::bdd::{FieldSpan, FlowSet, DST, DST_PORT, FAMILY, PROTOCOL, SRC, SRC_PORT};
use super::cube::{Cube, Family, Ranges};
use biodivine_lib_bdd::{Bdd, BddPointer};
use std::collections::HashMap;

/// The cubes of a set, and whether they are all of it.
#[derive(Clone, Debug)]
pub struct Decomposition {
    /// Disjoint cubes, in a stable order.
    pub cubes: Vec<Cube>,
    /// False when the set needed more than the requested number of cubes: `cubes` then
    /// holds only part of it.
    pub complete: bool,
}

/// Field values assigned so far on the way down.
#[derive(Clone, Debug, Default)]
struct Partial {
    protocols: Ranges,
    family: Option<Family>,
    dst: Ranges,
    dst_ports: Ranges,
    src: Ranges,
}

/// The walk's state: the diagram, the output and the budget.
struct Walk<'a> {
    bdd: &'a Bdd,
    out: Vec<Cube>,
    limit: usize,
    complete: bool,
    /// Intervals produced so far, against [`PATTERN_BUDGET`].
    intervals: usize,
}

impl FlowSet {
    /// The set as at most `limit` disjoint cubes, merged where they differ in one field.
    pub fn cubes(&self, limit: usize) -> Decomposition {
        let mut walk = Walk {
            bdd: &self.0,
            out: Vec::new(),
            limit,
            complete: true,
            intervals: 0,
        };
        if !self.is_empty() {
            walk.field(0, self.0.root_pointer(), Partial::default());
        }
        let complete = walk.complete;
        let mut cubes = merge(walk.out);
        cubes.sort();
        Decomposition { cubes, complete }
    }

    /// A concrete flow of the set (from its first cube), or `None` when it is empty.
    pub fn witness(&self) -> Option<crate::flow::Flow> {
        self.cubes(1).cubes.first().and_then(Cube::witness)
    }
}

const FIELDS: [FieldSpan; 6] = [PROTOCOL, FAMILY, DST, DST_PORT, SRC, SRC_PORT];

impl Walk<'_> {
    /// Splits the sub-diagram at `node` on field number `index`.
    fn field(&mut self, index: usize, node: BddPointer, partial: Partial) {
        let span = FIELDS[index];
        let mut by_boundary: Vec<(BddPointer, Vec<(u128, u128)>)> = Vec::new();
        let mut bits = vec![None; usize::from(span.width)];
        if !self.paths(node, span, &mut bits, &mut by_boundary) {
            self.complete = false;
            return;
        }
        for (boundary, intervals) in by_boundary {
            if self.out.len() >= self.limit {
                self.complete = false;
                return;
            }
            let values = Ranges::from_intervals(intervals);
            self.next(index, boundary, &partial, values);
        }
    }

    /// Records `values` for field `index` and goes on below `boundary`.
    fn next(&mut self, index: usize, boundary: BddPointer, partial: &Partial, values: Ranges) {
        let mut p = partial.clone();
        match index {
            0 => p.protocols = values,
            1 => {
                for (bit, family) in [(0, Family::Ipv4), (1, Family::Ipv6)] {
                    if values.contains(bit) {
                        p.family = Some(family);
                        self.field(2, boundary, p.clone());
                    }
                }
                return;
            }
            2 => p.dst = native(p.family, &values),
            3 => p.dst_ports = values,
            4 => p.src = native(p.family, &values),
            _ => {
                self.emit(p, values);
                return;
            }
        }
        self.field(index + 1, boundary, p);
    }

    fn emit(&mut self, p: Partial, src_ports: Ranges) {
        let Some(family) = p.family else { return };
        self.out.push(Cube {
            family,
            protocols: p.protocols,
            dst: p.dst,
            dst_ports: p.dst_ports,
            src: p.src,
            src_ports,
        });
    }

    /// Every path through `span` from `node`, as value intervals grouped by the node where
    /// the path leaves the field. False when the budget ran out.
    fn paths(
        &mut self,
        node: BddPointer,
        span: FieldSpan,
        bits: &mut [Option<bool>],
        out: &mut Vec<(BddPointer, Vec<(u128, u128)>)>,
    ) -> bool {
        if node.is_zero() {
            return true;
        }
        let v = if node.is_one() {
            u16::MAX
        } else {
            self.bdd.var_of(node).to_index() as u16
        };
        if v >= span.end() {
            let Some(intervals) = pattern_intervals(bits) else {
                return false;
            };
            self.intervals += intervals.len();
            match out.iter_mut().find(|(b, _)| *b == node) {
                Some((_, list)) => list.extend(intervals),
                None => out.push((node, intervals)),
            }
            return self.intervals <= PATTERN_BUDGET;
        }
        let i = usize::from(v - span.start);
        let children = [
            (false, self.bdd.low_link_of(node)),
            (true, self.bdd.high_link_of(node)),
        ];
        for (bit, child) in children {
            bits[i] = Some(bit);
            if !self.paths(child, span, bits, out) {
                return false;
            }
        }
        bits[i] = None;
        true
    }
}

/// Most intervals one field may expand to before the decomposition gives up.
const PATTERN_BUDGET: usize = 1 << 16;

/// The values of a ternary bit pattern (most significant bit first) as intervals: free
/// bits after the last fixed one form the interval's span, free bits before it multiply
/// the intervals. `None` when that would exceed the budget.
fn pattern_intervals(bits: &[Option<bool>]) -> Option<Vec<(u128, u128)>> {
    let width = bits.len() as u32;
    let last = bits.iter().rposition(Option::is_some);
    let Some(last) = last else {
        let max = if width >= 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        return Some(vec![(0, max)]);
    };
    let free: Vec<usize> = (0..last).filter(|&i| bits[i].is_none()).collect();
    if free.len() > 16 {
        return None;
    }
    let tail = width - 1 - last as u32;
    let span = if tail >= 128 {
        u128::MAX
    } else {
        (1u128 << tail) - 1
    };
    let mut out = Vec::with_capacity(1 << free.len());
    for combo in 0u32..(1 << free.len()) {
        let mut value = 0u128;
        for (i, b) in bits.iter().enumerate().take(last + 1) {
            let bit = match b {
                Some(b) => *b,
                None => {
                    let k = free.iter().position(|&f| f == i).unwrap_or(0);
                    combo >> k & 1 == 1
                }
            };
            value |= u128::from(bit) << (width - 1 - i as u32);
        }
        out.push((value, value | span));
    }
    Some(out)
}

/// 128-bit field values as addresses of `family` (IPv4 uses the top 32 bits).
fn native(family: Option<Family>, values: &Ranges) -> Ranges {
    match family {
        Some(Family::Ipv4) => Ranges::from_intervals(
            values
                .intervals()
                .iter()
                .map(|&(lo, hi)| (lo >> 96, hi >> 96)),
        ),
        _ => values.clone(),
    }
}

/// Merges cubes equal in all fields but one, until nothing changes.
fn merge(mut cubes: Vec<Cube>) -> Vec<Cube> {
    loop {
        let before = cubes.len();
        for field in 0..5 {
            cubes = merge_on(cubes, field);
        }
        if cubes.len() == before {
            return cubes;
        }
    }
}

fn merge_on(cubes: Vec<Cube>, field: usize) -> Vec<Cube> {
    let mut groups: HashMap<Cube, Ranges> = HashMap::new();
    let mut order = Vec::new();
    for mut cube in cubes {
        let slot = field_mut(&mut cube, field);
        let values = std::mem::take(slot);
        match groups.get_mut(&cube) {
            Some(acc) => *acc = acc.union(&values),
            None => {
                order.push(cube.clone());
                groups.insert(cube, values);
            }
        }
    }
    order
        .into_iter()
        .map(|mut cube| {
            let values = groups.remove(&cube).unwrap_or_default();
            *field_mut(&mut cube, field) = values;
            cube
        })
        .collect()
}

fn field_mut(cube: &mut Cube, field: usize) -> &mut Ranges {
    match field {
        0 => &mut cube.protocols,
        1 => &mut cube.dst,
        2 => &mut cube.dst_ports,
        3 => &mut cube.src,
        _ => &mut cube.src_ports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Flow;
    use crate::flowspace::cube::{address_value, PORT_MAX};

    fn v4(text: &str) -> u128 {
        address_value(text.parse().unwrap())
    }

    fn tcp_to(dst: (u128, u128), port: u128) -> Cube {
        Cube {
            family: Family::Ipv4,
            protocols: Ranges::single(6),
            src: Ranges::full(Family::Ipv4.max()),
            src_ports: Ranges::full(PORT_MAX),
            dst: Ranges::from_intervals([dst]),
            dst_ports: Ranges::single(port),
        }
    }

    #[test]
    fn adjacent_blocks_merge_back() {
        let a = tcp_to((v4("10.1.0.0"), v4("10.1.0.127")), 22);
        let b = tcp_to((v4("10.1.0.128"), v4("10.1.0.255")), 22);
        let set = FlowSet::from_cube(&a).union(&FlowSet::from_cube(&b));
        let d = set.cubes(100);
        assert!(d.complete);
        assert_eq!(d.cubes.len(), 1);
        assert_eq!(d.cubes[0].to_string(), "tcp 0.0.0.0/0:* -> 10.1.0.0/24:22");
    }

    #[test]
    fn differences_decompose_exactly() {
        let all = tcp_to((v4("10.1.0.0"), v4("10.1.0.255")), 22);
        let hole = tcp_to((v4("10.1.0.7"), v4("10.1.0.7")), 22);
        let set = FlowSet::from_cube(&all).minus(&FlowSet::from_cube(&hole));
        let d = set.cubes(100);
        let back = d
            .cubes
            .iter()
            .fold(FlowSet::empty(), |acc, c| acc.union(&FlowSet::from_cube(c)));
        assert_eq!(back, set);
        assert_eq!(d.cubes.len(), 1, "{:?}", d.cubes);
        assert_eq!(
            d.cubes[0].to_string(),
            "tcp 0.0.0.0/0:* -> 10.1.0.0/30,10.1.0.4/31,10.1.0.6,10.1.0.8/29,10.1.0.16/28,10.1.0.32/27,10.1.0.64/26,10.1.0.128/25:22"
        );
        let w = set.witness().unwrap();
        assert!(set.contains(&w));
        assert!(!set.contains(&Flow::parse("tcp 1.1.1.1:5 -> 10.1.0.7:22").unwrap()));
    }

    #[test]
    fn everything_is_a_few_cubes() {
        let d = FlowSet::all().cubes(10);
        assert!(d.complete);
        assert_eq!(d.cubes.len(), 2, "one per family");
        assert_eq!(d.cubes[0].to_string(), "any 0.0.0.0/0:* -> 0.0.0.0/0:*");
        assert!(FlowSet::empty().cubes(10).cubes.is_empty());
        let truncated = FlowSet::all().cubes(1);
        assert!(!truncated.complete);
    }
}
