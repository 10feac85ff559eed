//! Shared by the fuzz targets (`fuzz_requests.rs`, `fuzz_entries.rs`): the
//! corpus in `tests/fuzz-corpus/<target>/*.bin` that every run replays
//! before it generates anything, the runner configuration (case count
//! from PROPTEST_CASES, default 256), mutators of corpus inputs (byte-level,
//! and field-level on the parsed protobuf, so that most results still
//! decode), protobuf-shaped random bytes, and the seed requests of every
//! write kind.
//! A failing input is written to the target dir as a `.bin` file so it can
//! be copied into the corpus.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "shared by several test binaries, each using a part; test fixtures"
)]

use std::path::{Path, PathBuf};

use pbjson_types::{FieldMask, Timestamp};
use proptest::{
    prelude::*,
    sample::Index,
    test_runner::{Config, TestError, TestRunner},
};
use truce_proto::v1::{
    AddClaimRequest, AgreementStatus, AgreementStatusChange, AttachSourceRequest, BoundingBox,
    Capture, ComplianceFinding, ComplianceFindingChange, CorrectReportRequest, Correction,
    EvidenceStatus, EvidenceStatusChange, ExternalId, ExternalIdScheme, GeoArea, Harm, LatLon,
    RecordAgreementRequest, SetStatusRequest, StatusChange, SubmitReportRequest, TextReference,
    envelope::Kind, status_change,
};
use truce_tests::seed;

/// `tests/fuzz-corpus/<target>`.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-corpus")
        .join(target)
}

/// Every `.bin` file of a target's corpus, by name.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the {target} corpus in {} has only {} inputs",
        dir.display(),
        files.len()
    );
    files
}

/// Writes a corpus file (used by the ignored `write_corpus` tests).
pub fn write_corpus_file(target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.bin")), bytes).unwrap();
}

/// Replays a corpus: `check` (given each file's name and bytes) panics on
/// a bad input; the panic names the file.
pub fn replay(target: &str, check: impl Fn(&str, &[u8])) -> usize {
    let files = corpus(target);
    for (name, bytes) in &files {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(name, bytes)));
        if let Err(panic) = result {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("corpus input {target}/{name} fails: {msg}");
        }
    }
    files.len()
}

/// The runner's configuration: PROPTEST_CASES cases (default 256), no
/// regression files (the corpus plays that part), a bounded shrink.
pub fn config() -> Config {
    Config {
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// A smaller number of cases, for targets that do I/O per case.
pub fn config_scaled(divisor: u32, min: u32) -> Config {
    let mut c = config();
    c.cases = (c.cases / divisor).max(min);
    c
}

/// Runs `test` over `strategy`; on failure writes the minimal input's
/// bytes (as `to_bytes` gives them) under the target dir and panics with
/// the path and the reason.
pub fn run<S: Strategy>(
    target: &str,
    config: Config,
    strategy: S,
    to_bytes: impl Fn(&S::Value) -> Vec<u8>,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config);
    match runner.run(&strategy, test) {
        Ok(()) => {}
        Err(TestError::Fail(reason, value)) => {
            let bytes = to_bytes(&value);
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("fuzz-failures")
                .join(target);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("failure-{:016x}.bin", fnv(&bytes)));
            std::fs::write(&path, &bytes).unwrap();
            panic!(
                "{target}: {reason}\nminimal failing input: {value:#?}\n\
                 its bytes are in {} (copy it to tests/fuzz-corpus/{target}/ once fixed)",
                path.display()
            );
        }
        Err(e) => panic!("{target}: {e}"),
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ------------------------------------------------------------ byte mutators

/// One edit of an input's bytes.
#[derive(Debug, Clone)]
pub enum ByteEdit {
    FlipBit(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, u8),
    Truncate(Index),
    /// Copies a range to just after itself (repeated fields, doubled
    /// submessages).
    Duplicate(Index, u8),
    /// Overwrites with a varint (lengths and tags that lie).
    Varint(Index, u64),
    /// Inserts a slice of another corpus input.
    Splice(Index, Index, Index, u8),
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            0xffff_ffff,
            0x1_0000_0000,
            i64::MAX as u64,
            u64::MAX,
            64 * 1024,
            4 << 20,
        ]),
        any::<u64>(),
    ]
}

