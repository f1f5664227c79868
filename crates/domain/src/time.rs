//! Presenting instants: the store keeps Unix milliseconds; people read UTC.

/// `2026-11-25 16:18:15Z` from Unix milliseconds (proleptic Gregorian calendar).
pub fn format_utc_millis(ms: i64) -> String {
    format_with(ms, ' ')
}

/// `2026-11-25T16:18:15Z` (RFC 3339) from Unix milliseconds, for machine-read lines.
pub fn format_rfc3339_millis(ms: i64) -> String {
    format_with(ms, 'T')
}

fn format_with(ms: i64, separator: char) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01, by eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}{separator}{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{format_rfc3339_millis, format_utc_millis};

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_utc_millis(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_utc_millis(1_795_564_800_000), "2026-11-25 00:00:00Z");
        assert_eq!(format_utc_millis(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(format_utc_millis(-1), "1969-12-31 23:59:59Z");
        assert_eq!(
            format_rfc3339_millis(1_795_564_815_000),
            "2026-11-25T00:00:15Z"
        );
    }
}
