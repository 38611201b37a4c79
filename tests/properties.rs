//! Properties over arbitrary input: whatever the headers or bytes, parsing and deciding
//! never panic, and a composed reply always parses back with exactly one To (the address
//! we chose), a one-line subject, and only the headers we meant to write.

use mailroom::config::Config;
use mailroom::message;
use mailroom::policy::{self, Decision, Facts};
use mailroom::reply;
use proptest::prelude::*;

/// Header names the generator draws from: the ones we read, and ones that must never
/// reach a reply.
const NAMES: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Sender",
    "Reply-To",
    "Return-Path",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "Date",
    "X-Loop",
    "Content-Type",
    "DKIM-Signature",
    "Delivered-To",
    "Resent-To",
    "X-SES-Spam-Verdict",
    "Authentication-Results",
    "X-Auto-Response-Suppress",
    "",
];

/// The headers a reply may carry; anything else in one is an injection.
const REPLY_HEADERS: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-loop",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,60}",
        "[a-z]{1,8}@[a-z]{1,8}\\.(org|com|example)",
        "[A-Za-z ,\"]{0,12} <[a-z]{1,8}@[a-z]{1,8}\\.org>",
        "=\\?utf-8\\?B\\?[A-Za-z0-9+/]{0,24}=*\\?=",
        "=\\?utf-8\\?Q\\?[A-Za-z0-9=_]{0,24}\\?=",
        ".{0,24}",
        Just("Hello\r\nBcc: victim@example.net".to_string()),
        Just("=?utf-8?B?SGVsbG8NCkJjYzogdmljdGltQGV4YW1wbGUubmV0?=".to_string()),
        Just("<>".to_string()),
    ]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    let header = (prop::sample::select(NAMES), value());
    // Mostly usable senders, so that the composer runs on most cases.
    let from = prop_oneof![
        3 => "[a-z]{1,8}@[a-z]{1,8}\\.(org|com)",
        3 => "[A-Za-z ,\"()]{0,16} <[a-z.]{1,8}@[a-z]{1,8}\\.org>",
        1 => value(),
    ];
    let parts = (
        from,
        prop::collection::vec(header, 0..14),
        prop::bool::ANY,
        ".{0,40}",
    );
    parts.prop_map(|(from, headers, crlf, body)| {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("From: {from}{eol}To: hello@example.com{eol}");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}{eol}"));
        }
        text.push_str(eol);
        text.push_str(&body);
        text.into_bytes()
    })
}

/// Decides on `raw` with every rule that could block a reply switched off, so that the
/// composer sees as many messages as possible, and checks any reply it composes.
fn check_reply(raw: &[u8]) -> Result<(), TestCaseError> {
    let Ok(inbound) = message::parse(raw) else {
        return Ok(());
    };
    let config = Config {
        disabled_rules: policy::rule_names()
            .filter(|r| *r != "bad-sender")
            .map(str::to_string)
            .collect(),
        ..Config::default()
    };
    let facts = Facts::default();
    let Decision::Reply { to } = policy::decide(&inbound, &config, &facts) else {
        return Ok(());
    };
    let key = message::identity(&inbound, raw);
    let reply = reply::compose(&inbound, &key, &to, &config, 0).unwrap();
    prop_assert!(!reply.subject.chars().any(char::is_control));

    let parsed = mail_parser::MessageParser::default()
        .parse(&reply.mime)
        .unwrap();
    let recipients: Vec<_> = parsed.to().map(|a| a.iter().collect()).unwrap_or_default();
    prop_assert_eq!(recipients.len(), 1);
    prop_assert_eq!(recipients[0].address.as_deref(), Some(to.as_str()));
    prop_assert!(parsed.cc().is_none() && parsed.bcc().is_none());
    for header in parsed.headers() {
        let name = header.name().to_ascii_lowercase();
        prop_assert!(
            REPLY_HEADERS.contains(&name.as_str()),
            "unexpected header {}",
            name
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_headers_never_panic_and_replies_stay_clean(raw in message()) {
        let _ = message::parse(&raw).map(|m| {
            policy::decide(&m, &Config::default(), &Facts::default())
        });
        check_reply(&raw)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = message::parse(&raw).map(|m| {
            policy::decide(&m, &Config::default(), &Facts::default())
        });
        check_reply(&raw)?;
    }
}
