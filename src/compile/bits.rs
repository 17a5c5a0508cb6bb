//! Bit-vectors over a table's rules (bit `i` = rule `i` in evaluation order), stored once
//! each in a flat arena of `u64` words, and the one hot loop that intersects them.
//!
//! Why plain words: a lookup ANDs five vectors and wants only the lowest set bit, so the
//! loop runs word by word and stops at the first non-zero word. Bit-set crates' operators
//! (bitvec's `&=`) work bit by bit and cost ~40× more (STYLE.md, "Crate notes"); keeping
//! every vector as a `&[u64]` slice of one arena also means one allocation per table and
//! no pointer chasing. This module is the only place that knows the layout, so another
//! storage would be a one-file change.

use std::collections::HashMap;

/// Bits per word.
const WORD: usize = 64;

/// Words needed for `bits` bits.
pub(crate) fn words_for(bits: usize) -> usize {
    bits.div_ceil(WORD)
}

/// Sets bit `bit` of `v`.
pub(crate) fn set(v: &mut [u64], bit: usize) {
    if let Some(w) = v.get_mut(bit / WORD) {
        *w |= 1 << (bit % WORD);
    }
}

/// Clears bit `bit` of `v`.
pub(crate) fn clear(v: &mut [u64], bit: usize) {
    if let Some(w) = v.get_mut(bit / WORD) {
        *w &= !(1 << (bit % WORD));
    }
}

/// Indices of the set bits of `v`, ascending.
pub(crate) fn ones(v: &[u64]) -> impl Iterator<Item = usize> + '_ {
    v.iter().enumerate().flat_map(|(w, &word)| {
        let mut rest = word;
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

/// Distinct bit-vectors of one width, each stored once; a vector is named by its id.
#[derive(Clone, Debug)]
pub(crate) struct Arena {
    /// Words per vector.
    words: usize,
    /// Vector `id` is `data[id * words..(id + 1) * words]`.
    data: Vec<u64>,
}

impl Arena {
    /// Vector `id` (empty for an id this arena never gave out).
    #[inline]
    pub(crate) fn get(&self, id: usize) -> &[u64] {
        let start = id * self.words;
        self.data.get(start..start + self.words).unwrap_or(&[])
    }

    /// How many distinct vectors it holds.
    pub(crate) fn len(&self) -> usize {
        self.data.len().checked_div(self.words).unwrap_or(1)
    }

    /// Heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.data.capacity() * std::mem::size_of::<u64>()
    }
}

/// Builds an [`Arena`], handing out one id per distinct vector.
#[derive(Debug)]
pub(crate) struct Interner {
    arena: Arena,
    ids: HashMap<Box<[u64]>, usize>,
}

impl Interner {
    /// An interner for vectors of `bits` bits.
    pub(crate) fn new(bits: usize) -> Interner {
        Interner {
            arena: Arena {
                words: words_for(bits),
                data: Vec::new(),
            },
            ids: HashMap::new(),
        }
    }

    /// A zeroed vector of the right width, to fill and intern.
    pub(crate) fn zeroed(&self) -> Vec<u64> {
        vec![0; self.arena.words]
    }

    /// The id of `v`, storing it on first sight.
    pub(crate) fn intern(&mut self, v: &[u64]) -> usize {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.ids.len();
        self.arena.data.extend_from_slice(v);
        self.ids.insert(v.into(), id);
        id
    }

    /// The arena, without the index.
    pub(crate) fn finish(mut self) -> Arena {
        self.arena.data.shrink_to_fit();
        self.arena
    }
}

/// The lowest bit set in all five vectors (all of the same length), or `None`.
#[inline]
pub(crate) fn first_common(v: [&[u64]; 5]) -> Option<usize> {
    let [a, b, c, d, e] = v;
    let words = a.iter().zip(b).zip(c).zip(d).zip(e);
    for (w, ((((a, b), c), d), e)) in words.enumerate() {
        let x = a & b & c & d & e;
        if x != 0 {
            return Some(w * WORD + x.trailing_zeros() as usize);
        }
    }
    None
}

/// Like [`first_common`], where `v[1]` is first ORed with every vector of `extra_1` and
/// `v[3]` with every vector of `extra_3` (the rules naming one of an endpoint's ASGs).
#[inline]
pub(crate) fn first_common_with(
    v: [&[u64]; 5],
    extra_1: &[&[u64]],
    extra_3: &[&[u64]],
) -> Option<usize> {
    let [a, b, c, d, e] = v;
    let or_at = |base: u64, extra: &[&[u64]], w: usize| {
        extra
            .iter()
            .fold(base, |acc, x| acc | x.get(w).copied().unwrap_or(0))
    };
    let words = a.iter().zip(b).zip(c).zip(d).zip(e);
    for (w, ((((a, b), c), d), e)) in words.enumerate() {
        let x = a & c & e;
        if x == 0 {
            continue;
        }
        let x = x & or_at(*b, extra_1, w) & or_at(*d, extra_3, w);
        if x != 0 {
            return Some(w * WORD + x.trailing_zeros() as usize);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_shares_vectors() {
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
        assert_eq!(arena.get(7), &[] as &[u64]);
    }

    #[test]
    fn first_common_finds_the_lowest_shared_bit() {
        let all = [u64::MAX, u64::MAX];
        let hi = [0, 1 << 5];
        let both = [1 << 9, 1 << 5];
        assert_eq!(first_common([&all, &all, &all, &all, &all]), Some(0));
        assert_eq!(first_common([&all, &hi, &all, &both, &all]), Some(69));
        assert_eq!(first_common([&all, &hi, &all, &[1, 0], &all]), None);
        let low = [1 << 9, 0];
        assert_eq!(
            first_common_with([&all, &hi, &all, &both, &all], &[&low], &[]),
            Some(9)
        );
        assert_eq!(
            first_common_with([&all, &[0, 0], &all, &all, &all], &[], &[]),
            None
        );
    }
}
