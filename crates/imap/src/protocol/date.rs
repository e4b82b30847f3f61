//! Calendar arithmetic and the IMAP `date-time` syntax for the hand-written APPEND parser.

use super::lexer::{Cursor, PResult};

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian; H. Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y as i32, m as u8, d as u8)
}

/// (year, month, day) → days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`
/// → (unix seconds, zone offset in minutes).
pub(crate) fn date_time(c: &mut Cursor<'_>) -> PResult<(i64, i32)> {
    let bad = || "invalid date-time".to_string();
    let s = c.quoted()?;
    let b = s.as_bytes();
    // "dd-Mon-yyyy hh:mm:ss +zzzz" with dd possibly " d".
    if b.len() != 26 {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> PResult<u32> {
        let t = std::str::from_utf8(&b[r]).map_err(|_| bad())?.trim_start();
        if t.is_empty() || !t.bytes().all(|x| x.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    if b[2] != b'-'
        || b[6] != b'-'
        || b[11] != b' '
        || b[14] != b':'
        || b[17] != b':'
        || b[20] != b' '
    {
        return Err(bad());
    }
    let day = num(0..2)?;
    let month_name = std::str::from_utf8(&b[3..6])
        .map_err(|_| bad())?
        .to_ascii_uppercase();
    let month = MONTHS
        .iter()
        .position(|m| *m == month_name)
        .ok_or_else(bad)? as u32
        + 1;
    let year = i64::from(num(7..11)?);
    let (h, mi, sec) = (num(12..14)?, num(15..17)?, num(18..20)?);
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(bad()),
    };
    let (zh, zm) = (num(22..24)?, num(24..26)?);
    if day == 0 || day > days_in_month(year, month) || h > 23 || mi > 59 || sec > 60 || zm > 59 {
        return Err(bad());
    }
    let offset_min = sign * (zh as i32 * 60 + zm as i32);
    let local = days_from_civil(year, month, day) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(sec);
    Ok((local - i64::from(offset_min) * 60, offset_min))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-719_468i64, -1, 0, 1, 11_016, 19_723, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(
                days_from_civil(i64::from(y), u32::from(m), u32::from(d)),
                days
            );
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
    }

    #[test]
    fn parse_date_time() {
        let mut c = Cursor::new(b"\"17-Jul-1996 02:44:25 -0700\"");
        assert_eq!(date_time(&mut c).unwrap(), (837_596_665, -420));
        let mut c = Cursor::new(b"\" 1-Jan-2024 00:00:00 +0700\"");
        assert_eq!(date_time(&mut c).unwrap(), (1_704_042_000, 420));
        for bad in [
            &b"\"31-Feb-2024 00:00:00 +0000\""[..],
            b"\"01-Foo-2024 00:00:00 +0000\"",
            b"\"01-Jan-2024 24:00:00 +0000\"",
            b"\"01-Jan-2024 00:00:00 0000\"",
            b"\"1-Jan-2024 00:00:00 +0000\"",
        ] {
            assert!(date_time(&mut Cursor::new(bad)).is_err());
        }
    }
}
