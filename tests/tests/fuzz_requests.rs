//! Fuzzing of request decoding and validation (proptest; the corpus in
//! tests/fuzz-corpus/requests is replayed first). Three properties:
//!
//! - any bytes, decoded as each write request type, and when they decode
//!   run through the daemon's validator, never panic; an accepted request
//!   becomes an entry the projections accept, with the fingerprint reindex
//!   would derive; a rejection is INVALID_ARGUMENT or FAILED_PRECONDITION
//!   naming a field of the request;
//! - valid seed requests mutated field by field (odd unicode and lengths
//!   around every limit, extreme timestamps, NaN and infinite coordinates,
//!   enum values out of range, lists around and far past their limits)
//!   get past the first check, and a rejection names a field that was
//!   changed (or one the rules tie to it);
//! - end to end, such requests sent to a real daemon get an answer that is
//!   neither INTERNAL nor UNKNOWN, and a rejected one leaves the log as it
//!   was (an accepted one adds exactly one entry);
//! - raw bytes sent to the daemon as each write request are never
//!   answered INTERNAL: what does not decode is INVALID_ARGUMENT.
//!
//! The local model of the daemon's edge is the request codec's walk over
//! every string (control characters) and then the validator.
//!
//! PROPTEST_CASES sets the number of cases (default 256; the end-to-end
//! property runs a quarter of them). See docs/testing.md.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

mod fuzz;

use std::{
    cell::{Cell, RefCell},
    time::SystemTime,
};

use pbjson_types::Timestamp;
use proptest::{prelude::*, sample::select};
use prost::Message;
use tonic::Code;
use truce_client::{Client, ClientError};
use truce_daemon::{
    Error,
    model::{derive, index, project},
    validate::{self, Context, ValidWrite},
};
use truce_proto::v1::{
    AddClaimRequest, Agreement, AttachSourceRequest, Claim, CorrectReportRequest, Correction,
    Entry, ExternalId, Receipt, RecordAgreementRequest, Report, SetStatusRequest, Source,
    SourceAttachment, StatusChange, SubmitReportRequest, entry::Payload, source_attachment,
    status_change,
};
use truce_tests::{TestDaemon, seed};

use fuzz::Seeds;

const TARGET: &str = "requests";
/// The longest error message a rejection may carry, in bytes.
const MAX_MESSAGE: usize = 1024;

// ------------------------------------------------------- the request types

/// What the fuzz targets need from each write request type.
trait WriteRequest:
    Message + prost::Name + Default + Clone + PartialEq + std::fmt::Debug + 'static
{
    type Record: Default + Clone + std::fmt::Debug;
    /// The request field that carries the record (and names its errors).
    const TOP: &'static str;
    fn validate(self, ctx: &Context) -> Result<ValidWrite, Error>;
    fn request_id_mut(&mut self) -> &mut String;
    fn record_mut(&mut self) -> &mut Option<Self::Record>;
    fn payload(&self) -> Option<Payload>;
    /// Sets the field at `path` (relative to the record) to `v`.
    fn set(record: &mut Self::Record, path: &str, v: &Odd);
    /// The fields a mutation may change, relative to the record.
    fn fields() -> Vec<F>;
}

macro_rules! write_request {
    ($req:ty, $record:ty, $top:literal, $field:ident, $variant:ident, $validate:path, $set:path, $fields:path) => {
        impl WriteRequest for $req {
            type Record = $record;
            const TOP: &'static str = $top;
            fn validate(self, ctx: &Context) -> Result<ValidWrite, Error> {
                $validate(self, ctx)
            }
            fn request_id_mut(&mut self) -> &mut String {
                &mut self.request_id
            }
            fn record_mut(&mut self) -> &mut Option<$record> {
                &mut self.$field
            }
            fn payload(&self) -> Option<Payload> {
                self.$field.clone().map(Payload::$variant)
            }
            fn set(record: &mut $record, path: &str, v: &Odd) {
                $set(record, path, v)
            }
            fn fields() -> Vec<F> {
                $fields()
            }
        }
    };
}

write_request!(
    RecordAgreementRequest,
    Agreement,
    "agreement",
    agreement,
    Agreement,
    validate::record_agreement,
    set_agreement,
    agreement_fields
);
write_request!(
    SubmitReportRequest,
    Report,
    "report",
    report,
    Report,
    validate::submit_report,
    set_report,
    report_fields
);
write_request!(
    AddClaimRequest,
    Claim,
    "claim",
    claim,
    Claim,
    validate::add_claim,
    set_claim,
    claim_fields
);
write_request!(
    SetStatusRequest,
    StatusChange,
    "status",
    status,
    Status,
    validate::set_status,
    set_status,
    status_fields
);
write_request!(
    AttachSourceRequest,
    SourceAttachment,
    "attachment",
    attachment,
    Source,
    validate::attach_source,
    set_attachment,
    attachment_fields
);
write_request!(
    CorrectReportRequest,
    Correction,
    "correction",
    correction,
    Correction,
    validate::correct_report,
    set_correction,
    correction_fields
);

// ------------------------------------------------- what validation must do

/// The validator's clock: fixed for the whole run, so a case replays.
fn ctx() -> Context {
    thread_local! {
        static NOW: SystemTime = SystemTime::now();
    }
    Context {
        now: NOW.with(|n| *n),
    }
}

