//! The typed client: one method per RPC, a timeout on every call, request
//! ids generated when the caller gives none, and writes retried on
//! UNAVAILABLE with the same request id (the daemon's idempotency makes
//! the retry safe: a write that did land comes back as a duplicate).
//! Writes and the reads bulk commands make (reports, agreements, entries,
//! query pages, log pages) wait out a rate limit: RESOURCE_EXHAUSTED with
//! a short RetryInfo delay is retried after that delay, with a bounded
//! backoff and a bounded number of attempts (see [`ClientOptions`]).
//! Errors keep the daemon's standard details (google.rpc, AIP-193): the
//! field a refusal names and the delay RetryInfo asks for are read from
//! them, not from the message.

use std::time::Duration;

use tonic::{Code, Request, Status};

use crate::{
    connect::{ClientOptions, Inner},
    error::{ClientError, VerifyFailure, retry_delay},
    verify,
};
use truce_proto::v1::{
    AddClaimRequest, AgreementView, AssessScopeRequest, AssessScopeResponse, AttachSourceRequest,
    BackupRequest, BackupResponse, Checkpoint, ComplianceReport, ComplianceReportRequest,
    ConsistencyProof, CorrectReportRequest, Entry, Envelope, FindAgreementsRequest,
    FindAgreementsResponse, GetAgreementRequest, GetCheckpointRequest, GetConsistencyProofRequest,
    GetEntryRequest, GetEntryResponse, GetInclusionProofRequest, GetReportRequest, InclusionProof,
    ListAgreementsRequest, ListAgreementsResponse, ListChangesRequest, ListChangesResponse,
    QueryReportsRequest, QueryReportsResponse, RawEntry, ReadLogRequest, ReadLogResponse, Receipt,
    RecordAgreementRequest, ReportView, SetStatusRequest, SubmitReportRequest,
    compliance_report_part, envelope::Kind,
};

#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Inner,
    options: ClientOptions,
    /// Sent as `truce-min-sequence` on every call ([`Client::at_least`]).
    min_sequence: Option<u64>,
}

/// A query request that pages with a token.
trait Paged: Clone {
    fn set_page_token(&mut self, token: String);
}

impl Paged for QueryReportsRequest {
    fn set_page_token(&mut self, token: String) {
        self.page_token = token;
    }
}

impl Paged for ListAgreementsRequest {
    fn set_page_token(&mut self, token: String) {
        self.page_token = token;
    }
}

/// Follows page tokens until the last page or `limit` items (0: all).
async fn all_pages<R, T, F, Fut>(mut req: R, limit: usize, fetch: F) -> Result<Vec<T>, ClientError>
where
    R: Paged,
    F: Fn(R) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), ClientError>>,
{
    let mut out = Vec::new();
    loop {
        let (items, next) = fetch(req.clone()).await?;
        out.extend(items);
        if next.is_empty() || (limit > 0 && out.len() >= limit) {
            break;
        }
        req.set_page_token(next);
    }
    if limit > 0 {
        out.truncate(limit);
    }
    Ok(out)
}

/// The retries a call has made so far, by cause.
#[derive(Debug, Default)]
struct Retries {
    unavailable: u32,
    exhausted: u32,
}

/// A fresh request id (UUID v4).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A request id derived from a write's content: the same request gives the
/// same id, so sending it again (after a timeout, or unsure whether it
/// went through) returns the original receipt marked duplicate instead of
/// recording it twice. `cli-` and 40 hex digits of the SHA-256 of the
/// envelope encoded with an empty request id.
pub fn content_request_id(envelope: &Envelope) -> String {
    use prost::Message;
    use sha2::{Digest, Sha256};
    let mut bare = envelope.clone();
    if let Some(id) = bare.kind.as_mut().map(request_id_of) {
        id.clear();
    }
    let hex = hex::encode(Sha256::digest(bare.encode_to_vec()));
    format!("cli-{}", hex.get(..40).unwrap_or(&hex))
}

/// The request id field of a write.
pub fn request_id_of(kind: &mut Kind) -> &mut String {
    match kind {
        Kind::Agreement(r) => &mut r.request_id,
        Kind::Report(r) => &mut r.request_id,
        Kind::Claim(r) => &mut r.request_id,
        Kind::Status(r) => &mut r.request_id,
        Kind::Source(r) => &mut r.request_id,
        Kind::Correction(r) => &mut r.request_id,
    }
}

