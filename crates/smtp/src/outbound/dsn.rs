//! Delivery status notifications (RFC 3464 `multipart/report; report-type=delivery-status`,
//! RFC 3461 semantics), written for civil servants: a Vietnamese explanation first, the same
//! in English, then the machine-readable report and the original message (RET=FULL) or its
//! header (default).

use std::fmt::Write as _;

use base64::Engine;

/// What the notice says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    Failed,
    Delayed,
    /// Handed to a server that does not send notices itself (NOTIFY=SUCCESS asked).
    Relayed,
    /// Delivered to a mailbox here (NOTIFY=SUCCESS asked; RFC 3464 2.3.3).
    Delivered,
}

impl DsnAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
            DsnAction::Relayed => "relayed",
            DsnAction::Delivered => "delivered",
        }
    }
}

/// One recipient's block of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub recipient: String,
    /// ORCPT as given by the sender (`rfc822;addr` or the address).
    pub orcpt: Option<String>,
    pub action: DsnAction,
    /// RFC 3463 status, e.g. `5.1.1`.
    pub status: String,
    /// The remote reply or local reason (an SMTP reply when it starts with a code).
    pub diagnostic: Option<String>,
    /// `name [ip]` of the remote host.
    pub remote_mta: Option<String>,
    pub last_attempt: i64,
    pub will_retry_until: Option<i64>,
}

pub struct DsnInput<'a> {
    /// Our host name.
    pub reporting_mta: &'a str,
    /// The original envelope sender (the notice's recipient).
    pub sender: &'a str,
    pub env_id: Option<&'a str>,
    /// When we accepted the message.
    pub arrival: i64,
    pub action: DsnAction,
    pub recipients: Vec<DsnRecipient>,
    /// The original message (without Return-Path).
    pub original: &'a [u8],
    /// RET=FULL: include the whole message, else only its header.
    pub ret_full: bool,
}