fn now_seconds() -> i64 {
    ctx()
        .now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Whether `field` is `prefix` or a field inside it.
fn within(field: &str, prefix: &str) -> bool {
    field == prefix
        || field
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// The fields a reason names in parentheses, as a rule between two fields
/// does ("... before its new expiry (status.agreement.new_expires_at)").
fn cross_field(reason: &str) -> Vec<&str> {
    reason
        .split('(')
        .skip(1)
        .filter_map(|part| part.split(')').next())
        .filter(|path| !path.is_empty() && !path.contains(' '))
        .collect()
}

/// Validates `req` and checks the outcome; `blame`, when given, lists the
/// fields a rejection may name. Returns the error's display on rejection.
fn check_validation<T: WriteRequest>(req: &T, blame: Option<&[String]>) -> Option<String> {
    // The request codec's walk over every string comes first.
    if let Err(v) = truce_proto::strings::check(&T::full_name(), &req.encode_to_vec()) {
        let shown = format!("invalid {}: {}", v.field, v.reason);
        assert!(
            v.field == "request_id" || within(&v.field, T::TOP),
            "the codec names {:?}, not a field of the request ({shown})",
            v.field
        );
        if let Some(blame) = blame {
            assert!(
                blame.iter().any(|b| within(&v.field, b)),
                "the codec's \"{shown}\" names none of the changed fields {blame:?}"
            );
        }
        return Some(shown);
    }
    let ctx = ctx();
    let first = req.clone().validate(&ctx);
    let second = req.clone().validate(&ctx);
    assert_eq!(
        first.as_ref().err().map(ToString::to_string),
        second.as_ref().err().map(ToString::to_string),
        "validation is a function of the request"
    );
    match first {
        Ok(w) => {
            accepted(req, &w);
            None
        }
        Err(e) => {
            let shown = e.to_string();
            let (field, reason) = match e {
                Error::InvalidArgument { field, reason }
                | Error::FailedPrecondition { field, reason } => (field, reason),
                other => panic!("validation answered {other:?}"),
            };
            assert!(!reason.is_empty(), "{field}: empty reason");
            // The message travels in the grpc-message trailer, percent-
            // encoded (up to 3 bytes per byte); past the peer's header
            // limit (16 KiB by default) the client sees an HTTP/2 error
            // (INTERNAL) instead of the rejection.
            assert!(
                shown.len() <= MAX_MESSAGE,
                "a {}-byte error message: {}...",
                shown.len(),
                shown.chars().take(200).collect::<String>()
            );
            assert!(
                field == "request_id" || within(&field, T::TOP),
                "the rejection names {field:?}, not a field of the request ({shown})"
            );
            if let Some(blame) = blame {
                // A rule between two fields names one as its field and
                // the other in its reason: either may be the changed one.
                let other = cross_field(&reason);
                assert!(
                    blame
                        .iter()
                        .any(|b| within(&field, b) || other.iter().any(|o| within(o, b))),
                    "the rejection \"{shown}\" names none of the changed fields {blame:?}"
                );
            }
            Some(shown)
        }
    }
}

/// An accepted request: the write is the request, its fingerprint is the
/// one reindex derives, its references are well-formed, and as an entry it
/// round-trips and (for creations) projects into a view with index terms.
fn accepted<T: WriteRequest>(req: &T, w: &ValidWrite) {
    let mut req = req.clone();
    assert_eq!(w.request_id(), req.request_id_mut().as_str());
    let payload = req.payload().expect("an accepted request has its record");
    let as_entry = |p: &Payload| {
        Entry {
            payload: Some(p.clone()),
            ..Entry::default()
        }
        .encode_to_vec()
    };
    assert_eq!(
        as_entry(w.payload()),
        as_entry(&payload),
        "the write carries the record as sent"
    );
    assert_eq!(w.hash(), &derive::request_hash(&payload));
    for r in w.references() {
        assert!(
            validate::check_id(&r.field, &r.id).is_ok(),
            "reference {r:?} is not an id"
        );
        assert!(within(&r.field, T::TOP), "reference field {:?}", r.field);
    }
    let record_id = w
        .client_id()
        .or_else(|| w.references().first().map(|r| r.id.as_str()))
        .unwrap_or("report-7")
        .to_owned();
    let entry = Entry {
        sequence: 7,
        recorded_at: Some(Timestamp {
            seconds: now_seconds(),
            nanos: 5,
        }),
        submitter: "fuzz".into(),
        request_id: w.request_id().to_owned(),
        record_id: record_id.clone(),
        extension_effective_at: None,
        payload: Some(w.payload().clone()),
    };
    let bytes = entry.encode_to_vec();
    let decoded = Entry::decode(bytes.as_slice()).expect("an entry decodes");
    assert_eq!(decoded.encode_to_vec(), bytes, "an entry round-trips");
    let derived = derive::from_entry(&decoded).expect("an entry derives");
    assert_eq!(
        &derived.hash,
        w.hash(),
        "reindex derives the same fingerprint"
    );
    assert_eq!(derived.request_id, w.request_id());
    if let Some((kind, id)) = &derived.created {
        assert_eq!(id, &record_id);
        if matches!(payload, Payload::Agreement(_) | Payload::Report(_)) {
            let view = project::apply(None, *kind, id, &decoded)
                .unwrap_or_else(|e| panic!("a valid creation does not project: {e}"));
            assert_eq!(view.created_sequence(), 7);
            assert!(!index::terms(&view).is_empty());
        }
    }
    assert!(
        !project::touched(&decoded).is_empty(),
        "a valid write touches a record"
    );
}

/// Decodes `bytes` as every write request type and validates what decodes;
/// returns how many types it decoded as, and how many of those the rules
/// accepted.
fn check_bytes(bytes: &[u8]) -> (u32, u32) {
    fn one<T: WriteRequest>(bytes: &[u8], counts: &mut (u32, u32)) {
        if let Ok(req) = T::decode(bytes) {
            counts.0 += 1;
            if check_validation(&req, None).is_none() {
                counts.1 += 1;
            }
        }
    }
    let mut counts = (0, 0);
    one::<RecordAgreementRequest>(bytes, &mut counts);
    one::<SubmitReportRequest>(bytes, &mut counts);
    one::<AddClaimRequest>(bytes, &mut counts);
    one::<SetStatusRequest>(bytes, &mut counts);
    one::<AttachSourceRequest>(bytes, &mut counts);
    one::<CorrectReportRequest>(bytes, &mut counts);
    counts
}

// ------------------------------------------------------------- odd values

/// A value for one field.
#[derive(Debug, Clone)]
enum Odd {
    Str(String),
    Strs(Vec<String>),
    Time(Option<Timestamp>),
    F64(f64),
    OptF64(Option<f64>),
    Int(i32),
    Ints(Vec<i32>),
    OptU32(Option<u32>),
    /// Resizes a list of messages (copies of its first item).
    Count(usize),
    /// Removes an optional message, or adds an empty one.
    Toggle,
}

impl Odd {
    fn s(&self) -> String {
        match self {
            Odd::Str(s) => s.clone(),
            _ => String::new(),
        }
    }
    fn strs(&self) -> Vec<String> {
        match self {
            Odd::Strs(s) => s.clone(),
            _ => Vec::new(),
        }
    }
    fn time(&self) -> Option<Timestamp> {
        match self {
            Odd::Time(t) => *t,
            _ => None,
        }
    }
    fn f(&self) -> f64 {
        match self {
            Odd::F64(f) => *f,
            _ => 0.0,
        }
    }
    fn opt_f(&self) -> Option<f64> {
        match self {
            Odd::OptF64(f) => *f,
            _ => None,
        }
    }
    fn int(&self) -> i32 {
        match self {
            Odd::Int(i) => *i,
            _ => 0,
        }
    }
    fn ints(&self) -> Vec<i32> {
        match self {
            Odd::Ints(i) => i.clone(),
            _ => Vec::new(),
        }
    }
    fn opt_u32(&self) -> Option<u32> {
        match self {
            Odd::OptU32(u) => *u,
            _ => None,
        }
    }
    fn count(&self) -> usize {
        match self {
            Odd::Count(n) => *n,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Strs,
    Time,
    F64,
    OptF64,
    Enum,
    Enums,
    OptU32,
    Count,
    Toggle,
}

/// A field a mutation may change: its path relative to the record, and
/// the other fields (relative too) a rejection caused by it may name.
#[derive(Debug, Clone)]
struct F {
    path: String,
    kind: Kind,
    also: Vec<String>,
}

fn f(path: &str, kind: Kind) -> F {
    F {
        path: path.to_owned(),
        kind,
        also: Vec::new(),
    }
}

fn f_also(path: &str, kind: Kind, also: &[&str]) -> F {
    F {
        path: path.to_owned(),
        kind,
        also: also.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// `fields` under `prefix`.
fn under(prefix: &str, fields: Vec<F>) -> Vec<F> {
    fields
        .into_iter()
        .map(|x| F {
            path: format!("{prefix}.{}", x.path),
            kind: x.kind,
            also: x.also.iter().map(|a| format!("{prefix}.{a}")).collect(),
        })
        .collect()
}

const FIXED_STRINGS: &[&str] = &[
    "",
    " ",
    "\t",
    "\n",
    "\0",
    "\u{7f}",
    "report-1",
    "report-",
    "agreement-007",
    "claim-99",
    "a/b",
    "a b",
    "ÄÖÜ",
    "\u{202e}gnp.exe",
    "e\u{301}",
    "\u{feff}",
    "\u{10ffff}",
    "👍🏽",
    "UA",
    "ua",
    "U",
    "UAX",
    "ÜA",
    "RU",
    "en",
    "en-US",
    "x-",
    "seed-report-1",
    "seed-report-2",
    "seed-report-3",
    "ru-ua-energy-moratorium-2025",
    "fuzz-rich-agreement",
    "seed-claim-ua-denies-1-2",
    "seed-002-report",
    "http://",
    "https://",
    "https://example.org",
    "javascript:alert(1)",
    "ftp://example.org/x",
    "https://[::1]:99999/",
    "http://exa mple.org/",
    "HTTPS://EXAMPLE.ORG/",
    "//example.org/",
    "https://user:pw@example.org/?q#f",
    "http://%41/",
    "file:///etc/passwd",
    "https://😀.example/",
    "https://example.org/\u{0}",
    "abababababababababababababababababababababababababababababababab",
    "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
    "ababababababababababababababababababababababababababababababab",
    "notes",
    "location",
    "sources",
    "id",
    "evidence_status",
    "harm.injured",
    "location.latitude",
    "agreement_ids",
    "occurred",
    "occurred.start",
];

/// Lengths in bytes around every limit (and far past them).
const LENGTHS: &[usize] = &[
    1, 2, 3, 35, 36, 63, 64, 65, 127, 128, 129, 511, 512, 513, 2047, 2048, 2049, 8191, 8192, 8193,
    20_000,
];
const UNITS: &[&str] = &["a", "é", "€", "𝄞", " ", "0", "-"];

fn odd_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(FIXED_STRINGS).prop_map(str::to_owned),
        3 => (select(LENGTHS), select(UNITS))
            .prop_map(|(n, u)| u.repeat(n.div_ceil(u.len()))),
        1 => (select(LENGTHS), select(UNITS))
            .prop_map(|(n, u)| format!("https://example.org/{}", u.repeat(n / u.len()))),
        2 => any::<String>(),
        1 => prop::collection::vec(any::<char>(), 0..12).prop_map(|c| c.into_iter().collect()),
        2 => "[A-Za-z0-9._:-]{1,130}",
    ]
    .boxed()
}

fn short_string() -> BoxedStrategy<String> {
    prop_oneof![
        select(FIXED_STRINGS).prop_map(str::to_owned),
        "[A-Za-z0-9._:-]{1,10}",
    ]
    .boxed()
}

fn odd_strings() -> BoxedStrategy<Vec<String>> {
    prop_oneof![
        prop::collection::vec(odd_string(), 0..4),
        (
            select(vec![0usize, 1, 2, 31, 32, 33, 63, 64, 65, 1000]),
            short_string()
        )
            .prop_map(|(n, s)| vec![s; n]),
        (select(vec![32usize, 33, 64, 65]), short_string())
            .prop_map(|(n, s)| (0..n).map(|i| format!("{s}{i}")).collect()),
    ]
    .boxed()
}

fn odd_time() -> BoxedStrategy<Option<Timestamp>> {
    let now = now_seconds();
    let seconds = vec![
        i64::MIN,
        i64::MIN + 1,
        -62_135_596_801,
        -62_135_596_800,
        -1,
        0,
        1_742_000_000,
        1_742_400_000,
        now - 1,
        now,
        // Inside and outside the day of slack, with an hour to spare for
        // the daemon's later clock in the end-to-end test.
        now + 86_400 - 3_600,
        now + 86_400 + 3_600,
        now + 10 * 365 * 86_400,
        253_402_300_799,
        253_402_300_800,
        i64::MAX,
    ];
    let nanos = vec![0, 1, -1, 999_999_999, 1_000_000_000, i32::MIN, i32::MAX];
    prop_oneof![
        1 => Just(None),
        4 => (select(seconds), select(nanos)).prop_map(|(seconds, nanos)| Some(Timestamp { seconds, nanos })),
        1 => (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Some(Timestamp { seconds, nanos })),
    ]
    .boxed()
}

fn odd_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        3 => select(vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            90.0,
            -90.0,
            90.000_000_1,
            -90.000_000_1,
            180.0,
            -180.0,
            180.000_000_1,
            -180.000_000_1,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            f64::EPSILON,
        ]),
        1 => any::<f64>(),
        1 => -200.0f64..200.0,
    ]
    .boxed()
}

fn odd_enum() -> BoxedStrategy<i32> {
    prop_oneof![
        3 => select(vec![0, 1, 2, 3, 4, 5, 7, 12, 20, 50, -1, i32::MIN, i32::MAX]),
        1 => any::<i32>(),
    ]
    .boxed()
}

fn odd(kind: Kind) -> BoxedStrategy<Odd> {
    match kind {
        Kind::Text => odd_string().prop_map(Odd::Str).boxed(),
        Kind::Strs => odd_strings().prop_map(Odd::Strs).boxed(),
        Kind::Time => odd_time().prop_map(Odd::Time).boxed(),
        Kind::F64 => odd_f64().prop_map(Odd::F64).boxed(),
        Kind::OptF64 => prop::option::weighted(0.85, odd_f64())
            .prop_map(Odd::OptF64)
            .boxed(),
        Kind::Enum => odd_enum().prop_map(Odd::Int).boxed(),
        Kind::Enums => prop_oneof![
            prop::collection::vec(odd_enum(), 0..4),
            (select(vec![63usize, 64, 65, 1000]), odd_enum()).prop_map(|(n, e)| vec![e; n]),
        ]
        .prop_map(Odd::Ints)
        .boxed(),
        Kind::OptU32 => prop_oneof![
            Just(None),
            select(vec![0u32, 1, 2, 1000, u32::MAX - 1, u32::MAX]).prop_map(Some),
            any::<u32>().prop_map(Some),
        ]
        .prop_map(Odd::OptU32)
        .boxed(),
        Kind::Count => select(vec![0usize, 1, 2, 3, 63, 64, 65, 999, 1000, 1001])
            .prop_map(Odd::Count)
            .boxed(),
        Kind::Toggle => Just(Odd::Toggle).boxed(),
    }
}

/// One change: a field and its new value.
#[derive(Debug, Clone)]
struct Edit {
    field: F,
    value: Odd,
}

/// 1-3 changes of fields of `T` (or its request id, or the whole record).
fn edits<T: WriteRequest>() -> impl Strategy<Value = Vec<Edit>> {
    let mut fields = T::fields();
    fields.push(f("request_id", Kind::Text));
    fields.push(f("", Kind::Toggle));
    let edit = select(fields).prop_flat_map(|field| {
        odd(field.kind).prop_map(move |value| Edit {
            field: field.clone(),
            value,
        })
    });
    prop::collection::vec(edit, 1..=3)
}

/// Applies an edit to a request.
fn apply<T: WriteRequest>(req: &mut T, e: &Edit) {
    match e.field.path.as_str() {
        "request_id" => *req.request_id_mut() = e.value.s(),
        "" => toggle(req.record_mut()),
        path => T::set(req.record_mut().get_or_insert_default(), path, &e.value),
    }
}

/// The fields a rejection after `edits` may name.
fn blame<T: WriteRequest>(edits: &[Edit]) -> Vec<String> {
    let mut b = Vec::new();
    for e in edits {
        let at = |p: &str| -> String {
            let first = p.split(['.', '[']).next().unwrap_or_default();
            format!("{}.{first}", T::TOP)
        };
        match e.field.path.as_str() {
            "request_id" => b.push("request_id".to_owned()),
            "" => b.push(T::TOP.to_owned()),
            p => {
                b.push(at(p));
                b.extend(e.field.also.iter().map(|a| at(a)));
            }
        }
    }
    b.sort();
    b.dedup();
    b
}

fn mutated<T: WriteRequest>(seeds: Vec<T>) -> impl Strategy<Value = (T, Vec<Edit>)> {
    (select(seeds), edits::<T>()).prop_map(|(mut req, edits)| {
        for e in &edits {
            apply(&mut req, e);
        }
        (req, edits)
    })
}

// ------------------------------------------------------------------ setters

fn toggle<T: Default>(o: &mut Option<T>) {
    *o = if o.is_some() {
        None
    } else {
        Some(T::default())
    };
}

fn resize<T: Clone + Default>(list: &mut Vec<T>, n: usize) {
    if list.is_empty() {
        list.push(T::default());
    }
    let first = list[0].clone();
    list.resize(n, first);
}

fn first<T: Default>(list: &mut Vec<T>) -> &mut T {
    if list.is_empty() {
        list.push(T::default());
    }
    &mut list[0]
}

fn source_fields() -> Vec<F> {
    use Kind::*;
    vec![
        f("kind", Enum),
        f("publisher", Text),
        f("url", Text),
        f("identifier", Text),
        f("title", Text),
        f("published_at", Time),
        f("language", Text),
        f("original_url", Text),
        f("original_publisher", Text),
        f("party_affiliation", Text),
        f("reliability", Enum),
        f("credibility", Enum),
        f("capture", Toggle),
        f("capture.sha256", Text),
        f("capture.captured_at", Time),
        f("capture.archive_url", Text),
    ]
}

fn set_source(s: &mut Source, path: &str, v: &Odd) {
    match path {
        "kind" => s.kind = v.int(),
        "publisher" => s.publisher = v.s(),
        "url" => s.url = v.s(),
        "identifier" => s.identifier = v.s(),
        "title" => s.title = v.s(),
        "published_at" => s.published_at = v.time(),
        "language" => s.language = v.s(),
        "original_url" => s.original_url = v.s(),
        "original_publisher" => s.original_publisher = v.s(),
        "party_affiliation" => s.party_affiliation = v.s(),
        "reliability" => s.reliability = v.int(),
        "credibility" => s.credibility = v.int(),
        "capture" => toggle(&mut s.capture),
        "capture.sha256" => s.capture.get_or_insert_default().sha256 = v.s(),
        "capture.captured_at" => s.capture.get_or_insert_default().captured_at = v.time(),
        "capture.archive_url" => s.capture.get_or_insert_default().archive_url = v.s(),
        other => panic!("no source field {other}"),
    }
}

/// `sources`, `sources[0].<field>`.
fn sources_fields() -> Vec<F> {
    let mut v = vec![f("sources", Kind::Count)];
    v.extend(under("sources[0]", source_fields()));
    v
}

fn set_sources(list: &mut Vec<Source>, path: &str, v: &Odd) {
    match path.strip_prefix("sources[0].") {
        Some(rest) => set_source(first(list), rest, v),
        None => resize(list, v.count()),
    }
}

fn external_id_fields() -> Vec<F> {
    vec![
        f("external_ids", Kind::Count),
        f("external_ids[0].scheme", Kind::Enum),
        f("external_ids[0].value", Kind::Text),
        f("external_ids[0].scheme_name", Kind::Text),
    ]
}

fn set_external_ids(list: &mut Vec<ExternalId>, path: &str, v: &Odd) {
    match path {
        "external_ids" => resize(list, v.count()),
        "external_ids[0].scheme" => first(list).scheme = v.int(),
        "external_ids[0].value" => first(list).value = v.s(),
        "external_ids[0].scheme_name" => first(list).scheme_name = v.s(),
        other => panic!("no external id field {other}"),
    }
}

fn report_fields() -> Vec<F> {
    use Kind::*;
    let mut v = vec![
        f("id", Text),
        f("agreement_ids", Strs),
        f("occurred", Toggle),
        f_also("occurred.start", Time, &["first_reported_at"]),
        f("occurred.end", Time),
        f("occurred.precision", Enum),
        f("first_reported_at", Time),
        f("location", Toggle),
        f("location.country", Text),
        f("location.admin1", Text),
        f("location.admin2", Text),
        f("location.admin3", Text),
        f("location.place_name", Text),
        f("location.latitude", OptF64),
        f("location.longitude", OptF64),
        f("location.geo_precision", Enum),
        f("location.radius_m", OptU32),
        f("event_type", Enum),
        f("sub_event_detail", Text),
        f("weapon", Enum),
        f("target_class", Enum),
        f("target_name", Text),
        f("damage", Text),
        f("interception", Enum),
        f("alleged_perpetrators", Strs),
        f("affected_parties", Strs),
        f("reported_by", Text),
        f_also("attribution", Enum, &["alleged_perpetrators"]),
        f("harm", Toggle),
        f("harm.fatalities_low", OptU32),
        f("harm.fatalities_best", OptU32),
        f("harm.fatalities_high", OptU32),
        f("harm.injured", OptU32),
        f("notes", Text),
        f("tags", Strs),
        f("evidence_status", Enum),
    ];
    v.extend(sources_fields());
    v.extend(external_id_fields());
    v
}

fn set_report(r: &mut Report, path: &str, v: &Odd) {
    match path {
        "id" => r.id = v.s(),
        "agreement_ids" => r.agreement_ids = v.strs(),
        "occurred" => toggle(&mut r.occurred),
        "occurred.start" => r.occurred.get_or_insert_default().start = v.time(),
        "occurred.end" => r.occurred.get_or_insert_default().end = v.time(),
        "occurred.precision" => r.occurred.get_or_insert_default().precision = v.int(),
        "first_reported_at" => r.first_reported_at = v.time(),
        "location" => toggle(&mut r.location),
        "location.country" => r.location.get_or_insert_default().country = v.s(),
        "location.admin1" => r.location.get_or_insert_default().admin1 = v.s(),
        "location.admin2" => r.location.get_or_insert_default().admin2 = v.s(),
        "location.admin3" => r.location.get_or_insert_default().admin3 = v.s(),
        "location.place_name" => r.location.get_or_insert_default().place_name = v.s(),
        "location.latitude" => r.location.get_or_insert_default().latitude = v.opt_f(),
        "location.longitude" => r.location.get_or_insert_default().longitude = v.opt_f(),
        "location.geo_precision" => r.location.get_or_insert_default().geo_precision = v.int(),
        "location.radius_m" => r.location.get_or_insert_default().radius_m = v.opt_u32(),
        "event_type" => r.event_type = v.int(),
        "sub_event_detail" => r.sub_event_detail = v.s(),
        "weapon" => r.weapon = v.int(),
        "target_class" => r.target_class = v.int(),
        "target_name" => r.target_name = v.s(),
        "damage" => r.damage = v.s(),
        "interception" => r.interception = v.int(),
        "alleged_perpetrators" => r.alleged_perpetrators = v.strs(),
        "affected_parties" => r.affected_parties = v.strs(),
        "reported_by" => r.reported_by = v.s(),
        "attribution" => r.attribution = v.int(),
        "harm" => toggle(&mut r.harm),
        "harm.fatalities_low" => r.harm.get_or_insert_default().fatalities_low = v.opt_u32(),
        "harm.fatalities_best" => r.harm.get_or_insert_default().fatalities_best = v.opt_u32(),
        "harm.fatalities_high" => r.harm.get_or_insert_default().fatalities_high = v.opt_u32(),
        "harm.injured" => r.harm.get_or_insert_default().injured = v.opt_u32(),
        "notes" => r.notes = v.s(),
        "tags" => r.tags = v.strs(),
        "evidence_status" => r.evidence_status = v.int(),
        p if p.starts_with("sources") => set_sources(&mut r.sources, p, v),
        p if p.starts_with("external_ids") => set_external_ids(&mut r.external_ids, p, v),
        other => panic!("no report field {other}"),
    }
}

fn agreement_fields() -> Vec<F> {
    use Kind::*;
    let area = "scope.areas[0]";
    let mut v = vec![
        f("title", Text),
        f("parties", Count),
        f("parties[0].party", Text),
        f("parties[0].name", Text),
        f("parties[0].role", Enum),
        f("form", Enum),
        f("medium", Enum),
        f("purpose", Enum),
        f("declared_at", Time),
        f_also("effective_from", Count, &["expires_at"]),
        f("effective_from[0].party", Text),
        f_also("effective_from[0].at", Time, &["expires_at"]),
        f("effective_from[0].note", Text),
        f("expires_at", Time),
        f("scope", Toggle),
        f("scope.areas", Count),
        f("scope.protected_targets", Enums),
        f("scope.prohibited_acts", Enums),
        f("scope.description", Text),
        f("reciprocity_note", Text),
        f("monitoring_mechanism", Text),
        f("full_text", Toggle),
        f("full_text.url", Text),
        f("full_text.sha256", Text),
        f("full_text.language", Text),
        f_also("supersedes", Text, &["id"]),
        f_also("id", Text, &["supersedes"]),
        f("notes", Text),
        f("tags", Strs),
    ];
    for (name, kind) in [
        ("country", Text),
        ("admin1", Text),
        ("description", Text),
        ("bbox", Toggle),
        ("bbox.south", F64),
        ("bbox.west", F64),
        ("bbox.north", F64),
        ("bbox.east", F64),
        ("polygon", Count),
        ("polygon[0].latitude", F64),
        ("polygon[0].longitude", F64),
    ] {
        v.push(f(&format!("{area}.{name}"), kind));
    }
    v.extend(sources_fields());
    v.extend(external_id_fields());
    v
}

fn set_agreement(a: &mut Agreement, path: &str, v: &Odd) {
    if let Some(rest) = path.strip_prefix("scope.areas[0].") {
        let area = first(&mut a.scope.get_or_insert_default().areas);
        match rest {
            "country" => area.country = v.s(),
            "admin1" => area.admin1 = v.s(),
            "description" => area.description = v.s(),
            "bbox" => toggle(&mut area.bbox),
            "bbox.south" => area.bbox.get_or_insert_default().south = v.f(),
            "bbox.west" => area.bbox.get_or_insert_default().west = v.f(),
            "bbox.north" => area.bbox.get_or_insert_default().north = v.f(),
            "bbox.east" => area.bbox.get_or_insert_default().east = v.f(),
            "polygon" => resize(&mut area.polygon, v.count()),
            "polygon[0].latitude" => first(&mut area.polygon).latitude = v.f(),
            "polygon[0].longitude" => first(&mut area.polygon).longitude = v.f(),
            other => panic!("no area field {other}"),
        }
        return;
    }
    match path {
        "id" => a.id = v.s(),
        "title" => a.title = v.s(),
        "parties" => resize(&mut a.parties, v.count()),
        "parties[0].party" => first(&mut a.parties).party = v.s(),
        "parties[0].name" => first(&mut a.parties).name = v.s(),
        "parties[0].role" => first(&mut a.parties).role = v.int(),
        "form" => a.form = v.int(),
        "medium" => a.medium = v.int(),
        "purpose" => a.purpose = v.int(),
        "declared_at" => a.declared_at = v.time(),
        "effective_from" => resize(&mut a.effective_from, v.count()),
        "effective_from[0].party" => first(&mut a.effective_from).party = v.s(),
        "effective_from[0].at" => first(&mut a.effective_from).at = v.time(),
        "effective_from[0].note" => first(&mut a.effective_from).note = v.s(),
        "expires_at" => a.expires_at = v.time(),
        "scope" => toggle(&mut a.scope),
        "scope.areas" => resize(&mut a.scope.get_or_insert_default().areas, v.count()),
        "scope.protected_targets" => {
            a.scope.get_or_insert_default().protected_targets = v.ints();
        }
        "scope.prohibited_acts" => a.scope.get_or_insert_default().prohibited_acts = v.ints(),
        "scope.description" => a.scope.get_or_insert_default().description = v.s(),
        "reciprocity_note" => a.reciprocity_note = v.s(),
        "monitoring_mechanism" => a.monitoring_mechanism = v.s(),
        "full_text" => toggle(&mut a.full_text),
        "full_text.url" => a.full_text.get_or_insert_default().url = v.s(),
        "full_text.sha256" => a.full_text.get_or_insert_default().sha256 = v.s(),
        "full_text.language" => a.full_text.get_or_insert_default().language = v.s(),
        "supersedes" => a.supersedes = v.s(),
        "notes" => a.notes = v.s(),
        "tags" => a.tags = v.strs(),
        p if p.starts_with("sources") => set_sources(&mut a.sources, p, v),
        p if p.starts_with("external_ids") => set_external_ids(&mut a.external_ids, p, v),
        other => panic!("no agreement field {other}"),
    }
}

fn claim_fields() -> Vec<F> {
    use Kind::*;
    let mut v = vec![
        f("id", Text),
        f("party", Text),
        f("kind", Enum),
        f_also("report_ids", Strs, &["agreement_id"]),
        f_also("agreement_id", Text, &["report_ids"]),
        f("stated_at", Time),
        f("statement", Text),
        f("against_parties", Strs),
    ];
    v.extend(sources_fields());
    v
}

fn set_claim(c: &mut Claim, path: &str, v: &Odd) {
    match path {
        "id" => c.id = v.s(),
        "party" => c.party = v.s(),
        "kind" => c.kind = v.int(),
        "report_ids" => c.report_ids = v.strs(),
        "agreement_id" => c.agreement_id = v.s(),
        "stated_at" => c.stated_at = v.time(),
        "statement" => c.statement = v.s(),
        "against_parties" => c.against_parties = v.strs(),
        p if p.starts_with("sources") => set_sources(&mut c.sources, p, v),
        other => panic!("no claim field {other}"),
    }
}

fn status_fields() -> Vec<F> {
    use Kind::*;
    // A target of the other kind makes the change inapplicable, and the
    // rules name the change.
    let target_also = &[
        "report_id",
        "agreement_id",
        "evidence",
        "agreement",
        "compliance",
    ];
    let mut v = vec![
        f_also("report_id", Text, target_also),
        f_also("agreement_id", Text, target_also),
        f_also("target", Toggle, target_also),
        f_also("change", Toggle, &["evidence"]),
        f_also("evidence.status", Enum, &["evidence"]),
        f("evidence.duplicate_of", Text),
        f("agreement.status", Enum),
        f("agreement.new_expires_at", Time),
        f("agreement.superseded_by", Text),
        f("compliance.agreement_id", Text),
        f("compliance.finding", Enum),
        f("effective_at", Time),
        f("reason", Text),
    ];
    v.extend(sources_fields());
    v
}

fn set_status(s: &mut StatusChange, path: &str, v: &Odd) {
    use status_change::{Change, Target};
    fn evidence(s: &mut StatusChange) -> &mut truce_proto::v1::EvidenceStatusChange {
        if !matches!(s.change, Some(Change::Evidence(_))) {
            s.change = Some(Change::Evidence(Default::default()));
        }
        match &mut s.change {
            Some(Change::Evidence(e)) => e,
            _ => unreachable!(),
        }
    }
    fn agreement(s: &mut StatusChange) -> &mut truce_proto::v1::AgreementStatusChange {
        if !matches!(s.change, Some(Change::Agreement(_))) {
            s.change = Some(Change::Agreement(Default::default()));
        }
        match &mut s.change {
            Some(Change::Agreement(a)) => a,
            _ => unreachable!(),
        }
    }
    fn compliance(s: &mut StatusChange) -> &mut truce_proto::v1::ComplianceFindingChange {
        if !matches!(s.change, Some(Change::Compliance(_))) {
            s.change = Some(Change::Compliance(Default::default()));
        }
        match &mut s.change {
            Some(Change::Compliance(c)) => c,
            _ => unreachable!(),
        }
    }
    match path {
        "report_id" => s.target = Some(Target::ReportId(v.s())),
        "agreement_id" => s.target = Some(Target::AgreementId(v.s())),
        "target" => s.target = None,
        "change" => s.change = None,
        "evidence.status" => evidence(s).status = v.int(),
        "evidence.duplicate_of" => evidence(s).duplicate_of = v.s(),
        "agreement.status" => agreement(s).status = v.int(),
        "agreement.new_expires_at" => agreement(s).new_expires_at = v.time(),
        "agreement.superseded_by" => agreement(s).superseded_by = v.s(),
        "compliance.agreement_id" => compliance(s).agreement_id = v.s(),
        "compliance.finding" => compliance(s).finding = v.int(),
        "effective_at" => s.effective_at = v.time(),
        "reason" => s.reason = v.s(),
        p if p.starts_with("sources") => set_sources(&mut s.sources, p, v),
        other => panic!("no status field {other}"),
    }
}

fn attachment_fields() -> Vec<F> {
    use Kind::*;
    let mut v = vec![
        f_also("report_id", Text, &["agreement_id"]),
        f_also("agreement_id", Text, &["report_id"]),
        f_also("target", Toggle, &["report_id"]),
        f("source", Toggle),
        f("note", Text),
    ];
    v.extend(under("source", source_fields()));
    v
}

fn set_attachment(a: &mut SourceAttachment, path: &str, v: &Odd) {
    use source_attachment::Target;
    match path {
        "report_id" => a.target = Some(Target::ReportId(v.s())),
        "agreement_id" => a.target = Some(Target::AgreementId(v.s())),
        "target" => a.target = None,
        "source" => toggle(&mut a.source),
        "note" => a.note = v.s(),
        p => match p.strip_prefix("source.") {
            Some(rest) => set_source(a.source.get_or_insert_default(), rest, v),
            None => panic!("no attachment field {p}"),
        },
    }
}

fn correction_fields() -> Vec<F> {
    use Kind::*;
    let mut v = vec![
        f("report_id", Text),
        f("fields", Strs),
        f("values", Toggle),
        f("reason", Text),
    ];
    v.extend(sources_fields());
    v.extend(under("values", report_fields()));
    v
}

fn set_correction(c: &mut Correction, path: &str, v: &Odd) {
    match path {
        "report_id" => c.report_id = v.s(),
        "fields" => c.fields.get_or_insert_default().paths = v.strs(),
        "values" => toggle(&mut c.values),
        "reason" => c.reason = v.s(),
        p if p.starts_with("sources") => set_sources(&mut c.sources, p, v),
        p => match p.strip_prefix("values.") {
            Some(rest) => set_report(c.values.get_or_insert_default(), rest, v),
            None => panic!("no correction field {p}"),
        },
    }
}

// ------------------------------------------------------------------- tests

fn encode_all(seeds: &Seeds) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |kind: &str, id: &str, bytes: Vec<u8>| out.push((format!("{kind}-{id}"), bytes));
    for r in &seeds.agreements {
        add("agreement", &r.request_id, r.encode_to_vec());
    }
    for r in &seeds.reports {
        add("report", &r.request_id, r.encode_to_vec());
    }
    for r in &seeds.claims {
        add("claim", &r.request_id, r.encode_to_vec());
    }
    for r in &seeds.statuses {
        add("status", &r.request_id, r.encode_to_vec());
    }
    for r in &seeds.attachments {
        add("source", &r.request_id, r.encode_to_vec());
    }
    for r in &seeds.corrections {
        add("correction", &r.request_id, r.encode_to_vec());
    }
    out
}

