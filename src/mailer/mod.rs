//! Sending the composed reply.

pub mod outbox;
pub mod ses;

use std::future::Future;

use crate::error::Error;
use crate::reply::Reply;

/// Something that accepts a reply for delivery and returns its id for the send.
pub trait Mailer: Send + Sync {
    fn send(&self, reply: &Reply) -> impl Future<Output = Result<String, Error>> + Send;
}
