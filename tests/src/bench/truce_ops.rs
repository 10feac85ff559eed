//! truced's side of the loads, as [`Worker`]s: durable appends of
//! generated reports, point lookups of random loaded reports, the
//! filtered query that finds the rare perpetrator's reports, and the
//! floor: a health check, the unary call that does no work at all.

use std::sync::Arc;

use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use truce_client::Client;
use truce_proto::v1::{QueryReportsRequest, ReportFilter};

use super::{
    drive::Worker,
    error::{Error, Result},
    payload::{Generator, RARE_PERPETRATOR},
    stats::splitmix64,
};

/// `n` clients sharing `connections` channels round-robin.
pub async fn clients(url: &str, n: usize, connections: usize) -> Result<Vec<Client>> {
    let mut channels = Vec::new();
    for _ in 0..connections.clamp(1, n.max(1)) {
        channels.push(Client::connect(url.to_owned()).await?);
    }
    Ok((0..n)
        .map(|i| channels[i % channels.len()].clone())
        .collect())
}

/// `n` appenders of `reports` sharing `connections` channels.
pub async fn appenders(
    url: &str,
    n: usize,
    connections: usize,
    reports: &Arc<Generator>,
) -> Result<Vec<Appender>> {
    Ok(clients(url, n, connections)
        .await?
        .into_iter()
        .map(|client| Appender {
            client,
            reports: Arc::clone(reports),
        })
        .collect())
}

/// `n` health clients sharing `connections` channels round-robin.
pub async fn health_clients(
    url: &str,
    n: usize,
    connections: usize,
) -> Result<Vec<HealthClient<Channel>>> {
    let mut channels = Vec::new();
    for _ in 0..connections.clamp(1, n.max(1)) {
        let channel = Endpoint::from_shared(url.to_owned())
            .map_err(|e| Error::other(format!("{url}: {e}")))?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| Error::other(format!("{url}: {e}")))?;
        channels.push(HealthClient::new(channel));
    }
    Ok((0..n)
        .map(|i| channels[i % channels.len()].clone())
        .collect())
}

/// A gRPC health check of the whole server: the same connection, access
/// layer and HTTP/2 path as an append, and nothing else.
pub struct Ping {
    pub client: HealthClient<Channel>,
}

impl Worker for Ping {
    async fn call(&mut self, _i: u64) -> Result<()> {
        let answer = self
            .client
            .check(HealthCheckRequest::default())
            .await
            .map_err(|e| Error::other(format!("health check: {e}")))?
            .into_inner();
        if answer.status != ServingStatus::Serving as i32 {
            return Err(Error::other(format!("health: status {}", answer.status)));
        }
        Ok(())
    }
}

/// Appends report `i`; fails on a duplicate (every index is fresh).
pub struct Appender {
    pub client: Client,
    pub reports: Arc<Generator>,
}

impl Worker for Appender {
    async fn call(&mut self, i: u64) -> Result<()> {
        let receipt = self.client.submit_report(self.reports.request(i)).await?;
        if receipt.duplicate {
            return Err(Error::other(format!("report {i} was a duplicate")));
        }
        Ok(())
    }
}

/// Reads a pseudo-random one of the first `loaded` reports by id.
pub struct Lookup {
    pub client: Client,
    pub reports: Arc<Generator>,
    pub loaded: u64,
}

impl Worker for Lookup {
    async fn call(&mut self, i: u64) -> Result<()> {
        let id = self
            .reports
            .record_id(splitmix64(i ^ 0x100c) % self.loaded.max(1));
        let view = self.client.get_report(&id).await?;
        if view.report.is_none_or(|r| r.id != id) {
            return Err(Error::other(format!(
                "GetReport {id} answered another report"
            )));
        }
        Ok(())
    }
}

/// The filtered query: reports alleged against the rare perpetrator, in
/// one page; each answer must hold exactly `expect` reports.
pub struct Query {
    pub client: Client,
    pub expect: usize,
}

impl Query {
    pub fn request() -> QueryReportsRequest {
        QueryReportsRequest {
            filter: Some(ReportFilter {
                perpetrator: RARE_PERPETRATOR.to_owned(),
                ..ReportFilter::default()
            }),
            page_size: 1000,
            ..QueryReportsRequest::default()
        }
    }
}

impl Worker for Query {
    async fn call(&mut self, _i: u64) -> Result<()> {
        let page = self.client.query_reports(Self::request()).await?;
        if page.reports.len() != self.expect || !page.next_page_token.is_empty() {
            return Err(Error::other(format!(
                "the query found {} reports (more: {}), expected {}",
                page.reports.len(),
                !page.next_page_token.is_empty(),
                self.expect
            )));
        }
        Ok(())
    }
}
