//! The IT centre's commands. Each works on the same database as a running server.
//! Human-readable tables by default, `--json` for scripts.

use std::io::Read;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde::Serialize;
use storage::{AccountStatus, NewPerson, NewUnit, Store};

use crate::addresses::generated_address;
use crate::config::Config;
use crate::output::Output;

#[derive(Subcommand, Debug)]
pub enum DomainCmd {
    /// Host a mail domain.
    Add {
        name: String,
        /// Address naming rule: "kontum" (KT-4), "free" (BD-5) or "template:{initials}{given}.{unit}".
        #[arg(long, default_value = "free")]
        naming: String,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum UnitCmd {
    /// Create a unit with its official mailbox ABBR@DOMAIN.
    Add {
        #[arg(long)]
        abbrev: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        parent: Option<String>,
        /// Needed when more than one domain is hosted.
        #[arg(long)]
        domain: Option<String>,
    },
    List,
    Show {
        abbrev: String,
    },
    #[command(flatten)]
    Mailbox(crate::staff::UnitMailbox),
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    #[command(flatten)]
    Lifecycle(crate::staff::UserLifecycle),
    /// Create a civil servant's account. Without --password-stdin a random initial password is
    /// generated and printed once; the user must change it.
    Add {
        /// Full name as written, e.g. "Nguyễn Văn An".
        #[arg(long)]
        name: String,
        #[arg(long)]
        unit: Option<String>,
        /// Without it, the address follows the domain's naming rule.
        #[arg(long)]
        address: Option<String>,
        #[arg(long, default_value = "")]
        position: String,
        #[arg(long, default_value = "")]
        phone: String,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
        /// Quota in MiB (default from accounts.default_quota_mb; 0 = unlimited).
        #[arg(long)]
        quota_mb: Option<i64>,
    },
    List {
        #[arg(long)]
        unit: Option<String>,
    },
    Show {
        address: String,
    },
    /// Deny login (BD-6.1).
    Disable {
        address: String,
    },
    /// Allow login again.
    Enable {
        address: String,
    },
    /// Set the mailbox quota in MiB (0 = unlimited).
    Quota {
        address: String,
        #[arg(long)]
        mb: i64,
    },
    /// Forward incoming mail (BD-11, KT-9): to a hosted address, or outside the province's
    /// domains only where `[forwarding]` allows it (never to public webmail). --off removes it.
    Forward {
        address: String,
        #[arg(long, required_unless_present = "off", conflicts_with = "off")]
        to: Option<String>,
        /// The account keeps no copy of its own.
        #[arg(long)]
        no_copy: bool,
        #[arg(long)]
        off: bool,
        /// The written request or decision, for the audit log.
        #[arg(long = "ref", default_value = "")]
        doc_ref: String,
    },
    /// Out-of-office reply (RFC 5230) between two local dates, as the mailbox's active Sieve
    /// script; --off removes it.
    Vacation(crate::vacation::VacationArgs),
    /// Set a new password (from stdin, or generated and printed once).
    Passwd {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AliasCmd {
    Add { alias: String, target: String },
    Remove { alias: String },
}

#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    Add {
        address: String,
        #[arg(long)]
        name: String,
        /// Who may send: internal, members, anyone.
        #[arg(long, default_value = "internal")]
        send_policy: String,
    },
    MemberAdd {
        group: String,
        member: String,
    },
    MemberRemove {
        group: String,
        member: String,
    },
    /// Groups and their members.
    List,
}

/// Why postmaster@/abuse@/dmarc@ would not be delivered (`server.admin_group` unset or not a
/// hosted address), as one line for the admin; None when they reach the group.
pub(crate) async fn role_address_problem(
    store: &Store,
    admin_group: &str,
) -> anyhow::Result<Option<String>> {
    let admin_group = admin_group.trim();
    if admin_group.is_empty() {
        return Ok(Some(
            "server.admin_group is not set: postmaster@, abuse@ and dmarc@ of the hosted domains answer 550 (RFC 5321 4.5.1, RFC 2142)".into(),
        ));
    }
    if matches!(
        store.resolve(admin_group).await?,
        storage::Resolved::Unknown
    ) {
        return Ok(Some(format!(
            "server.admin_group {admin_group} does not exist: create it (govmail group add {admin_group} --name ...) so postmaster@, abuse@ and dmarc@ reach it"
        )));
    }
    Ok(None)
}

pub async fn domain(
    store: &Store,
    config: &Config,
    out: &Output,
    cmd: DomainCmd,
) -> anyhow::Result<()> {
    match cmd {
        DomainCmd::Add { name, naming } => {
            policy::naming::NamingRule::parse(&naming)
                .map_err(|e| anyhow::anyhow!("--naming {e}"))?;
            let domain = store.add_domain(&name, &naming).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::DomainAdd,
                    &domain.name,
                    "",
                    serde_json::json!({}),
                )
                .await?;
            out.record(&domain);
            if let Some(problem) = role_address_problem(store, &config.server.admin_group).await? {
                eprintln!("warning: {problem}");
            }
        }
        DomainCmd::List => {
            let domains = store.list_domains().await?;
            out.table(&["DOMAIN", "NAMING"], &domains, |d| {
                vec![d.name.clone(), d.naming_rule.clone()]
            });
        }
    }
    Ok(())
}

pub async fn unit(
    store: &Store,
    config: &Config,
    out: &Output,
    cmd: UnitCmd,
) -> anyhow::Result<()> {
    match cmd {
        UnitCmd::Add {
            abbrev,
            name,
            parent,
            domain,
        } => {
            let domain = match domain {
                Some(d) => d,
                None => {
                    let domains = store.list_domains().await?;
                    match domains.as_slice() {
                        [only] => only.name.clone(),
                        [] => bail!("no domain yet: run `govmail domain add NAME` first"),
                        _ => bail!("several domains are hosted: pass --domain"),
                    }
                }
            };
            let unit = store
                .add_unit(&NewUnit {
                    domain,
                    abbrev,
                    name,
                    parent_abbrev: parent,
                    quota_bytes: config.accounts.unit_quota_mb * 1024 * 1024,
                })
                .await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UnitAdd,
                    &unit.address,
                    "",
                    serde_json::json!({"name": unit.name}),
                )
                .await?;
            out.record(&unit);
        }
        UnitCmd::List => {
            let units = store.list_units().await?;
            out.table(
                &["ABBREV", "ADDRESS", "NAME", "PARENT", "HEAD"],
                &units,
                |u| {
                    vec![
                        u.abbrev.clone(),
                        u.address.clone(),
                        u.name.clone(),
                        u.parent.clone().unwrap_or_default(),
                        u.head.clone().unwrap_or_default(),
                    ]
                },
            );
        }
        UnitCmd::Show { abbrev } => {
            let unit = store.unit(&abbrev).await?;
            out.record(&unit);
            if !out.json {
                crate::staff::print_grants(out, &store.grants_on(unit.account_id).await?);
            }
        }
        UnitCmd::Mailbox(cmd) => crate::staff::unit(store, out, cmd).await?,
    }
    Ok(())
}

