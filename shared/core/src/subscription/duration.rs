//! How long a tier admits: `subscription_days` (whole days) or `duration`, spelled out
//! (`"30 days"`, `"12 hours"`, `"90 minutes"`) or short (`"30d"`, `"12h"`, `"3m"`: `m` is
//! minutes, which is why `telepay catalog apply` asks for the spelled-out form), held in
//! seconds. Months are not a unit: they differ in length, and
//! a buyer must be able to tell from the tier exactly when access ends (`"30d"`).
//!
//! Tests: below.

use std::fmt;
use std::str::FromStr;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

const SECONDS_PER_DAY: u64 = 86_400;
/// Ten years: beyond that a tier is a typo, and the fold must never overflow.
pub const MAX_ACCESS_SECONDS: u64 = 10 * 366 * SECONDS_PER_DAY;

/// A positive length of paid access, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct AccessDuration(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "a duration must be a positive whole number and a unit, e.g. \"30 days\", \"12 hours\", \"90 minutes\", \"2 weeks\" (or s, m, h, d, w: \"30d\"); got {0:?}"
    )]
    Shape(String),
    #[error("a duration must be positive and at most ten years")]
    OutOfRange,
}

impl AccessDuration {
    pub fn from_seconds(seconds: u64) -> Result<Self, DurationError> {
        if seconds == 0 || seconds > MAX_ACCESS_SECONDS {
            return Err(DurationError::OutOfRange);
        }
        Ok(Self(seconds))
    }

    pub fn from_days(days: u32) -> Result<Self, DurationError> {
        Self::from_seconds(u64::from(days) * SECONDS_PER_DAY)
    }

    pub fn seconds(self) -> u64 {
        self.0
    }

    /// Whole days, rounded down: the legacy `subscription_days` column.
    pub fn whole_days(self) -> u32 {
        u32::try_from(self.0 / SECONDS_PER_DAY).unwrap_or(u32::MAX)
    }

    pub fn as_delta(self) -> TimeDelta {
        // At most ten years: always representable.
        TimeDelta::seconds(self.0 as i64)
    }
}

impl TryFrom<u64> for AccessDuration {
    type Error = DurationError;
    fn try_from(seconds: u64) -> Result<Self, Self::Error> {
        Self::from_seconds(seconds)
    }
}

impl From<AccessDuration> for u64 {
    fn from(d: AccessDuration) -> u64 {
        d.0
    }
}

impl FromStr for AccessDuration {
    type Err = DurationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shape = || DurationError::Shape(text.to_owned());
        let trimmed = text.trim();
        let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = trimmed.split_at(digits);
        if number.is_empty() {
            return Err(shape());
        }
        let count: u64 = number.parse().map_err(|_| DurationError::OutOfRange)?;
        let per_unit = unit_seconds(unit.trim_start()).ok_or_else(shape)?;
        Self::from_seconds(
            count
                .checked_mul(per_unit)
                .ok_or(DurationError::OutOfRange)?,
        )
    }
}

/// A unit's length: the short letters and the spelled-out words (singular or plural).
fn unit_seconds(unit: &str) -> Option<u64> {
    Some(match unit {
        "s" | "second" | "seconds" => 1,
        "m" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => SECONDS_PER_DAY,
        "w" | "week" | "weeks" => 7 * SECONDS_PER_DAY,
        _ => return None,
    })
}

/// Whether `text` names its unit in words (`"3 minutes"`), not by a letter (`"3m"`,
/// which reads as three months to many owners): what `telepay catalog apply` asks.
pub fn is_spelled_out(text: &str) -> bool {
    let unit = text
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim();
    unit.len() > 1 && unit_seconds(unit).is_some()
}

impl AccessDuration {
    /// As a buyer reads it: `30 days`, `12 hours`, `90 minutes` (whole units, else
    /// minutes rounded up).
    pub fn spoken(self) -> String {
        let seconds = self.0;
        let (count, unit) = if seconds.is_multiple_of(SECONDS_PER_DAY) {
            (seconds / SECONDS_PER_DAY, "day")
        } else if seconds.is_multiple_of(3_600) {
            (seconds / 3_600, "hour")
        } else {
            (seconds.div_ceil(60), "minute")
        };
        format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
    }
}

impl fmt::Display for AccessDuration {
    /// The largest unit that divides it exactly: `30d`, `90m`, `45s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (unit, size) in [
            ("w", 7 * SECONDS_PER_DAY),
            ("d", SECONDS_PER_DAY),
            ("h", 3_600),
            ("m", 60),
        ] {
            if s.is_multiple_of(size) {
                return write!(f, "{}{unit}", s / size);
            }
        }
        write!(f, "{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_units_a_channel_owner_writes() {
        let parse = |t: &str| t.parse::<AccessDuration>().map(AccessDuration::seconds);
        assert_eq!(parse("30d"), Ok(30 * 86_400));
        assert_eq!(parse("3m"), Ok(180), "m is minutes: the demo tier");
        assert_eq!(parse("12h"), Ok(43_200));
        assert_eq!(parse("2w"), Ok(14 * 86_400));
        assert_eq!(parse(" 45s "), Ok(45));
        assert_eq!(parse("30 days"), Ok(30 * 86_400));
        assert_eq!(parse("3 minutes"), Ok(180));
        assert_eq!(parse("1 hour"), Ok(3_600));
        assert_eq!(parse("2weeks"), Ok(14 * 86_400));
        assert!(is_spelled_out("3 minutes") && is_spelled_out("1 day"));
        assert!(!is_spelled_out("3m") && !is_spelled_out("30d") && !is_spelled_out("3 months"));
    }

    #[test]
    fn a_duration_that_is_not_a_positive_count_and_unit_is_refused() {
        for bad in [
            "", "d", "30", "30x", "-3d", "3.5d", "1mo", "0d", "3 months", "days",
        ] {
            assert!(bad.parse::<AccessDuration>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            "4000d".parse::<AccessDuration>(),
            Err(DurationError::OutOfRange)
        );
        assert_eq!(
            "99999999999999999999w".parse::<AccessDuration>(),
            Err(DurationError::OutOfRange)
        );
    }

    #[test]
    fn a_duration_prints_in_its_largest_exact_unit() {
        assert_eq!(AccessDuration::from_days(30).unwrap().to_string(), "30d");
        assert_eq!("90m".parse::<AccessDuration>().unwrap().to_string(), "90m");
        assert_eq!("14d".parse::<AccessDuration>().unwrap().to_string(), "2w");
        assert_eq!("61s".parse::<AccessDuration>().unwrap().to_string(), "61s");
    }
}
