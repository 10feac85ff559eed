//! The gRPC service `truce.v1.Truce`: proto in, proto out. Writes are
//! validated here and handed to the commit pipeline; reads go to the store.
//! Nothing here touches sled or the sync seam.

mod admin;
mod compliance;
pub(crate) mod proofs;
mod read;
pub(crate) mod stream;
mod write;

use std::sync::Arc;

use tonic::{Request, Response, Status};
use truce_proto::v1::{
    AddClaimRequest, AgreementView, AssessScopeRequest, AssessScopeResponse, AttachSourceRequest,
    BackupRequest, BackupResponse, Checkpoint, ComplianceReportPart, ComplianceReportRequest,
    ConsistencyProof, CorrectReportRequest, Envelope, FindAgreementsRequest,
    FindAgreementsResponse, GetAgreementRequest, GetCheckpointRequest, GetConsistencyProofRequest,
    GetEntryRequest, GetEntryResponse, GetInclusionProofRequest, GetReportRequest, InclusionProof,
    ListAgreementsRequest, ListAgreementsResponse, ListChangesRequest, ListChangesResponse,
    QueryReportsRequest, QueryReportsResponse, ReadLogRequest, ReadLogResponse, Receipt,
    RecordAgreementRequest, ReportView, SetStatusRequest, StreamReceipt, SubmitReportRequest,
    SubscribeRequest, SubscribeResponse, truce_server::Truce,
};

use tokio::sync::{Semaphore, watch};

use crate::{
    access::{Caller, Meter},
    budget::{self, SendBudget},
    checkpoint::Signer,
    commit::CommitHandle,
    cosigned::Cosigned,
    error::Error,
    query,
    space::{RealDiskSpace, SpaceGuard},
    store::Store,
    subscribe,
};

/// The stream type of server-streaming RPCs (the generated trait boxes
/// streams).
type BoxStream<T> =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A sequence a request names, where 0 means "the durable sequence now";
/// one past the durable sequence is a bad request naming `field`.
fn at_or_durable(store: &Store, field: &str, sequence: u64) -> Result<u64, crate::Error> {
    let durable = store.durable_sequence();
    match sequence {
        0 => Ok(durable),
        n if n > durable => Err(crate::Error::invalid(
            field,
            format!("{n} is past the log's {durable} entries"),
        )),
        n => Ok(n),
    }
}

/// The service state: the store for reads, the pipeline for writes.
#[derive(Debug, Clone)]
pub struct TruceService {
    store: Arc<Store>,
    commit: CommitHandle,
    /// Turns true when the daemon starts shutting down: streams end.
    shutdown: watch::Receiver<bool>,
    /// One permit per open subscription.
    subscriptions: Arc<Semaphore>,
    subscribe_stats: Arc<subscribe::Stats>,
    feed: Arc<subscribe::Feed>,
    signer: Arc<Signer>,
    last_checkpoint: Arc<crate::store::mark::LastCheckpoint>,
    /// The free-space margin backups into the data dir's filesystem keep
    /// (none until [`TruceService::with_space`]).
    space: SpaceGuard,
    /// Bytes buffered toward clients (the defaults until
    /// [`TruceService::with_budget`]).
    budget: Arc<SendBudget>,
    /// WriteStream's window and buffer (the defaults until
    /// [`TruceService::with_write_limits`]).
    write_limits: stream::Limits,
    /// Cluster mode: the newest checkpoint a quorum of replicas cosigned
    /// (empty on a single node).
    cosigned: Cosigned,
}

impl TruceService {
    pub fn new(
        store: Arc<Store>,
        commit: CommitHandle,
        shutdown: watch::Receiver<bool>,
        max_subscriptions: usize,
        subscribe_stats: Arc<subscribe::Stats>,
        feed: Arc<subscribe::Feed>,
        signer: Arc<Signer>,
    ) -> Self {
        let last_checkpoint = Arc::new(crate::store::mark::LastCheckpoint::open(store.dir()));
        Self {
            store,
            commit,
            shutdown,
            subscriptions: Arc::new(Semaphore::new(max_subscriptions)),
            subscribe_stats,
            feed,
            signer,
            last_checkpoint,
            space: SpaceGuard::new(0, Arc::new(RealDiskSpace)),
            budget: SendBudget::new(
                crate::config::DEFAULT_STREAM_BUFFER_BYTES,
                crate::config::DEFAULT_STREAM_STALL_TIMEOUT,
            ),
            write_limits: stream::Limits::new(
                crate::config::DEFAULT_STREAM_WRITE_WINDOW,
                crate::config::DEFAULT_STREAM_WRITE_BUFFER_BYTES,
            ),
            cosigned: Cosigned::default(),
        }
    }

    /// The checkpoint RPC then serves the quorum's checkpoints.
    pub(crate) fn with_cosigned(mut self, cosigned: Cosigned) -> Self {
        self.cosigned = cosigned;
        self
    }

    /// WriteStreams then read at most `window` envelopes ahead of their
    /// receipts, and hold at most `buffer_bytes` of envelopes together.
    pub fn with_write_limits(mut self, window: usize, buffer_bytes: usize) -> Self {
        self.write_limits = stream::Limits::new(window, buffer_bytes);
        self
    }

