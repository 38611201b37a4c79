//! The mailer on SES v2: the composed MIME, sent as it is, to exactly one recipient.

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

use super::Mailer;
use crate::aws::classify;
use crate::config::Config;
use crate::error::{Error, Retry};
use crate::redact;
use crate::reply::Reply;

/// Sends through SES v2 `SendEmail` with raw content.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, config: &Config) -> SesMailer {
        SesMailer {
            client,
            configuration_set: config.configuration_set.clone(),
        }
    }
}

/// SES error messages name the addresses they refused; those are shortened like every
/// address we log.
fn redact_addresses(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| "<>\"'(),;:.".contains(c));
            if bare.contains('@') {
                word.replace(bare, &redact::address(bare))
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Mailer for SesMailer {
    /// Destination holds the one recipient, so SES sends to it alone whatever the headers
    /// say. The id returned is SES's MessageId, which the ledger keeps.
    async fn send(&self, reply: &Reply) -> Result<String, Error> {
        let operation = format!("sending reply {}", reply.message_id);
        let raw = RawMessage::builder()
            .data(Blob::new(reply.mime.clone()))
            .build()
            .map_err(|e| Error::Mailer {
                operation: operation.clone(),
                message: e.to_string(),
                retry: Retry::Permanent,
            })?;

        let output = self
            .client
            .send_email()
            .from_email_address(&reply.from)
            .destination(Destination::builder().to_addresses(&reply.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| {
                let (retry, message) = classify(&e);
                Error::Mailer {
                    operation: operation.clone(),
                    message: redact_addresses(&message),
                    retry,
                }
            })?;

        // SES accepted the message: a missing id must not turn into a retry that sends
        // it again.
        Ok(output.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_addresses_in_ses_messages_are_shortened() {
        assert_eq!(
            redact_addresses(
                "MessageRejected (HTTP 400): Email address is not verified: <jane@example.org>."
            ),
            "MessageRejected (HTTP 400): Email address is not verified: <j***@example.org>."
        );
        assert_eq!(redact_addresses("timed out"), "timed out");
    }
}
