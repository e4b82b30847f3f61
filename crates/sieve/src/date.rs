//! Dates for `date` and `currentdate` (RFC 5260): date parts of an instant in a zone, and
//! the RFC 5322 date-time of a header field.

/// RFC 5260 4.2: the date parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    Year,
    Month,
    Day,
    /// `yyyy-mm-dd`
    Date,
    /// Days since 1858-11-17 (Modified Julian Day).
    Julian,
    Hour,
    Minute,
    Second,
    /// `hh:mm:ss`
    Time,
    /// `yyyy-mm-ddThh:mm:ss+hh:mm`
    Iso8601,
    /// RFC 5322 date-time.
    Std11,
    /// `+hhmm`
    Zone,
    /// 0 = Sunday.
    Weekday,
}

impl DatePart {
    pub fn parse(name: &str) -> Option<DatePart> {
        Some(match name.to_ascii_lowercase().as_str() {
            "year" => DatePart::Year,
            "month" => DatePart::Month,
            "day" => DatePart::Day,
            "date" => DatePart::Date,
            "julian" => DatePart::Julian,
            "hour" => DatePart::Hour,
            "minute" => DatePart::Minute,
            "second" => DatePart::Second,
            "time" => DatePart::Time,
            "iso8601" => DatePart::Iso8601,
            "std11" => DatePart::Std11,
            "zone" => DatePart::Zone,
            "weekday" => DatePart::Weekday,
            _ => return None,
        })
    }
}

/// `+0700` / `-0130` as minutes east of UTC (RFC 5260 4.1).
pub fn parse_zone(text: &str) -> Option<i32> {
    let bytes = text.as_bytes();
    if bytes.len() != 5 || !bytes[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i32 = text[1..3].parse().ok()?;
    let minutes: i32 = text[3..5].parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

/// A calendar instant in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Minutes east of UTC.
    pub zone: i32,
    /// Days since 1970-01-01 (local).
    days: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic, 400-year cycles).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = month as i64;
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

impl Civil {
    /// The instant `unix` (seconds) seen in the zone `zone` (minutes east of UTC).
    pub fn from_unix(unix: i64, zone: i32) -> Civil {
        let local = unix + zone as i64 * 60;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs % 3600 / 60) as u32,
            second: (secs % 60) as u32,
            zone,
            days,
        }
    }

    pub fn to_unix(&self) -> i64 {
        self.days * 86_400 + (self.hour * 3600 + self.minute * 60 + self.second) as i64
            - self.zone as i64 * 60
    }

    fn zone_text(&self, colon: bool) -> String {
        let sign = if self.zone < 0 { '-' } else { '+' };
        let z = self.zone.abs();
        if colon {
            format!("{sign}{:02}:{:02}", z / 60, z % 60)
        } else {
            format!("{sign}{:02}{:02}", z / 60, z % 60)
        }
    }

    /// The text of a date part (RFC 5260 4.2).
    pub fn part(&self, part: DatePart) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        let weekday = (self.days + 4).rem_euclid(7) as usize;
        match part {
            DatePart::Year => format!("{:04}", self.year),
            DatePart::Month => format!("{:02}", self.month),
            DatePart::Day => format!("{:02}", self.day),
            DatePart::Date => format!("{:04}-{:02}-{:02}", self.year, self.month, self.day),
            // RFC 5260 4.2: days since 1858-11-17.
            DatePart::Julian => (self.days + 40_587).to_string(),
            DatePart::Hour => format!("{:02}", self.hour),
            DatePart::Minute => format!("{:02}", self.minute),
            DatePart::Second => format!("{:02}", self.second),
            DatePart::Time => format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second),
            DatePart::Iso8601 => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
                self.year,
                self.month,
                self.day,
                self.hour,
                self.minute,
                self.second,
                self.zone_text(true)
            ),
            DatePart::Std11 => format!(
                "{}, {} {} {:04} {:02}:{:02}:{:02} {}",
                DAYS[weekday],
                self.day,
                MONTHS[(self.month - 1) as usize],
                self.year,
                self.hour,
                self.minute,
                self.second,
                self.zone_text(false)
            ),
            DatePart::Zone => self.zone_text(false),
            DatePart::Weekday => weekday.to_string(),
        }
    }
}

/// An RFC 5322 3.3 date-time (`[Mon, ]23 Nov 2026 10:00[:00] +0700`, obsolete zone names
/// accepted) as (Unix seconds, zone minutes). None when it does not parse.
pub fn parse_rfc5322(text: &str) -> Option<(i64, i32)> {
    // Comments (e.g. "(ICT)") are dropped.
    let mut clean = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    let spaced = clean.replace(',', ", ");
    let mut words: Vec<&str> = spaced.split_whitespace().collect();
    if words.first().is_some_and(|w| w.ends_with(',')) {
        words.remove(0);
    }
    let [day, month, year, time, zone, ..] = words.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| month.eq_ignore_ascii_case(m))? as u32
        + 1;
    let mut year: i64 = year.parse().ok()?;
    // RFC 5322 4.3: two-digit years.
    if year < 50 {
        year += 2000;
    } else if year < 1000 {
        year += 1900;
    }
    let mut clock = time.split(':');
    let hour: u32 = clock.next()?.parse().ok()?;
    let minute: u32 = clock.next()?.parse().ok()?;
    let second: u32 = clock.next().map_or(Some(0), |s| s.parse().ok())?;
    if day == 0 || day > 31 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let zone = parse_zone(zone).or_else(|| {
        Some(match zone.to_ascii_uppercase().as_str() {
            "UT" | "GMT" | "Z" => 0,
            "EST" => -300,
            "EDT" => -240,
            "CST" => -360,
            "CDT" => -300,
            "MST" => -420,
            "MDT" => -360,
            "PST" => -480,
            "PDT" => -420,
            _ => 0,
        })
    })?;
    let days = days_from_civil(year, month, day);
    let unix =
        days * 86_400 + (hour * 3600 + minute * 60 + second.min(59)) as i64 - zone as i64 * 60;
    Some((unix, zone))
}