pub fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| ByteEdit::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Set(i, b)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        2 => (any::<Index>(), 1u8..16).prop_map(|(i, n)| ByteEdit::Remove(i, n)),
        1 => any::<Index>().prop_map(ByteEdit::Truncate),
        1 => (any::<Index>(), 1u8..64).prop_map(|(i, n)| ByteEdit::Duplicate(i, n)),
        2 => (any::<Index>(), interesting_u64()).prop_map(|(i, v)| ByteEdit::Varint(i, v)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>(), 1u8..64)
            .prop_map(|(a, b, c, n)| ByteEdit::Splice(a, b, c, n)),
    ]
}

pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn at(i: &Index, len: usize) -> usize {
    if len == 0 { 0 } else { i.index(len + 1) }
}

/// Applies `edits` to `input`; `others` is the corpus for splices.
pub fn mutate(input: &[u8], edits: &[ByteEdit], others: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for e in edits {
        let len = b.len();
        match e {
            ByteEdit::FlipBit(i, bit) if len > 0 => b[i.index(len)] ^= 1 << bit,
            ByteEdit::Set(i, v) if len > 0 => b[i.index(len)] = *v,
            ByteEdit::Insert(i, v) => {
                let at = at(i, len);
                b.splice(at..at, v.iter().copied());
            }
            ByteEdit::Remove(i, n) if len > 0 => {
                let from = i.index(len);
                let to = (from + usize::from(*n)).min(len);
                b.drain(from..to);
            }
            ByteEdit::Truncate(i) => b.truncate(at(i, len)),
            ByteEdit::Duplicate(i, n) if len > 0 => {
                let from = i.index(len);
                let to = (from + usize::from(*n)).min(len);
                let copy = b[from..to].to_vec();
                b.splice(to..to, copy);
            }
            ByteEdit::Varint(i, v) => {
                let at = at(i, len);
                let mut enc = Vec::new();
                varint(*v, &mut enc);
                let end = (at + enc.len()).min(len);
                b.splice(at..end, enc);
            }
            ByteEdit::Splice(which, from, to, n) if !others.is_empty() => {
                let other = &others[which.index(others.len())];
                if !other.is_empty() {
                    let start = from.index(other.len());
                    let end = (start + usize::from(*n)).min(other.len());
                    let at = at(to, len);
                    b.splice(at..at, other[start..end].iter().copied());
                }
            }
            _ => {}
        }
    }
    b
}

/// A corpus input and edits to it.
pub fn mutated(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = corpus.len();
    let others = corpus.clone();
    (0..n, prop::collection::vec(byte_edit(), 1..6))
        .prop_map(move |(i, edits)| mutate(&corpus[i], &edits, &others))
}

// ------------------------------------------------- protobuf-aware mutators

/// A protobuf field as parsed without a schema: its number and value; a
/// length-delimited value that parses as a message is kept as one.
#[derive(Debug, Clone)]
pub enum Node {
    Varint(u64, u64),
    Fixed64(u64, [u8; 8]),
    Fixed32(u64, [u8; 4]),
    Bytes(u64, Vec<u8>),
    Message(u64, Vec<Node>),
}

impl Node {
    fn number(&self) -> u64 {
        match self {
            Node::Varint(n, _)
            | Node::Fixed64(n, _)
            | Node::Fixed32(n, _)
            | Node::Bytes(n, _)
            | Node::Message(n, _) => *n,
        }
    }
}

fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Parses a message's fields; None if the bytes are not one.
pub fn parse(bytes: &[u8]) -> Option<Vec<Node>> {
    parse_at(bytes, 0)
}

