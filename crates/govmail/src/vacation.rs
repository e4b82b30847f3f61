//! `govmail user vacation`: an out-of-office reply set by the IT centre or a unit head on a
//! written request, as a Sieve script (RFC 5230 vacation) named `vacation` that becomes the
//! mailbox's active script. The window is in the script itself (RFC 5260 `currentdate`, the
//! server's local dates from `reports.utc_offset`, both days included), so ManageSieve clients
//! show exactly what runs. While it is active, the mailbox's own active script (if any) is
//! paused; `--off` removes the vacation script and makes that script active again.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use storage::{Resolved, Store};

use crate::config::Config;
use crate::output::Output;

/// The name of the generated script.
pub const SCRIPT_NAME: &str = "vacation";
/// The comment line that remembers the script active before.
const PREVIOUS: &str = "# govmail-previous-active: ";

#[derive(Args, Debug)]
pub struct VacationArgs {
    /// The mailbox (a person's or a unit's address).
    pub address: String,
    /// First day, YYYY-MM-DD (local date).
    #[arg(long, required_unless_present = "off", conflicts_with = "off")]
    pub from: Option<String>,
    /// Last day, YYYY-MM-DD (local date, included).
    #[arg(long, required_unless_present = "off", conflicts_with = "off")]
    pub to: Option<String>,
    #[arg(long, required_unless_present = "off", conflicts_with = "off")]
    pub subject: Option<String>,
    /// The reply's text (UTF-8).
    #[arg(long, required_unless_present = "off", conflicts_with = "off")]
    pub message_file: Option<PathBuf>,
    /// One reply per sender per this many days (RFC 5230 :days).
    #[arg(long, default_value_t = 7)]
    pub days: u64,
    /// Remove the out-of-office reply.
    #[arg(long)]
    pub off: bool,
    /// The written request or decision, for the audit log.
    #[arg(long = "ref", default_value = "")]
    pub doc_ref: String,
}

/// `YYYY-MM-DD` as (year, month, day), checked.
fn parse_date(key: &str, text: &str) -> anyhow::Result<(i64, u32, u32)> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let bad = || anyhow::anyhow!("{key} {text}: use YYYY-MM-DD");
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (year, month, day): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    // Round trip through the calendar: 2026-02-30 does not come back the same.
    let days = sieve::date::days_from_civil(year, month, day);
    let back = sieve::date::Civil::from_unix(days * 86_400, 0);
    if !(1..=12).contains(&month) || back.part(sieve::date::DatePart::Date) != text.trim() {
        return Err(bad());
    }
    Ok((year, month, day))
}

