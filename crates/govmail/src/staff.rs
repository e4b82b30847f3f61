//! The staff lifecycle and unit mailboxes (BD-8, BD-10, KT-6, KT-8), each change recorded in
//! the audit log with the written decision or request number (`--ref`, KT-5.2).

use anyhow::bail;
use clap::Subcommand;
use serde::Serialize;
use storage::{NewPerson, Store};

use crate::addresses::generated_address;
use crate::config::Config;
use crate::ops::require_ref;
use crate::output::Output;

#[derive(Subcommand, Debug)]
pub enum UserLifecycle {
    /// New hire (BD-8.1, KT-6.1): address by the domain's rule, folders, quota, an initial
    /// password shown once that must be changed (KT-7.1).
    Hire {
        #[arg(long)]
        name: String,
        #[arg(long)]
        unit: String,
        #[arg(long, default_value = "")]
        position: String,
        #[arg(long, default_value = "")]
        phone: String,
        /// The decision number, e.g. "15/QĐ-UBND".
        #[arg(long = "ref")]
        doc_ref: String,
    },
    /// Transfer to another unit (BD-8.2, KT-6.2): new address by rule, the old one stays an
    /// alias for a while, mail is kept, rights on the old unit's mailbox end.
    Transfer {
        address: String,
        #[arg(long)]
        to_unit: String,
        #[arg(long = "ref")]
        doc_ref: String,
        #[arg(long, default_value_t = 90)]
        alias_days: i64,
    },
    /// Leaving or retiring (BD-8.3, KT-6.3): login stops at once, mail is refused naming the
    /// unit's address, data are kept for the hold period.
    Leave {
        address: String,
        #[arg(long = "ref")]
        doc_ref: String,
        #[arg(long, default_value = "other", value_parser = ["retire", "transfer-out", "other"])]
        reason: String,
    },
    /// Leaked or forgotten password (BD-9.5, KT-7.5): a new initial password, change forced,
    /// open sessions closed.
    ResetPassword {
        address: String,
        #[arg(long = "ref")]
        doc_ref: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UnitMailbox {
    /// Make ADDRESS the head of the unit: every right and the send right.
    SetHead {
        abbrev: String,
        address: String,
        #[arg(long = "ref")]
        doc_ref: String,
    },
    /// Written authorisation (KT-8): read, handle and/or send, e.g. --rights handle,send.
    Delegate {
        abbrev: String,
        address: String,
        #[arg(long)]
        rights: String,
        #[arg(long = "ref")]
        doc_ref: String,
    },
    /// End a delegate's rights (effective in open sessions at once).
    Revoke {
        abbrev: String,
        address: String,
        #[arg(long = "ref")]
        doc_ref: String,
    },
    /// A new head (BD-10, KT-8): full rights to the new head, the old head's end, the unit
    /// mailbox's own password rotated and shown once; every message and folder stays.
    Handover {
        abbrev: String,
        #[arg(long)]
        to: String,
        #[arg(long = "ref")]
        doc_ref: String,
    },
}

/// `read` → lrs, `handle` → lrswite (RFC 4314), `send` → the send right.
pub fn parse_rights(spec: &str) -> anyhow::Result<(String, bool)> {
    let mut rights = String::new();
    let mut send = false;
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "read" => rights.push_str(storage::RIGHTS_READ),
            "handle" => rights.push_str(storage::RIGHTS_HANDLE),
            "send" => send = true,
            other => bail!("--rights: unknown {other:?} (use read, handle, send)"),
        }
    }
    if rights.is_empty() && !send {
        bail!("--rights needs read, handle and/or send");
    }
    // Normalised: each letter once, in RFC 4314 order.
    let normalised: String = storage::RIGHTS_HEAD
        .chars()
        .filter(|c| rights.contains(*c))
        .collect();
    Ok((
        if normalised.is_empty() {
            "l".to_string()
        } else {
            normalised
        },
        send,
    ))
}

#[derive(Serialize)]
struct Hired {
    address: String,
    name: String,
    unit: String,
    initial_password: String,
}

async fn hire_one(
    store: &Store,
    config: &Config,
    name: &str,
    unit: &str,
    position: &str,
    phone: &str,
    doc_ref: &str,
) -> anyhow::Result<Hired> {
    let unit = store.unit(unit).await?;
    let address = generated_address(store, name, &unit).await?;
    let password = policy::password::generate();
    let person = store
        .add_person(&NewPerson {
            full_name: name.trim().to_string(),
            address,
            unit_abbrev: Some(unit.abbrev.clone()),
            position: position.to_string(),
            phone: phone.to_string(),
            password_phc: policy::password::hash_initial(&password)?,
            must_change_password: true,
            quota_bytes: config.accounts.default_quota_mb * 1024 * 1024,
        })
        .await?;
    store
        .log_event(
            "cli",
            storage::Action::UserHire,
            &person.address,
            doc_ref,
            serde_json::json!({"name": person.full_name, "unit": unit.abbrev}),
        )
        .await?;
    Ok(Hired {
        address: person.address,
        name: person.full_name,
        unit: unit.abbrev,
        initial_password: password,
    })
}

