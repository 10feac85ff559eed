//! Queries over reports and agreements: pick the index that drives the
//! scan (the query plan), read candidates in creating-sequence order, and
//! keep those whose view, as of the query's sequence, matches every filter.
//! Paging resumes after the last creating sequence returned, at the same
//! sequence, so pages stay consistent while the log grows.
//!
//! Indexed filters (each can drive): agreement, perpetrator, reported_by,
//! admin1, country, event_type, target_class, evidence status (reports);
//! party, status (agreements); occurred time range and bounding box
//! (reports: candidates collected from the range, then sorted). Verified
//! only: agreements' in_force_at. Without any filter, every record is read
//! in order.

pub mod filter;
mod token;

use crate::model::RecordKind;
use prost::Message;
use truce_proto::v1::{ListAgreementsResponse, QueryPlan, QueryReportsResponse};

use crate::{
    error::Error,
    model::index::{self, Term},
    model::project::View,
    store::{Store, StoreError, TermRange},
    views,
};
use filter::{AgreementFilter, PAGE_MAX_BYTES, Page, ReportFilter, ReportQuery};

/// Bounding boxes spanning more grid cells than this are verified, not
/// used to drive the scan.
const MAX_BBOX_CELLS: usize = 2000;

/// Where candidates come from.
enum Driver {
    /// One term's index entries, already in sequence order.
    Term(&'static str, Term),
    /// Several ranges or terms whose entries are merged and sorted.
    Collected(&'static str, Vec<TermRange>),
}

fn report_driver(f: &ReportFilter) -> Driver {
    if let Some(a) = &f.agreement_id {
        return Driver::Term("agreement_id", Term::ReportAgreement(a.clone()));
    }
    if let Some(p) = &f.perpetrator {
        return Driver::Term("perpetrator", Term::Perpetrator(p.clone()));
    }
    if let Some(p) = &f.reported_by {
        return Driver::Term("reported_by", Term::ReportedBy(p.clone()));
    }
    if let Some(a) = &f.admin1 {
        return Driver::Term("admin1", Term::Admin1(a.clone()));
    }
    if let Some(c) = &f.country {
        return Driver::Term("country", Term::Country(c.clone()));
    }
    if let Some(e) = f.event_type {
        return Driver::Term("event_type", Term::EventType(e));
    }
    if let Some(t) = f.target_class {
        return Driver::Term("target_class", Term::TargetClass(t));
    }
    if f.since.is_some() || f.until.is_some() {
        let range = TermRange::Occurred {
            since: f.since.map(|t| t.seconds),
            until: f.until.map(|t| t.seconds),
        };
        return Driver::Collected("occurred_start (range)", vec![range]);
    }
    if let Some(b) = &f.bbox {
        let (s, w) = index::cell(b.south, b.west);
        let (n, e) = index::cell(b.north, b.east);
        let lons: Vec<i16> = if w <= e {
            (w..=e).collect()
        } else {
            (w..=179).chain(-180..=e).collect()
        };
        let count = usize::try_from(i32::from(n) - i32::from(s) + 1).unwrap_or(0) * lons.len();
        if count <= MAX_BBOX_CELLS {
            let mut ranges = Vec::with_capacity(count);
            for lat in s..=n {
                for lon in &lons {
                    ranges.push(TermRange::Whole(Term::Cell(lat, *lon)));
                }
            }
            return Driver::Collected("bbox cells", ranges);
        }
    }
    if let Some(e) = f.evidence_status {
        return Driver::Term("evidence_status", Term::Evidence(e));
    }
    Driver::Term("all reports", Term::AllReports)
}

fn agreement_driver(f: &AgreementFilter) -> Driver {
    if let Some(p) = &f.party {
        return Driver::Term("party", Term::Party(p.clone()));
    }
    if let Some(s) = f.status {
        return Driver::Term("status", Term::AgreementStatus(s));
    }
    Driver::Term("all agreements", Term::AllAgreements)
}

/// (creating sequence, record id) pairs, in creating-sequence order.
type Candidates<'a> = Box<dyn Iterator<Item = Result<(u64, String), StoreError>> + 'a>;

/// Candidates after `after`, in creating-sequence order.
fn candidates<'a>(store: &'a Store, driver: &Driver, after: u64) -> Result<Candidates<'a>, Error> {
    Ok(match driver {
        Driver::Term(_, term) => Box::new(store.scan_term(term, after)),
        Driver::Collected(_, ranges) => {
            let mut all = Vec::new();
            for range in ranges {
                for item in store.scan_terms(range) {
                    let (seq, id) = item?;
                    if seq > after {
                        all.push((seq, id));
                    }
                }
            }
            all.sort();
            all.dedup();
            Box::new(all.into_iter().map(Ok))
        }
    })
}

fn driver_name(d: &Driver) -> &'static str {
    match d {
        Driver::Term(name, _) | Driver::Collected(name, _) => name,
    }
}