/// Regenerates the seed part of the corpus (files added by hand, such as
/// past failures, stay): `cargo test -p truce-tests --test fuzz_requests
/// -- --ignored write_corpus`.
#[test]
#[ignore = "writes tests/fuzz-corpus/requests"]
fn write_corpus() {
    let seeds = fuzz::seeds();
    for (name, bytes) in encode_all(&seeds) {
        fuzz::write_corpus_file(TARGET, &name, &bytes);
        if name.starts_with("report-") || name.starts_with("correction-") {
            for cut in [1, bytes.len() / 2, bytes.len() - 1] {
                fuzz::write_corpus_file(TARGET, &format!("{name}.cut-{cut}"), &bytes[..cut]);
            }
        }
    }
    fuzz::write_corpus_file(TARGET, "empty", &[]);
    // Unknown fields of the deprecated group wire type nested 200 deep.
    let mut groups = Vec::new();
    for _ in 0..200 {
        groups.push((99 << 3) | 3);
        groups.push(0x06);
    }
    for _ in 0..200 {
        groups.push((99 << 3) | 4);
        groups.push(0x06);
    }
    fuzz::write_corpus_file(TARGET, "deep-groups", &groups);
    // A record whose length claims more bytes than there are.
    let mut lying = Vec::new();
    fuzz::varint((2 << 3) | 2, &mut lying);
    fuzz::varint(u64::MAX, &mut lying);
    lying.extend_from_slice(b"abc");
    fuzz::write_corpus_file(TARGET, "lying-length", &lying);
    // Seed report with NaN coordinates and an out-of-range enum.
    let mut r = seeds.reports[0].clone();
    let rep = r.report.as_mut().unwrap();
    rep.location.as_mut().unwrap().latitude = Some(f64::NAN);
    rep.location.as_mut().unwrap().longitude = Some(f64::INFINITY);
    rep.event_type = 9999;
    fuzz::write_corpus_file(TARGET, "report-nan-coordinates", &r.encode_to_vec());
    // Regressions: values quoted whole in an error message made it too
    // long for the grpc-message trailer (the client saw INTERNAL).
    let mut r = seeds.reports[0].clone();
    r.report
        .as_mut()
        .unwrap()
        .location
        .as_mut()
        .unwrap()
        .country = "𝄞".repeat(5000);
    fuzz::write_corpus_file(TARGET, "report-regression-long-country", &r.encode_to_vec());
    let mut c = seeds.corrections[0].clone();
    let fields = c.correction.as_mut().unwrap().fields.as_mut().unwrap();
    fields.paths.push("é".repeat(10_000));
    fuzz::write_corpus_file(
        TARGET,
        "correction-regression-long-path",
        &c.encode_to_vec(),
    );
}

