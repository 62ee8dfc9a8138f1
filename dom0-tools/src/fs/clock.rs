//! File times: seconds since the Unix epoch (UTC) as the calendar date and time FAT stores
//! (1980 to 2107, two-second steps done by the crate).

use embedded_sdmmc::{TimeSource, Timestamp};

/// 1980-01-01 00:00:00 UTC, FAT's first moment (and the time used when none is known).
pub const FAT_EPOCH: u64 = 315_532_800;

/// A fixed time for one operation (read once when it starts).
pub struct Clock(pub u64);

impl TimeSource for Clock {
    fn get_timestamp(&self) -> Timestamp {
        timestamp(self.0)
    }
}

/// The calendar date of `days` since 1970-01-01 (proleptic Gregorian): (year, month 1-12,
/// day 1-31). Counts in 400-year eras of 146097 days starting on 1 March, so that the leap
/// day ends a year.
pub fn civil(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `secs` since the epoch as a FAT timestamp, clamped to 1980..=2107.
pub fn timestamp(secs: u64) -> Timestamp {
    let max = 4_354_819_199; // 2107-12-31 23:59:59
    let secs = secs.clamp(FAT_EPOCH, max);
    let (year, month, day) = civil(secs / 86_400);
    let t = secs % 86_400;
    Timestamp {
        year_since_1970: (year - 1970) as u8,
        zero_indexed_month: month - 1,
        zero_indexed_day: day - 1,
        hours: (t / 3600) as u8,
        minutes: (t / 60 % 60) as u8,
        seconds: (t % 60) as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(59), (1970, 3, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(20_454), (2026, 1, 1));
        let t = timestamp(1_767_225_600 + 3 * 3600 + 4 * 60 + 5); // 2026-01-01 03:04:05
        assert_eq!(
            (t.year_since_1970, t.zero_indexed_month, t.zero_indexed_day),
            (56, 0, 0)
        );
        assert_eq!((t.hours, t.minutes, t.seconds), (3, 4, 5));
        assert_eq!(timestamp(0).year_since_1970, 10, "clamped to 1980");
    }
}