/// A Sieve quoted string (RFC 5228 2.4.2: `"` and `\` escaped).
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A Sieve multi-line string (RFC 5228 2.4.2: dot-stuffed, ended by a lone ".").
fn multi_line(text: &str) -> String {
    let mut out = String::from("text:\r\n");
    for line in text
        .replace("\r\n", "\n")
        .trim_end_matches('\n')
        .split('\n')
    {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

/// The script for a vacation from `from` to `to` (inclusive).
pub fn script(
    from: &str,
    to: &str,
    subject: &str,
    message: &str,
    days: u64,
    previous: Option<&str>,
    doc_ref: &str,
) -> String {
    let mut out = String::new();
    out.push_str("# Out-of-office reply set with `govmail user vacation`");
    if !doc_ref.is_empty() {
        out.push_str(&format!(" ({})", doc_ref.replace(['\r', '\n'], " ")));
    }
    out.push_str(".\r\n");
    if let Some(previous) = previous {
        out.push_str(&format!(
            "{PREVIOUS}{}\r\n",
            previous.replace(['\r', '\n'], " ")
        ));
    }
    out.push_str("require [\"vacation\", \"date\", \"relational\"];\r\n");
    out.push_str(&format!(
        "if allof (currentdate :value \"ge\" \"date\" {}, currentdate :value \"le\" \"date\" {}) {{\r\n",
        quoted(from),
        quoted(to)
    ));
    out.push_str(&format!(
        "  vacation :days {days} :subject {} {};\r\n}}\r\n",
        quoted(subject),
        multi_line(message)
    ));
    out
}

/// The mailbox account an address names.
async fn account(store: &Store, address: &str) -> anyhow::Result<i64> {
    match store.resolve(address).await? {
        Resolved::Account(a) => Ok(a.account_id),
        _ => bail!("{address}: no such mailbox"),
    }
}

pub async fn run(
    store: &Store,
    config: &Config,
    out: &Output,
    args: VacationArgs,
) -> anyhow::Result<()> {
    let address = storage::normalize_address(&args.address);
    let account_id = account(store, &address).await?;
    if args.off {
        let existing = store.sieve_script(account_id, SCRIPT_NAME).await.ok();
        let Some(existing) = existing else {
            out.done(&format!("{address}: had no out-of-office reply"));
            return Ok(());
        };
        let previous = existing
            .content
            .lines()
            .find_map(|l| l.strip_prefix(PREVIOUS))
            .map(|p| p.trim().to_string());
        // The script active before comes back (if it is still there).
        let restored = match previous {
            Some(name) if store.sieve_script(account_id, &name).await.is_ok() => {
                store
                    .set_active_sieve_script(account_id, Some(&name))
                    .await?;
                Some(name)
            }
            _ => {
                if existing.active {
                    store.set_active_sieve_script(account_id, None).await?;
                }
                None
            }
        };
        store.delete_sieve_script(account_id, SCRIPT_NAME).await?;
        store
            .log_event(
                "cli",
                storage::Action::VacationClear,
                &address,
                &args.doc_ref,
                serde_json::json!({}),
            )
            .await?;
        out.done(&match restored {
            Some(name) => {
                format!("{address}: out-of-office reply off; script {name:?} active again")
            }
            None => format!("{address}: out-of-office reply off"),
        });
        return Ok(());
    }
    let from = args.from.context("--from is required")?;
    let to = args.to.context("--to is required")?;
    let subject = args.subject.context("--subject is required")?;
    let file = args.message_file.context("--message-file is required")?;
    let start = parse_date("--from", &from)?;
    let end = parse_date("--to", &to)?;
    if end < start {
        bail!("--to {to} is before --from {from}");
    }
    if subject.trim().is_empty() || subject.contains(['\r', '\n']) {
        bail!("--subject: one line of text");
    }
    let bytes =
        std::fs::read(&file).with_context(|| format!("--message-file {}", file.display()))?;
    let message = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("--message-file {}: not UTF-8 text", file.display()))?;
    if message.trim().is_empty() {
        bail!("--message-file {}: empty", file.display());
    }
    let limits = config.sieve_limits();
    if !(1..=limits.max_vacation_days).contains(&args.days) {
        bail!(
            "--days must be 1..={} (sieve.max_vacation_days)",
            limits.max_vacation_days
        );
    }
    // The script active now (not an earlier vacation) comes back with --off.
    let previous = store
        .active_sieve_scripts(&[account_id])
        .await?
        .into_iter()
        .map(|s| s.name)
        .find(|name| name != SCRIPT_NAME);
    let previous = match previous {
        Some(name) => Some(name),
        None => store
            .sieve_script(account_id, SCRIPT_NAME)
            .await
            .ok()
            .and_then(|s| {
                s.content
                    .lines()
                    .find_map(|l| l.strip_prefix(PREVIOUS))
                    .map(|p| p.trim().to_string())
            }),
    };
    let text = script(
        &from,
        &to,
        &subject,
        &message,
        args.days,
        previous.as_deref(),
        &args.doc_ref,
    );
    sieve::compile(&text, &limits).map_err(|e| {
        anyhow::anyhow!("the reply does not make a valid script ({e}); shorten --message-file?")
    })?;
    store
        .put_sieve_script(
            account_id,
            SCRIPT_NAME,
            &text,
            config.sieve.max_scripts.saturating_add(1),
        )
        .await
        .map_err(|e| match e {
            storage::Error::OverQuota => {
                anyhow::anyhow!("{address}: too many Sieve scripts (sieve.max_scripts)")
            }
            other => other.into(),
        })?;
    store
        .set_active_sieve_script(account_id, Some(SCRIPT_NAME))
        .await?;
    store
        .log_event(
            "cli",
            storage::Action::VacationSet,
            &address,
            &args.doc_ref,
            serde_json::json!({"from": from, "to": to, "subject": subject, "days": args.days,
                "paused_script": previous}),
        )
        .await?;
    let paused = match &previous {
        Some(name) => format!("; script {name:?} paused until --off"),
        None => String::new(),
    };
    out.done(&format!(
        "{address}: out-of-office reply from {from} to {to}{paused}"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked() {
        assert!(parse_date("--from", "2026-12-01").is_ok());
        assert!(parse_date("--from", "2026-02-30").is_err());
        assert!(parse_date("--from", "2026-13-01").is_err());
        assert!(parse_date("--from", "1/12/2026").is_err());
    }

    #[test]
    fn the_script_compiles_and_replies_only_inside_the_window() {
        let text = script(
            "2026-12-01",
            "2026-12-05",
            "Vắng mặt \"đi công tác\"",
            "Tôi đi công tác.\n.hidden line\n",
            7,
            Some("rules"),
            "12/GM",
        );
        let program = sieve::compile(&text, &sieve::Limits::default()).expect(&text);
        let view = sieve::MessageView::default();
        let none = |_: &str| false;
        let limits = sieve::Limits::default();
        let at = |y, m, d| sieve::date::days_from_civil(y, m, d) * 86_400;
        for (now, replies) in [
            // 2026-11-30 23:00 local (+07:00) is before the window.
            (at(2026, 11, 30) + 16 * 3600, false),
            (at(2026, 12, 1) + 3600, true),
            (at(2026, 12, 5) + 10 * 3600, true),
            // 2026-12-06 00:30 local.
            (at(2026, 12, 5) + 17 * 3600 + 1800, false),
        ] {
            let env = sieve::Environment {
                now,
                local_zone: 7 * 60,
                mailbox_exists: &none,
                limits: &limits,
            };
            let outcome = sieve::evaluate(&program, &view, &env).unwrap();
            let vacation = outcome.actions.iter().find_map(|a| match a {
                sieve::Action::Vacation(v) => Some(v.clone()),
                _ => None,
            });
            assert_eq!(vacation.is_some(), replies, "at {now}");
            if let Some(v) = vacation {
                assert_eq!(v.subject.as_deref(), Some("Vắng mặt \"đi công tác\""));
                assert_eq!(v.reason, "Tôi đi công tác.\r\n.hidden line\r\n");
                assert_eq!(v.days, 7);
            }
        }
        assert!(text.contains("# govmail-previous-active: rules\r\n"));
    }
}