#[test]
fn the_seeds_are_valid() {
    fn all<T: WriteRequest>(seeds: &[T]) {
        assert!(!seeds.is_empty());
        for s in seeds {
            if let Err(e) = s.clone().validate(&ctx()) {
                panic!("seed {s:?} is invalid: {e}");
            }
            assert_eq!(check_validation(s, Some(&[][..])), None);
        }
    }
    let seeds = fuzz::seeds();
    all(&seeds.agreements);
    all(&seeds.reports);
    all(&seeds.claims);
    all(&seeds.statuses);
    all(&seeds.attachments);
    all(&seeds.corrections);
}

#[test]
fn arbitrary_bytes_decode_and_validate_without_panic() {
    let replayed = fuzz::replay(TARGET, |_, b| {
        check_bytes(b);
    });
    assert!(replayed > 0);
    let corpus: Vec<Vec<u8>> = fuzz::corpus(TARGET).into_iter().map(|(_, b)| b).collect();
    let strategy = prop_oneof![
        4 => fuzz::field_mutated(corpus.clone()),
        2 => fuzz::mutated(corpus),
        2 => fuzz::protobuf_shaped(),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ];
    // (inputs, decoded as some type, accepted as some type)
    let counts = RefCell::new((0u32, 0u32, 0u32));
    let config = fuzz::config();
    let cases = config.cases;
    fuzz::run(TARGET, config, strategy, Clone::clone, |bytes| {
        let (decoded, accepted) = check_bytes(&bytes);
        let mut c = counts.borrow_mut();
        c.0 += 1;
        c.1 += u32::from(decoded > 0);
        c.2 += u32::from(accepted > 0);
        Ok(())
    });
    let (inputs, decoded, accepted) = counts.into_inner();
    eprintln!("{inputs} inputs: {decoded} decoded as a request, {accepted} accepted");
    // Not vacuous: inputs reach the rules, and some pass them.
    if cases >= 64 {
        assert!(
            decoded > inputs / 8 && accepted > 0,
            "{decoded} decoded, {accepted} accepted of {inputs}"
        );
    }
}

