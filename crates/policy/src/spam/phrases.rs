//! Phrases of unsolicited mail, English and Vietnamese, in the Subject or the body text: each
//! family a named rule, as SpamAssassin's body rules are (DRUGS_ERECTILE, GUARANTEED_100_PERCENT
//! and the like). A family fires once however many of its phrases the message holds. Phrases
//! are matched lower-cased, in NFC (the form mail-parser decodes Vietnamese text to and the
//! form written here); Vietnamese ones name scams, not words an official letter uses alone
//! ("xổ số" is a provincial company's business, "trúng thưởng" a scam's opening).

use super::{Hits, Parsed};

/// Rule name and its phrases (lower case).
pub const FAMILIES: &[(&str, &[&str])] = &[
    (
        "DRUGS_ERECTILE",
        &["viagra", "cialis", "levitra", "erectile", "penis enlarge"],
    ),
    (
        "NO_PRESCRIPTION",
        &[
            "no prescription",
            "without prescription",
            "without a prescription",
            "không cần kê đơn",
            "không cần đơn thuốc",
        ],
    ),
    (
        "GUARANTEED_100_PERCENT",
        &[
            "100% guaranteed",
            "guaranteed 100%",
            "100% satisfaction",
            "100% free",
            "cam kết 100%",
            "đảm bảo 100%",
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
            "trúng thưởng",
            "nhận thưởng ngay",
            "bạn đã được chọn",
            "đã được chọn nhận",
            "phần thưởng trị giá",
            "international lottery",
            "selected in our",
        ],
    ),
    (
        "LOAN_OFFER",
        &[
            "loan approved",
            "no credit check",
            "instant loan",
            "vay tiền nhanh",
            "vay nhanh",
            "không cần thế chấp",
            "giải ngân trong",
            "giải ngân ngay",
            "không thẩm định",
            "hỗ trợ nợ xấu",
            "lãi suất 0%",
        ],
    ),
    (
        "ACCOUNT_THREAT",
        &[
            "verify your account",
            "your account will be",
            "your account has been suspended",
            "confirm your password",
            "mailbox is full",
            "mailbox has exceeded",
            "xác minh tài khoản",
            "tài khoản của bạn sẽ bị",
            "tài khoản của bạn đã bị khóa",
            "hộp thư của bạn đã đầy",
            "xác nhận mật khẩu",
            "sẽ bị tạm khóa",
            "storage is full",
            "upgrade your quota",
        ],
    ),
    (
        "GAMBLING",
        &[
            "online casino",
            "nhà cái",
            "cá cược",
            "cá độ",
            "đánh bạc trực tuyến",
        ],
    ),
    (
        "EASY_INCOME",
        &[
            "work from home",
            "việc làm online tại nhà",
            "làm việc tại nhà",
            "không cần kinh nghiệm, thu nhập",
            "lợi nhuận 300%",
            "nhận lãi hằng ngày",
            "hoàn vốn 100%",
            "đầu tư tiền ảo",
        ],
    ),
    (
        "MILLIONS_OF_DOLLARS",
        &[
            "million dollars",
            "million us dollars",
            "million usd",
            "usd million",
            "triệu đô",
        ],
    ),
];

pub(super) fn check(message: &Parsed, hits: &mut Hits) {
    let mut text = message.subject.as_deref().unwrap_or("").to_lowercase();
    text.push('\n');
    text.push_str(&message.text.to_lowercase());
    for (rule, phrases) in FAMILIES {
        if phrases.iter().any(|p| text.contains(p)) {
            hits.fire(rule);
        }
    }
}
