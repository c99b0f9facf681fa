//! Outgoing webhooks: signing per the Standard Webhooks specification, the delivery log,
//! and the delivery worker — an outbox fed by a durable JetStream consumer (which events
//! go to which subscription, decided in stream order) and a dispatcher that POSTs them,
//! one at a time per subscription and aggregate, retrying with backoff and jitter.

pub mod dispatch;
pub mod error;
pub mod log;
pub mod outbox;
pub mod retry;
pub mod signing;
mod streak;
pub mod worker;

pub use dispatch::Dispatcher;
pub use error::WebhookError;
pub use log::{DeliveryList, DeliveryView};
pub use outbox::{WebhookOutbox, WebhookOutboxProjection};
pub use retry::DeliverySettings;
pub use signing::SigningSecret;
pub use worker::WebhookWorker;
