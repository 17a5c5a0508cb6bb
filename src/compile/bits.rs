//! Bit-vectors over a table's rules (bit `i` = rule `i` in evaluation order), stored in
//! shared cache-line blocks, and the one hot loop that intersects them.
//!
//! Layout: a vector is cut into blocks of [`BLOCK`] words (512 rules, one 64-byte cache
//! line; a table of fewer rules has one narrower block); every distinct block is stored once, and a vector is the list of its blocks' ids.
//! A lookup ANDs five vectors block by block and stops at the first block with a common
//! bit; a block that is all zeros in any of the five is skipped without reading it.
//!
//! Why blocks: the intervals of one field differ from their neighbours by a few rules, so
//! their vectors differ in a block or two and share the rest. Stored whole, ClassBench-shaped
//! tables of 10,000 rules took 18–24 MiB (distinct vectors × 1,256 bytes) and a lookup's
//! first words were cache misses; sharing blocks stores each difference once (see `table`'s
//! module documentation for the figures). Compressing vectors by their zero words instead
//! (aggregated bit vectors: a summary bit per word, only non-zero words stored) saved
//! nothing there — wildcard rules make every word of almost every vector non-zero — and its
//! popcount arithmetic made 1,000-rule lookups slower.
//!
//! Plain words rather than a bit-set crate: a lookup wants only the lowest common set bit,
//! and bitvec's operators work bit by bit and cost ~40× more (STYLE.md, "Crate notes").
//! This module is the only place that knows the layout.
//!
//! Tables of at most [`NARROW`] rules skip the arena: a lookup's value is the vector itself
//! (a `u128`, see [`Inline`]), so a field costs no loads past its interval. Enterprise
//! policies are thousands of such tables (an NSG direction holds at most a few hundred
//! rules, usually about a hundred), a decision looks up several of them at random, and
//! each arena load was a cache miss. Measured on the enterprise benchmark (3,334 tables of
//! 89 rules on average; same-run ratios on a loaded 2-core machine): a third less time per
//! whole-path decision, and 49 → 40 MB of tables.

use rustc_hash::{FxHashMap, FxHashSet};

/// Bits per word.
const WORD: usize = 64;

/// Words per block.
const BLOCK: usize = 8;

/// The block every vector's zero runs share: its id in every arena.
const ZERO: u32 = 0;

/// The most rules a table may have for its vectors to be stored inline ([`Inline`]).
pub(crate) const NARROW: usize = 128;

/// Where a table's vectors are kept while it is built: [`Interner`] (shared blocks in an
/// [`Arena`], named by ids) or [`Inline`] (the bits are the value).
pub(crate) trait Store {
    /// What a lookup stores and finds for a vector.
    type Id: Copy + Default + PartialEq + std::fmt::Debug;
    /// What lookups intersect `Id`s with once the table is built.
    type Finished: Intersect<Id = Self::Id>;
    /// A zeroed dense vector of the right width, to fill and intern.
    fn zeroed(&self) -> Vec<u64>;
    /// The value for the dense vector `v`.
    fn intern(&mut self, v: &[u64]) -> Self::Id;
    /// The finished form, without the build's indexes.
    fn finish(self) -> Self::Finished;
}

/// Intersecting the five field vectors of a lookup.
pub(crate) trait Intersect {
    /// A stored vector.
    type Id: Copy + Default + PartialEq + std::fmt::Debug;
    /// The lowest bit set in all five vectors, or `None`.
    fn first_common(&self, ids: [Self::Id; 5]) -> Option<usize>;
    /// Like [`first_common`](Self::first_common), where vector 1 is first ORed with every
    /// vector of `extra_1` and vector 3 with every vector of `extra_3` (the rules naming one
    /// of an endpoint's ASGs).
    fn first_common_with(
        &self,
        ids: [Self::Id; 5],
        extra_1: impl Iterator<Item = Self::Id> + Clone,
        extra_3: impl Iterator<Item = Self::Id> + Clone,
    ) -> Option<usize>;
    /// How many distinct vectors were stored.
    fn len(&self) -> usize;
    /// Heap bytes.
    fn bytes(&self) -> usize;
}