    /// Streams and ReadLog answers then share this budget.
    pub fn with_budget(mut self, budget: Arc<SendBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// Backups then keep this margin on the data dir's filesystem.
    pub fn with_space(mut self, space: SpaceGuard) -> Self {
        self.space = space;
        self
    }
}

impl TruceService {
    /// Attaches a checkpoint and the entry's inclusion proof when asked.
    fn finish(&self, receipt: Receipt, with_proof: bool) -> Result<Receipt, Status> {
        Ok(proved(
            &self.store,
            &self.signer,
            &self.last_checkpoint,
            receipt,
            with_proof,
        )?)
    }

    /// What a WriteStream needs besides its envelopes.
    fn stream_writer(&self, caller: Caller, meter: Option<Meter>) -> stream::Writer {
        let (store, signer) = (Arc::clone(&self.store), Arc::clone(&self.signer));
        let last = Arc::clone(&self.last_checkpoint);
        stream::Writer {
            commit: self.commit.clone(),
            caller,
            meter,
            limits: self.write_limits.clone(),
            shutdown: self.shutdown.clone(),
            finish: Box::new(move |receipt, with_proof| {
                proved(&store, &signer, &last, receipt, with_proof)
            }),
        }
    }
}

/// A receipt with a checkpoint and the entry's inclusion proof when asked.
fn proved(
    store: &Store,
    signer: &Signer,
    last: &crate::store::mark::LastCheckpoint,
    mut receipt: Receipt,
    with_proof: bool,
) -> Result<Receipt, Error> {
    if with_proof {
        let checkpoint = proofs::checkpoint(store, signer, last)?;
        let inclusion = proofs::inclusion(
            store,
            &GetInclusionProofRequest {
                sequence: receipt.sequence,
                tree_size: checkpoint.tree_size,
            },
        )?;
        receipt.checkpoint = Some(checkpoint);
        receipt.inclusion = Some(inclusion);
    }
    Ok(receipt)
}

#[tonic::async_trait]
impl Truce for TruceService {
    async fn record_agreement(
        &self,
        request: Request<RecordAgreementRequest>,
    ) -> Result<Response<Receipt>, Status> {
        let submitter = Caller::of(&request);
        let req = request.into_inner();
        let with_proof = req.with_proof;
        let receipt = write::record_agreement(&self.commit, req, &submitter).await?;
        self.finish(receipt, with_proof).map(Response::new)
    }

    async fn submit_report(
        &self,
        request: Request<SubmitReportRequest>,
    ) -> Result<Response<Receipt>, Status> {
        let submitter = Caller::of(&request);
        let req = request.into_inner();
        let with_proof = req.with_proof;
        let receipt = write::submit_report(&self.commit, req, &submitter).await?;
        self.finish(receipt, with_proof).map(Response::new)
    }

    async fn add_claim(
        &self,
        request: Request<AddClaimRequest>,
    ) -> Result<Response<Receipt>, Status> {
        let submitter = Caller::of(&request);
        let req = request.into_inner();
        let with_proof = req.with_proof;
        let receipt = write::add_claim(&self.commit, req, &submitter).await?;
        self.finish(receipt, with_proof).map(Response::new)
    }

    async fn set_status(
        &self,
        request: Request<SetStatusRequest>,
    ) -> Result<Response<Receipt>, Status> {
        let submitter = Caller::of(&request);
        let req = request.into_inner();
        let with_proof = req.with_proof;
        let receipt = write::set_status(&self.commit, req, &submitter).await?;
        self.finish(receipt, with_proof).map(Response::new)
    }

    async fn attach_source(
        &self,
        request: Request<AttachSourceRequest>,
    ) -> Result<Response<Receipt>, Status> {
        let submitter = Caller::of(&request);
        let req = request.into_inner();
        let with_proof = req.with_proof;
        let receipt = write::attach_source(&self.commit, req, &submitter).await?;
        self.finish(receipt, with_proof).map(Response::new)
    }

    async fn correct_report(
        &self,
        request: Request<CorrectReportRequest>,
    ) -> Result<Response<Receipt>, Status> {
        let submitter = Caller::of(&request);
        let req = request.into_inner();
        let with_proof = req.with_proof;
        let receipt = write::correct_report(&self.commit, req, &submitter).await?;
        self.finish(receipt, with_proof).map(Response::new)
    }

    async fn write_stream(
        &self,
        request: Request<tonic::Streaming<Envelope>>,
    ) -> Result<Response<BoxStream<StreamReceipt>>, Status> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(|| Caller {
                name: Arc::from(crate::access::ANONYMOUS),
                role: None,
            });
        let writer = self.stream_writer(caller, Meter::of(&request));
        let (tx, rx) = budget::stream(&self.budget, stream::BUFFER, "WriteStream");
        tokio::spawn(stream::run(request.into_inner(), tx, writer));
        Ok(Response::new(Box::pin(rx)))
    }