/// Runs the field-by-field property for one request type.
fn field_by_field<T: WriteRequest>(seeds: Vec<T>) {
    let rejected = RefCell::new(0u32);
    let total = RefCell::new(0u32);
    fuzz::run(
        TARGET,
        fuzz::config(),
        mutated(seeds),
        |(req, _)| req.encode_to_vec(),
        |(req, edits)| {
            *total.borrow_mut() += 1;
            if check_validation(&req, Some(&blame::<T>(&edits))).is_some() {
                *rejected.borrow_mut() += 1;
            }
            Ok(())
        },
    );
    let (rejected, total) = (rejected.into_inner(), total.into_inner());
    // Most odd values break a rule; some are fine. Either way validation
    // ran on every case.
    assert!(
        rejected > 0 && (total < 16 || rejected < total),
        "{}: {rejected} of {total} rejected",
        T::TOP
    );
}

#[test]
fn agreements_mutated_field_by_field() {
    field_by_field(fuzz::seeds().agreements);
}

#[test]
fn reports_mutated_field_by_field() {
    field_by_field(fuzz::seeds().reports);
}

#[test]
fn claims_mutated_field_by_field() {
    field_by_field(fuzz::seeds().claims);
}

#[test]
fn status_changes_mutated_field_by_field() {
    field_by_field(fuzz::seeds().statuses);
}