/// The entry a `RawEntry` (from ReadLog or a subscription) carries: the one
/// place the SDK decodes entry bytes. Bytes that do not decode are the
/// server's fault, named by sequence.
pub fn decode_entry(raw: &RawEntry) -> Result<Entry, ClientError> {
    use prost::Message;
    Entry::decode(raw.entry.as_slice())
        .map_err(|e| ClientError::Request(format!("entry {} is undecodable: {e}", raw.sequence)))
}

fn ensure_request_id(id: &mut String) {
    if id.is_empty() {
        *id = new_request_id();
    }
}

impl Client {
    /// Connects with default options.
    pub async fn connect(url: impl Into<String>) -> Result<Self, ClientError> {
        Self::connect_with(url, ClientOptions::default()).await
    }

    /// Connects with the given options: TLS for an `https://` URL, the
    /// token (if any) on every call.
    pub async fn connect_with(
        url: impl Into<String>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let inner = crate::connect::connect(&url.into(), &options).await?;
        Ok(Self {
            inner,
            options,
            min_sequence: None,
        })
    }

    /// This client, with every call answered by a daemon that has at
    /// least `sequence` entries durable (metadata `truce-min-sequence`):
    /// the daemon waits for it (`min_sequence_wait_ms`) or answers
    /// UNAVAILABLE. With a receipt's sequence, it reads its own writes on
    /// any replica of a cluster.
    pub fn at_least(&self, sequence: u64) -> Client {
        Client {
            min_sequence: Some(sequence),
            ..self.clone()
        }
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.options.request_timeout);
        if let Some(n) = self.min_sequence {
            request.metadata_mut().insert(
                "truce-min-sequence",
                tonic::metadata::MetadataValue::from(n),
            );
        }
        request
    }

    /// How long to wait before trying a call again after `s`, or None to
    /// give up: UNAVAILABLE (writes only, `write_attempts`), or a rate
    /// limit's short RESOURCE_EXHAUSTED (`rate_limit_attempts`).
    fn retry_after(&self, s: &Status, retry: &mut Retries, writes: bool) -> Option<Duration> {
        let o = &self.options;
        match s.code() {
            Code::Unavailable if writes && retry.unavailable + 1 < o.write_attempts => {
                let wait = retry_delay(s).unwrap_or(o.retry_backoff * 2u32.pow(retry.unavailable));
                retry.unavailable += 1;
                Some(wait)
            }
            Code::ResourceExhausted => {
                let asked = retry_delay(s).filter(|d| *d <= o.max_retry_delay)?;
                if retry.exhausted + 1 >= o.rate_limit_attempts {
                    return None;
                }
                let backoff = Duration::from_millis(1) * 2u32.pow(retry.exhausted.min(16));
                retry.exhausted += 1;
                Some(asked.max(backoff).min(o.max_retry_delay))
            }
            _ => None,
        }
    }

    /// Runs a call, trying it again (the same message) as
    /// [`Self::retry_after`] says.
    async fn retried<T, R, F, Fut>(
        &self,
        message: T,
        writes: bool,
        call: F,
    ) -> Result<R, ClientError>
    where
        T: Clone,
        F: Fn(Inner, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let mut retries = Retries::default();
        loop {
            match call(self.inner.clone(), self.request(message.clone())).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) => match self.retry_after(&s, &mut retries, writes) {
                    Some(wait) => {
                        tracing::debug!(?retries, ?wait, error = %s, "retrying with the same request");
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(s.into()),
                },
            }
        }
    }

    /// Runs a write, retrying with the same message (so the same request
    /// id) on UNAVAILABLE and on a rate limit.
    async fn write<T, F, Fut>(&self, message: T, call: F) -> Result<Receipt, ClientError>
    where
        T: Clone,
        F: Fn(Inner, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Receipt>, Status>>,
    {
        self.retried(message, true, call).await
    }

    /// Runs a read a bulk command makes, waiting out a rate limit.
    async fn read<T, R, F, Fut>(&self, message: T, call: F) -> Result<R, ClientError>
    where
        T: Clone,
        F: Fn(Inner, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        self.retried(message, false, call).await
    }

    /// Records an agreement (generating a request id if empty).
    pub async fn record_agreement(
        &self,
        mut req: RecordAgreementRequest,
    ) -> Result<Receipt, ClientError> {
        ensure_request_id(&mut req.request_id);
        self.write(req, |mut c, r| async move { c.record_agreement(r).await })
            .await
    }

    /// Submits a report (generating a request id if empty).
    pub async fn submit_report(
        &self,
        mut req: SubmitReportRequest,
    ) -> Result<Receipt, ClientError> {
        ensure_request_id(&mut req.request_id);
        self.write(req, |mut c, r| async move { c.submit_report(r).await })
            .await
    }

    /// Adds a claim (generating a request id if empty).
    pub async fn add_claim(&self, mut req: AddClaimRequest) -> Result<Receipt, ClientError> {
        ensure_request_id(&mut req.request_id);
        self.write(req, |mut c, r| async move { c.add_claim(r).await })
            .await
    }

    /// Changes a status (generating a request id if empty).
    pub async fn set_status(&self, mut req: SetStatusRequest) -> Result<Receipt, ClientError> {
        ensure_request_id(&mut req.request_id);
        self.write(req, |mut c, r| async move { c.set_status(r).await })
            .await
    }

    /// Attaches a source (generating a request id if empty).
    pub async fn attach_source(
        &self,
        mut req: AttachSourceRequest,
    ) -> Result<Receipt, ClientError> {
        ensure_request_id(&mut req.request_id);
        self.write(req, |mut c, r| async move { c.attach_source(r).await })
            .await
    }

    /// Corrects a report (generating a request id if empty).
    pub async fn correct_report(
        &self,
        mut req: CorrectReportRequest,
    ) -> Result<Receipt, ClientError> {
        ensure_request_id(&mut req.request_id);
        self.write(req, |mut c, r| async move { c.correct_report(r).await })
            .await
    }

    /// Sends the write an envelope holds.
    pub async fn submit(&self, envelope: Envelope) -> Result<Receipt, ClientError> {
        match envelope.kind {
            Some(Kind::Agreement(r)) => self.record_agreement(r).await,
            Some(Kind::Report(r)) => self.submit_report(r).await,
            Some(Kind::Claim(r)) => self.add_claim(r).await,
            Some(Kind::Status(r)) => self.set_status(r).await,
            Some(Kind::Source(r)) => self.attach_source(r).await,
            Some(Kind::Correction(r)) => self.correct_report(r).await,
            None => Err(ClientError::Request(
                "the envelope holds no request: give exactly one of agreement, report, claim, status, source, correction".into(),
            )),
        }
    }

    /// An agreement by id, as it stands.
    pub async fn get_agreement(&self, id: &str) -> Result<AgreementView, ClientError> {
        self.get_agreement_at(id, 0).await
    }

    /// An agreement as it stood at sequence `as_of` (0: now).
    pub async fn get_agreement_at(
        &self,
        id: &str,
        as_of: u64,
    ) -> Result<AgreementView, ClientError> {
        let req = GetAgreementRequest {
            id: id.to_owned(),
            as_of_sequence: as_of,
        };
        self.read(req, |mut c, r| async move { c.get_agreement(r).await })
            .await
    }

    /// A report by id, as it stands.
    pub async fn get_report(&self, id: &str) -> Result<ReportView, ClientError> {
        self.get_report_at(id, 0).await
    }

    /// A report as it stood at sequence `as_of` (0: now).
    pub async fn get_report_at(&self, id: &str, as_of: u64) -> Result<ReportView, ClientError> {
        let req = GetReportRequest {
            id: id.to_owned(),
            as_of_sequence: as_of,
        };
        self.read(req, |mut c, r| async move { c.get_report(r).await })
            .await
    }

    /// Whether a report is within an agreement's scope, per reading of its
    /// start (as the records stood at `as_of`, 0: now).
    pub async fn assess_scope(
        &self,
        report_id: &str,
        agreement_id: &str,
        as_of: u64,
    ) -> Result<AssessScopeResponse, ClientError> {
        let req = self.request(AssessScopeRequest {
            report_id: report_id.to_owned(),
            agreement_id: agreement_id.to_owned(),
            as_of_sequence: as_of,
        });
        Ok(self.inner.clone().assess_scope(req).await?.into_inner())
    }

    /// Agreements whose scope covers a report, linked or not.
    pub async fn find_agreements(
        &self,
        report_id: &str,
        as_of: u64,
    ) -> Result<FindAgreementsResponse, ClientError> {
        let req = self.request(FindAgreementsRequest {
            report_id: report_id.to_owned(),
            as_of_sequence: as_of,
        });
        Ok(self.inner.clone().find_agreements(req).await?.into_inner())
    }

    /// A compliance report on one agreement, its annex pages appended to
    /// `annex`. Retried on UNAVAILABLE like a write (`write_attempts`); once
    /// the first part has arrived, a retry asks for that part's sequence, so
    /// the report is the same whichever attempt completes it.
    pub async fn compliance_report(
        &self,
        mut req: ComplianceReportRequest,
    ) -> Result<ComplianceReport, ClientError> {
        let mut backoff = self.options.retry_backoff;
        let mut attempt = 1;
        loop {
            match self.compliance_report_once(&mut req).await {
                Err(ClientError::Status(s))
                    if s.code() == Code::Unavailable && attempt < self.options.write_attempts =>
                {
                    tracing::debug!(attempt, error = %s, "compliance report unavailable; retrying");
                    tokio::time::sleep(retry_delay(&s).unwrap_or(backoff)).await;
                    backoff *= 2;
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    /// One attempt: the annex pages, then the report part, which must come
    /// last. Pins `req.as_of_sequence` to the stream's once it is known, so
    /// a retry computes the same report.
    async fn compliance_report_once(
        &self,
        req: &mut ComplianceReportRequest,
    ) -> Result<ComplianceReport, ClientError> {
        use compliance_report_part::Part;
        let request = self.request(req.clone());
        let mut stream = self
            .inner
            .clone()
            .get_compliance_report(request)
            .await?
            .into_inner();
        let mut annex = Vec::new();
        let mut report: Option<ComplianceReport> = None;
        while let Some(message) = stream.message().await? {
            if message.as_of_sequence != 0 {
                req.as_of_sequence = message.as_of_sequence;
            }
            if report.is_some() {
                return Err(ClientError::Request(
                    "the compliance report stream went on after the report".into(),
                ));
            }
            match message.part {
                Some(Part::Annex(page)) => annex.extend(page.entries),
                Some(Part::Report(r)) => report = Some(r),
                None => {}
            }
        }
        let mut report = report.ok_or_else(|| {
            ClientError::Request("the compliance report stream ended without the report".into())
        })?;
        report.annex = annex;
        Ok(report)
    }

    /// The changes in (after, until] (until 0: now), one page.
    pub async fn list_changes(
        &self,
        after: u64,
        until: u64,
        limit: u32,
    ) -> Result<ListChangesResponse, ClientError> {
        let req = self.request(ListChangesRequest {
            after_sequence: after,
            until_sequence: until,
            limit,
        });
        Ok(self.inner.clone().list_changes(req).await?.into_inner())
    }

    /// One entry by sequence, decoded and as stored.
    pub async fn get_entry(&self, sequence: u64) -> Result<GetEntryResponse, ClientError> {
        let req = GetEntryRequest { sequence };
        self.read(req, |mut c, r| async move { c.get_entry(r).await })
            .await
    }

    /// One page of agreements matching a filter.
    pub async fn list_agreements(
        &self,
        req: ListAgreementsRequest,
    ) -> Result<ListAgreementsResponse, ClientError> {
        self.read(req, |mut c, r| async move { c.list_agreements(r).await })
            .await
    }

    /// One page of reports matching a filter.
    pub async fn query_reports(
        &self,
        req: QueryReportsRequest,
    ) -> Result<QueryReportsResponse, ClientError> {
        self.read(req, |mut c, r| async move { c.query_reports(r).await })
            .await
    }

    /// Every report matching a filter (at most `limit`, 0 = all), paging
    /// automatically; all pages are answered at the first page's sequence.
    pub async fn query_all_reports(
        &self,
        req: QueryReportsRequest,
        limit: usize,
    ) -> Result<Vec<ReportView>, ClientError> {
        all_pages(req, limit, |r| async move {
            let page = self.query_reports(r).await?;
            Ok((page.reports, page.next_page_token))
        })
        .await
    }

    /// Every agreement matching a filter (at most `limit`, 0 = all).
    pub async fn list_all_agreements(
        &self,
        req: ListAgreementsRequest,
        limit: usize,
    ) -> Result<Vec<AgreementView>, ClientError> {
        all_pages(req, limit, |r| async move {
            let page = self.list_agreements(r).await?;
            Ok((page.agreements, page.next_page_token))
        })
        .await
    }

    /// The latest signed checkpoint (unverified: see [`crate::verify`]).
    /// Admin: the daemon writes a backup into `to_dir` on its machine.
    pub async fn backup(
        &self,
        to_dir: &str,
        with_key: bool,
    ) -> Result<BackupResponse, ClientError> {
        let req = self.request(BackupRequest {
            to_dir: to_dir.to_owned(),
            with_key,
        });
        Ok(self.inner.clone().backup(req).await?.into_inner())
    }

    pub async fn get_checkpoint(&self) -> Result<Checkpoint, ClientError> {
        let req = self.request(GetCheckpointRequest {});
        Ok(self.inner.clone().get_checkpoint(req).await?.into_inner())
    }

    /// The inclusion proof of entry `sequence` at `tree_size` (0: latest).
    pub async fn get_inclusion_proof(
        &self,
        sequence: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, ClientError> {
        let req = self.request(GetInclusionProofRequest {
            sequence,
            tree_size,
        });
        Ok(self
            .inner
            .clone()
            .get_inclusion_proof(req)
            .await?
            .into_inner())
    }

    /// The consistency proof between two tree sizes (second 0: latest).
    pub async fn get_consistency_proof(
        &self,
        first_size: u64,
        second_size: u64,
    ) -> Result<ConsistencyProof, ClientError> {
        let req = self.request(GetConsistencyProofRequest {
            first_size,
            second_size,
        });
        Ok(self
            .inner
            .clone()
            .get_consistency_proof(req)
            .await?
            .into_inner())
    }

    /// Fetches the latest checkpoint, checks its signature against `key`
    /// and, given the last checkpoint this client verified, proves that the
    /// new one extends it. Every check is made here, not by the daemon.
    pub async fn verify_checkpoint(
        &self,
        key: &verify::VerifierKey,
        previous: Option<&verify::VerifiedCheckpoint>,
    ) -> Result<verify::VerifiedCheckpoint, VerifyFailure> {
        self.verify_cosigned_checkpoint(std::slice::from_ref(key), 1, previous)
            .await
    }

    /// [`Client::verify_checkpoint`] for a checkpoint that must carry
    /// valid signatures by at least `required` distinct keys of `keys` (a
    /// cluster's replicas cosign one note, [`verify::verify_cosigned`]).
    pub async fn verify_cosigned_checkpoint(
        &self,
        keys: &[verify::VerifierKey],
        required: usize,
        previous: Option<&verify::VerifiedCheckpoint>,
    ) -> Result<verify::VerifiedCheckpoint, VerifyFailure> {
        let cp = self.get_checkpoint().await?;
        let new = verify::verify_cosigned(&cp.note, keys, required)?;
        if let Some(old) = previous {
            if new.size < old.size {
                return Err(VerifyFailure::Fork {
                    reason: format!("the log shrank from {} to {} entries", old.size, new.size),
                    old: Box::new(old.clone()),
                    new: Box::new(new),
                });
            }
            let proof = self.get_consistency_proof(old.size, new.size).await?;
            if let Err(e) =
                verify::verify_consistency(old.size, new.size, &old.root, &new.root, &proof.hashes)
            {
                return Err(VerifyFailure::Fork {
                    reason: e.to_string(),
                    old: Box::new(old.clone()),
                    new: Box::new(new),
                });
            }
        }
        Ok(new)
    }

    /// Proves that entry `sequence`, as this client reads its stored
    /// bytes, is in the tree of a verified checkpoint. Returns the bytes.
    pub async fn verify_entry(
        &self,
        sequence: u64,
        checkpoint: &verify::VerifiedCheckpoint,
    ) -> Result<Vec<u8>, VerifyFailure> {
        let entry = self.get_entry(sequence).await?;
        let proof = self.get_inclusion_proof(sequence, checkpoint.size).await?;
        verify::verify_inclusion(
            sequence - 1,
            checkpoint.size,
            &verify::leaf_hash(&entry.raw),
            &proof.hashes,
            &checkpoint.root,
        )?;
        Ok(entry.raw)
    }

    /// A page of the raw log from `from_sequence` (0 = the start).
    pub async fn read_log(
        &self,
        from_sequence: u64,
        limit: u32,
    ) -> Result<ReadLogResponse, ClientError> {
        let req = ReadLogRequest {
            from_sequence,
            limit,
        };
        self.read(req, |mut c, r| async move { c.read_log(r).await })
            .await
    }
}
