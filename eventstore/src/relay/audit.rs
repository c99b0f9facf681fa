//! The relay's part in the audit: it extends the hash chain in the transaction that moves
//! its checkpoint (so a crash neither chains an event twice nor skips one), and signs the
//! chain head when the checkpoint policy says so.

use chrono::Utc;
use sqlx::Connection;

use super::checkpoint::{Checkpoint, save_checkpoint};
use super::{ActiveRelay, chain, checkpoints};
use crate::StoreError;
use crate::audit::{ChainHead, ChainLink, SignedCheckpoint};
use crate::reader::{self, CommitCursor};

impl ActiveRelay {
    /// Writes the batch's links, the relay checkpoint and, when due, a signed checkpoint
    /// in one transaction; publishes the signed checkpoint after it commits.
    pub(super) async fn commit_batch(
        &mut self,
        checkpoint: Checkpoint,
        links: &[ChainLink],
        chain: ChainHead,
    ) -> Result<(), StoreError> {
        let signed = self.due_checkpoint(&chain);
        let stream = self.relay.namespace.stream();
        let mut tx = self.lock.connection().begin().await?;
        chain::insert_links(&mut tx, links).await?;
        save_checkpoint(&mut tx, &stream, checkpoint).await?;
        if let Some(signed) = &signed {
            checkpoints::store(&mut tx, signed).await?;
        }
        tx.commit().await?;
        self.checkpoint = checkpoint;
        self.chain = chain;
        metrics::counter!("agentos_audit_chained_total").increment(links.len() as u64);
        if let Some(signed) = signed {
            self.signed(&signed);
            self.publish_checkpoints().await;
        }
        Ok(())
    }

    /// Signs the head on its own when time alone makes a checkpoint due (an idle relay).
    pub(super) async fn sign_if_due(&mut self) -> Result<(), StoreError> {
        let head = self.chain;
        if let Some(signed) = self.due_checkpoint(&head) {
            checkpoints::store(self.lock.connection(), &signed).await?;
            self.signed(&signed);
            self.publish_checkpoints().await;
        }
        Ok(())
    }

    fn due_checkpoint(&self, head: &ChainHead) -> Option<SignedCheckpoint> {
        let (signer, policy) = self.relay.signing.as_ref()?;
        let now = Utc::now();
        policy
            .due(head, self.last_signed, now)
            .then(|| SignedCheckpoint::sign(head, signer, now))
    }

    fn signed(&mut self, checkpoint: &SignedCheckpoint) {
        self.last_signed = (checkpoint.chain_index, checkpoint.signed_at);
        metrics::counter!("agentos_audit_checkpoints_total").increment(1);
    }

    /// Publishes stored checkpoints the audit stream lacks. A failure is only logged: the
    /// checkpoint is stored, and the next one publishes it too.
    pub(super) async fn publish_checkpoints(&mut self) {
        if self.relay.signing.is_none() {
            return;
        }
        let (jetstream, namespace) = (&self.relay.jetstream, &self.relay.namespace);
        if let Err(err) =
            checkpoints::publish_pending(self.lock.connection(), jetstream, namespace).await
        {
            tracing::warn!(%err, "audit checkpoint not published yet");
        }
    }

    /// Chains the events the relay passed without chaining them: those the start-up
    /// reconcile found already published, or a whole store that predates the chain.
    pub(super) async fn catch_up_chain(&mut self) -> Result<(), StoreError> {
        let until = self.checkpoint.cursor;
        while self.chain.cursor < until {
            let events = reader::read_after(
                self.lock.connection(),
                self.chain.cursor,
                self.relay.batch_size,
            )
            .await?;
            let passed: Vec<_> = events
                .into_iter()
                .take_while(|event| CommitCursor::after(event) <= until)
                .collect();
            if passed.is_empty() {
                break;
            }
            let (links, head) = self.chain.extend(&passed)?;
            let mut tx = self.lock.connection().begin().await?;
            chain::insert_links(&mut tx, &links).await?;
            tx.commit().await?;
            self.chain = head;
            tracing::info!(
                chained = links.len(),
                head = head.chain_index,
                "audit chain caught up with the relay checkpoint"
            );
        }
        Ok(())
    }
}
