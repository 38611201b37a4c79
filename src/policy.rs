//! The decision: reply, or skip with a reason. Pure.
//!
//! The rules are a table, checked in order; the first that fires decides. Each rule is a
//! plain function over the parsed message, the configuration and the ledger's facts, so
//! each is tested alone and any can be switched off by name (`disabled_rules`). The order
//! follows RFC 3834 and the Sieve vacation extension (RFC 5230): first what is not a
//! person's mail at all, then what is not ours to answer, then what we answered already.

use serde::{Deserialize, Serialize};

use crate::address::{canonical, parse_reply_address, sender_key};
use crate::config::Config;
use crate::message::{Inbound, ReturnPath};

/// Why a message is not answered. The kebab-case code is part of the CLI contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    NotMail,
    Unparseable,
    TooLarge,
    Duplicate,
    Spam,
    Virus,
    Unauthenticated,
    NullSender,
    Bounce,
    AutoSubmitted,
    List,
    SuppressRequested,
    SystemSender,
    #[serde(rename = "self")]
    OwnMail,
    NotAddressed,
    BadSender,
    RateLimited,
}

impl Reason {
    /// The stable kebab-case code printed by the CLI and logged.
    pub fn code(self) -> &'static str {
        match self {
            Reason::NotMail => "not-mail",
            Reason::Unparseable => "unparseable",
            Reason::TooLarge => "too-large",
            Reason::Duplicate => "duplicate",
            Reason::Spam => "spam",
            Reason::Virus => "virus",
            Reason::Unauthenticated => "unauthenticated",
            Reason::NullSender => "null-sender",
            Reason::Bounce => "bounce",
            Reason::AutoSubmitted => "auto-submitted",
            Reason::List => "list",
            Reason::SuppressRequested => "suppress-requested",
            Reason::SystemSender => "system-sender",
            Reason::OwnMail => "self",
            Reason::NotAddressed => "not-addressed",
            Reason::BadSender => "bad-sender",
            Reason::RateLimited => "rate-limited",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What the ledger knows that bears on the decision, gathered before deciding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// How this message was handled before, if it was.
    pub prior: Option<String>,
    /// When the reply address was last answered (Unix seconds), if within its window.
    pub last_replied_at: Option<u64>,
    /// Replies counted so far in the current clock hour; `None` until the ledger was
    /// asked, which the pipeline does only for a message that would be answered.
    pub replies_this_hour: Option<u64>,
    /// The current time, Unix seconds.
    pub now: u64,
}

/// The outcome of the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Reply {
        to: String,
    },
    Skip {
        reason: Reason,
        rule: &'static str,
        detail: String,
    },
}

/// One named check. `check` returns why it fires, or `None` to pass.
pub struct Rule {
    pub name: &'static str,
    pub reason: Reason,
    check: fn(&Inbound, &Config, &Facts) -> Option<String>,
}

/// The rules, in the order they are checked.
pub const RULES: &[Rule] = &[
    Rule {
        name: "duplicate",
        reason: Reason::Duplicate,
        check: duplicate,
    },
    Rule {
        name: "spam-verdict",
        reason: Reason::Spam,
        check: spam,
    },
    Rule {
        name: "virus-verdict",
        reason: Reason::Virus,
        check: virus,
    },
    Rule {
        name: "authentication",
        reason: Reason::Unauthenticated,
        check: unauthenticated,
    },
    Rule {
        name: "null-sender",
        reason: Reason::NullSender,
        check: null_sender,
    },
    Rule {
        name: "bounce",
        reason: Reason::Bounce,
        check: bounce,
    },
    Rule {
        name: "auto-submitted",
        reason: Reason::AutoSubmitted,
        check: auto_submitted,
    },
    Rule {
        name: "list",
        reason: Reason::List,
        check: list,
    },
    Rule {
        name: "suppress-requested",
        reason: Reason::SuppressRequested,
        check: suppress,
    },
    Rule {
        name: "system-sender",
        reason: Reason::SystemSender,
        check: system_sender,
    },
    Rule {
        name: "self",
        reason: Reason::OwnMail,
        check: own_mail,
    },
    Rule {
        name: "not-addressed",
        reason: Reason::NotAddressed,
        check: not_addressed,
    },
    Rule {
        name: "bad-sender",
        reason: Reason::BadSender,
        check: bad_sender,
    },
    Rule {
        name: "reply-window",
        reason: Reason::RateLimited,
        check: reply_window,
    },
    Rule {
        name: "hourly-ceiling",
        reason: Reason::RateLimited,
        check: hourly_ceiling,
    },
];

