//! The object store on S3: one GetObject per message, read into a bounded buffer.
//!
//! There is no HeadObject first: GetObject's response headers carry the size, and an
//! oversized object is refused from them before a byte of its body is read, so a second
//! round trip would buy nothing.

use std::time::Duration;

use super::{Fetched, ObjectStore};
use crate::aws::{S3_BODY_TIMEOUT, causes, classify};
use crate::error::{Error, Retry};
use crate::event::ObjectRef;

/// Objects in S3, addressed by bucket and decoded key.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    body_timeout: Duration,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client) -> S3Store {
        S3Store {
            client,
            body_timeout: S3_BODY_TIMEOUT,
        }
    }
}

/// What reading the body came to, short of an error.
enum Read {
    Complete,
    /// Longer than allowed; the count is what arrived before we stopped.
    Over(u64),
}

impl ObjectStore for S3Store {
    /// A missing object (`NoSuchKey`, or `AccessDenied` when the role may not list the
    /// bucket) is a permanent error: SES never rewrites an object, so asking again finds
    /// nothing either.
    async fn fetch(&self, object: &ObjectRef, max_bytes: u64) -> Result<Fetched, Error> {
        let operation = format!("getting {object}");
        let fail = |retry, message| Error::Store {
            operation: operation.clone(),
            message,
            retry,
        };

        let output = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
            .map_err(|e| {
                let (retry, message) = classify(&e);
                fail(retry, message)
            })?;

        let declared = output.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = declared
            && size > max_bytes
        {
            // Dropping the body closes the connection unread.
            return Ok(Fetched::TooLarge { size });
        }

        // The declared length is trusted only as far as the limit, so a lying header
        // cannot make us allocate more.
        let capacity = usize::try_from(declared.unwrap_or(0).min(max_bytes)).unwrap_or(0);
        let mut buffer = Vec::with_capacity(capacity);
        let mut body = output.body;
        let read = async {
            while let Some(chunk) = body.try_next().await? {
                let total = (buffer.len() + chunk.len()) as u64;
                if total > max_bytes {
                    return Ok(Read::Over(total));
                }
                buffer.extend_from_slice(&chunk);
            }
            Ok::<_, aws_sdk_s3::primitives::ByteStreamError>(Read::Complete)
        };

        match tokio::time::timeout(self.body_timeout, read).await {
            Ok(Ok(Read::Complete)) => Ok(Fetched::Body(buffer)),
            Ok(Ok(Read::Over(size))) => Ok(Fetched::TooLarge { size }),
            Ok(Err(e)) => Err(fail(
                Retry::Retryable,
                format!("reading the body: {}", causes(&e)),
            )),
            Err(_) => Err(fail(
                Retry::Retryable,
                format!(
                    "reading the body took longer than {} s",
                    self.body_timeout.as_secs()
                ),
            )),
        }
    }
}