#[test]
fn attachments_mutated_field_by_field() {
    field_by_field(fuzz::seeds().attachments);
}

#[test]
fn corrections_mutated_field_by_field() {
    field_by_field(fuzz::seeds().corrections);
}

// --------------------------------------------------------------- end to end

/// A mutated request of any write kind.
#[derive(Debug, Clone)]
enum AnyWrite {
    Agreement(RecordAgreementRequest),
    Report(SubmitReportRequest),
    Claim(AddClaimRequest),
    Status(SetStatusRequest),
    Source(AttachSourceRequest),
    Correction(CorrectReportRequest),
}

impl AnyWrite {
    fn request_id_mut(&mut self) -> &mut String {
        match self {
            AnyWrite::Agreement(r) => &mut r.request_id,
            AnyWrite::Report(r) => &mut r.request_id,
            AnyWrite::Claim(r) => &mut r.request_id,
            AnyWrite::Status(r) => &mut r.request_id,
            AnyWrite::Source(r) => &mut r.request_id,
            AnyWrite::Correction(r) => &mut r.request_id,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            AnyWrite::Agreement(r) => r.encode_to_vec(),
            AnyWrite::Report(r) => r.encode_to_vec(),
            AnyWrite::Claim(r) => r.encode_to_vec(),
            AnyWrite::Status(r) => r.encode_to_vec(),
            AnyWrite::Source(r) => r.encode_to_vec(),
            AnyWrite::Correction(r) => r.encode_to_vec(),
        }
    }

