//! The last phase of an import, once every row's writes came back: the
//! records the source store numbered whose number is taken here (created
//! again as exported), then the held-back entries (claims and status
//! changes a line carries), then the view claims queued by the rows, in
//! the order they first appeared. They may name records of any row, so
//! they wait for all of them; they are few beside the rows, and a claim is
//! first looked up by its id, so they go one at a time through the unary
//! calls (retried, rate limits waited out) as before the rows moved onto
//! the stream.

use tonic::Code;
use truce_proto::v1::{AddClaimRequest, Claim, Receipt};

use super::{
    apply::{digest, request_id},
    run::{Outcome, Run},
};
use truce_client::ClientError;

impl Run<'_> {
    /// The fallbacks, the held entries and the queued claims.
    pub async fn last_phase(&mut self) -> Result<(), ClientError> {
        self.fallbacks().await?;
        self.held().await?;
        self.pending_claims().await
    }

    /// One write of `line` after the rows: tallied, or the line's failure.
    fn answered(
        &mut self,
        line: u64,
        creates: bool,
        what: impl FnOnce() -> String,
        result: Result<Receipt, ClientError>,
    ) -> Result<(), ClientError> {
        match result {
            Ok(receipt) => {
                if self.note(&receipt) {
                    self.wrote(line, creates);
                }
                self.held_done(line);
                Ok(())
            }
            Err(e) if e.is_usage() => {
                self.fail(line, format!("{}{e}", what()));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn fallbacks(&mut self) -> Result<(), ClientError> {
        for (line, entry) in std::mem::take(&mut self.fallbacks) {
            if self.stopped() {
                break;
            }
            let sent = self.replay.send_exported(self.client, &entry).await;
            self.answered(line, true, String::new, sent)?;
        }
        Ok(())
    }

    /// Sends the held-back entries (claims, status changes) in the order
    /// they were first recorded.
    async fn held(&mut self) -> Result<(), ClientError> {
        for (line, entry) in self.replay.take_held() {
            if self.stopped() {
                break;
            }
            let sent = self.replay.send(self.client, &entry).await;
            let what = || format!("entry {} ({}): ", entry.sequence, entry.request_id);
            self.answered(line, false, what, sent)?;
        }
        Ok(())
    }

    /// Adds the queued claims, in the order they first appeared.
    async fn pending_claims(&mut self) -> Result<(), ClientError> {
        let pending = std::mem::take(&mut self.claims);
        for p in pending {
            if self.stopped() {
                break;
            }
            match self.add_claim(&p.claim).await {
                Ok(true) => self.set(p.line, |o| match o {
                    Some(Outcome::Unchanged) | None => Outcome::Corrected,
                    Some(other) => other,
                }),
                Ok(false) => {}
                Err(e) if e.is_usage() => self.fail(p.line, format!("claim {}: {e}", p.claim.id)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Adds a claim unless it is there already; true when written.
    async fn add_claim(&mut self, claim: &Claim) -> Result<bool, ClientError> {
        let claim = claim.clone();
        if !claim.id.is_empty()
            && let Some(existing) = self.existing_claim(&claim).await?
        {
            return if existing == claim {
                Ok(false)
            } else {
                Err(ClientError::Request(
                    "a claim with this id already exists with other content".into(),
                ))
            };
        }
        let canonical =
            serde_json::to_string(&claim).map_err(|e| ClientError::Request(e.to_string()))?;
        let hash = digest([b"claim".as_slice(), canonical.as_bytes()]);
        let receipt = self
            .client
            .add_claim(AddClaimRequest {
                request_id: request_id("import-claim", &hash),
                claim: Some(claim),
                with_proof: false,
            })
            .await?;
        Ok(self.note(&receipt))
    }

    /// The claim with this id on the first record it names, if any.
    async fn existing_claim(&self, claim: &Claim) -> Result<Option<Claim>, ClientError> {
        let claims = if let Some(report) = claim.report_ids.first() {
            self.client.get_report(report).await.map(|v| v.claims)
        } else if !claim.agreement_id.is_empty() {
            self.client
                .get_agreement(&claim.agreement_id)
                .await
                .map(|v| v.claims)
        } else {
            return Ok(None);
        };
        match claims {
            Ok(claims) => Ok(claims.into_iter().find(|c| c.id == claim.id)),
            // Adding it will say what is missing.
            Err(e) if e.code() == Some(Code::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
