//! How sealed rows are laid out in sled. The writer keeps a group's
//! derived rows in memory ([`super::recent`]) as one row per fact (an
//! entry's offset, a leaf's tree nodes, a posting of a term); a seal moves
//! thousands of entries' rows into sled at once, and packs the rows that
//! come in runs into one sled row per run:
//!
//! - `entries`: one row per run of consecutive sequences, keyed by the
//!   first, holding every offset (8 bytes each);
//! - `tree`: one row per run of consecutive leaves, keyed by the first,
//!   holding the nodes each leaf completed (leaf `i` completed
//!   `trailing_ones(i) + 1` of them, so a leaf's place is arithmetic);
//! - postings: per term, one row of the postings whose creating sequence
//!   falls in the seal's own entries, keyed by the term and the seal's
//!   first sequence, so the rows of a term never overlap and sort in
//!   sequence order. A posting of an older record (a correction adds the
//!   terms of its new view) stays a row of its own in `indexes`.
//!
//! A per-fact row is a run of one, so every reader here reads both.

use std::collections::BTreeMap;

use super::{StoreError, engine::RowKind, keys, recent::Rows};
use crate::model::merkle;

/// A sled row: tagged key, value.
pub(super) type Row = (Vec<u8>, Vec<u8>);

/// What a seal writes: sled rows (tagged keys).
pub(super) fn seal_rows(rows: &Rows) -> Result<Vec<Row>, StoreError> {
    let first_entry = rows
        .range(RowKind::Entries.key(&[])..RowKind::Entries.key(&[0xff; 9]))
        .next()
        .map(|(k, _)| seq_of(RowKind::untag(k)))
        .transpose()?;
    let mut out = Vec::new();
    let mut entries = Runs::new(RowKind::Entries);
    let mut tree = Runs::new(RowKind::Tree);
    let mut postings: BTreeMap<&[u8], Vec<(u64, &[u8])>> = BTreeMap::new();
    for (key, value) in rows {
        let Some(&tag) = key.first() else {
            return Err(StoreError::Corrupt("an empty derived key".into()));
        };
        let bare = RowKind::untag(key);
        if tag == RowKind::Entries as u8 {
            entries.push(seq_of(bare)?, value);
        } else if tag == RowKind::Tree as u8 {
            tree.push(seq_of(bare)?, value);
        } else if tag == RowKind::Indexes as u8 {
            let seq = keys::index_key_sequence(bare)
                .ok_or_else(|| StoreError::Corrupt("malformed index key".into()))?;
            match first_entry {
                Some(first) if seq >= first => {
                    let term = &bare[..bare.len() - keys::SEQ_LEN];
                    postings.entry(term).or_default().push((seq, value));
                }
                _ => out.push((key.clone(), value.clone())),
            }
        } else {
            out.push((key.clone(), value.clone()));
        }
    }
    out.extend(entries.finish());
    out.extend(tree.finish());
    if let Some(first) = first_entry {
        for (term, list) in postings {
            let mut key = term.to_vec();
            key.extend_from_slice(&first.to_be_bytes());
            out.push((RowKind::Postings.key(&key), encode_postings(&list)));
        }
    }
    Ok(out)
}

/// Consecutive keyed values joined into one row per run.
struct Runs {
    space: RowKind,
    rows: Vec<Row>,
    next: Option<u64>,
}

impl Runs {
    fn new(space: RowKind) -> Self {
        Self {
            space,
            rows: Vec::new(),
            next: None,
        }
    }

    fn push(&mut self, at: u64, value: &[u8]) {
        match self.rows.last_mut() {
            Some((_, row)) if self.next == Some(at) => row.extend_from_slice(value),
            _ => self
                .rows
                .push((self.space.key(&at.to_be_bytes()), value.to_vec())),
        }
        self.next = at.checked_add(1);
    }

    fn finish(self) -> Vec<Row> {
        self.rows
    }
}

fn seq_of(bare: &[u8]) -> Result<u64, StoreError> {
    keys::decode_seq(bare).ok_or_else(|| StoreError::Corrupt("malformed sequence key".into()))
}

/// The offset of `seq` in an `entries` run starting at `first`.
pub(super) fn offset_in(first: u64, run: &[u8], seq: u64) -> Option<u64> {
    let at = usize::try_from(seq.checked_sub(first)?)
        .ok()?
        .checked_mul(8)?;
    keys::decode_seq(run.get(at..at.checked_add(8)?)?)
}

/// Every (sequence, offset) of an `entries` run starting at `first`.
pub(super) fn offsets(first: u64, run: &[u8]) -> Result<Vec<(u64, u64)>, StoreError> {
    if !run.len().is_multiple_of(8) {
        return Err(StoreError::Corrupt(format!(
            "entry offsets from {first} are malformed"
        )));
    }
    Ok((first..)
        .zip(run.chunks_exact(8))
        .filter_map(|(seq, c)| keys::decode_seq(c).map(|o| (seq, o)))
        .collect())
}