    async fn get_agreement(
        &self,
        request: Request<GetAgreementRequest>,
    ) -> Result<Response<AgreementView>, Status> {
        let req = request.into_inner();
        read::get_agreement(&self.store, &req.id, req.as_of_sequence)
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_report(
        &self,
        request: Request<GetReportRequest>,
    ) -> Result<Response<ReportView>, Status> {
        let req = request.into_inner();
        read::get_report(&self.store, &req.id, req.as_of_sequence)
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_entry(
        &self,
        request: Request<GetEntryRequest>,
    ) -> Result<Response<GetEntryResponse>, Status> {
        read::get_entry(&self.store, request.into_inner().sequence)
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn list_agreements(
        &self,
        request: Request<ListAgreementsRequest>,
    ) -> Result<Response<ListAgreementsResponse>, Status> {
        let filter = query::filter::agreement_filter(request.into_inner())?;
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || query::list_agreements(&store, &filter))
            .await
            .map_err(|e| Status::from(Error::Internal(e.to_string())))?
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn query_reports(
        &self,
        request: Request<QueryReportsRequest>,
    ) -> Result<Response<QueryReportsResponse>, Status> {
        let q = query::filter::report_query(request.into_inner())?;
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || query::query_reports(&store, &q))
            .await
            .map_err(|e| Status::from(Error::Internal(e.to_string())))?
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<BoxStream<SubscribeResponse>>, Status> {
        let sub = subscribe::subscription(request.into_inner())?;
        sub.filter.check_named_records(&self.store)?;
        let permit = Arc::clone(&self.subscriptions)
            .try_acquire_owned()
            .map_err(|_| {
                Error::exhausted("too many subscriptions (max_subscriptions); retry later".into())
            })?;
        let (tx, rx) = budget::stream(&self.budget, subscribe::BUFFER, "Subscribe");
        tokio::spawn(subscribe::run(
            Arc::clone(&self.store),
            Arc::clone(&self.feed),
            sub,
            tx,
            self.shutdown.clone(),
            Arc::clone(&self.subscribe_stats),
            permit,
        ));
        Ok(Response::new(Box::pin(rx)))
    }

    async fn assess_scope(
        &self,
        request: Request<AssessScopeRequest>,
    ) -> Result<Response<AssessScopeResponse>, Status> {
        read::assess_scope(&self.store, &request.into_inner())
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn find_agreements(
        &self,
        request: Request<FindAgreementsRequest>,
    ) -> Result<Response<FindAgreementsResponse>, Status> {
        let store = Arc::clone(&self.store);
        let req = request.into_inner();
        tokio::task::spawn_blocking(move || compliance::find_agreements(&store, &req))
            .await
            .map_err(|e| Status::from(Error::Internal(e.to_string())))?
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_compliance_report(
        &self,
        request: Request<ComplianceReportRequest>,
    ) -> Result<Response<BoxStream<ComplianceReportPart>>, Status> {
        let rx = compliance::stream(
            Arc::clone(&self.store),
            Arc::clone(&self.signer),
            Arc::clone(&self.last_checkpoint),
            &self.budget,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(Box::pin(rx)))
    }

    async fn backup(
        &self,
        request: Request<BackupRequest>,
    ) -> Result<Response<BackupResponse>, Status> {
        let req = request.into_inner();
        let (store, signer) = (Arc::clone(&self.store), Arc::clone(&self.signer));
        let space = self.space.clone();
        tokio::task::spawn_blocking(move || admin::backup(&store, &signer, &space, req))
            .await
            .map_err(|e| Status::from(Error::Internal(e.to_string())))?
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn list_changes(
        &self,
        request: Request<ListChangesRequest>,
    ) -> Result<Response<ListChangesResponse>, Status> {
        read::list_changes(&self.store, &request.into_inner())
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_checkpoint(
        &self,
        _request: Request<GetCheckpointRequest>,
    ) -> Result<Response<Checkpoint>, Status> {
        proofs::served(
            &self.store,
            &self.signer,
            &self.last_checkpoint,
            &self.cosigned,
        )
        .map(Response::new)
        .map_err(Status::from)
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<GetInclusionProofRequest>,
    ) -> Result<Response<InclusionProof>, Status> {
        proofs::inclusion(&self.store, &request.into_inner())
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_consistency_proof(
        &self,
        request: Request<GetConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProof>, Status> {
        proofs::consistency(&self.store, &request.into_inner())
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn read_log(
        &self,
        request: Request<ReadLogRequest>,
    ) -> Result<Response<ReadLogResponse>, Status> {
        // Charged before the read, held until the transport has pulled
        // the answer (budget::ReleaseLayer): a client that does not read
        // holds no bytes the budget does not count.
        let mut charge = self
            .budget
            .charge(read::READ_LOG_CHARGE)
            .await
            .ok_or_else(|| {
                Status::from(Error::exhausted(
                    "the daemon's stream buffer budget (stream_buffer_mb) stayed full; retry later"
                        .to_owned(),
                ))
            })?;
        let answer = read::read_log(&self.store, &request.into_inner())?;
        charge.shrink_to(budget::cost(prost::Message::encoded_len(&answer)));
        let mut response = Response::new(answer);
        response.extensions_mut().insert(budget::Held::new(charge));
        Ok(response)
    }
}
