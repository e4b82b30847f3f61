//! `govmail import mbox`: a constructed mbox (mboxrd quoting, Status/X-Status/X-Keywords,
//! `From ` line dates) imported, then read back over IMAP from `govmail serve` and compared
//! with the messages as they were before the mbox writer quoted them; reruns store only what
//! was appended; an oversized message is skipped and reported.

use crate::served;
use crate::support;
use crate::support_import;

use served::Served;
use sha2::{Digest, Sha256};
use support::Install;
use support_import::*;

/// One message: the mbox text (LF line ends, as mbox writers use) and what IMAP must show.
struct Case {
    mbox: &'static str,
    /// The message as the author sent it (CRLF, without the mbox format fields).
    original: &'static str,
    flags: &'static [&'static str],
    /// The `From ` line's date as Unix seconds.
    date: i64,
}

const CASES: [Case; 3] = [
    Case {
        mbox: "From vanthu@old.test Wed Jan  3 01:05:34 1996\n\
               Message-ID: <m1@old.test>\n\
               Status: RO\n\
               X-Status: AF\n\
               Subject: Thư mời họp\n\
               \n\
               Kính gửi anh chị,\n\
               >From the minutes: họp lúc 8 giờ.\n\
               >>From quoted once already.\n\
               \n",
        original: "Message-ID: <m1@old.test>\r\n\
                   Subject: Thư mời họp\r\n\
                   \r\n\
                   Kính gửi anh chị,\r\n\
                   From the minutes: họp lúc 8 giờ.\r\n\
                   >From quoted once already.\r\n",
        // Status R → \Seen; X-Status A → \Answered, F → \Flagged (mutt/Dovecot mbox fields).
        flags: &["\\Answered", "\\Flagged", "\\Seen"],
        date: 820_631_134,
    },
    Case {
        mbox: "From bob@old.test Thu Feb  1 10:00:00 2001\n\
               Message-ID: <m2@old.test>\n\
               X-Keywords: $Label1 CongViec\n\
               Status: O\n\
               Subject: =?utf-8?b?QsOhbyBjw6Fv?=\n\
               \n\
               Nội dung.\n\
               \n",
        original: "Message-ID: <m2@old.test>\r\n\
                   Subject: =?utf-8?b?QsOhbyBjw6Fv?=\r\n\
                   \r\n\
                   Nội dung.\r\n",
        flags: &["$Label1", "CongViec"],
        date: 981_021_600,
    },
    Case {
        mbox: "From c@old.test Sat Mar  2 23:59:59 2019\n\
               Message-ID: <m3@old.test>\n\
               X-Status: T\n\
               Subject: Nháp\n\
               \n\
               Bản nháp.\n\
               \n",
        original: "Message-ID: <m3@old.test>\r\n\
                   Subject: Nháp\r\n\
                   \r\n\
                   Bản nháp.\r\n",
        flags: &["\\Draft"],
        date: 1_551_571_199,
    },
];

fn serve(install: &Install) -> (Served, u16) {
    let (served, addrs) = install.serve_on(
        &["imap"],
        &[
            "tls.allow_plaintext_loopback=true".into(),
            "antivirus.enabled=false".into(),
        ],
    );
    (served, addrs[0].port())
}

fn expected(cases: &[&Case]) -> FolderView {
    let mut messages: Vec<(String, Vec<String>, i64)> = cases
        .iter()
        .map(|c| {
            let mut flags: Vec<String> = c.flags.iter().map(|f| f.to_string()).collect();
            flags.sort();
            (hex(&Sha256::digest(c.original.as_bytes())), flags, c.date)
        })
        .collect();
    messages.sort();
    FolderView {
        count: cases.len() as u64,
        bytes: cases.iter().map(|c| c.original.len() as u64).sum(),
        messages,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn mbox_import_unquotes_maps_status_and_resumes() {
    let install = Install::with_people(
        "tinh.gov.vn",
        "Văn phòng",
        &[("Phạm Thị Dung", "dung@tinh.gov.vn", "pw-dung-0001")],
    );
    let mbox = install.scratch("old.mbox");
    let big = format!(
        "From big@old.test Sun Mar  3 00:00:00 2019\nMessage-ID: <big@old.test>\n\n{}\n\n",
        "x".repeat(5000)
    );
    std::fs::write(&mbox, format!("{}{}{}", CASES[0].mbox, CASES[1].mbox, big)).unwrap();
    let args = |file: &std::path::Path| {
        let mut cmd = install.command();
        cmd.args(["--json", "import", "mbox"]).arg(file).args([
            "--to",
            "dung@tinh.gov.vn",
            "--folder",
            "Lưu trữ/2019",
            "--max-message-size",
            "4000",
            "--quiet",
        ]);
        cmd
    };
    let out = feed(args(&mbox), "");
    let first = report(&out);
    assert_eq!(imported(&first), 2, "{first}");
    let skipped = &first["accounts"][0]["folders"][0]["skipped"];
    assert_eq!(skipped.as_array().unwrap().len(), 1, "{first}");
    assert!(skipped[0]["reason"]
        .as_str()
        .unwrap()
        .contains("max-message-size"));
    // A rerun stores nothing; with one message appended, only that one.
    assert_eq!(imported(&report(&feed(args(&mbox), ""))), 0);
    let mut text = std::fs::read_to_string(&mbox).unwrap();
    text.push_str(CASES[2].mbox);
    std::fs::write(&mbox, text).unwrap();
    assert_eq!(imported(&report(&feed(args(&mbox), ""))), 1);

    let (_server, port) = serve(&install);
    let view = dump(port, "dung@tinh.gov.vn", "pw-dung-0001");
    let folder = view
        .get("Lưu trữ/2019")
        .unwrap_or_else(|| panic!("no folder Lưu trữ/2019: {:?}", view.keys()));
    assert_eq!(*folder, expected(&[&CASES[0], &CASES[1], &CASES[2]]));
}