fn read_password_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from stdin")?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        bail!("empty password on stdin");
    }
    Ok(password)
}

/// The PHC: light argon2id for a generated initial password, the full cost for one a person
/// chose (see `policy::password::hash_initial`).
fn hash_for(password: &str, generated: bool) -> anyhow::Result<String> {
    Ok(if generated {
        policy::password::hash_initial(password)?
    } else {
        policy::password::hash(password)?
    })
}

/// The password to set: from stdin (checked against the length rule) or generated.
fn new_password(config: &Config, from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let password = read_password_stdin()?;
        policy::password::check_strength(&password, config.accounts.min_password_length)?;
        Ok((password, false))
    } else {
        Ok((policy::password::generate(), true))
    }
}

#[derive(Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    person: &'a storage::Person,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_password: Option<&'a str>,
}

pub async fn user(
    store: &Store,
    config: &Config,
    out: &Output,
    cmd: UserCmd,
) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Lifecycle(cmd) => crate::staff::user(store, config, out, cmd).await?,
        UserCmd::Add {
            name,
            unit,
            address,
            position,
            phone,
            password_stdin,
            quota_mb,
        } => {
            let address = match address {
                Some(a) => a,
                None => {
                    let Some(abbrev) = &unit else {
                        bail!(
                            "give --address, or --unit so the address can follow the naming rule"
                        );
                    };
                    let unit = store.unit(abbrev).await?;
                    generated_address(store, &name, &unit).await?
                }
            };
            let (password, generated) = new_password(config, password_stdin)?;
            let phc = hash_for(&password, generated)?;
            let person = store
                .add_person(&NewPerson {
                    full_name: name.trim().to_string(),
                    address,
                    unit_abbrev: unit,
                    position,
                    phone,
                    password_phc: phc,
                    must_change_password: generated,
                    quota_bytes: quota_mb.unwrap_or(config.accounts.default_quota_mb) * 1024 * 1024,
                })
                .await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UserAdd,
                    &person.address,
                    "",
                    serde_json::json!({"name": person.full_name}),
                )
                .await?;
            out.record(&Created {
                person: &person,
                initial_password: generated.then_some(password.as_str()),
            });
        }
        UserCmd::List { unit } => {
            let persons = store.list_persons(unit.as_deref()).await?;
            out.table(
                &["ADDRESS", "NAME", "UNIT", "POSITION", "STATUS"],
                &persons,
                |p| {
                    vec![
                        p.address.clone(),
                        p.full_name.clone(),
                        p.unit.clone().unwrap_or_default(),
                        p.position.clone(),
                        p.status.as_str().to_string(),
                    ]
                },
            );
        }
        UserCmd::Show { address } => out.record(&store.person(&address).await?),
        UserCmd::Disable { address } => {
            store.set_status(&address, AccountStatus::Disabled).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UserDisable,
                    &address,
                    "",
                    serde_json::json!({}),
                )
                .await?;
            out.done(&format!("{address}: login denied"));
        }
        UserCmd::Enable { address } => {
            store.set_status(&address, AccountStatus::Active).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UserEnable,
                    &address,
                    "",
                    serde_json::json!({}),
                )
                .await?;
            out.done(&format!("{address}: login allowed"));
        }
        UserCmd::Forward {
            address,
            to,
            no_copy,
            off,
            doc_ref,
        } => {
            forward(
                store,
                config,
                out,
                &address,
                to.as_deref(),
                !no_copy,
                off,
                &doc_ref,
            )
            .await?
        }
        UserCmd::Vacation(args) => crate::vacation::run(store, config, out, args).await?,
        UserCmd::Quota { address, mb } => {
            if mb < 0 {
                bail!("--mb must not be negative");
            }
            store.set_quota(&address, mb * 1024 * 1024).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UserQuota,
                    &address,
                    "",
                    serde_json::json!({"mb": mb}),
                )
                .await?;
            out.done(&format!("{address}: quota {mb} MiB"));
        }
        UserCmd::Passwd {
            address,
            password_stdin,
        } => {
            let (password, generated) = new_password(config, password_stdin)?;
            store
                .set_password(&address, &hash_for(&password, generated)?, generated)
                .await?;
            store
                .log_event(
                    "cli",
                    storage::Action::UserPasswd,
                    &address,
                    "",
                    serde_json::json!({}),
                )
                .await?;
            if generated {
                if out.json {
                    crate::outln!(
                        "{}",
                        serde_json::json!({"address": address, "initial_password": password})
                    );
                } else {
                    crate::outln!(
                        "{address}: new initial password (shown once, must be changed): {password}"
                    );
                }
            } else {
                out.done(&format!("{address}: password set"));
            }
        }
    }
    Ok(())
}