fn parse_at(mut b: &[u8], depth: u32) -> Option<Vec<Node>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = read_varint(&mut b)?;
        let number = key >> 3;
        if number == 0 {
            return None;
        }
        match key & 7 {
            0 => out.push(Node::Varint(number, read_varint(&mut b)?)),
            1 => {
                let (v, rest) = b.split_first_chunk::<8>()?;
                out.push(Node::Fixed64(number, *v));
                b = rest;
            }
            2 => {
                let len = usize::try_from(read_varint(&mut b)?).ok()?;
                if len > b.len() {
                    return None;
                }
                let (v, rest) = b.split_at(len);
                b = rest;
                let nested = if depth < 8 && !v.is_empty() {
                    parse_at(v, depth + 1)
                } else {
                    None
                };
                out.push(match nested {
                    Some(children) => Node::Message(number, children),
                    None => Node::Bytes(number, v.to_vec()),
                });
            }
            5 => {
                let (v, rest) = b.split_first_chunk::<4>()?;
                out.push(Node::Fixed32(number, *v));
                b = rest;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Encodes fields back (the inverse of [`parse`] for canonical input).
pub fn encode(nodes: &[Node]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes {
        match n {
            Node::Varint(k, v) => {
                varint(k << 3, &mut out);
                varint(*v, &mut out);
            }
            Node::Fixed64(k, v) => {
                varint((k << 3) | 1, &mut out);
                out.extend_from_slice(v);
            }
            Node::Fixed32(k, v) => {
                varint((k << 3) | 5, &mut out);
                out.extend_from_slice(v);
            }
            Node::Bytes(k, v) => {
                varint((k << 3) | 2, &mut out);
                varint(v.len() as u64, &mut out);
                out.extend_from_slice(v);
            }
            Node::Message(k, children) => {
                let inner = encode(children);
                varint((k << 3) | 2, &mut out);
                varint(inner.len() as u64, &mut out);
                out.extend(inner);
            }
        }
    }
    out
}

/// A change to one field of a parsed message.
#[derive(Debug, Clone)]
pub enum FieldOp {
    /// A varint value (an enum out of range, a huge count, a negative
    /// int64 seconds).
    Varint(u64),
    /// New contents for a length-delimited field (a string, bytes, or a
    /// sub-message replaced by junk).
    Bytes(Vec<u8>),
    /// A double's bits (NaN, infinities, out-of-range coordinates).
    Double(f64),
    /// An empty sub-message (every field at its default).
    Empty,
    Remove,
    /// The field repeated right after itself.
    Duplicate(u8),
    /// A field of another corpus input inserted after this one.
    Graft(Index, Index),
    /// The field renumbered (a value under another field's number).
    Renumber(u64),
}

fn odd_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[A-Za-z0-9._:-]{0,24}".prop_map(String::into_bytes),
        2 => any::<String>().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..16),
        1 => (prop::sample::select(vec![64usize, 65, 129, 513, 2049, 8193, 20_000]),
              prop::sample::select(vec!["a", "é", "𝄞"]))
            .prop_map(|(n, u)| u.repeat(n).into_bytes()),
    ]
}

pub fn field_op() -> impl Strategy<Value = FieldOp> {
    prop_oneof![
        4 => interesting_u64().prop_map(FieldOp::Varint),
        2 => prop::sample::select(vec![0u64, 1, 2, 3, 99, 0xffff_ffff, u64::MAX]).prop_map(FieldOp::Varint),
        4 => odd_bytes().prop_map(FieldOp::Bytes),
        2 => prop::sample::select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 90.5, -180.5, f64::MAX, 5e-324,
        ])
        .prop_map(FieldOp::Double),
        1 => Just(FieldOp::Empty),
        3 => Just(FieldOp::Remove),
        2 => (1u8..70).prop_map(FieldOp::Duplicate),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| FieldOp::Graft(a, b)),
        1 => prop::sample::select(vec![1u64, 2, 3, 4, 5, 10, 11, 13, 15, 22, 23]).prop_map(FieldOp::Renumber),
    ]
}

fn count(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|n| match n {
            Node::Message(_, c) => 1 + count(c),
            _ => 1,
        })
        .sum()
}

fn nth(nodes: &[Node], mut i: usize) -> Option<&Node> {
    for n in nodes {
        if i == 0 {
            return Some(n);
        }
        i -= 1;
        if let Node::Message(_, c) = n {
            let k = count(c);
            if i < k {
                return nth(c, i);
            }
            i -= k;
        }
    }
    None
}

/// Whether `op` keeps the field's wire type (the decoder refuses a known
/// field of another type, and the point is to get past it).
fn fits(node: &Node, op: &FieldOp) -> bool {
    match op {
        FieldOp::Varint(_) => matches!(node, Node::Varint(..)),
        FieldOp::Bytes(_) => matches!(node, Node::Bytes(..) | Node::Message(..)),
        FieldOp::Double(_) => matches!(node, Node::Fixed64(..)),
        FieldOp::Empty => matches!(node, Node::Message(..)),
        _ => true,
    }
}

