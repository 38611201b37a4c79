//! Composing the reply. Pure: the same message, key, configuration and time always give
//! the same bytes, except for MIME boundaries.
//!
//! The reply is built from scratch with mail-builder, never by editing the inbound
//! headers, so nothing the sender wrote reaches it except the subject, folded to one line.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::message::{Inbound, hex};

/// Replies carry this many characters of subject at most; longer ones are cut on a
/// character boundary, before encoding, so no encoded word is ever split.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// The local-part prefix of every Message-ID we generate.
const ID_PREFIX: &str = "mailroom.";

/// A composed reply, ready for a mailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub to: String,
    pub subject: String,
    /// Without brackets.
    pub message_id: String,
    /// The complete MIME message, CRLF line endings.
    pub mime: Vec<u8>,
}

/// The Message-ID of our reply to the message with ledger identity `key`.
///
/// Derived from the identity, so a retried send of the same reply carries the same id, and
/// a message that refers to it is recognised as a reply to us.
pub fn message_id_for(key: &str, config: &Config) -> String {
    let digest = hex(&Sha256::digest(key.as_bytes()));
    let domain = config
        .from_address()
        .rsplit('@')
        .next()
        .unwrap_or("localhost");
    format!(
        "{ID_PREFIX}{}@{}",
        &digest[..32],
        domain.to_ascii_lowercase()
    )
}

/// Returns true if and only if `id` has the shape of a Message-ID we generate.
pub fn is_our_message_id(id: &str, config: &Config) -> bool {
    let domain = config
        .from_address()
        .rsplit('@')
        .next()
        .unwrap_or("localhost");
    match id.rsplit_once('@') {
        Some((local, d)) => {
            let digest = local.strip_prefix(ID_PREFIX).unwrap_or_default();
            d.eq_ignore_ascii_case(domain)
                && digest.len() == 32
                && digest.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Replaces every control character (CR, LF, TAB, DEL, C1, ...) with a space and squeezes
/// runs of whitespace, so a header value can never grow a second line.
pub fn one_line(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

/// The reply subject: the template with `{subject}` replaced by the original, on one line
/// and capped at [`MAX_SUBJECT_CHARS`].
pub fn subject_for(msg: &Inbound, config: &Config) -> String {
    let original = one_line(msg.subject.as_deref().unwrap_or_default());
    let subject = one_line(&config.subject.replace("{subject}", &original));
    truncate_chars(&subject, MAX_SUBJECT_CHARS)
}

/// Composes the reply to `msg` for the already-validated address `to`, dated `now`
/// (Unix seconds).
pub fn compose(
    msg: &Inbound,
    key: &str,
    to: &str,
    config: &Config,
    now: i64,
) -> Result<Reply, String> {
    let subject = subject_for(msg, config);
    let message_id = message_id_for(key, config);
    let original_subject = one_line(msg.subject.as_deref().unwrap_or_default());
    let body = config.text.replace("{subject}", &original_subject);

    let from = Address::new_address(config.from_name(), config.from_address());
    let mut builder = MessageBuilder::new()
        .from(from)
        .to(Address::new_address(None::<&str>, to))
        .subject(subject.as_str())
        .date(Date::new(now))
        .message_id(message_id.as_str())
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .header("X-Auto-Response-Suppress", Raw::new("All"))
        .header("X-Loop", Raw::new(config.from_address()));

    if let Some(original) = &msg.message_id {
        let mut references = msg.references.clone();
        if !references.contains(original) {
            references.push(original.clone());
        }
        builder = builder
            .in_reply_to(MessageId::new(original.as_str()))
            .references(MessageId::from(references));
    }

    let mime = builder
        .text_body(body)
        .write_to_vec()
        .map_err(|e| format!("writing MIME: {e}"))?;
    Ok(Reply {
        to: to.to_string(),
        subject,
        message_id,
        mime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;

    fn inbound(subject: &str) -> Inbound {
        let raw = format!(
            "From: a@example.org\r\nMessage-ID: <m1@example.org>\r\n\
             References: <m0@example.org>\r\nSubject: {subject}\r\n\r\nbody\r\n"
        );
        parse(raw.as_bytes()).unwrap()
    }

    fn headers(mime: &[u8]) -> String {
        let text = String::from_utf8_lossy(mime);
        text.split("\r\n\r\n").next().unwrap().to_string()
    }

    #[test]
    fn reply_has_the_loop_safety_headers_and_threading() {
        let reply = compose(
            &inbound("Hi"),
            "mid:m1@example.org",
            "a@example.org",
            &Config::default(),
            0,
        )
        .unwrap();
        let h = headers(&reply.mime);
        assert!(h.contains("Auto-Submitted: auto-replied\r\n"), "{h}");
        assert!(h.contains("X-Auto-Response-Suppress: All\r\n"), "{h}");
        assert!(h.contains("In-Reply-To: <m1@example.org>\r\n"), "{h}");
        assert!(
            h.contains("References: <m0@example.org> <m1@example.org>\r\n"),
            "{h}"
        );
        assert!(h.contains("Subject: Auto: Hi\r\n"), "{h}");
        assert!(h.contains("To: <a@example.org>\r\n"), "{h}");
    }

    #[test]
    fn decoded_crlf_in_subject_cannot_inject_a_header() {
        let m = inbound("=?utf-8?B?SGVsbG8NCkJjYzogdmljdGltQGV4YW1wbGUubmV0?=");
        assert!(m.subject.as_deref().unwrap().contains('\n'));
        let reply = compose(&m, "k", "a@example.org", &Config::default(), 0).unwrap();
        assert_eq!(reply.subject, "Auto: Hello Bcc: victim@example.net");
        let h = headers(&reply.mime);
        assert!(
            !h.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc")),
            "{h}"
        );
    }

    #[test]
    fn long_subject_is_capped_on_a_character_boundary() {
        let m = inbound(&"é".repeat(500));
        let s = subject_for(&m, &Config::default());
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn our_message_ids_are_recognised_and_others_are_not() {
        let config = Config::default();
        let id = message_id_for("mid:x", &config);
        assert!(is_our_message_id(&id, &config));
        assert!(!is_our_message_id("mailroom.zz@example.com", &config));
        assert!(!is_our_message_id(
            &id.replace("example.com", "example.net"),
            &config
        ));
    }

    #[test]
    fn message_id_is_stable_for_the_same_key() {
        let c = Config::default();
        assert_eq!(message_id_for("k", &c), message_id_for("k", &c));
        assert_ne!(message_id_for("k", &c), message_id_for("j", &c));
    }
}