pub async fn alias(store: &Store, out: &Output, cmd: AliasCmd) -> anyhow::Result<()> {
    match cmd {
        AliasCmd::Add { alias, target } => {
            store.add_alias(&alias, &target, None).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::AliasAdd,
                    &alias,
                    "",
                    serde_json::json!({"target": target}),
                )
                .await?;
            out.done(&format!("{alias} -> {target}"));
        }
        AliasCmd::Remove { alias } => {
            store.remove_alias(&alias).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::AliasRemove,
                    &alias,
                    "",
                    serde_json::json!({}),
                )
                .await?;
            out.done(&format!("{alias} removed"));
        }
    }
    Ok(())
}

pub async fn group(store: &Store, out: &Output, cmd: GroupCmd) -> anyhow::Result<()> {
    match cmd {
        GroupCmd::Add {
            address,
            name,
            send_policy,
        } => {
            if !matches!(send_policy.as_str(), "internal" | "members" | "anyone") {
                bail!("--send-policy must be internal, members or anyone");
            }
            store.add_group(&address, &name, &send_policy).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::GroupAdd,
                    &address,
                    "",
                    serde_json::json!({"name": name}),
                )
                .await?;
            out.done(&format!("group {address} created"));
        }
        GroupCmd::MemberRemove { group, member } => {
            store.remove_group_member(&group, &member).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::GroupMemberRemove,
                    &group,
                    "",
                    serde_json::json!({"member": member}),
                )
                .await?;
            out.done(&format!("{member} removed from {group}"));
        }
        GroupCmd::List => {
            let groups = store.list_groups().await?;
            out.table(&["GROUP", "NAME", "SEND POLICY", "MEMBERS"], &groups, |g| {
                vec![
                    g.address.clone(),
                    g.name.clone(),
                    g.send_policy.clone(),
                    g.members.join(" "),
                ]
            });
        }
        GroupCmd::MemberAdd { group, member } => {
            store.add_group_member(&group, &member).await?;
            store
                .log_event(
                    "cli",
                    storage::Action::GroupMemberAdd,
                    &group,
                    "",
                    serde_json::json!({"member": member}),
                )
                .await?;
            out.done(&format!("{member} added to {group}"));
        }
    }
    Ok(())
}