/// The index paths of the fields `op` fits, in pre-order.
fn paths(nodes: &[Node], op: &FieldOp, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for (i, n) in nodes.iter().enumerate() {
        prefix.push(i);
        if fits(n, op) {
            out.push(prefix.clone());
        }
        if let Node::Message(_, c) = n {
            paths(c, op, prefix, out);
        }
        prefix.pop();
    }
}

/// Applies `op` to the field at `path`; `others` for grafts.
fn apply_op(nodes: &mut Vec<Node>, path: &[usize], op: &FieldOp, others: &[Vec<Node>]) {
    let (&j, rest) = path.split_first().expect("a path is not empty");
    if !rest.is_empty() {
        if let Node::Message(_, children) = &mut nodes[j] {
            apply_op(children, rest, op, others);
        }
        return;
    }
    let number = nodes[j].number();
    match op {
        FieldOp::Varint(v) => nodes[j] = Node::Varint(number, *v),
        FieldOp::Bytes(b) => nodes[j] = Node::Bytes(number, b.clone()),
        FieldOp::Double(f) => nodes[j] = Node::Fixed64(number, f.to_le_bytes()),
        FieldOp::Empty => nodes[j] = Node::Bytes(number, Vec::new()),
        FieldOp::Remove => {
            nodes.remove(j);
        }
        FieldOp::Duplicate(n) => {
            let copy = nodes[j].clone();
            for _ in 0..*n {
                nodes.insert(j + 1, copy.clone());
            }
        }
        FieldOp::Graft(which, at) => {
            if !others.is_empty() {
                let other = &others[which.index(others.len())];
                let total = count(other);
                if total > 0
                    && let Some(n) = nth(other, at.index(total))
                {
                    nodes.insert(j + 1, n.clone());
                }
            }
        }
        FieldOp::Renumber(k) => match &mut nodes[j] {
            Node::Varint(n, _)
            | Node::Fixed64(n, _)
            | Node::Fixed32(n, _)
            | Node::Bytes(n, _)
            | Node::Message(n, _) => *n = *k,
        },
    }
}

/// A corpus input parsed into fields, with 1-3 field-level changes: most
/// results still decode, so the values reach the code behind the decoder.
pub fn field_mutated(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let parsed: Vec<Vec<Node>> = corpus
        .iter()
        .filter_map(|b| parse(b))
        .filter(|n| !n.is_empty())
        .collect();
    assert!(!parsed.is_empty(), "no corpus input parses as a message");
    let n = parsed.len();
    (
        0..n,
        prop::collection::vec((any::<Index>(), field_op()), 1..=3),
    )
        .prop_map(move |(i, ops)| {
            let mut nodes = parsed[i].clone();
            for (at, op) in &ops {
                let mut found = Vec::new();
                paths(&nodes, op, &mut Vec::new(), &mut found);
                if !found.is_empty() {
                    apply_op(&mut nodes, &found[at.index(found.len())], op, &parsed);
                }
            }
            encode(&nodes)
        })
}

/// Random bytes shaped like protobuf: fields with valid and invalid tags
/// and wire types, nested messages, lengths that lie.
pub fn protobuf_shaped() -> BoxedStrategy<Vec<u8>> {
    pb_message(3)
}

fn pb_message(depth: u32) -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(pb_field(depth), 0..10)
        .prop_map(|fields| fields.concat())
        .boxed()
}

fn field_number() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 1u64..=23,
        1 => prop::sample::select(vec![0u64, 24, 100, 19_000, (1 << 29) - 1, 1 << 29]),
    ]
}