    /// The local validator's verdict.
    fn local(&self) -> Option<String> {
        fn one<T: WriteRequest>(r: &T) -> Option<String> {
            // The daemon's codec refuses control characters before the
            // rules see the request.
            if let Err(v) = truce_proto::strings::check(&T::full_name(), &r.encode_to_vec()) {
                return Some(format!("invalid {}: {}", v.field, v.reason));
            }
            r.clone().validate(&ctx()).err().map(|e| e.to_string())
        }
        match self {
            AnyWrite::Agreement(r) => one(r),
            AnyWrite::Report(r) => one(r),
            AnyWrite::Claim(r) => one(r),
            AnyWrite::Status(r) => one(r),
            AnyWrite::Source(r) => one(r),
            AnyWrite::Correction(r) => one(r),
        }
    }

    async fn send(self, c: &Client) -> Result<Receipt, ClientError> {
        match self {
            AnyWrite::Agreement(r) => c.record_agreement(r).await,
            AnyWrite::Report(r) => c.submit_report(r).await,
            AnyWrite::Claim(r) => c.add_claim(r).await,
            AnyWrite::Status(r) => c.set_status(r).await,
            AnyWrite::Source(r) => c.attach_source(r).await,
            AnyWrite::Correction(r) => c.correct_report(r).await,
        }
    }
}

/// A mutated request, and whether it should get a fresh request id (the
/// edits left it alone, or emptied it: then the client makes one). For
/// creations the record id is cleared unless the edits set it, so that a
/// request the rules accept is written rather than refused as a repeat.
fn e2e_case<T: WriteRequest>(
    seeds: Vec<T>,
    wrap: fn(T) -> AnyWrite,
) -> BoxedStrategy<(AnyWrite, bool)> {
    mutated(seeds)
        .prop_map(move |(mut req, edits)| {
            let touched = |p: &str| edits.iter().any(|e| e.field.path == p);
            let fresh_id = !touched("request_id") || req.request_id_mut().is_empty();
            let mut any = wrap(req);
            if !touched("id") {
                match &mut any {
                    AnyWrite::Agreement(r) => r.agreement.iter_mut().for_each(|a| a.id.clear()),
                    AnyWrite::Report(r) => r.report.iter_mut().for_each(|a| a.id.clear()),
                    AnyWrite::Claim(r) => r.claim.iter_mut().for_each(|a| a.id.clear()),
                    _ => {}
                }
            }
            (any, fresh_id)
        })
        .boxed()
}