fn rfc2822(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

/// Vietnamese wording for dates: `ngày 23/11/2026 lúc 10:00 (UTC)`.
fn vietnamese_date(at: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "ngày {:02}/{:02}/{} lúc {:02}:{:02} (UTC)",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// RFC 2047 encoded words (UTF-8, base64) for a header value, folded.
pub fn encode_header_words(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut words = vec![];
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 36 {
            words.push(format!("=?UTF-8?B?{}?=", b64.encode(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", b64.encode(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

/// Printable US-ASCII for a report field (RFC 3464 fields are ASCII; others become `?`).
fn ascii_field(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .take(900)
        .collect()
}

/// A random-enough token for boundaries and Message-IDs.
fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

fn header_block(message: &[u8]) -> &[u8] {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => &message[..p + 2],
        None => message,
    }
}

fn texts(action: DsnAction, until: Option<i64>) -> (&'static str, String, String) {
    match action {
        DsnAction::Failed => (
            "Thư không gửi được / Undelivered Mail Returned to Sender",
            "Đây là thông báo tự động của hệ thống thư điện tử công vụ.\r\n\r\n\
             Thư của bạn KHÔNG gửi được tới (các) địa chỉ dưới đây. Máy chủ thư của người nhận\r\n\
             đã từ chối thư, hoặc hệ thống đã thử gửi nhiều lần trong thời hạn cho phép mà không\r\n\
             thành công. Vui lòng kiểm tra lại địa chỉ người nhận; nếu cần hỗ trợ, hãy liên hệ\r\n\
             bộ phận quản trị hệ thống thư điện tử và gửi kèm thông báo này."
                .to_string(),
            "This is an automatic message from the government mail system.\r\n\r\n\
             Your message could NOT be delivered to the address(es) below. The recipient's mail\r\n\
             server refused it, or it could not be delivered within the allowed time. Please\r\n\
             check the address; for help, contact the mail administrators and include this\r\n\
             notice."
                .to_string(),
        ),
        DsnAction::Delayed => {
            let (vi_until, en_until) = match until {
                Some(t) => (vietnamese_date(t), rfc2822(t)),
                None => ("hết thời hạn".to_string(), "the end of the retry period".to_string()),
            };
            (
                "Thư đang chậm gửi / Delayed Mail (still being retried)",
                format!(
                    "Đây là thông báo tự động của hệ thống thư điện tử công vụ.\r\n\r\n\
                     Thư của bạn CHƯA gửi được tới (các) địa chỉ dưới đây vì máy chủ của người nhận\r\n\
                     tạm thời chưa nhận thư. Hệ thống sẽ tự động thử gửi lại cho đến {vi_until}.\r\n\
                     Bạn KHÔNG cần gửi lại thư này. Nếu hết thời hạn mà vẫn không gửi được, bạn sẽ\r\n\
                     nhận được một thông báo khác."
                ),
                format!(
                    "This is an automatic message from the government mail system.\r\n\r\n\
                     Your message has NOT yet been delivered to the address(es) below because the\r\n\
                     recipient's server is temporarily not accepting it. The system will keep trying\r\n\
                     until {en_until}. You do NOT need to send it again. If it still cannot be\r\n\
                     delivered by then, you will receive another notice."
                ),
            )
        }
        DsnAction::Delivered => (
            "Thư đã đến hộp thư người nhận / Delivery Status Notification (Delivered)",
            "Đây là thông báo tự động của hệ thống thư điện tử công vụ.\r\n\r\n\
             Thư của bạn đã được chuyển thành công vào hộp thư của (các) người nhận dưới đây\r\n\
             (bạn đã yêu cầu xác nhận khi gửi)."
                .to_string(),
            "This is an automatic message from the government mail system.\r\n\r\n\
             Your message was delivered to the mailbox of the recipient(s) below (you asked\r\n\
             for a confirmation when sending it)."
                .to_string(),
        ),
        DsnAction::Relayed => (
            "Thư đã được chuyển đi / Delivery Status Notification (relayed)",
            "Đây là thông báo tự động của hệ thống thư điện tử công vụ.\r\n\r\n\
             Thư của bạn đã được chuyển thành công tới máy chủ thư của (các) người nhận dưới đây.\r\n\
             Máy chủ đó không gửi xác nhận cuối cùng, nên hệ thống không biết thư đã vào hộp thư\r\n\
             của người nhận hay chưa."
                .to_string(),
            "This is an automatic message from the government mail system.\r\n\r\n\
             Your message was handed to the mail server of the recipient(s) below. That server\r\n\
             does not send delivery confirmations, so no further notice will follow."
                .to_string(),
        ),
    }
}

/// Builds the notice (CRLF line ends).
pub fn build(input: &DsnInput<'_>) -> Vec<u8> {
    let boundary = format!("=_govmail_report_{}", token());
    let until = input.recipients.iter().find_map(|r| r.will_retry_until);
    let (subject, vietnamese, english) = texts(input.action, until);
    let mut out = String::new();
    let date = rfc2822(storage::now());
    let _ = write!(
        out,
        "Return-Path: <>\r\n\
         From: {} <MAILER-DAEMON@{host}>\r\n\
         To: <{to}>\r\n\
         Subject: {}\r\n\
         Date: {date}\r\n\
         Message-ID: <dsn.{}@{host}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated delivery status notification.\r\n\
         \r\n",
        encode_header_words("Hệ thống thư điện tử / Mail Delivery System"),
        encode_header_words(subject),
        token(),
        host = input.reporting_mta,
        to = input.sender,
    );

    // 1. Human-readable part.
    let _ = write!(
        out,
        "--{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         Content-Language: vi, en\r\n\
         \r\n\
         {vietnamese}\r\n\r\n"
    );
    let list = |out: &mut String| {
        for r in &input.recipients {
            let _ = write!(out, "  <{}>", r.recipient);
            if let Some(diagnostic) = &r.diagnostic {
                let _ = write!(out, "\r\n      {diagnostic}");
            }
            if let Some(remote) = &r.remote_mta {
                let _ = write!(out, "\r\n      ({remote})");
            }
            out.push_str("\r\n");
        }
    };
    list(&mut out);
    let _ = write!(out, "\r\n----- English -----\r\n\r\n{english}\r\n\r\n");
    list(&mut out);
    out.push_str("\r\n");

    // 2. message/delivery-status.
    let _ = write!(
        out,
        "--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {}\r\n",
        input.reporting_mta
    );
    if let Some(id) = input.env_id {
        let _ = write!(out, "Original-Envelope-Id: {}\r\n", ascii_field(id));
    }
    let _ = write!(out, "Arrival-Date: {}\r\n", rfc2822(input.arrival));
    for r in &input.recipients {
        out.push_str("\r\n");
        if let Some(orcpt) = &r.orcpt {
            let address = super::client::orcpt_address(orcpt);
            let _ = write!(
                out,
                "Original-Recipient: rfc822; {}\r\n",
                ascii_field(address)
            );
        }
        let _ = write!(
            out,
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
            ascii_field(&r.recipient),
            r.action.as_str(),
            ascii_field(&r.status)
        );
        if let Some(remote) = &r.remote_mta {
            let name = remote.split_whitespace().next().unwrap_or(remote);
            let _ = write!(out, "Remote-MTA: dns; {}\r\n", ascii_field(name));
        }
        if let Some(diagnostic) = &r.diagnostic {
            let kind = if diagnostic.starts_with(|c: char| c.is_ascii_digit()) {
                "smtp"
            } else {
                "x-local"
            };
            let _ = write!(
                out,
                "Diagnostic-Code: {kind}; {}\r\n",
                ascii_field(diagnostic)
            );
        }
        let _ = write!(out, "Last-Attempt-Date: {}\r\n", rfc2822(r.last_attempt));
        if let Some(until) = r.will_retry_until {
            let _ = write!(out, "Will-Retry-Until: {}\r\n", rfc2822(until));
        }
    }
    out.push_str("\r\n");

    // 3. The original (or its header).
    let mut bytes = out.into_bytes();
    if input.ret_full {
        bytes.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\
                 Content-Disposition: inline\r\n\r\n"
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(input.original);
        if !input.original.ends_with(b"\r\n") {
            bytes.extend_from_slice(b"\r\n");
        }
    } else {
        bytes.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n\
                 Content-Disposition: inline\r\n\r\n"
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(header_block(input.original));
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}
