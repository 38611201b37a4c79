//! Mailbox addresses: the narrow syntax we are willing to send to.
//!
//! Inbound headers may carry anything; an address only becomes a reply recipient after it
//! passes [`parse_reply_address`]. The accepted form is deliberately stricter than RFC 5322
//! (no quoted local parts, no comments, no route syntax): a reply that cannot be sent
//! safely is skipped, not guessed at.

/// Why an address is not usable as a reply recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    Empty,
    NoAt,
    BadLocalPart,
    NonAsciiLocalPart,
    BadDomain,
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressError::Empty => "the address is empty",
            AddressError::NoAt => "the address has no @",
            AddressError::BadLocalPart => "the local part has characters we do not send to",
            AddressError::NonAsciiLocalPart => {
                "the local part is not ASCII (SES cannot send SMTPUTF8)"
            }
            AddressError::BadDomain => "the domain is not a valid host name",
        })
    }
}

/// Characters RFC 5322 allows in a dot-atom besides letters and digits.
const ATEXT_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";

/// Returns the address in canonical form (local part as given, domain lowercased and, when
/// internationalized, in its ASCII `xn--` form) if and only if it is a plain
/// `local@domain` we can hand to SES.
pub fn parse_reply_address(input: &str) -> Result<String, AddressError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(AddressError::Empty);
    }

    let (local, domain) = input.rsplit_once('@').ok_or(AddressError::NoAt)?;

    if !local.is_ascii() {
        return Err(AddressError::NonAsciiLocalPart);
    }
    let atoms_ok = !local.is_empty()
        && local.len() <= 64
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(&b))
        });
    if !atoms_ok {
        return Err(AddressError::BadLocalPart);
    }

    let domain = if domain.is_ascii() {
        domain.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(domain).map_err(|_| AddressError::BadDomain)?
    };
    if !is_host_name(&domain) {
        return Err(AddressError::BadDomain);
    }

    Ok(format!("{local}@{domain}"))
}

/// Returns true if and only if `domain` is a dotted ASCII host name of at least two labels.
fn is_host_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    // An all-digit last label is an IP address in disguise, not a mail domain.
    let tld_ok = labels
        .last()
        .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    domain.len() <= 253
        && tld_ok
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The key under which a sender is remembered: the whole address, case-folded.
///
/// Local parts are case-sensitive in theory and never in practice; answering
/// `Jane@` and `jane@` twice in a week is the worse mistake.
pub fn sender_key(address: &str) -> String {
    address.trim().to_lowercase()
}

/// The form addresses are compared in: canonical (punycode domain) and lowercased when
/// it parses, else just trimmed and lowercased.
pub fn canonical(address: &str) -> String {
    parse_reply_address(address)
        .unwrap_or_else(|_| address.trim().to_string())
        .to_lowercase()
}

/// Splits a configured `Name <local@domain>` or bare `local@domain` into its parts.
pub fn split_display(input: &str) -> (Option<&str>, &str) {
    let input = input.trim();
    match (input.rfind('<'), input.ends_with('>')) {
        (Some(open), true) => {
            let name = input[..open].trim().trim_matches('"').trim();
            let address = &input[open + 1..input.len() - 1];
            ((!name.is_empty()).then_some(name), address.trim())
        }
        _ => (None, input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_address_is_accepted_and_domain_lowercased() {
        assert_eq!(
            parse_reply_address(" Jane@Example.ORG ").unwrap(),
            "Jane@example.org"
        );
    }

    #[test]
    fn address_without_at_is_rejected() {
        assert_eq!(parse_reply_address("jane"), Err(AddressError::NoAt));
    }

    #[test]
    fn header_injection_in_an_address_is_rejected() {
        assert!(parse_reply_address("a@example.org\r\nBcc: victim@example.net").is_err());
        assert!(parse_reply_address("a b@example.org").is_err());
        assert!(parse_reply_address("a@exa mple.org").is_err());
    }

    #[test]
    fn non_ascii_local_part_is_rejected() {
        assert_eq!(
            parse_reply_address("jöse@example.org"),
            Err(AddressError::NonAsciiLocalPart)
        );
    }

    #[test]
    fn internationalized_domain_becomes_punycode() {
        assert_eq!(
            parse_reply_address("info@bücher.example").unwrap(),
            "info@xn--bcher-kva.example"
        );
    }

    #[test]
    fn single_label_and_dotted_edge_domains_are_rejected() {
        assert_eq!(
            parse_reply_address("a@localhost"),
            Err(AddressError::BadDomain)
        );
        assert_eq!(
            parse_reply_address("a@1.2.3.4"),
            Err(AddressError::BadDomain)
        );
        assert_eq!(
            parse_reply_address("a@.example.org"),
            Err(AddressError::BadDomain)
        );
        assert_eq!(
            parse_reply_address("a..b@example.org"),
            Err(AddressError::BadLocalPart)
        );
    }

    #[test]
    fn display_form_is_split() {
        assert_eq!(
            split_display("\"Mail Room\" <hello@example.com>"),
            (Some("Mail Room"), "hello@example.com")
        );
        assert_eq!(
            split_display("hello@example.com"),
            (None, "hello@example.com")
        );
    }
}