#[test]
fn rejected_requests_write_nothing_end_to_end() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let d = rt.block_on(async {
        let d = TestDaemon::start().await;
        seed::submit_all(&d.client).await;
        // The seeds the scenario lacks, so that their mutations meet
        // existing targets.
        let s = fuzz::seeds();
        let c = &d.client;
        c.record_agreement(s.agreements[1].clone()).await.unwrap();
        c.submit_report(s.reports[3].clone()).await.unwrap();
        for r in &s.statuses[4..] {
            c.set_status(r.clone()).await.unwrap();
        }
        c.attach_source(s.attachments[1].clone()).await.unwrap();
        for r in &s.corrections {
            c.correct_report(r.clone()).await.unwrap();
        }
        d
    });
    let s = fuzz::seeds();
    let strategy = prop_oneof![
        e2e_case(s.agreements, AnyWrite::Agreement),
        e2e_case(s.reports, AnyWrite::Report),
        e2e_case(s.claims, AnyWrite::Claim),
        e2e_case(s.statuses, AnyWrite::Status),
        e2e_case(s.attachments, AnyWrite::Source),
        e2e_case(s.corrections, AnyWrite::Correction),
    ];
    // (rejected by the rules, rejected by the log's state, accepted)
    let counts = RefCell::new((0u32, 0u32, 0u32));
    let client = d.client.clone();
    let size = || async {
        let cp = client.get_checkpoint().await.unwrap();
        let log = client.read_log(cp.tree_size.max(1), 1).await.unwrap();
        assert_eq!(log.durable_sequence, cp.tree_size);
        cp.tree_size
    };
    let next_id = Cell::new(0u64);
    let case = |(mut write, fresh_id): (AnyWrite, bool)| {
        if fresh_id {
            // Unique per run, shrinking included: the daemon keeps state.
            *write.request_id_mut() = format!("fuzz-e2e-{}", next_id.get());
            next_id.set(next_id.get() + 1);
        }
        let local = write.local();
        let bytes = write.encode().len();
        rt.block_on(async {
            let before = size().await;
            let answer = write.clone().send(&client).await;
            let after = size().await;
            match answer {
                Ok(receipt) if receipt.duplicate => {
                    assert!(!fresh_id, "a fresh request id came back as a duplicate");
                    assert_eq!(after, before, "a repeated request wrote");
                    counts.borrow_mut().1 += 1;
                }
                Ok(receipt) => {
                    assert_eq!(local, None, "the daemon accepted what the rules reject");
                    assert_eq!(after, before + 1, "an accepted write adds one entry");
                    assert_eq!(receipt.sequence, after);
                    counts.borrow_mut().2 += 1;
                }
                Err(e) => {
                    let code = e.code();
                    assert!(
                        matches!(
                            code,
                            Some(
                                Code::InvalidArgument
                                    | Code::NotFound
                                    | Code::AlreadyExists
                                    | Code::FailedPrecondition
                                    | Code::OutOfRange
                                    | Code::ResourceExhausted
                            )
                        ),
                        "a bad request ({bytes} bytes) got {e} ({code:?})"
                    );
                    assert_eq!(after, before, "a rejected request wrote ({e})");
                    match (&local, code) {
                        (Some(reason), Some(Code::InvalidArgument | Code::FailedPrecondition)) => {
                            let ClientError::Status(status) = &e else {
                                unreachable!("a code comes with a status")
                            };
                            assert_eq!(status.message(), reason, "the daemon and the rules differ");
                            counts.borrow_mut().0 += 1;
                        }
                        (Some(_), _) => {
                            assert!(bytes > 1 << 20, "the rules reject it, the daemon said {e}");
                            counts.borrow_mut().0 += 1;
                        }
                        (None, _) => counts.borrow_mut().1 += 1,
                    }
                }
            }
        });
        Ok(())
    };
    // The corpus first: each input whose name says its type, sent as that.
    let replayed = fuzz::replay(TARGET, |name, bytes| {
        let write = match name.split('-').next().unwrap_or_default() {
            "agreement" => RecordAgreementRequest::decode(bytes).map(AnyWrite::Agreement),
            "report" => SubmitReportRequest::decode(bytes).map(AnyWrite::Report),
            "claim" => AddClaimRequest::decode(bytes).map(AnyWrite::Claim),
            "status" => SetStatusRequest::decode(bytes).map(AnyWrite::Status),
            "source" => AttachSourceRequest::decode(bytes).map(AnyWrite::Source),
            "correction" => CorrectReportRequest::decode(bytes).map(AnyWrite::Correction),
            _ => return,
        };
        if let Ok(write) = write {
            case((write, true)).unwrap();
        }
    });
    assert!(replayed > 0);
    fuzz::run(
        TARGET,
        fuzz::config_scaled(4, 32),
        strategy,
        |(write, _)| write.encode(),
        case,
    );
    let (rules, state, accepted) = counts.into_inner();
    eprintln!(
        "end to end: {rules} rejected by the rules, {state} by the log's state, {accepted} accepted"
    );
    assert!(rules > 0, "no request broke a rule");
    rt.block_on(d.stop());
}

/// What the daemon must answer `bytes` sent as a `T` (`method`): never
/// INTERNAL or UNKNOWN; INVALID_ARGUMENT (ErrorInfo UNDECODABLE) when they
/// do not decode, INVALID_ARGUMENT naming the field when a string holds a
/// control character.
async fn check_raw<T: WriteRequest>(url: &str, method: &str, bytes: &[u8]) {
    let answer = truce_tests::raw::call(url, method, bytes.to_vec()).await;
    let Err(status) = answer else { return };
    assert!(
        !matches!(status.code(), Code::Internal | Code::Unknown),
        "{} bytes as {method}: {status:?}",
        bytes.len()
    );
    let reason = tonic_types::StatusExt::get_details_error_info(&status).map(|i| i.reason);
    if T::decode(bytes).is_err() {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(reason.as_deref(), Some(truce_proto::codec::UNDECODABLE));
    } else if let Err(v) = truce_proto::strings::check(&T::full_name(), bytes) {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            status.message(),
            format!("invalid {}: {}", v.field, v.reason)
        );
    }
}

#[test]
fn raw_bytes_are_never_internal_end_to_end() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let d = rt.block_on(TestDaemon::start());
    let url = d.running.url();
    let case = |bytes: &[u8]| {
        rt.block_on(async {
            check_raw::<RecordAgreementRequest>(&url, "RecordAgreement", bytes).await;
            check_raw::<SubmitReportRequest>(&url, "SubmitReport", bytes).await;
            check_raw::<AddClaimRequest>(&url, "AddClaim", bytes).await;
            check_raw::<SetStatusRequest>(&url, "SetStatus", bytes).await;
            check_raw::<AttachSourceRequest>(&url, "AttachSource", bytes).await;
            check_raw::<CorrectReportRequest>(&url, "CorrectReport", bytes).await;
        });
    };
    let replayed = fuzz::replay(TARGET, |_, bytes| case(bytes));
    assert!(replayed > 0);
    let corpus: Vec<Vec<u8>> = fuzz::corpus(TARGET).into_iter().map(|(_, b)| b).collect();
    let strategy = prop_oneof![
        2 => fuzz::mutated(corpus),
        2 => fuzz::protobuf_shaped(),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ];
    fuzz::run(
        TARGET,
        fuzz::config_scaled(4, 32),
        strategy,
        Clone::clone,
        |bytes| {
            case(&bytes);
            Ok(())
        },
    );
    rt.block_on(d.stop());
}
