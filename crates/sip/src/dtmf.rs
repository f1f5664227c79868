//! DTMF keys carried by SIP INFO bodies: `application/dtmf-relay` and `application/dtmf`.

/// Parses an `application/dtmf-relay` body (`Signal=5`, `Duration=160`).
pub(crate) fn parse_dtmf_relay(body: &[u8]) -> Option<(char, Option<u32>)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut digit = None;
    let mut duration = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.eq_ignore_ascii_case("signal") {
            digit = dtmf_digit(value.trim());
        } else if key.eq_ignore_ascii_case("duration") {
            duration = value.trim().parse().ok();
        }
    }
    digit.map(|d| (d, duration))
}

/// Parses an `application/dtmf` body (the digit alone).
pub(crate) fn parse_dtmf(body: &[u8]) -> Option<char> {
    dtmf_digit(std::str::from_utf8(body).ok()?.trim())
}

/// A DTMF key from its character or its RFC 4733 event number.
fn dtmf_digit(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let first = chars.next()?;
    if chars.next().is_none() {
        let upper = first.to_ascii_uppercase();
        return matches!(upper, '0'..='9' | '*' | '#' | 'A'..='D').then_some(upper);
    }
    match text.parse::<u8>().ok()? {
        10 => Some('*'),
        11 => Some('#'),
        12 => Some('A'),
        13 => Some('B'),
        14 => Some('C'),
        15 => Some('D'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dtmf_bodies() {
        assert_eq!(
            parse_dtmf_relay(b"Signal=5\r\nDuration=160\r\n"),
            Some(('5', Some(160)))
        );
        assert_eq!(
            parse_dtmf_relay(b"signal= *\nduration=100"),
            Some(('*', Some(100)))
        );
        assert_eq!(parse_dtmf_relay(b"Signal=11\r\n"), Some(('#', None)));
        assert_eq!(parse_dtmf_relay(b"Signal=X\r\n"), None);
        assert_eq!(parse_dtmf(b"5"), Some('5'));
        assert_eq!(parse_dtmf(b"10\r\n"), Some('*'));
        assert_eq!(parse_dtmf(b"55"), None);
    }
}
