//! The Merkle tree against the RFC 6962 reference vectors (the test leaves
//! and roots used by certificate-transparency implementations), and the
//! daemon's proofs checked by the client's own verifier for every size and
//! index up to 64 leaves.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::collections::HashMap;

use truce_client::verify;
use truce_daemon::model::merkle::{self, Hash};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn h(s: &str) -> Hash {
    unhex(s).try_into().unwrap()
}

/// An in-memory node store built the way the commit pipeline builds it.
struct Tree {
    nodes: HashMap<(u8, u64), Hash>,
    size: u64,
}

impl Tree {
    fn new(leaves: &[Vec<u8>]) -> Self {
        let mut t = Tree {
            nodes: HashMap::new(),
            size: 0,
        };
        for leaf in leaves {
            let added = merkle::append(t.size, merkle::leaf_hash(leaf), |l, i| {
                t.nodes.get(&(l, i)).copied().ok_or(())
            })
            .unwrap();
            for (l, i, hash) in added {
                t.nodes.insert((l, i), hash);
            }
            t.size += 1;
        }
        t
    }

    fn get(&self) -> impl FnMut(u8, u64) -> Result<Hash, ()> + '_ {
        |l, i| self.nodes.get(&(l, i)).copied().ok_or(())
    }
}

#[test]
fn reference_roots() {
    let leaves: Vec<Vec<u8>> = LEAVES.iter().map(|l| unhex(l)).collect();
    for n in 1..=8 {
        let t = Tree::new(&leaves[..n]);
        assert_eq!(
            merkle::root(n as u64, &mut t.get()).unwrap(),
            h(ROOTS[n - 1]),
            "size {n}"
        );
    }
    // Roots of smaller trees come from the larger one's nodes too.
    let t = Tree::new(&leaves);
    for n in 1..=8u64 {
        assert_eq!(
            merkle::root(n, &mut t.get()).unwrap(),
            h(ROOTS[n as usize - 1])
        );
    }
    assert_eq!(
        merkle::root(0, &mut t.get()).unwrap(),
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
}

#[test]
fn reference_inclusion_and_consistency_proofs() {
    let leaves: Vec<Vec<u8>> = LEAVES.iter().map(|l| unhex(l)).collect();
    let t = Tree::new(&leaves);
    let inclusion: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, want) in inclusion {
        let got = merkle::inclusion_proof(index, size, &mut t.get()).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(got, want, "inclusion of {index} in {size}");
        let proof: Vec<Vec<u8>> = got.iter().map(|x| x.to_vec()).collect();
        verify::verify_inclusion(
            index,
            size,
            &verify::leaf_hash(&leaves[index as usize]),
            &proof,
            &h(ROOTS[size as usize - 1]),
        )
        .unwrap();
    }
    let consistency: [(u64, u64, &[&str]); 3] = [
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (first, second, want) in consistency {
        let got = merkle::consistency_proof(first, second, &mut t.get()).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(got, want, "consistency {first} → {second}");
        let proof: Vec<Vec<u8>> = got.iter().map(|x| x.to_vec()).collect();
        verify::verify_consistency(
            first,
            second,
            &h(ROOTS[first as usize - 1]),
            &h(ROOTS[second as usize - 1]),
            &proof,
        )
        .unwrap();
    }
}

#[test]
fn every_proof_up_to_64_leaves_verifies_and_tampering_fails() {
    let leaves: Vec<Vec<u8>> = (0..64u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let t = Tree::new(&leaves);
    let roots: Vec<Hash> = (0..=64)
        .map(|n| merkle::root(n, &mut t.get()).unwrap())
        .collect();
    for size in 1..=64u64 {
        for index in 0..size {
            let proof: Vec<Vec<u8>> = merkle::inclusion_proof(index, size, &mut t.get())
                .unwrap()
                .iter()
                .map(|x| x.to_vec())
                .collect();
            let leaf = verify::leaf_hash(&leaves[index as usize]);
            verify::verify_inclusion(index, size, &leaf, &proof, &roots[size as usize]).unwrap();
            let other = verify::leaf_hash(b"not this leaf");
            assert!(
                verify::verify_inclusion(index, size, &other, &proof, &roots[size as usize])
                    .is_err()
            );
        }
        for first in 0..=size {
            let proof: Vec<Vec<u8>> = merkle::consistency_proof(first, size, &mut t.get())
                .unwrap()
                .iter()
                .map(|x| x.to_vec())
                .collect();
            verify::verify_consistency(
                first,
                size,
                &roots[first as usize],
                &roots[size as usize],
                &proof,
            )
            .unwrap_or_else(|e| panic!("{first} → {size}: {e}"));
            if first > 0 && first < size {
                let forged = merkle::leaf_hash(b"forged");
                assert!(
                    verify::verify_consistency(first, size, &forged, &roots[size as usize], &proof)
                        .is_err(),
                    "{first} → {size} accepted a forged old root"
                );
            }
        }
    }
}

#[test]
fn proofs_need_logarithmically_many_node_reads() {
    let n = 5000u64;
    let leaves: Vec<Vec<u8>> = (0..n).map(|i| i.to_be_bytes().to_vec()).collect();
    let t = Tree::new(&leaves);
    let log = 64 - n.leading_zeros() as usize; // ⌈log2 n⌉ for this n
    let mut worst = (0, 0);
    for size in [n, n - 1, 4097, 3000, 1025] {
        for index in [0, 1, size / 3, size / 2, size - 2, size - 1] {
            let mut reads = 0usize;
            let mut get = |l, i| {
                reads += 1;
                t.nodes.get(&(l, i)).copied().ok_or(())
            };
            merkle::inclusion_proof(index, size, &mut get).unwrap();
            worst.0 = worst.0.max(reads);
            let mut reads = 0usize;
            let mut get = |l, i| {
                reads += 1;
                t.nodes.get(&(l, i)).copied().ok_or(())
            };
            merkle::consistency_proof(index.max(1), size, &mut get).unwrap();
            worst.1 = worst.1.max(reads);
        }
    }
    assert!(
        worst.0 <= 2 * log,
        "inclusion: {} reads for log n = {log}",
        worst.0
    );
    assert!(
        worst.1 <= 3 * log,
        "consistency: {} reads for log n = {log}",
        worst.1
    );
}
