//! PostgreSQL's side of the loads: the table (the encoded request as
//! bytea beside the columns Truce indexes, each indexed; request and
//! record ids unique; the agreement a foreign key, as truced checks the
//! agreement exists), and a [`Worker`] that inserts report `i` in its own
//! transaction (autocommit) through a prepared statement.

use std::sync::Arc;

use tokio_postgres::{Client, NoTls, Statement};

use super::{
    drive::Worker,
    error::{Error, Result},
    payload::Generator,
    postgres::USER,
};

const SCHEMA: &str = "
DROP TABLE IF EXISTS reports;
DROP TABLE IF EXISTS agreements;
CREATE TABLE agreements (id text PRIMARY KEY);
CREATE TABLE reports (
    seq bigserial PRIMARY KEY,
    request_id text NOT NULL UNIQUE,
    record_id text NOT NULL UNIQUE,
    agreement_id text NOT NULL REFERENCES agreements (id),
    perpetrator text NOT NULL,
    event_type integer NOT NULL,
    occurred_at timestamptz NOT NULL,
    country text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    request bytea NOT NULL
);
CREATE INDEX reports_agreement ON reports (agreement_id);
CREATE INDEX reports_perpetrator ON reports (perpetrator);
CREATE INDEX reports_event_type ON reports (event_type);
CREATE INDEX reports_occurred_at ON reports (occurred_at);
CREATE INDEX reports_country ON reports (country);
";

const INSERT: &str = "INSERT INTO reports (request_id, record_id, agreement_id, perpetrator, \
    event_type, occurred_at, country, request) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// One connection over loopback TCP (as truced's clients use).
pub async fn connect(port: u16) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={USER} dbname=postgres"),
        NoTls,
    )
    .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A fresh table with the seed agreement; checks the durability settings
/// are the ones compared.
pub async fn reset(client: &Client, agreement_id: &str) -> Result<()> {
    for setting in ["synchronous_commit", "fsync", "full_page_writes"] {
        let row = client.query_one(&format!("SHOW {setting}"), &[]).await?;
        let value: String = row.get(0);
        if value != "on" {
            return Err(Error::other(format!(
                "PostgreSQL {setting} is {value}, not on"
            )));
        }
    }
    client.batch_execute(SCHEMA).await?;
    client
        .execute("INSERT INTO agreements (id) VALUES ($1)", &[&agreement_id])
        .await?;
    client.batch_execute("CHECKPOINT").await?;
    Ok(())
}

/// Inserts report `i`, one transaction each.
pub struct Inserter {
    client: Client,
    insert: Statement,
    reports: Arc<Generator>,
}

impl Inserter {
    pub async fn new(port: u16, reports: Arc<Generator>) -> Result<Self> {
        let client = connect(port).await?;
        let insert = client.prepare(INSERT).await?;
        Ok(Self {
            client,
            insert,
            reports,
        })
    }
}

impl Worker for Inserter {
    async fn call(&mut self, i: u64) -> Result<()> {
        let r = self.reports.row(i);
        let n = self
            .client
            .execute(
                &self.insert,
                &[
                    &r.request_id,
                    &r.record_id,
                    &r.agreement_id,
                    &r.perpetrator,
                    &r.event_type,
                    &r.occurred_at,
                    &r.country,
                    &r.encoded,
                ],
            )
            .await?;
        if n != 1 {
            return Err(Error::other(format!("insert {i} wrote {n} rows")));
        }
        Ok(())
    }
}