/// The names of all rules, for validating `disabled_rules`.
pub fn rule_names() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|r| r.name)
}

/// One rule's result, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleResult {
    pub rule: &'static str,
    pub reason: Reason,
    /// `None` when the rule passed.
    pub fired: Option<String>,
    pub enabled: bool,
}

/// Decides whether `msg` gets a reply: the first enabled rule that fires decides.
pub fn decide(msg: &Inbound, config: &Config, facts: &Facts) -> Decision {
    for rule in RULES.iter().filter(|r| enabled(r, config)) {
        if let Some(detail) = (rule.check)(msg, config, facts) {
            return Decision::Skip {
                reason: rule.reason,
                rule: rule.name,
                detail,
            };
        }
    }
    match reply_address(msg) {
        Ok(to) => Decision::Reply { to },
        // Only reachable with bad-sender switched off; an unusable address is still
        // never guessed at.
        Err(detail) => Decision::Skip {
            reason: Reason::BadSender,
            rule: "bad-sender",
            detail,
        },
    }
}

/// Runs every rule, enabled or not, and reports each result.
pub fn explain(msg: &Inbound, config: &Config, facts: &Facts) -> Vec<RuleResult> {
    RULES
        .iter()
        .map(|rule| RuleResult {
            rule: rule.name,
            reason: rule.reason,
            fired: (rule.check)(msg, config, facts),
            enabled: enabled(rule, config),
        })
        .collect()
}

/// Rules that cannot be switched off: without `duplicate`, a redelivered event would send
/// a second reply.
pub const ALWAYS_ON: &[&str] = &["duplicate"];

fn enabled(rule: &Rule, config: &Config) -> bool {
    ALWAYS_ON.contains(&rule.name) || !config.disabled_rules.iter().any(|name| name == rule.name)
}

/// The address a reply goes to: the envelope sender (RFC 3834 section 4), or, for a file
/// that never passed through SES and so has no Return-Path, the first From address.
pub fn reply_address(msg: &Inbound) -> Result<String, String> {
    let candidate = match &msg.return_path {
        ReturnPath::Address(address) => address.as_str(),
        ReturnPath::Null => return Err("the envelope sender is null".to_string()),
        ReturnPath::Missing => match msg.from.first() {
            Some(mailbox) => mailbox.address.as_str(),
            None => return Err("no Return-Path and no From address".to_string()),
        },
    };
    // The detail is logged: the address is shortened like every address we log, and cut
    // short, since it may be any text the sender wrote.
    parse_reply_address(candidate).map_err(|e| {
        let shown: String = crate::redact::address(candidate).chars().take(80).collect();
        format!("{shown:?}: {e}")
    })
}

/// The addresses that speak for the sender: reply target, From and Sender.
fn sender_addresses(msg: &Inbound) -> impl Iterator<Item = &str> {
    let envelope = match &msg.return_path {
        ReturnPath::Address(a) => Some(a.as_str()),
        _ => None,
    };
    envelope
        .into_iter()
        .chain(msg.from.iter().map(|m| m.address.as_str()))
        .chain(msg.sender.iter().map(|m| m.address.as_str()))
}

fn local_part(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or(address, |(l, _)| l)
        .to_ascii_lowercase()
}