fn pb_field(depth: u32) -> BoxedStrategy<Vec<u8>> {
    let len_delimited: BoxedStrategy<Vec<u8>> = if depth == 0 {
        prop::collection::vec(any::<u8>(), 0..24).boxed()
    } else {
        prop_oneof![
            2 => pb_message(depth - 1),
            1 => prop::collection::vec(any::<u8>(), 0..24),
            1 => any::<String>().prop_map(String::into_bytes),
            1 => "[A-Za-z0-9._:-]{1,12}".prop_map(String::into_bytes),
        ]
        .boxed()
    };
    let body = prop_oneof![
        4 => interesting_u64().prop_map(|v| (0u64, {
            let mut b = Vec::new();
            varint(v, &mut b);
            b
        })),
        1 => any::<[u8; 8]>().prop_map(|b| (1u64, b.to_vec())),
        1 => prop::sample::select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 90.0, 180.000_001, f64::MAX
        ])
        .prop_map(|f| (1u64, f.to_le_bytes().to_vec())),
        6 => (len_delimited, prop::option::weighted(0.1, interesting_u64())).prop_map(
            |(payload, lie)| {
                let mut b = Vec::new();
                varint(lie.unwrap_or(payload.len() as u64), &mut b);
                b.extend(payload);
                (2u64, b)
            }
        ),
        1 => any::<[u8; 4]>().prop_map(|b| (5u64, b.to_vec())),
        1 => prop::sample::select(vec![3u64, 4, 6, 7]).prop_map(|w| (w, Vec::new())),
    ];
    (field_number(), body)
        .prop_map(|(number, (wire, body))| {
            let mut b = Vec::new();
            varint((number << 3) | wire, &mut b);
            b.extend(body);
            b
        })
        .boxed()
}

// -------------------------------------------------------------------- seeds

pub fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

/// Valid requests of every write kind: the seed scenario's, and richer
/// ones that fill the fields the scenario leaves empty.
#[derive(Debug, Clone, Default)]
pub struct Seeds {
    pub agreements: Vec<RecordAgreementRequest>,
    pub reports: Vec<SubmitReportRequest>,
    pub claims: Vec<AddClaimRequest>,
    pub statuses: Vec<SetStatusRequest>,
    pub attachments: Vec<AttachSourceRequest>,
    pub corrections: Vec<CorrectReportRequest>,
}

