//! The OGC API `datetime` parameter (an RFC 3339 instant, or a closed or half-bounded interval
//! `start/end` with `..` or nothing for an open end) matched against a layer's validity period.
//! A layer's time dimension is its validity (admin layouts: 2019 wards valid until
//! 2025-07-01, 2025 wards from then on), in whole days.

use chrono::{DateTime, NaiveDate};

/// A `datetime` value, reduced to days (UTC). `None` is an open end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// First day, inclusive.
    pub start: Option<NaiveDate>,
    /// Last day, inclusive.
    pub end: Option<NaiveDate>,
}

impl DateRange {
    /// Parses a `datetime` parameter; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (start, end) = match text.split_once('/') {
            None => {
                let day = instant(text)?.ok_or("an instant must be a date or date-time")?;
                (Some(day), Some(day))
            }
            Some((start, end)) => (instant(start)?, instant(end)?),
        };
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            return Err(format!(
                "the interval ends ({end}) before it starts ({start})"
            ));
        }
        Ok(Self { start, end })
    }

    /// Whether the range shares a day with a validity period `[from, to)` (either end open).
    pub fn overlaps(&self, valid_from: Option<NaiveDate>, valid_to: Option<NaiveDate>) -> bool {
        let starts_before_it_ends = match (self.start, valid_to) {
            (Some(start), Some(to)) => start < to,
            _ => true,
        };
        let ends_after_it_starts = match (self.end, valid_from) {
            (Some(end), Some(from)) => end >= from,
            _ => true,
        };
        starts_before_it_ends && ends_after_it_starts
    }
}

/// One end: `..` or empty is open; otherwise an RFC 3339 date-time or a full date.
fn instant(text: &str) -> Result<Option<NaiveDate>, String> {
    if text.is_empty() || text == ".." {
        return Ok(None);
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Some(day));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.to_utc().date_naive()))
        .map_err(|_| format!("{text:?} is not an RFC 3339 date-time or a YYYY-MM-DD date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn instants_and_intervals_against_layouts() {
        let wards_2019 = (None, Some(day("2025-07-01")));
        let wards_2025 = (Some(day("2025-07-01")), None);
        for (datetime, in_2019, in_2025) in [
            ("2024-01-01", true, false),
            ("2025-06-30T23:59:59Z", true, false),
            // 2025-07-01 07:00 in Hồ Chí Minh City is still 2025-07-01 in UTC.
            ("2025-07-01T07:00:00+07:00", false, true),
            ("2025-07-01", false, true),
            ("2025-06-01/2025-08-01", true, true),
            ("../2019-01-01", true, false),
            ("2030-01-01/..", false, true),
            ("/", true, true),
        ] {
            let range = DateRange::parse(datetime).unwrap();
            assert_eq!(
                range.overlaps(wards_2019.0, wards_2019.1),
                in_2019,
                "{datetime}"
            );
            assert_eq!(
                range.overlaps(wards_2025.0, wards_2025.1),
                in_2025,
                "{datetime}"
            );
        }
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "yesterday",
            "2025-13-01",
            "2025-08-01/2025-07-01",
            "..",
            "2025-07-01/x",
        ] {
            assert!(DateRange::parse(bad).is_err(), "{bad}");
        }
    }
}
