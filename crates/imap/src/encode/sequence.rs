//! Numbers in responses: sequence sets (`1:3,5`) and the expunge reports built from them.

/// Compact `1:3,5` form of sorted numbers.
pub fn compact(numbers: &[i64]) -> String {
    let mut parts = vec![];
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end + 1 {
            i += 1;
            end = numbers[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// `n EXPUNGE` (RFC 9051 7.4.1).
pub fn expunge(seq: usize) -> String {
    format!("{seq} EXPUNGE")
}

/// `VANISHED uids` (RFC 7162 3.2.10), or `VANISHED (EARLIER) uids` for expunges that happened
/// before this command.
pub fn vanished(uids: &[i64], earlier: bool) -> String {
    let earlier = if earlier { "(EARLIER) " } else { "" };
    format!("VANISHED {earlier}{}", compact(uids))
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_ranges() {
        assert_eq!(super::compact(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(super::compact(&[]), "");
    }

    #[test]
    fn expunge_reports() {
        assert_eq!(super::expunge(4), "4 EXPUNGE");
        assert_eq!(super::vanished(&[1, 2, 9], false), "VANISHED 1:2,9");
        assert_eq!(super::vanished(&[3], true), "VANISHED (EARLIER) 3");
    }
}