/// Builds the vectors of a table of at most [`NARROW`] rules, as `u128` values.
#[derive(Debug, Default)]
pub(crate) struct Inline {
    distinct: FxHashSet<u128>,
}

/// The finished form of [`Inline`]: nothing to look up, only the count for statistics.
#[derive(Clone, Debug)]
pub(crate) struct InlineVectors {
    distinct: usize,
}

impl Store for Inline {
    type Id = u128;
    type Finished = InlineVectors;

    fn zeroed(&self) -> Vec<u64> {
        vec![0; words_for(NARROW)]
    }

    fn intern(&mut self, v: &[u64]) -> u128 {
        let word = |w: usize| u128::from(v.get(w).copied().unwrap_or(0));
        let bits = word(0) | word(1) << WORD;
        self.distinct.insert(bits);
        bits
    }

    fn finish(self) -> InlineVectors {
        InlineVectors {
            distinct: self.distinct.len(),
        }
    }
}

impl Intersect for InlineVectors {
    type Id = u128;

    #[inline]
    fn first_common(&self, ids: [u128; 5]) -> Option<usize> {
        let x = ids.iter().fold(u128::MAX, |acc, v| acc & v);
        (x != 0).then(|| x.trailing_zeros() as usize)
    }

    #[inline]
    fn first_common_with(
        &self,
        ids: [u128; 5],
        extra_1: impl Iterator<Item = u128> + Clone,
        extra_3: impl Iterator<Item = u128> + Clone,
    ) -> Option<usize> {
        let [a, b, c, d, e] = ids;
        let b = extra_1.fold(b, |acc, v| acc | v);
        let d = extra_3.fold(d, |acc, v| acc | v);
        self.first_common([a, b, c, d, e])
    }

    fn len(&self) -> usize {
        self.distinct
    }

    fn bytes(&self) -> usize {
        0
    }
}

/// Words needed for `bits` bits.
pub(crate) fn words_for(bits: usize) -> usize {
    bits.div_ceil(WORD)
}

/// Sets bit `bit` of the dense vector `v`.
pub(crate) fn set(v: &mut [u64], bit: usize) {
    if let Some(w) = v.get_mut(bit / WORD) {
        *w |= 1 << (bit % WORD);
    }
}

/// Clears bit `bit` of the dense vector `v`.
pub(crate) fn clear(v: &mut [u64], bit: usize) {
    if let Some(w) = v.get_mut(bit / WORD) {
        *w &= !(1 << (bit % WORD));
    }
}

/// One stored vector, as its blocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vector<'a> {
    blocks: &'a [u32],
    arena: &'a Arena,
}

impl Vector<'_> {
    /// Word `w` (0 past the end).
    #[inline]
    fn word(&self, w: usize) -> u64 {
        let block = self.blocks.get(w / BLOCK).copied().unwrap_or(ZERO);
        self.arena.word(block, w % BLOCK)
    }
}

/// Indices of the set bits of `v`, ascending.
pub(crate) fn ones(v: Vector<'_>) -> impl Iterator<Item = usize> + '_ {
    (0..v.blocks.len() * BLOCK).flat_map(move |w| {
        let mut rest = v.word(w);
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            Some(w * WORD + bit)
        })
    })
}

/// Distinct bit-vectors of one width, each stored once as block ids; a vector is named by
/// its ordinal.
#[derive(Clone, Debug)]
pub(crate) struct Arena {
    /// Blocks per vector.
    width: usize,
    /// Vector `id` is `vectors[id * width..(id + 1) * width]`.
    vectors: Vec<u32>,
    /// Words per stored block: [`BLOCK`], or fewer for a narrower table.
    stride: usize,
    /// Distinct blocks, `stride` words each; block 0 is all zeros.
    blocks: Vec<u64>,
}