/// Nodes completed by the leaves before leaf `n` (0-based): leaf `i`
/// completes `trailing_ones(i) + 1`, which sums to `2n - popcount(n)`.
fn nodes_before(n: u64) -> Option<u64> {
    n.checked_mul(2).map(|d| d - u64::from(n.count_ones()))
}

/// The node at `level` that leaf `leaf` completed, in a `tree` run
/// starting at leaf `first`.
pub(super) fn node_in(first: u64, run: &[u8], leaf: u64, level: u8) -> Option<merkle::Hash> {
    if leaf < first || u32::from(level) > leaf.trailing_ones() {
        return None;
    }
    let at = nodes_before(leaf)? - nodes_before(first)? + u64::from(level);
    let at = usize::try_from(at).ok()?.checked_mul(32)?;
    run.get(at..at.checked_add(32)?)?.try_into().ok()
}

/// Every (leaf, nodes it completed) of a `tree` run starting at `first`.
pub(super) fn leaves(first: u64, run: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    let mut rest = run;
    let mut leaf = first;
    while !rest.is_empty() {
        let len = (leaf.trailing_ones() as usize + 1) * 32;
        let Some((nodes, tail)) = rest.split_at_checked(len) else {
            return Err(StoreError::Corrupt(format!(
                "tree nodes from leaf {first} are malformed"
            )));
        };
        out.push((leaf, nodes.to_vec()));
        rest = tail;
        leaf += 1;
    }
    Ok(out)
}

/// A postings row: (sequence delta, id length, id) per posting, as
/// varints, in sequence order.
fn encode_postings(list: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 24);
    let mut last = 0u64;
    for (seq, id) in list {
        prost::encoding::encode_varint(seq - last, &mut out);
        prost::encoding::encode_varint(id.len() as u64, &mut out);
        out.extend_from_slice(id);
        last = *seq;
    }
    out
}

/// The (creating sequence, record id) pairs of a postings row.
pub(super) fn postings(row: &[u8]) -> Result<Vec<(u64, String)>, StoreError> {
    let malformed = || StoreError::Corrupt("a postings row is malformed".into());
    let mut out = Vec::new();
    let mut rest = row;
    let mut seq = 0u64;
    while !rest.is_empty() {
        let delta = prost::encoding::decode_varint(&mut rest).map_err(|_| malformed())?;
        let len = prost::encoding::decode_varint(&mut rest).map_err(|_| malformed())?;
        let len = usize::try_from(len).map_err(|_| malformed())?;
        let (id, tail) = rest.split_at_checked(len).ok_or_else(malformed)?;
        seq = seq.checked_add(delta).ok_or_else(malformed)?;
        out.push((
            seq,
            String::from_utf8(id.to_vec()).map_err(|_| malformed())?,
        ));
        rest = tail;
    }
    Ok(out)
}

/// The term prefix of a postings row's key (tag byte removed).
pub(super) fn postings_term(bare: &[u8]) -> &[u8] {
    &bare[..bare.len().saturating_sub(keys::SEQ_LEN)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_runs_place_every_leafs_nodes() {
        // Leaves 5, 6, 7, 8 ... complete 2, 1, 4, 1 ... nodes.
        let first = 5u64;
        let mut run = Vec::new();
        let mut expect = Vec::new();
        for leaf in first..first + 20 {
            for level in 0..=leaf.trailing_ones() as u8 {
                let h = [leaf as u8 ^ (level << 5); 32];
                run.extend_from_slice(&h);
                expect.push((leaf, level, h));
            }
        }
        for (leaf, level, h) in expect {
            assert_eq!(node_in(first, &run, leaf, level), Some(h), "{leaf}/{level}");
        }
        assert_eq!(
            node_in(first, &run, 6, 1),
            None,
            "leaf 6 completes one node"
        );
        assert_eq!(node_in(first, &run, 4, 0), None, "before the run");
        assert_eq!(node_in(first, &run, 25, 0), None, "after the run");
        let back = leaves(first, &run).unwrap();
        assert_eq!(back.len(), 20);
        assert_eq!(back[2].1.len(), 32 * 4, "leaf 7 completes four");
    }

    #[test]
    fn postings_round_trip_and_refuse_damage() {
        let list = [(7u64, &b"r-1"[..]), (9, b""), (300, b"report-300")];
        let row = encode_postings(&list);
        assert_eq!(
            postings(&row).unwrap(),
            vec![
                (7, "r-1".to_owned()),
                (9, String::new()),
                (300, "report-300".to_owned())
            ]
        );
        assert!(postings(&row[..row.len() - 1]).is_err());
    }

    #[test]
    fn entries_runs_give_each_offset() {
        let mut run = Vec::new();
        for o in [10u64, 20, 35] {
            run.extend_from_slice(&o.to_be_bytes());
        }
        assert_eq!(offset_in(4, &run, 5), Some(20));
        assert_eq!(offset_in(4, &run, 7), None);
        assert_eq!(offset_in(4, &run, 3), None);
        assert_eq!(offsets(4, &run).unwrap(), vec![(4, 10), (5, 20), (6, 35)]);
        assert!(offsets(4, &run[..5]).is_err());
    }
}