/// The local parts an envelope address may stand for, lowercased: as written, without a
/// `+tag` (VERP and sub-addressing), unwrapped from BATV (`prvs=tag=local`) and SRS
/// (`SRS0=hash=tt=domain=local`) rewriting, and with `_` read as `-`. Bounce and
/// no-reply senders hide behind all of these.
fn local_parts(address: &str) -> Vec<String> {
    let local = local_part(address);
    let mut parts = vec![local.clone()];
    let batv = local
        .strip_prefix("prvs=")
        .or_else(|| local.strip_prefix("msprvs1="))
        .and_then(|rest| rest.split_once('='))
        .map(|(_, l)| l)
        .or_else(|| {
            local
                .strip_prefix("btv1==")
                .and_then(|r| r.split_once("=="))
                .map(|(_, l)| l)
        });
    let srs = (local.starts_with("srs0=") || local.starts_with("srs1="))
        .then(|| local.rsplit('=').next())
        .flatten();
    parts.extend(batv.into_iter().chain(srs).map(str::to_string));
    for part in parts.clone() {
        if let Some((base, _)) = part.split_once('+') {
            parts.push(base.to_string());
        }
    }
    for part in parts.clone() {
        if part.contains('_') {
            parts.push(part.replace('_', "-"));
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// The first token of a structured header value, lowercased, without comments or
/// parameters: `Auto-Generated; x=1` and `no (by hand)` give `auto-generated` and `no`.
fn keyword(value: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ';' if depth == 0 => break,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_ascii_lowercase()
}

fn duplicate(_: &Inbound, _: &Config, facts: &Facts) -> Option<String> {
    facts
        .prior
        .as_ref()
        .map(|prior| format!("already handled: {prior}"))
}

fn verdict_failed(verdict: &Option<String>) -> bool {
    verdict
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("fail"))
}

fn spam(msg: &Inbound, _: &Config, _: &Facts) -> Option<String> {
    verdict_failed(&msg.verdicts.spam).then(|| "X-SES-Spam-Verdict is FAIL".to_string())
}

fn virus(msg: &Inbound, _: &Config, _: &Facts) -> Option<String> {
    verdict_failed(&msg.verdicts.virus).then(|| "X-SES-Virus-Verdict is FAIL".to_string())
}

/// Replying to a forged sender makes us a backscatter source: DMARC failing, or SPF and
/// DKIM both failing, means the sender is not who the headers claim. With
/// `require_verdicts`, a message SES did not judge is treated the same way.
fn unauthenticated(msg: &Inbound, config: &Config, _: &Facts) -> Option<String> {
    let v = &msg.verdicts;
    let is = |r: &Option<String>, values: &[&str]| {
        r.as_deref()
            .is_some_and(|r| values.iter().any(|x| r.eq_ignore_ascii_case(x)))
    };
    if is(&v.dmarc, &["fail"]) {
        return Some("DMARC failed".to_string());
    }
    if is(&v.spf, &["fail", "softfail"]) && is(&v.dkim, &["fail"]) {
        return Some("SPF and DKIM both failed".to_string());
    }
    if !config.require_verdicts {
        return None;
    }
    let missing: Vec<&str> = [
        ("X-SES-Spam-Verdict", v.spam.is_none()),
        ("X-SES-Virus-Verdict", v.virus.is_none()),
        ("an SPF or DKIM result", v.spf.is_none() && v.dkim.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    (!missing.is_empty())
        .then(|| format!("no {} and require_verdicts is on", missing.join(", no ")))
}

fn null_sender(msg: &Inbound, _: &Config, _: &Facts) -> Option<String> {
    (msg.return_path == ReturnPath::Null).then(|| "Return-Path is <>".to_string())
}

const DAEMON_LOCAL_PARTS: &[&str] = &["mailer-daemon", "postmaster", "mail-daemon"];

/// Top-level types that are machine reports, whether or not wrapped in a
/// multipart/report.
const REPORT_TYPES: &[&str] = &[
    "multipart/report",
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
];

fn bounce(msg: &Inbound, _: &Config, _: &Facts) -> Option<String> {
    if REPORT_TYPES.contains(&msg.content_type.as_str()) {
        return Some(format!("the message is a {}", msg.content_type));
    }
    sender_addresses(msg)
        .find(|a| {
            local_parts(a)
                .iter()
                .any(|l| DAEMON_LOCAL_PARTS.contains(&l.as_str()))
        })
        .map(|a| format!("sent by {}", crate::redact::address(a)))
}

/// `Precedence` values that mark an automatic reply rather than bulk mail.
const AUTO_REPLY_PRECEDENCE: &[&str] = &["auto_reply", "auto-reply", "autoreply"];

fn auto_submitted(msg: &Inbound, _: &Config, _: &Facts) -> Option<String> {
    if let Some(word) = msg
        .auto_submitted
        .iter()
        .map(|v| keyword(v))
        .find(|w| w != "no")
    {
        return Some(format!("Auto-Submitted: {word}"));
    }
    if let Some(name) = msg.robot_headers.first() {
        return Some(format!("{name} is present"));
    }
    msg.precedence
        .iter()
        .map(|p| keyword(p))
        .find(|p| AUTO_REPLY_PRECEDENCE.contains(&p.as_str()))
        .map(|p| format!("Precedence: {p}"))
}

const LIST_PRECEDENCE: &[&str] = &["bulk", "list", "junk"];

fn list(msg: &Inbound, _: &Config, _: &Facts) -> Option<String> {
    if let Some(header) = msg.list_headers.first() {
        let name = header.split(':').next().unwrap_or(header);
        return Some(format!("{name} is present"));
    }
    msg.precedence
        .iter()
        .map(|p| keyword(p))
        .find(|p| LIST_PRECEDENCE.contains(&p.as_str()))
        .map(|p| format!("Precedence: {p}"))
}

fn suppress(msg: &Inbound, _: &Config, _: &Facts) -> Option<String> {
    msg.x_auto_response_suppress
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|t| ["all", "oof", "autoreply"].contains(&t.to_ascii_lowercase().as_str()))
        .map(|t| format!("X-Auto-Response-Suppress: {t}"))
}

/// Matches a local part against a pattern with an optional leading or trailing `*`.
fn glob(pattern: &str, local: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    if let Some(suffix) = pattern.strip_prefix('*') {
        local.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        local.starts_with(prefix)
    } else {
        local == pattern
    }
}

fn system_sender(msg: &Inbound, config: &Config, _: &Facts) -> Option<String> {
    sender_addresses(msg).find_map(|address| {
        let locals = local_parts(address);
        config
            .system_senders
            .iter()
            .find(|p| locals.iter().any(|local| glob(p, local)))
            .map(|p| format!("local part matches {p:?}"))
    })
}

/// Our own mail, or a reply to it: answering it would start a loop.
fn own_mail(msg: &Inbound, config: &Config, _: &Facts) -> Option<String> {
    if let Some(a) = sender_addresses(msg).find(|a| config.is_own_address(a)) {
        return Some(format!("sent from our own address {a}"));
    }
    let loops = |value: &String| {
        let value = value.to_ascii_lowercase();
        config
            .from_addresses()
            .any(|ours| value.contains(&ours.to_ascii_lowercase()))
    };
    if msg.x_loop.iter().any(loops) {
        return Some("X-Loop carries our address".to_string());
    }
    msg.in_reply_to
        .iter()
        .chain(&msg.references)
        .find(|id| crate::reply::is_our_message_id(id, config))
        .map(|id| format!("refers to our reply <{id}>"))
}

/// The first of our inbound addresses the message names in To, Cc, Bcc or Resent-*: the
/// address it was written to, which picks the reply template.
pub fn addressed_inbound<'c>(msg: &Inbound, config: &'c Config) -> Option<&'c str> {
    let recipients = [
        &msg.to,
        &msg.cc,
        &msg.bcc,
        &msg.resent_to,
        &msg.resent_cc,
        &msg.resent_bcc,
    ];
    recipients
        .iter()
        .flat_map(|list| list.iter())
        .find_map(|m| {
            let address = canonical(&m.address);
            config
                .inbound_addresses
                .iter()
                .find(|own| own.eq_ignore_ascii_case(&address))
                .map(String::as_str)
        })
}

fn not_addressed(msg: &Inbound, config: &Config, _: &Facts) -> Option<String> {
    addressed_inbound(msg, config)
        .is_none()
        .then(|| "none of inbound_addresses is in To, Cc or Resent-*".to_string())
}

fn bad_sender(msg: &Inbound, _: &Config, _: &Facts) -> Option<String> {
    reply_address(msg).err()
}

fn reply_window(msg: &Inbound, config: &Config, facts: &Facts) -> Option<String> {
    let at = facts.last_replied_at?;
    let to = reply_address(msg).ok()?;
    let age = facts.now.saturating_sub(at);
    (age < config.reply_window_secs()).then(|| {
        format!(
            "{} was answered {}h ago; the window is {} days",
            crate::redact::address(&sender_key(&to)),
            age / 3600,
            config.reply_window_days
        )
    })
}

fn hourly_ceiling(_: &Inbound, config: &Config, facts: &Facts) -> Option<String> {
    let count = facts.replies_this_hour?;
    (count >= config.max_replies_per_hour).then(|| {
        format!(
            "{count} replies this hour reach max_replies_per_hour ({})",
            config.max_replies_per_hour
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Mailbox, parse};

    fn msg(headers: &str) -> Inbound {
        let text = format!("{headers}\n\nbody\n").replace('\n', "\r\n");
        parse(text.as_bytes()).unwrap()
    }

    const PERSON: &str = "Return-Path: <jane@example.org>\nFrom: Jane <jane@example.org>\n\
        To: hello@example.com\nSubject: Hi\nMessage-ID: <1@example.org>";

    fn decide_on(headers: &str) -> Decision {
        decide(&msg(headers), &Config::default(), &Facts::default())
    }

    fn reason(headers: &str) -> Option<Reason> {
        match decide_on(headers) {
            Decision::Skip { reason, .. } => Some(reason),
            Decision::Reply { .. } => None,
        }
    }

    #[test]
    fn a_person_is_answered_at_the_envelope_sender() {
        assert_eq!(
            decide_on(PERSON),
            Decision::Reply {
                to: "jane@example.org".into()
            }
        );
    }

    #[test]
    fn duplicate_fires_on_a_prior_record() {
        let facts = Facts {
            prior: Some("sent".into()),
            ..Facts::default()
        };
        let d = decide(&msg(PERSON), &Config::default(), &facts);
        assert!(
            matches!(
                d,
                Decision::Skip {
                    reason: Reason::Duplicate,
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn auto_submitted_other_than_no_fires() {
        assert_eq!(
            reason(&format!("{PERSON}\nAuto-Submitted: auto-replied")),
            Some(Reason::AutoSubmitted)
        );
        assert_eq!(
            reason(&format!("{PERSON}\nAuto-Submitted: Auto-Generated; x=1")),
            Some(Reason::AutoSubmitted)
        );
    }

    #[test]
    fn auto_submitted_no_with_a_comment_is_a_person() {
        assert_eq!(
            reason(&format!("{PERSON}\nAuto-Submitted: no (by hand)")),
            None
        );
        assert_eq!(reason(&format!("{PERSON}\nAuto-Submitted: No")), None);
    }

    #[test]
    fn list_headers_and_bulk_precedence_fire() {
        assert_eq!(
            reason(&format!("{PERSON}\nList-Id: <x.example.org>")),
            Some(Reason::List)
        );
        assert_eq!(
            reason(&format!("{PERSON}\nList-Unsubscribe: <mailto:u@x.org>")),
            Some(Reason::List)
        );
        assert_eq!(
            reason(&format!("{PERSON}\nPrecedence: BULK")),
            Some(Reason::List)
        );
        assert_eq!(reason(&format!("{PERSON}\nPrecedence: first-class")), None);
        let ezmlm = format!("{PERSON}\nMailing-List: contact x-help@example.org; run by ezmlm");
        assert_eq!(reason(&ezmlm), Some(Reason::List));
    }

    #[test]
    fn null_sender_fires() {
        let headers = PERSON.replace("<jane@example.org>\nFrom", "<>\nFrom");
        assert_eq!(reason(&headers), Some(Reason::NullSender));
    }

    #[test]
    fn own_address_fires_self() {
        let headers = PERSON.replace("jane@example.org", "HELLO@example.com");
        assert_eq!(reason(&headers), Some(Reason::OwnMail));
    }

    #[test]
    fn reply_to_our_own_reply_fires_self() {
        let config = Config::default();
        let ours = crate::reply::message_id_for("mid:1@example.org", config.from_address());
        let headers = format!("{PERSON}\nIn-Reply-To: <{ours}>");
        assert_eq!(reason(&headers), Some(Reason::OwnMail));
    }

    #[test]
    fn recent_reply_to_the_sender_fires_rate_limited() {
        let facts = Facts {
            last_replied_at: Some(1_000),
            now: 1_000 + 3600,
            ..Facts::default()
        };
        let d = decide(&msg(PERSON), &Config::default(), &facts);
        assert!(
            matches!(
                d,
                Decision::Skip {
                    reason: Reason::RateLimited,
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn hourly_ceiling_stops_replies_once_reached() {
        let config = Config {
            max_replies_per_hour: 3,
            ..Config::default()
        };
        let under = Facts {
            replies_this_hour: Some(2),
            ..Facts::default()
        };
        assert!(matches!(
            decide(&msg(PERSON), &config, &under),
            Decision::Reply { .. }
        ));
        let at = Facts {
            replies_this_hour: Some(3),
            ..Facts::default()
        };
        let d = decide(&msg(PERSON), &config, &at);
        assert!(
            matches!(
                d,
                Decision::Skip {
                    reason: Reason::RateLimited,
                    rule: "hourly-ceiling",
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn reply_older_than_the_window_is_no_bar() {
        let facts = Facts {
            last_replied_at: Some(0),
            now: 8 * 86_400,
            ..Facts::default()
        };
        assert!(matches!(
            decide(&msg(PERSON), &Config::default(), &facts),
            Decision::Reply { .. }
        ));
    }

    #[test]
    fn spam_and_virus_fail_fire_and_missing_verdicts_are_unauthenticated_when_required() {
        assert_eq!(
            reason(&format!("X-SES-Spam-Verdict: FAIL\n{PERSON}")),
            Some(Reason::Spam)
        );
        assert_eq!(
            reason(&format!("X-SES-Virus-Verdict: FAIL\n{PERSON}")),
            Some(Reason::Virus)
        );
        let strict = Config {
            require_verdicts: true,
            ..Config::default()
        };
        let d = decide(&msg(PERSON), &strict, &Facts::default());
        assert!(
            matches!(
                d,
                Decision::Skip {
                    reason: Reason::Unauthenticated,
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn dmarc_fail_is_unauthenticated() {
        let h =
            format!("Authentication-Results: amazonses.com; dmarc=fail header.from=x\n{PERSON}");
        assert_eq!(reason(&h), Some(Reason::Unauthenticated));
    }

    #[test]
    fn multipart_report_is_a_bounce() {
        let h = format!(
            "{PERSON}\nContent-Type: multipart/report; report-type=delivery-status; boundary=x"
        );
        assert_eq!(reason(&h), Some(Reason::Bounce));
    }

    #[test]
    fn suppress_header_fires() {
        assert_eq!(
            reason(&format!("{PERSON}\nX-Auto-Response-Suppress: DR, OOF")),
            Some(Reason::SuppressRequested)
        );
        assert_eq!(
            reason(&format!("{PERSON}\nX-Auto-Response-Suppress: DR")),
            None
        );
    }

    #[test]
    fn no_reply_senders_fire_system_sender() {
        for local in [
            "noreply",
            "no-reply",
            "owner-list",
            "list-request",
            "list-owner",
        ] {
            let h = PERSON.replace("jane@", &format!("{local}@"));
            assert_eq!(reason(&h), Some(Reason::SystemSender), "{local}");
        }
        let h = PERSON.replace("jane@", "reply-all@");
        assert_eq!(reason(&h), None);
    }

    #[test]
    fn robot_markers_below_a_harmless_one_still_fire() {
        let h = format!("Auto-Submitted: no\nAuto-Submitted: auto-replied\n{PERSON}");
        assert_eq!(reason(&h), Some(Reason::AutoSubmitted));
        let h = format!("Precedence: first-class\nPrecedence: bulk\n{PERSON}");
        assert_eq!(reason(&h), Some(Reason::List));
        let h = format!("{PERSON}\nX-Precedence: auto-reply");
        assert_eq!(reason(&h), Some(Reason::AutoSubmitted));
        let h = format!("{PERSON}\nX-Auto-Response-Suppress: DR\nX-Auto-Response-Suppress: OOF");
        assert_eq!(reason(&h), Some(Reason::SuppressRequested));
    }

    #[test]
    fn tagged_and_rewritten_envelope_senders_are_unwrapped() {
        for (envelope, expected) in [
            (
                "bounces+1234-abcd-jane=example.org@em1.example.com",
                Reason::SystemSender,
            ),
            ("noreply+123@example.com", Reason::SystemSender),
            (
                "list-bounces+jane=example.org@lists.example.org",
                Reason::SystemSender,
            ),
            ("MAILER-DAEMON+x@mx.example.org", Reason::Bounce),
            ("Mailer_Daemon@mx.example.org", Reason::Bounce),
            ("prvs=1234abcd=mailer-daemon@mx.example.org", Reason::Bounce),
            (
                "SRS0=HHH=TT=orig.example=mailer-daemon@forwarder.example",
                Reason::Bounce,
            ),
        ] {
            let h = PERSON.replace(
                "Return-Path: <jane@example.org>",
                &format!("Return-Path: <{envelope}>"),
            );
            assert_eq!(reason(&h), Some(expected), "{envelope}");
        }
        let h = PERSON.replace(
            "<jane@example.org>\nFrom",
            "<jane+orders@example.org>\nFrom",
        );
        assert_eq!(reason(&h), None);
    }

    #[test]
    fn delivery_status_at_the_top_level_is_a_bounce() {
        let h = format!("{PERSON}\nContent-Type: message/delivery-status");
        assert_eq!(reason(&h), Some(Reason::Bounce));
    }

    #[test]
    fn null_return_path_with_a_comment_is_a_null_sender() {
        let h = PERSON.replace("<jane@example.org>\nFrom", "<> (null)\nFrom");
        assert_eq!(reason(&h), Some(Reason::NullSender));
    }

    #[test]
    fn mail_to_the_punycode_form_of_an_idn_inbound_address_is_addressed() {
        let config = Config::from_toml("inbound_addresses = [\"hello@bücher.example\"]\n").unwrap();
        let h = PERSON.replace("To: hello@example.com", "To: Hello@XN--BCHER-KVA.example");
        assert!(matches!(
            decide(&msg(&h), &config, &Facts::default()),
            Decision::Reply { .. }
        ));
    }

    #[test]
    fn mail_not_addressed_to_us_is_skipped() {
        let h = PERSON.replace("To: hello@example.com", "To: other@example.com");
        assert_eq!(reason(&h), Some(Reason::NotAddressed));
        let h = PERSON.replace(
            "To: hello@example.com",
            "To: x@example.net\nCc: Hello@Example.com",
        );
        assert_eq!(reason(&h), None);
    }

    #[test]
    fn invalid_sender_is_bad_sender() {
        let h = PERSON.replace("<jane@example.org>\nFrom", "<jane>\nFrom");
        assert_eq!(reason(&h), Some(Reason::BadSender));
    }

    #[test]
    fn missing_return_path_falls_back_to_from() {
        let mut m = msg(PERSON);
        m.return_path = ReturnPath::Missing;
        m.from = vec![Mailbox {
            name: None,
            address: "jane@example.org".into(),
        }];
        assert_eq!(reply_address(&m), Ok("jane@example.org".to_string()));
    }

    #[test]
    fn a_disabled_rule_does_not_fire_but_is_explained() {
        let h = format!("{PERSON}\nPrecedence: bulk");
        let config = Config {
            disabled_rules: vec!["list".into()],
            ..Config::default()
        };
        assert!(matches!(
            decide(&msg(&h), &config, &Facts::default()),
            Decision::Reply { .. }
        ));
        let results = explain(&msg(&h), &config, &Facts::default());
        let list = results.iter().find(|r| r.rule == "list").unwrap();
        assert!(list.fired.is_some() && !list.enabled);
    }
}