impl Arena {
    /// Vector `id` (empty for an id this arena never gave out).
    #[inline]
    pub(crate) fn get(&self, id: usize) -> Vector<'_> {
        let start = id * self.width;
        Vector {
            blocks: self.vectors.get(start..start + self.width).unwrap_or(&[]),
            arena: self,
        }
    }

    /// Word `w` of block `block`.
    #[inline]
    fn word(&self, block: u32, w: usize) -> u64 {
        self.block(block).get(w).copied().unwrap_or(0)
    }

    /// The words of block `block`.
    #[inline]
    fn block(&self, block: u32) -> &[u64] {
        let start = block as usize * self.stride;
        self.blocks.get(start..start + self.stride).unwrap_or(&[])
    }

    /// Word `w` of `base` ORed with word `w` of every vector of `extra`.
    #[inline]
    fn or_word(&self, base: &Vector, extra: impl Iterator<Item = usize>, w: usize) -> u64 {
        extra.fold(base.word(w), |acc, x| acc | self.get(x).word(w))
    }
}

impl Intersect for Arena {
    type Id = usize;

    fn len(&self) -> usize {
        self.vectors.len().checked_div(self.width).unwrap_or(1)
    }

    fn bytes(&self) -> usize {
        self.vectors.capacity() * std::mem::size_of::<u32>()
            + self.blocks.capacity() * std::mem::size_of::<u64>()
    }

    /// Block by block; a block that is zero in any vector is not read.
    #[inline]
    fn first_common(&self, ids: [usize; 5]) -> Option<usize> {
        let v = ids.map(|id| self.get(id).blocks);
        for b in 0..self.width {
            let at = v.map(|x| x.get(b).copied().unwrap_or(ZERO));
            if at.contains(&ZERO) {
                continue;
            }
            let [p, q, r, s, t] = at.map(|x| self.block(x));
            if let Some(bit) = first_in_block([p, q, r, s, t]) {
                return Some(b * BLOCK * WORD + bit);
            }
        }
        None
    }

    fn first_common_with(
        &self,
        ids: [usize; 5],
        extra_1: impl Iterator<Item = usize> + Clone,
        extra_3: impl Iterator<Item = usize> + Clone,
    ) -> Option<usize> {
        let [a, b, c, d, e] = ids.map(|id| self.get(id));
        for w in 0..self.width * BLOCK {
            let x = a.word(w) & c.word(w) & e.word(w);
            if x == 0 {
                continue;
            }
            let x = x & self.or_word(&b, extra_1.clone(), w) & self.or_word(&d, extra_3.clone(), w);
            if x != 0 {
                return Some(w * WORD + x.trailing_zeros() as usize);
            }
        }
        None
    }
}

/// The lowest bit set in all five blocks (as slices of equal length), or `None`.
///
/// Full blocks are ANDed whole, with no branch per word, so that the compiler ANDs them in
/// vector registers, and only then searched for the first non-zero word. Measured against
/// an early exit at each word (`secpath bench`, two interleaved runs, M lookups/s):
/// db_generator's fw1 10K, whose wide rules leave most lookups to the bit-vectors, 9.1 →
/// 9.8–10.0; the other 10K sets within the noise.
#[inline(always)]
fn first_in_block(blocks: [&[u64]; 5]) -> Option<usize> {
    let full = blocks.map(|b| <&[u64; BLOCK]>::try_from(b).ok());
    let x = match full {
        [Some(p), Some(q), Some(r), Some(s), Some(t)] => {
            std::array::from_fn::<u64, BLOCK, _>(|w| p[w] & q[w] & r[w] & s[w] & t[w])
        }
        _ => {
            let [p, q, r, s, t] = blocks;
            let words = p.iter().zip(q).zip(r).zip(s).zip(t);
            let mut x = [0; BLOCK];
            for (slot, ((((p, q), r), s), t)) in x.iter_mut().zip(words) {
                *slot = p & q & r & s & t;
            }
            x
        }
    };
    let w = x.iter().position(|&word| word != 0)?;
    Some(w * WORD + x[w].trailing_zeros() as usize)
}

/// Builds an [`Arena`], handing out one id per distinct vector.
#[derive(Debug)]
pub(crate) struct Interner {
    /// Words per dense vector.
    words: usize,
    arena: Arena,
    ids: FxHashMap<Box<[u64]>, usize>,
    block_ids: FxHashMap<Box<[u64]>, u32>,
}

