//! Audit: the hash chain over every event in global commit order, signed checkpoints of
//! it, verifying a store against both, reading the history back with filters, and the
//! state of any aggregate as it was at a past version or time.

pub mod canonical;
pub mod chain;
pub mod checkpoints;
pub mod history;
pub mod link;
pub mod signing;
pub mod state;
pub mod verify;

pub use chain::{ChainHead, ChainLink};
pub use checkpoints::{CheckpointPolicy, SignedCheckpoint};
pub use history::{AuditCursor, AuditFilter, AuditRecord};
pub use signing::AuditSigner;
pub use state::{AggregateState, AggregateStates, StateError};
pub use verify::{Mismatch, VerifyReport};
