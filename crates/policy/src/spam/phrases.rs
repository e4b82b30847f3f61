//! Phrases of unsolicited mail, English and Vietnamese, in the Subject or the body text: each
//! family a named rule, as SpamAssassin's body rules are (DRUGS_ERECTILE, GUARANTEED_100_PERCENT
//! and the like). A family fires once however many of its phrases the message holds.
//!
//! Official mail quotes scams too (a police circular warning of "bạn đã trúng thưởng"
//! messages), and its own wording overlaps theirs ("giải ngân", "làm việc tại nhà", "cá cược"
//! in a letter against gambling): so the Vietnamese phrases are the scams' own second-person
//! wording, a phrase matches only as whole words ("cá độ" is not in "cá độc"), and all the
//! families together give at most [`PHRASES_MAX`] points — phrases alone never tag a message.
//!
//! Matching is on the lower-cased NFC text (`Parsed::text_lower`, `Parsed::subject`), one pass
//! of an Aho-Corasick automaton over all phrases.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use super::{Hits, Parsed};

/// Most points all phrase families together add (the tag threshold is 5).
pub const PHRASES_MAX: f64 = 3.0;

/// Rule name and its phrases (lower case, NFC).
pub const FAMILIES: &[(&str, &[&str])] = &[
    (
        "DRUGS_ERECTILE",
        &[
            "viagra",
            "cialis",
            "levitra",
            "erectile",
            "penis enlargement",
        ],
    ),
    (
        "NO_PRESCRIPTION",
        &[
            "no prescription",
            "without prescription",
            "without a prescription",
        ],
    ),
    (
        "GUARANTEED_100_PERCENT",
        &[
            "100% guaranteed",
            "guaranteed 100%",
            "100% satisfaction",
            "100% free",
            "hoàn vốn 100%",
        ],
    ),
    (
        "PRIZE_CLAIM",
        &[
            "you have won",
            "you have been selected",
            "claim your prize",
            "winning notification",
            "lottery winner",
            "international lottery",
            "bạn đã trúng thưởng",
            "quý khách đã trúng thưởng",
            "chúc mừng bạn đã trúng",
            "bạn đã được chọn",
            "đã được chọn nhận phần thưởng",
            "nhận thưởng ngay",
        ],
    ),
    (
        "LOAN_OFFER",
        &[
            "loan approved",
            "no credit check",
            "instant loan",
            "vay tiền nhanh",
            "không cần thế chấp",
            "giải ngân ngay trong ngày",
            "hỗ trợ nợ xấu",
        ],
    ),
    (
        "ACCOUNT_THREAT",
        &[
            "verify your account",
            "your account will be suspended",
            "your account has been suspended",
            "confirm your password",
            "mailbox is full",
            "mailbox has exceeded",
            "upgrade your quota",
            "tài khoản của bạn sẽ bị khóa",
            "tài khoản của bạn đã bị khóa",
            "tài khoản của quý khách có dấu hiệu bất thường",
            "hộp thư của bạn đã đầy",
            "hộp thư sẽ bị xóa",
            "xác nhận mật khẩu của bạn",
        ],
    ),
    (
        "GAMBLING",
        &[
            "online casino",
            "nhà cái uy tín",
            "đăng ký nhà cái",
            "tặng tiền cược",
        ],
    ),
    (
        "EASY_INCOME",
        &[
            "work from home",
            "việc làm online tại nhà",
            "không cần kinh nghiệm, thu nhập",
            "nhận lãi hằng ngày",
            "đầu tư tiền ảo lợi nhuận",
        ],
    ),
    (
        "MILLIONS_OF_DOLLARS",
        &["million dollars", "million us dollars", "million usd"],
    ),
];

/// Every phrase of every family, in one automaton; a pattern's family by its index.
static AUTOMATON: LazyLock<(AhoCorasick, Vec<usize>)> = LazyLock::new(|| {
    let mut phrases = vec![];
    let mut family_of = vec![];
    for (family, (_, list)) in FAMILIES.iter().enumerate() {
        for phrase in *list {
            phrases.push(*phrase);
            family_of.push(family);
        }
    }
    let automaton = AhoCorasick::new(&phrases).expect("the phrase list is valid");
    (automaton, family_of)
});

/// The families with a phrase in `text` as whole words.
fn families_in(text: &str, found: &mut [bool]) {
    let (automaton, family_of) = &*AUTOMATON;
    for m in automaton.find_overlapping_iter(text) {
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        let word_edge = |c: Option<char>| !c.is_some_and(char::is_alphanumeric);
        if word_edge(before) && word_edge(after) {
            found[family_of[m.pattern().as_usize()]] = true;
        }
    }
}

pub(super) fn check(message: &Parsed, hits: &mut Hits) {
    let mut found = vec![false; FAMILIES.len()];
    if let Some(subject) = &message.subject {
        families_in(&subject.to_lowercase(), &mut found);
    }
    families_in(&message.text_lower, &mut found);
    let mut left = PHRASES_MAX;
    for (family, (rule, _)) in FAMILIES.iter().enumerate() {
        if !found[family] || left <= 0.0 {
            continue;
        }
        let points = hits.config().score_of(rule).min(left);
        left -= points.max(0.0);
        hits.fire_with(rule, points);
    }
}