impl Interner {
    /// An interner for vectors of `bits` bits.
    pub(crate) fn new(bits: usize) -> Interner {
        let words = words_for(bits);
        let stride = words.min(BLOCK);
        let zero: Box<[u64]> = vec![0; stride].into();
        Interner {
            words,
            arena: Arena {
                width: words.div_ceil(BLOCK),
                vectors: Vec::new(),
                stride,
                blocks: zero.to_vec(),
            },
            ids: FxHashMap::default(),
            block_ids: FxHashMap::from_iter([(zero, ZERO)]),
        }
    }
}

impl Store for Interner {
    type Id = usize;
    type Finished = Arena;

    fn zeroed(&self) -> Vec<u64> {
        vec![0; self.words]
    }

    /// Stores `v` on first sight.
    fn intern(&mut self, v: &[u64]) -> usize {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.ids.len();
        let mut block = vec![0; self.arena.stride];
        for chunk in v.chunks(BLOCK) {
            block.fill(0);
            for (to, from) in block.iter_mut().zip(chunk) {
                *to = *from;
            }
            let at = match self.block_ids.get(block.as_slice()) {
                Some(&at) => at,
                None => {
                    // More than 2^32 distinct blocks cannot be stored in memory anyway.
                    let next = self.arena.blocks.len() / self.arena.stride.max(1);
                    let at = u32::try_from(next).unwrap_or(u32::MAX);
                    self.arena.blocks.extend_from_slice(&block);
                    self.block_ids.insert(block.as_slice().into(), at);
                    at
                }
            };
            self.arena.vectors.push(at);
        }
        self.ids.insert(v.into(), id);
        id
    }

    fn finish(mut self) -> Arena {
        self.arena.vectors.shrink_to_fit();
        self.arena.blocks.shrink_to_fit();
        self.arena
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(bits: usize, ones: &[usize]) -> Vec<u64> {
        let mut v = vec![0; words_for(bits)];
        for &b in ones {
            set(&mut v, b);
        }
        v
    }

    #[test]
    fn interning_shares_vectors_and_blocks() {
        let mut i = Interner::new(70);
        let mut v = i.zeroed();
        assert_eq!(v.len(), 2);
        let empty = i.intern(&v);
        set(&mut v, 69);
        set(&mut v, 3);
        let some = i.intern(&v);
        assert_ne!(empty, some);
        assert_eq!(i.intern(&v), some);
        clear(&mut v, 69);
        clear(&mut v, 3);
        assert_eq!(i.intern(&v), empty);
        let arena = i.finish();
        assert_eq!(arena.len(), 2);
        assert_eq!(ones(arena.get(some)).collect::<Vec<_>>(), [3, 69]);
        assert_eq!(ones(arena.get(7)).count(), 0);
        // The zero block and one other, two words each.
        assert_eq!(arena.blocks.len(), 4);
    }

    #[test]
    fn first_common_finds_the_lowest_shared_bit_across_blocks() {
        let bits = WORD * BLOCK * 3 + 100;
        let mut i = Interner::new(bits);
        let all: Vec<usize> = (0..bits).collect();
        let far = WORD * BLOCK * 3 + 70;
        let all = i.intern(&dense(bits, &all));
        let deep = i.intern(&dense(bits, &[5, far]));
        let mid = i.intern(&dense(bits, &[9, WORD * BLOCK + 1, far]));
        let low = i.intern(&dense(bits, &[9]));
        let none = i.intern(&dense(bits, &[]));
        let a = i.finish();
        assert_eq!(a.first_common([all; 5]), Some(0));
        assert_eq!(a.first_common([all, deep, all, mid, all]), Some(far));
        assert_eq!(a.first_common([all, deep, all, none, all]), None);
        assert_eq!(a.first_common([all, mid, low, mid, all]), Some(9));
        assert_eq!(
            a.first_common_with(
                [all, deep, all, mid, all],
                [low].into_iter(),
                None.into_iter()
            ),
            Some(9)
        );
        assert_eq!(
            a.first_common_with(
                [all, none, all, mid, all],
                [deep].into_iter(),
                [none].into_iter()
            ),
            Some(far)
        );
        assert_eq!(
            a.first_common_with(
                [all, none, all, all, all],
                None.into_iter(),
                None.into_iter()
            ),
            None
        );
    }
}