pub async fn events(store: &Store, out: &Output, action: &str, limit: i64) -> anyhow::Result<()> {
    let events = store.events(action, limit).await?;
    out.table(&["AT", "ACTOR", "ACTION", "TARGET", "REF"], &events, |e| {
        vec![
            out.time(e.at),
            e.actor.clone(),
            e.action.to_string(),
            e.target.clone(),
            e.doc_ref.clone(),
        ]
    });
    Ok(())
}

/// `user forward`: checks the target against the forwarding policy before keeping the rule
/// (delivery checks it again, in case the policy changes later).
#[allow(clippy::too_many_arguments)]
async fn forward(
    store: &Store,
    config: &Config,
    out: &Output,
    address: &str,
    to: Option<&str>,
    keep_copy: bool,
    off: bool,
    doc_ref: &str,
) -> anyhow::Result<()> {
    if off {
        let had = store.clear_forward(address).await?;
        store
            .log_event(
                "cli",
                storage::Action::ForwardClear,
                address,
                doc_ref,
                serde_json::json!({}),
            )
            .await?;
        out.done(&if had {
            format!("{address}: forwarding off")
        } else {
            format!("{address}: had no forwarding")
        });
        return Ok(());
    }
    let target = to.context("--to is required")?.trim();
    let domain = target.rsplit_once('@').map_or("", |(_, d)| d);
    let local = store.is_local_domain(domain).await?;
    smtp::outbound::forwarding::check_forward(&config.forwarding_policy(), target, local)
        .map_err(|why| anyhow::anyhow!("--to {target}: {why}"))?;
    if local {
        let own = match store.resolve(address).await? {
            storage::Resolved::Account(a) => Some(a.account_id),
            _ => None,
        };
        match store.resolve(target).await? {
            storage::Resolved::Unknown => bail!("--to {target}: no such mailbox here"),
            storage::Resolved::Account(a) if Some(a.account_id) == own => {
                bail!("--to {target}: an account cannot forward to itself")
            }
            _ => {}
        }
    }
    store
        .set_forward(address, target, keep_copy, doc_ref)
        .await?;
    store
        .log_event(
            "cli",
            storage::Action::ForwardSet,
            address,
            doc_ref,
            serde_json::json!({"target": target, "keep_copy": keep_copy}),
        )
        .await?;
    out.done(&format!(
        "{address}: incoming mail is forwarded to {target}{}",
        if keep_copy {
            ""
        } else {
            " (no copy kept here)"
        }
    ));
    Ok(())
}
