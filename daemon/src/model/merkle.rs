//! The RFC 6962 / RFC 9162 Merkle tree over the log, as pure functions:
//! leaf index = sequence − 1, leaf = the entry's stored bytes, leaf hash
//! SHA-256(0x00 ‖ leaf), node hash SHA-256(0x01 ‖ left ‖ right). The store
//! keeps the hash of every complete subtree by (level, index); everything
//! else (roots at any size, inclusion and consistency proofs) is computed
//! here from those nodes through a lookup function, in O(log n) lookups
//! per range hash. Verification is not here: it belongs to the client.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The complete-subtree nodes that adding leaf `index` completes, bottom
/// up: (level, index at that level). `get` returns nodes already stored
/// (or written earlier in the same batch).
pub fn append<E>(
    index: u64,
    leaf: Hash,
    mut get: impl FnMut(u8, u64) -> Result<Hash, E>,
) -> Result<Vec<(u8, u64, Hash)>, E> {
    let mut out = vec![(0u8, index, leaf)];
    let (mut level, mut idx, mut hash) = (0u8, index, leaf);
    while idx & 1 == 1 {
        let left = get(level, idx - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        idx >>= 1;
        out.push((level, idx, hash));
    }
    Ok(out)
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[a:b]) for a range whose start is aligned to every complete
/// subtree it decomposes into (true of every range RFC 6962 recursions
/// produce): the aligned complete subtrees from left to right, folded
/// from the right.
pub fn range_hash<E>(
    a: u64,
    b: u64,
    get: &mut impl FnMut(u8, u64) -> Result<Hash, E>,
) -> Result<Hash, E> {
    if a >= b {
        return Ok(empty_root());
    }
    let mut parts = Vec::new();
    let mut start = a;
    while start < b {
        let remaining = b - start;
        // The largest power of two ≤ remaining that divides start.
        let mut size = 1u64 << (63 - remaining.leading_zeros());
        while !start.is_multiple_of(size) {
            size >>= 1;
        }
        let level = size.trailing_zeros() as u8;
        parts.push(get(level, start >> level)?);
        start += size;
    }
    let mut hash = parts.pop().unwrap_or_else(empty_root);
    while let Some(left) = parts.pop() {
        hash = node_hash(&left, &hash);
    }
    Ok(hash)
}

/// The root of the tree of the first `size` leaves.
pub fn root<E>(size: u64, get: &mut impl FnMut(u8, u64) -> Result<Hash, E>) -> Result<Hash, E> {
    range_hash(0, size, get)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size`
/// leaves (RFC 9162 2.1.3.1).
pub fn inclusion_proof<E>(
    index: u64,
    size: u64,
    get: &mut impl FnMut(u8, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    let mut proof = Vec::new();
    path(index, 0, size, get, &mut proof)?;
    Ok(proof)
}

fn path<E>(
    m: u64,
    a: u64,
    b: u64,
    get: &mut impl FnMut(u8, u64) -> Result<Hash, E>,
    out: &mut Vec<Hash>,
) -> Result<(), E> {
    let n = b - a;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m - a < k {
        path(m, a, a + k, get, out)?;
        out.push(range_hash(a + k, b, get)?);
    } else {
        path(m, a + k, b, get, out)?;
        out.push(range_hash(a, a + k, get)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `first` and `second` leaves
/// (RFC 9162 2.1.4.1); empty when first is 0 or equals second.
pub fn consistency_proof<E>(
    first: u64,
    second: u64,
    get: &mut impl FnMut(u8, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    let mut proof = Vec::new();
    if first > 0 && first < second {
        subproof(first, 0, second, true, get, &mut proof)?;
    }
    Ok(proof)
}

fn subproof<E>(
    m: u64,
    a: u64,
    b: u64,
    start: bool,
    get: &mut impl FnMut(u8, u64) -> Result<Hash, E>,
    out: &mut Vec<Hash>,
) -> Result<(), E> {
    let n = b - a;
    if m == n {
        if !start {
            out.push(range_hash(a, b, get)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(m, a, a + k, start, get, out)?;
        out.push(range_hash(a + k, b, get)?);
    } else {
        subproof(m - k, a + k, b, false, get, out)?;
        out.push(range_hash(a, a + k, get)?);
    }
    Ok(())
}