pub async fn user(
    store: &Store,
    config: &Config,
    out: &Output,
    cmd: UserLifecycle,
) -> anyhow::Result<()> {
    match cmd {
        UserLifecycle::Hire {
            name,
            unit,
            position,
            phone,
            doc_ref,
        } => {
            require_ref(&doc_ref)?;
            let hired = hire_one(store, config, &name, &unit, &position, &phone, &doc_ref).await?;
            out.record(&hired);
        }
        UserLifecycle::Transfer {
            address,
            to_unit,
            doc_ref,
            alias_days,
        } => {
            require_ref(&doc_ref)?;
            let person = store.person(&address).await?;
            let unit = store.unit(&to_unit).await?;
            // The new address follows the rule; a free-naming domain keeps the address.
            let new_address = match generated_address(store, &person.full_name, &unit).await {
                Ok(a) => a,
                Err(_) => person.address.clone(),
            };
            let expires = storage::now() + alias_days * 86_400;
            let moved = store
                .transfer_person(&person.address, &unit.abbrev, &new_address, expires)
                .await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UserTransfer,
                    &moved.address,
                    &doc_ref,
                    serde_json::json!({"from": person.address, "from_unit": person.unit, "to_unit": unit.abbrev, "alias_until": expires}),
                )
                .await?;
            out.record(&moved);
        }
        UserLifecycle::Leave {
            address,
            doc_ref,
            reason,
        } => {
            require_ref(&doc_ref)?;
            let person = store.person(&address).await?;
            store.depart(&person.address).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UserLeave,
                    &person.address,
                    &doc_ref,
                    serde_json::json!({"reason": reason}),
                )
                .await?;
            out.record(&store.person(&person.address).await?);
        }
        UserLifecycle::ResetPassword { address, doc_ref } => {
            require_ref(&doc_ref)?;
            let password = policy::password::generate();
            store
                .set_password(&address, &policy::password::hash_initial(&password)?, true)
                .await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UserResetPassword,
                    &address,
                    &doc_ref,
                    serde_json::json!({}),
                )
                .await?;
            out.record(&serde_json::json!({"address": address, "initial_password": password}));
        }
    }
    Ok(())
}

/// Who holds rights on a unit mailbox: `unit show` and `unit delegate` print it.
pub(crate) fn print_grants(out: &Output, grants: &[storage::Grant]) {
    out.table(&["GRANTEE", "RIGHTS", "SEND", "HEAD"], grants, |g| {
        vec![
            g.grantee_address.clone(),
            g.rights.clone(),
            g.may_send.to_string(),
            g.head.to_string(),
        ]
    });
}

pub async fn unit(store: &Store, out: &Output, cmd: UnitMailbox) -> anyhow::Result<()> {
    match cmd {
        UnitMailbox::SetHead {
            abbrev,
            address,
            doc_ref,
        } => {
            require_ref(&doc_ref)?;
            let unit = store.unit(&abbrev).await?;
            store.set_unit_head(&unit.abbrev, &address).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UnitSetHead,
                    &unit.address,
                    &doc_ref,
                    serde_json::json!({"head": address}),
                )
                .await?;
            out.record(&store.unit(&unit.abbrev).await?);
        }
        UnitMailbox::Delegate {
            abbrev,
            address,
            rights,
            doc_ref,
        } => {
            require_ref(&doc_ref)?;
            let (acl, send) = parse_rights(&rights)?;
            let unit = store.unit(&abbrev).await?;
            store.delegate(&unit.abbrev, &address, &acl, send).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UnitDelegate,
                    &unit.address,
                    &doc_ref,
                    serde_json::json!({"grantee": address, "rights": acl, "send": send}),
                )
                .await?;
            print_grants(out, &store.grants_on(unit.account_id).await?);
        }
        UnitMailbox::Revoke {
            abbrev,
            address,
            doc_ref,
        } => {
            require_ref(&doc_ref)?;
            let unit = store.unit(&abbrev).await?;
            store.revoke(&unit.abbrev, &address).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UnitRevoke,
                    &unit.address,
                    &doc_ref,
                    serde_json::json!({"grantee": address}),
                )
                .await?;
            out.done(&format!("{address}: rights on {} revoked", unit.address));
        }
        UnitMailbox::Handover {
            abbrev,
            to,
            doc_ref,
        } => {
            require_ref(&doc_ref)?;
            let unit = store.unit(&abbrev).await?;
            let previous = unit.head.clone();
            store.set_unit_head(&unit.abbrev, &to).await?;
            let password = policy::password::generate();
            store
                .set_password(&unit.address, &policy::password::hash(&password)?, false)
                .await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UnitHandover,
                    &unit.address,
                    &doc_ref,
                    serde_json::json!({"from": previous, "to": to}),
                )
                .await?;
            out.record(&serde_json::json!({"unit": unit.address, "head": to, "previous_head": previous, "unit_password": password}));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_and_csv() {
        assert_eq!(parse_rights("read").unwrap(), ("lrs".to_string(), false));
        assert_eq!(
            parse_rights("handle,send").unwrap(),
            ("lrswite".to_string(), true)
        );
        assert!(parse_rights("admin").is_err());
    }
}