pub fn seeds() -> Seeds {
    let mut s = Seeds::default();
    for e in seed::envelopes() {
        match e.kind {
            Some(Kind::Agreement(a)) => s.agreements.push(a),
            Some(Kind::Report(r)) => s.reports.push(r),
            Some(Kind::Claim(c)) => s.claims.push(c),
            Some(Kind::Status(x)) => s.statuses.push(x),
            Some(Kind::Source(x)) => s.attachments.push(x),
            Some(Kind::Correction(x)) => s.corrections.push(x),
            None => {}
        }
    }
    let source = s.reports[0].report.as_ref().unwrap().sources[0].clone();
    let agreement_id = seed::agreement_id();

    // An agreement with every optional part.
    let mut rich = s.agreements[0].clone();
    rich.request_id = "fuzz-rich-agreement".into();
    {
        let a = rich.agreement.as_mut().unwrap();
        a.id = "fuzz-rich-agreement".into();
        let scope = a.scope.get_or_insert_default();
        scope.areas.push(GeoArea {
            country: "UA".into(),
            admin1: "Kharkiv Oblast".into(),
            bbox: Some(BoundingBox {
                south: 49.0,
                west: 35.0,
                north: 50.5,
                east: 38.0,
            }),
            polygon: vec![
                LatLon {
                    latitude: 49.0,
                    longitude: 35.0,
                },
                LatLon {
                    latitude: 50.5,
                    longitude: 36.0,
                },
                LatLon {
                    latitude: 49.5,
                    longitude: 38.0,
                },
            ],
            description: "the oblast's east".into(),
        });
        a.full_text = Some(TextReference {
            url: "https://example.org/agreements/full-text.pdf".into(),
            sha256: "ab".repeat(32),
            language: "en-GB".into(),
        });
        a.external_ids = vec![ExternalId {
            scheme: ExternalIdScheme::Other.into(),
            value: "PA-X-2412".into(),
            scheme_name: "peace-agreements-database".into(),
        }];
        a.supersedes = agreement_id.clone();
        a.reciprocity_note = "each side's compliance depends on the other's".into();
        a.monitoring_mechanism = "none".into();
        let mut captured = source.clone();
        captured.capture = Some(Capture {
            sha256: "cd".repeat(32),
            captured_at: ts(1_742_400_000),
            archive_url: "https://archive.example.org/x".into(),
        });
        a.sources.push(captured);
    }
    s.agreements.push(rich);

    // A report with coordinates, harm, external ids and tags.
    let mut rich = s.reports[0].clone();
    rich.request_id = "fuzz-rich-report".into();
    {
        let r = rich.report.as_mut().unwrap();
        r.id = String::new();
        let loc = r.location.get_or_insert_default();
        loc.latitude = Some(45.035);
        loc.longitude = Some(38.975);
        loc.radius_m = Some(500);
        r.harm = Some(Harm {
            fatalities_low: Some(0),
            fatalities_best: Some(1),
            fatalities_high: Some(3),
            injured: Some(4),
        });
        r.tags = vec!["energy".into(), "night".into()];
        r.external_ids = vec![ExternalId {
            scheme: ExternalIdScheme::Acled.into(),
            value: "RUS12345".into(),
            scheme_name: String::new(),
        }];
        r.sub_event_detail = "Shahed-type drones".into();
        r.damage = "fire at a pumping station".into();
    }
    s.reports.push(rich);

    // Status changes the scenario lacks.
    let status = |request_id: &str,
                  target: status_change::Target,
                  change: status_change::Change|
     -> SetStatusRequest {
        SetStatusRequest {
            request_id: request_id.into(),
            with_proof: false,
            status: Some(StatusChange {
                target: Some(target),
                change: Some(change),
                effective_at: ts(1_742_500_000),
                reason: "fuzz seed".into(),
                sources: vec![source.clone()],
            }),
        }
    };
    s.statuses.push(status(
        "fuzz-status-duplicate",
        status_change::Target::ReportId("seed-report-2".into()),
        status_change::Change::Evidence(EvidenceStatusChange {
            status: EvidenceStatus::Duplicate.into(),
            duplicate_of: "seed-report-1".into(),
        }),
    ));
    s.statuses.push(status(
        "fuzz-status-compliance",
        status_change::Target::ReportId("seed-report-3".into()),
        status_change::Change::Compliance(ComplianceFindingChange {
            agreement_id: agreement_id.clone(),
            finding: ComplianceFinding::InScope.into(),
        }),
    ));
    s.statuses.push(status(
        "fuzz-status-extended",
        status_change::Target::AgreementId(agreement_id.clone()),
        status_change::Change::Agreement(AgreementStatusChange {
            status: AgreementStatus::Extended.into(),
            new_expires_at: ts(1_750_000_000),
            superseded_by: String::new(),
        }),
    ));
    s.statuses.push(status(
        "fuzz-status-superseded",
        status_change::Target::AgreementId(agreement_id.clone()),
        status_change::Change::Agreement(AgreementStatusChange {
            status: AgreementStatus::Superseded.into(),
            new_expires_at: None,
            superseded_by: "fuzz-rich-agreement".into(),
        }),
    ));

    // A source attached to a report.
    let mut attach = s.attachments[0].clone();
    attach.request_id = "fuzz-attach-report".into();
    attach.attachment.as_mut().unwrap().target = Some(
        truce_proto::v1::source_attachment::Target::ReportId("seed-report-1".into()),
    );
    s.attachments.push(attach);

    // Corrections (the scenario has none).
    let mut values = s.reports[2].report.clone().unwrap();
    values.notes = "corrected notes".into();
    values.location.get_or_insert_default().latitude = Some(47.1);
    values.location.get_or_insert_default().longitude = Some(37.5);
    values.harm = Some(Harm {
        fatalities_low: Some(1),
        fatalities_best: Some(2),
        fatalities_high: Some(2),
        injured: None,
    });
    let correction = |request_id: &str, paths: &[&str]| CorrectReportRequest {
        request_id: request_id.into(),
        with_proof: false,
        correction: Some(Correction {
            report_id: "seed-report-3".into(),
            fields: Some(FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
            values: Some(values.clone()),
            reason: "the place was misread".into(),
            sources: vec![source.clone()],
        }),
    };
    s.corrections.push(correction(
        "fuzz-correct-place",
        &["location.latitude", "location.longitude", "notes"],
    ));
    s.corrections.push(correction(
        "fuzz-correct-harm",
        &["harm", "agreement_ids", "occurred.end", "tags"],
    ));
    s
}