/// One page of matches.
struct PageOut<T> {
    items: Vec<T>,
    next: String,
    as_of: u64,
    plan: QueryPlan,
}

fn run<T: Message>(
    store: &Store,
    kind: RecordKind,
    driver: Driver,
    verified: Vec<String>,
    page: &Page,
    hash: &[u8; 32],
    select: impl Fn(View) -> Option<T>,
) -> Result<PageOut<T>, Error> {
    let (as_of, after) = start(store, page, hash)?;
    let mut plan = QueryPlan {
        driver: driver_name(&driver).to_owned(),
        verified,
        examined: 0,
    };
    let mut items = Vec::new();
    let mut bytes = 0usize;
    let mut next = String::new();
    for item in candidates(store, &driver, after)? {
        let (seq, id) = item?;
        if seq > as_of {
            break;
        }
        plan.examined += 1;
        let Some(view) = views::view_at(store, kind, &id, as_of)? else {
            continue;
        };
        let Some(t) = select(view) else {
            continue;
        };
        let len = t.encoded_len();
        if !items.is_empty() && bytes + len > PAGE_MAX_BYTES {
            next = token::encode(as_of, items_last_seq(&items, seq), hash);
            break;
        }
        bytes += len;
        items.push((seq, t));
        if items.len() >= page.size {
            next = token::encode(as_of, seq, hash);
            break;
        }
    }
    Ok(PageOut {
        items: items.into_iter().map(|(_, t)| t).collect(),
        next,
        as_of,
        plan,
    })
}

/// The sequence a page is answered at and where it resumes: the token's,
/// else the sequence asked for from the beginning, else the durable one.
fn start(store: &Store, page: &Page, hash: &[u8; 32]) -> Result<(u64, u64), Error> {
    let durable = store.durable_sequence();
    let (as_of, after) = token::decode(&page.token, hash, durable)?;
    match page.as_of {
        0 => Ok((as_of, after)),
        asked if !page.token.is_empty() && asked != as_of => Err(Error::invalid(
            "as_of_sequence",
            format!("{asked} is not the page token's sequence {as_of}"),
        )),
        asked if asked > durable => Err(Error::invalid(
            "as_of_sequence",
            format!("{asked} is past the log's {durable} entries"),
        )),
        asked if page.token.is_empty() => Ok((asked, 0)),
        _ => Ok((as_of, after)),
    }
}

/// The creating sequence of the last item kept (the page resumes after it).
fn items_last_seq<T>(items: &[(u64, T)], fallback: u64) -> u64 {
    items.last().map_or(fallback, |(s, _)| *s)
}

/// Runs a report query.
pub fn query_reports(store: &Store, q: &ReportQuery) -> Result<QueryReportsResponse, Error> {
    let f = &q.filter;
    f.check_named_records(store)?;
    let driver = report_driver(f);
    let mut verified = Vec::new();
    for (name, set) in [
        ("agreement_id", f.agreement_id.is_some()),
        ("occurred", f.since.is_some() || f.until.is_some()),
        ("perpetrator", f.perpetrator.is_some()),
        ("reported_by", f.reported_by.is_some()),
        ("event_type", f.event_type.is_some()),
        ("target_class", f.target_class.is_some()),
        ("evidence_status", f.evidence_status.is_some()),
        ("country", f.country.is_some()),
        ("admin1", f.admin1.is_some()),
        ("bbox", f.bbox.is_some()),
    ] {
        if set {
            verified.push(name.to_owned());
        }
    }
    let out = run(
        store,
        RecordKind::Report,
        driver,
        verified,
        &q.page,
        &q.hash,
        |view| match view {
            View::Report(v) if f.matches(&v) => Some(v),
            _ => None,
        },
    )?;
    Ok(QueryReportsResponse {
        reports: out.items,
        next_page_token: out.next,
        as_of_sequence: out.as_of,
        plan: Some(out.plan),
    })
}

/// Runs an agreement listing.
pub fn list_agreements(
    store: &Store,
    f: &AgreementFilter,
) -> Result<ListAgreementsResponse, Error> {
    let driver = agreement_driver(f);
    let mut verified = Vec::new();
    for (name, set) in [
        ("party", f.party.is_some()),
        ("status", f.status.is_some()),
        ("in_force_at", f.in_force_at.is_some()),
    ] {
        if set {
            verified.push(name.to_owned());
        }
    }
    let out = run(
        store,
        RecordKind::Agreement,
        driver,
        verified,
        &f.page,
        &f.hash,
        |view| match view {
            View::Agreement(v) if f.matches(&v) => Some(v),
            _ => None,
        },
    )?;
    Ok(ListAgreementsResponse {
        agreements: out.items,
        next_page_token: out.next,
        as_of_sequence: out.as_of,
        plan: Some(out.plan),
    })
}
