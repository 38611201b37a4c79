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
use crate::policy;

/// Replies carry this many characters of subject at most; longer ones are cut on a
/// character boundary, before encoding, so no encoded word is ever split.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// The local-part prefix of every Message-ID we generate.
const ID_PREFIX: &str = "mailroom.";

/// A composed reply, ready for a mailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The bare From address (a template may send from its own).
    pub from: String,
    pub to: String,
    pub subject: String,
    /// Without brackets.
    pub message_id: String,
    /// The complete MIME message, CRLF line endings.
    pub mime: Vec<u8>,
}

/// The Message-ID of our reply, sent from `from_address`, to the message with ledger
/// identity `key`.
///
/// Derived from the identity, so a retried send of the same reply carries the same id, and
/// a message that refers to it is recognised as a reply to us.
pub fn message_id_for(key: &str, from_address: &str) -> String {
    let digest = hex(&Sha256::digest(key.as_bytes()));
    let domain = from_address.rsplit('@').next().unwrap_or("localhost");
    format!(
        "{ID_PREFIX}{}@{}",
        &digest[..32],
        domain.to_ascii_lowercase()
    )
}

/// Returns true if and only if `id` has the shape of a Message-ID we generate from one of
/// our from addresses.
pub fn is_our_message_id(id: &str, config: &Config) -> bool {
    let Some((local, domain)) = id.rsplit_once('@') else {
        return false;
    };
    let digest = local.strip_prefix(ID_PREFIX).unwrap_or_default();
    let ours = config
        .from_addresses()
        .filter_map(|from| from.rsplit_once('@'))
        .any(|(_, d)| d.eq_ignore_ascii_case(domain));
    ours && digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Replaces every control character (CR, LF, TAB, DEL, C1, ...) with a space, drops the
/// invisible bidirectional overrides that can make a subject read backwards, and
/// squeezes runs of whitespace, so a header value can never grow a second line.
pub fn one_line(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Breaks up `=?` so that text which still looks like an RFC 2047 encoded word after
/// decoding (a word encoded twice) is sent as text, not decoded again by the recipient.
fn inert_encoded_words(text: &str) -> String {
    text.replace("=?", "= ?")
}

/// References kept from the inbound message: the thread's root and the most recent
/// ones, as RFC 5322 section 3.6.4 allows, so a hostile list cannot bloat the reply.
const MAX_REFERENCES: usize = 10;

fn references(msg: &Inbound, original: &str) -> Vec<String> {
    let mut ids: Vec<String> = msg
        .references
        .iter()
        .filter(|id| *id != original)
        .cloned()
        .collect();
    if ids.len() >= MAX_REFERENCES {
        let recent = ids.split_off(ids.len() - (MAX_REFERENCES - 2));
        ids.truncate(1);
        ids.extend(recent);
    }
    ids.push(original.to_string());
    ids
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

/// Display names and dates come from the sender; a template gets at most this much of each.
const MAX_PLACEHOLDER_CHARS: usize = 64;

/// The values a template may use, each already on one line.
///
/// - `{subject}`: the original subject, decoded.
/// - `{name}`: the sender's display name, or their address when there is none.
/// - `{date}`: the original Date header, or the time of the reply when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders {
    pub subject: String,
    pub name: String,
    pub date: String,
}

impl Placeholders {
    pub fn of(msg: &Inbound, to: &str, now: i64) -> Placeholders {
        let sender = msg.from.first();
        let name = sender
            .and_then(|m| m.name.as_deref())
            .map(one_line)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| to.to_string());
        let date = msg
            .date
            .as_deref()
            .map(one_line)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| Date::new(now).to_rfc822());
        Placeholders {
            subject: one_line(msg.subject.as_deref().unwrap_or_default()),
            name: truncate_chars(&name, MAX_PLACEHOLDER_CHARS),
            date: truncate_chars(&date, MAX_PLACEHOLDER_CHARS),
        }
    }

    /// Fills `template` in one pass, passing each value through `escape` first. One pass,
    /// so a `{name}` inside the sender's subject stays text.
    fn fill(&self, template: &str, escape: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            rest = &rest[open..];
            let value = [
                ("{subject}", &self.subject),
                ("{name}", &self.name),
                ("{date}", &self.date),
            ]
            .into_iter()
            .find(|(token, _)| rest.starts_with(token));
            match value {
                Some((token, value)) => {
                    out.push_str(&escape(value));
                    rest = &rest[token.len()..];
                }
                None => {
                    out.push('{');
                    rest = &rest[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The reply subject: the template for the address the message was sent to, filled in,
/// on one line and capped at [`MAX_SUBJECT_CHARS`].
pub fn subject_for(msg: &Inbound, to: &str, config: &Config, now: i64) -> String {
    let template = config.template_for(policy::addressed_inbound(msg, config));
    let values = Placeholders::of(msg, to, now);
    let subject = one_line(&values.fill(template.subject, str::to_string));
    truncate_chars(&inert_encoded_words(&subject), MAX_SUBJECT_CHARS)
}

/// Composes the reply to `msg` for the already-validated address `to`, dated `now`
/// (Unix seconds), from the template of the inbound address the message was sent to.
pub fn compose(
    msg: &Inbound,
    key: &str,
    to: &str,
    config: &Config,
    now: i64,
) -> Result<Reply, String> {
    let template = config.template_for(policy::addressed_inbound(msg, config));
    let values = Placeholders::of(msg, to, now);
    let subject = subject_for(msg, to, config, now);
    let message_id = message_id_for(key, template.from_address);

    let from = Address::new_address(template.from_name, template.from_address);
    let mut builder = MessageBuilder::new()
        .from(from)
        .to(Address::new_address(None::<&str>, to))
        .subject(subject.as_str())
        .date(Date::new(now))
        .message_id(message_id.as_str())
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .header("X-Auto-Response-Suppress", Raw::new("All"))
        .header("X-Loop", Raw::new(template.from_address));

    if let Some(original) = &msg.message_id {
        builder = builder
            .in_reply_to(MessageId::new(original.as_str()))
            .references(MessageId::from(references(msg, original)));
    }

    builder = builder.text_body(values.fill(template.text, str::to_string));
    if let Some(html) = template.html {
        builder = builder.html_body(values.fill(html, escape_html));
    }

    let mime = builder
        .write_to_vec()
        .map_err(|e| format!("writing MIME: {e}"))?;
    Ok(Reply {
        from: template.from_address.to_string(),
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
    fn html_template_makes_an_alternative_with_escaped_values() {
        let config = Config {
            html: Some("<p>Dear {name}, re {subject}</p>".into()),
            text: "Dear {name}, re {subject} of {date}".into(),
            ..Config::default()
        };
        let raw = "From: \"<b>Eve</b>\" <eve@example.org>\r\nTo: hello@example.com\r\n\
                   Date: Mon, 6 May 2024 10:00:00 +0000\r\nSubject: a & b\r\n\r\nhi\r\n";
        let m = parse(raw.as_bytes()).unwrap();
        let reply = compose(&m, "k", "eve@example.org", &config, 0).unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&reply.mime)
            .unwrap();
        assert_eq!(parsed.html_body_count(), 1);
        let html = parsed.body_html(0).unwrap();
        assert!(
            html.contains("Dear &lt;b&gt;Eve&lt;/b&gt;, re a &amp; b"),
            "{html}"
        );
        let text = parsed.body_text(0).unwrap();
        assert!(
            text.contains("Dear <b>Eve</b>, re a & b of Mon, 6 May 2024"),
            "{text}"
        );
    }

    #[test]
    fn from_display_name_with_a_comma_is_quoted() {
        let config = Config::from_toml("from = \"Doe, Support <hello@example.com>\"\n").unwrap();
        let reply = compose(&inbound("Hi"), "k", "a@example.org", &config, 0).unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&reply.mime)
            .unwrap();
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!(from.name.as_deref(), Some("Doe, Support"));
        assert_eq!(from.address.as_deref(), Some("hello@example.com"));
        assert_eq!(parsed.from().unwrap().iter().count(), 1);
    }

    #[test]
    fn template_of_the_addressed_inbound_address_is_used() {
        let config = Config::from_toml(
            "inbound_addresses = [\"hello@example.com\", \"support@example.org\"]\n\
             [templates.\"support@example.org\"]\n\
             from = \"support@example.org\"\nsubject = \"[Ticket] {subject}\"\n",
        )
        .unwrap();
        let raw = "From: a@example.net\r\nTo: Support <SUPPORT@example.org>\r\n\
                   Message-ID: <t@x>\r\nSubject: Broken\r\n\r\nhi\r\n";
        let m = parse(raw.as_bytes()).unwrap();
        let reply = compose(&m, "mid:t@x", "a@example.net", &config, 0).unwrap();
        assert_eq!(reply.subject, "[Ticket] Broken");
        assert!(reply.message_id.ends_with("@example.org"));
        assert!(headers(&reply.mime).contains("From: <support@example.org>"));
        assert!(is_our_message_id(&reply.message_id, &config));
    }

    #[test]
    fn an_encoded_word_left_after_decoding_is_not_sent_live() {
        // CR LF and a Bcc line, encoded three times: decoding twice leaves a live word.
        let thrice = "=?utf-8?B?PT91dGYtOD9CP1BUOTFkR1l0T0Q5Q1AxTkhWbk5pUnpoT1EydEthbGw2YjJka2\
                      JXeHFaRWRzZEZGSFZqUlpWekYzWWtkVmRXSnRWakEvUFE9PT89?=";
        let reply = compose(
            &inbound(thrice),
            "k",
            "a@example.org",
            &Config::default(),
            0,
        )
        .unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&reply.mime)
            .unwrap();
        let subject = parsed.subject().unwrap();
        assert!(!subject.contains(['\r', '\n']), "{subject:?}");
        assert!(parsed.bcc().is_none());
    }

    #[test]
    fn placeholders_in_the_senders_values_are_not_expanded() {
        let config = Config {
            subject: "{subject} / {name}".into(),
            ..Config::default()
        };
        let raw = "From: \"Eve {subject}\" <eve@example.org>\r\nTo: hello@example.com\r\n\
                   Subject: Re: {name} on {date}\r\n\r\nhi\r\n";
        let m = parse(raw.as_bytes()).unwrap();
        assert_eq!(
            subject_for(&m, "eve@example.org", &config, 0),
            "Re: {name} on {date} / Eve {subject}"
        );
    }

    #[test]
    fn references_are_capped_keeping_the_root_and_the_latest() {
        let ids: Vec<String> = (0..500).map(|i| format!("<r{i}@example.org>")).collect();
        let raw = format!(
            "From: a@example.org\r\nMessage-ID: <m@example.org>\r\nReferences: {}\r\n\r\nhi\r\n",
            ids.join(" ")
        );
        let m = parse(raw.as_bytes()).unwrap();
        let kept = references(&m, "m@example.org");
        assert_eq!(kept.len(), MAX_REFERENCES);
        assert_eq!(kept[0], "r0@example.org");
        assert_eq!(kept[MAX_REFERENCES - 2], "r499@example.org");
        assert_eq!(kept[MAX_REFERENCES - 1], "m@example.org");
    }

    #[test]
    fn bidirectional_overrides_are_dropped_from_the_subject() {
        assert_eq!(one_line("abc\u{202E}fdp.exe"), "abcfdp.exe");
    }

    #[test]
    fn long_subject_is_capped_on_a_character_boundary() {
        let m = inbound(&"é".repeat(500));
        let s = subject_for(&m, "a@example.org", &Config::default(), 0);
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn our_message_ids_are_recognised_and_others_are_not() {
        let config = Config::default();
        let id = message_id_for("mid:x", config.from_address());
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
        let from = c.from_address();
        assert_eq!(message_id_for("k", from), message_id_for("k", from));
        assert_ne!(message_id_for("k", from), message_id_for("j", from));
    }
}
