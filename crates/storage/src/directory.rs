//! The electronic directory (BD-5, KT-4): domains, units, persons, addresses, aliases, groups and
//! credentials. Every mailbox principal (person or unit) is an `accounts` row that owns folders.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{normalize_address, now, Error, Result, Store};

/// Folders every mailbox gets, with their RFC 6154 special-use flag.
pub const DEFAULT_FOLDERS: &[(&str, Option<&str>)] = &[
    ("INBOX", None),
    ("Sent", Some("\\Sent")),
    ("Drafts", Some("\\Drafts")),
    ("Trash", Some("\\Trash")),
    ("Junk", Some("\\Junk")),
    ("Archive", Some("\\Archive")),
];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Domain {
    pub id: i64,
    pub name: String,
    pub naming_rule: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unit {
    pub id: i64,
    pub domain: String,
    pub abbrev: String,
    pub name: String,
    pub parent: Option<String>,
    pub address: String,
    pub account_id: i64,
    pub head: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Disabled,
    Departed,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Disabled => "disabled",
            AccountStatus::Departed => "departed",
        }
    }

    fn parse(text: &str) -> AccountStatus {
        match text {
            "disabled" => AccountStatus::Disabled,
            "departed" => AccountStatus::Departed,
            _ => AccountStatus::Active,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Person {
    pub account_id: i64,
    pub address: String,
    pub full_name: String,
    pub position: String,
    pub phone: String,
    pub unit: Option<String>,
    pub unit_address: Option<String>,
    pub status: AccountStatus,
    pub must_change_password: bool,
    pub quota_bytes: i64,
    pub used_bytes: i64,
    pub aliases: Vec<String>,
    pub created_at: i64,
}

/// What `add_person` needs. The password is already an argon2id PHC string.
#[derive(Debug, Clone)]
pub struct NewPerson {
    pub full_name: String,
    pub address: String,
    pub unit_abbrev: Option<String>,
    pub position: String,
    pub phone: String,
    pub password_phc: String,
    pub must_change_password: bool,
    pub quota_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct NewUnit {
    pub domain: String,
    pub abbrev: String,
    pub name: String,
    pub parent_abbrev: Option<String>,
    pub quota_bytes: i64,
}

/// What a login needs to decide.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub account_id: i64,
    pub address: String,
    pub status: AccountStatus,
    pub must_change_password: bool,
    pub phc: Option<String>,
}

/// A distribution group (KT-10 "nơi nhận") and its members.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupInfo {
    pub address: String,
    pub name: String,
    pub send_policy: String,
    pub members: Vec<String>,
}

/// At most this many password hashes are computed at once (per process).
static PASSWORD_CHECKS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| {
        // As many at once as there are cores: the checks are CPU-bound, and each holds a work area.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    });

/// What checking a user name and password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    Ok {
        account_id: i64,
        address: String,
    },
    /// Right password, but the initial password must be changed first (KT-7.1).
    MustChangePassword,
    /// Unknown user, wrong password, or login denied.
    Refused,
}

/// An account's identity as the protocols see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    pub account_id: i64,
    pub address: String,
    pub kind: String,
    pub status: AccountStatus,
    pub quota_bytes: i64,
    pub used_bytes: i64,
    /// For persons: their unit's official address (named in refusals of departed staff).
    pub unit_address: Option<String>,
}

/// What an address resolves to at RCPT time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Not hosted here, or not a known address of a hosted domain.
    Unknown,
    Account(AccountRef),
    Group {
        group_id: i64,
        send_policy: String,
        members: Vec<AccountRef>,
    },
}

fn split_address(address: &str) -> Result<(String, String)> {
    let address = normalize_address(address);
    match address.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            Ok((local.to_string(), domain.to_string()))
        }
        _ => Err(Error::Invalid(format!(
            "address {address:?} is not local@domain"
        ))),
    }
}

use crate::Tx;

fn unique_violation(err: sqlx::Error, what: String) -> Error {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::AlreadyExists(what),
        _ => Error::Database(err),
    }
}

fn account_ref(row: &AnyRow) -> AccountRef {
    AccountRef {
        account_id: row.get("id"),
        address: row.get("address"),
        kind: row.get("kind"),
        status: AccountStatus::parse(&row.get::<String, _>("status")),
        quota_bytes: row.get("quota_bytes"),
        used_bytes: row.get("used_bytes"),
        unit_address: row.get("unit_address"),
    }
}

const ACCOUNT_REF_SELECT: &str =
    "SELECT a.id, a.address, a.kind, a.status, a.quota_bytes, a.used_bytes, \
     (SELECT ua.address FROM persons p JOIN units u ON u.id = p.unit_id \
        JOIN accounts ua ON ua.id = u.account_id WHERE p.account_id = a.id) AS unit_address \
     FROM accounts a";

impl Store {
    // ----- domains -----

    pub async fn add_domain(&self, name: &str, naming_rule: &str) -> Result<Domain> {
        let name = normalize_address(name);
        if name.is_empty() || name.contains('@') || name.contains(char::is_whitespace) {
            return Err(Error::Invalid(format!("domain name {name:?}")));
        }
        let row = sqlx::query(
            "INSERT INTO domains (name, naming_rule, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name.clone())
        .bind(naming_rule.to_string())
        .bind(now())
        .fetch_one(&self.writer)
        .await
        .map_err(|e| unique_violation(e, format!("domain {name}")))?;
        Ok(Domain {
            id: row.get(0),
            name,
            naming_rule: naming_rule.to_string(),
        })
    }

    pub async fn list_domains(&self) -> Result<Vec<Domain>> {
        let rows = sqlx::query("SELECT id, name, naming_rule FROM domains ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| Domain {
                id: r.get(0),
                name: r.get(1),
                naming_rule: r.get(2),
            })
            .collect())
    }

    pub async fn domain(&self, name: &str) -> Result<Domain> {
        let name = normalize_address(name);
        let row = sqlx::query("SELECT id, name, naming_rule FROM domains WHERE name = $1")
            .bind(name.clone())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("domain {name}")))?;
        Ok(Domain {
            id: row.get(0),
            name: row.get(1),
            naming_rule: row.get(2),
        })
    }

    /// True when mail for `domain` is ours to deliver.
    pub async fn is_local_domain(&self, domain: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM domains WHERE name = $1")
            .bind(normalize_address(domain))
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    // ----- accounts (shared by persons and units) -----

    async fn domain_id_in(tx: &mut Tx, domain: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT id FROM domains WHERE name = $1")
            .bind(domain.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "domain {domain} (add it with `govmail domain add`)"
                ))
            })
    }

    pub(crate) async fn insert_account_in(
        tx: &mut Tx,
        kind: &str,
        address: &str,
        display_name: &str,
        must_change: bool,
        quota_bytes: i64,
    ) -> Result<i64> {
        let (_, domain) = split_address(address)?;
        let domain_id = Self::domain_id_in(tx, &domain).await?;
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM addresses WHERE address = $1")
            .bind(address.to_string())
            .fetch_one(&mut **tx)
            .await?;
        if taken > 0 {
            return Err(Error::AlreadyExists(format!("address {address}")));
        }
        let at = now();
        let account_id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (kind, domain_id, address, display_name, must_change_password, \
             quota_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(kind.to_string())
        .bind(domain_id)
        .bind(address.to_string())
        .bind(display_name.to_string())
        .bind(must_change as i64)
        .bind(quota_bytes)
        .bind(at)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| unique_violation(e, format!("address {address}")))?;
        sqlx::query(
            "INSERT INTO addresses (address, domain_id, kind, account_id, created_at) \
             VALUES ($1, $2, 'primary', $3, $4)",
        )
        .bind(address.to_string())
        .bind(domain_id)
        .bind(account_id)
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(|e| unique_violation(e, format!("address {address}")))?;
        for (name, special_use) in DEFAULT_FOLDERS {
            Self::create_folder_in(tx, account_id, name, *special_use).await?;
            // A new account's own folders start subscribed (as Dovecot's autosubscribe);
            // folders created later by CREATE are not (RFC 9051 6.3.4 subscribes nothing).
            Self::subscribe_in(tx, account_id, name).await?;
        }
        Ok(account_id)
    }

    // ----- units -----

    pub async fn add_unit(&self, new: &NewUnit) -> Result<Unit> {
        let abbrev = new.abbrev.trim().to_uppercase();
        if abbrev.is_empty()
            || !abbrev
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Error::Invalid(format!(
                "unit abbreviation {abbrev:?} (ASCII letters, digits, '-')"
            )));
        }
        let domain = normalize_address(&new.domain);
        let address = format!("{}@{}", abbrev.to_lowercase(), domain);
        let mut tx = self.begin_write().await?;
        let domain_id = Self::domain_id_in(&mut tx, &domain).await?;
        let parent_id: Option<i64> = match &new.parent_abbrev {
            None => None,
            Some(parent) => Some(
                sqlx::query_scalar("SELECT id FROM units WHERE domain_id = $1 AND abbrev = $2")
                    .bind(domain_id)
                    .bind(parent.trim().to_uppercase())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("parent unit {parent}")))?,
            ),
        };
        let account_id =
            Self::insert_account_in(&mut tx, "unit", &address, &new.name, false, new.quota_bytes)
                .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO units (domain_id, abbrev, name, parent_id, account_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(domain_id)
        .bind(abbrev.clone())
        .bind(new.name.clone())
        .bind(parent_id)
        .bind(account_id)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, format!("unit {abbrev}")))?;
        tx.commit().await?;
        self.unit_by_id(id).await
    }

    const UNIT_SELECT: &'static str = "SELECT u.id, d.name AS domain, u.abbrev, u.name, \
         (SELECT p.abbrev FROM units p WHERE p.id = u.parent_id) AS parent, a.address, u.account_id, \
         (SELECT h.address FROM accounts h WHERE h.id = u.head_account_id) AS head \
         FROM units u JOIN domains d ON d.id = u.domain_id JOIN accounts a ON a.id = u.account_id";

    fn unit_from_row(r: &AnyRow) -> Unit {
        Unit {
            id: r.get("id"),
            domain: r.get("domain"),
            abbrev: r.get("abbrev"),
            name: r.get("name"),
            parent: r.get("parent"),
            address: r.get("address"),
            account_id: r.get("account_id"),
            head: r.get("head"),
        }
    }

    async fn unit_by_id(&self, id: i64) -> Result<Unit> {
        let sql = format!("{} WHERE u.id = $1", Self::UNIT_SELECT);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Self::unit_from_row(&row))
    }

    /// The abbreviation of the unit whose mailbox `account_id` is, if it is one.
    pub async fn unit_of_account(&self, account_id: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT abbrev FROM units WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn list_units(&self) -> Result<Vec<Unit>> {
        let sql = format!("{} ORDER BY d.name, u.abbrev", Self::UNIT_SELECT);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(Self::unit_from_row).collect())
    }

    /// Finds a unit by `ABBR` (must be unique across domains) or `ABBR@domain`.
    pub async fn unit(&self, abbrev: &str) -> Result<Unit> {
        let (abbrev, domain) = match abbrev.split_once('@') {
            Some((a, d)) => (a.trim().to_uppercase(), Some(normalize_address(d))),
            None => (abbrev.trim().to_uppercase(), None),
        };
        let sql = format!(
            "{} WHERE u.abbrev = $1 AND ($2 = '' OR d.name = $2) ORDER BY u.id",
            Self::UNIT_SELECT
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(abbrev.clone())
            .bind(domain.unwrap_or_default())
            .fetch_all(&self.pool)
            .await?;
        match rows.len() {
            0 => Err(Error::NotFound(format!("unit {abbrev}"))),
            1 => Ok(Self::unit_from_row(&rows[0])),
            _ => Err(Error::Invalid(format!(
                "unit {abbrev} exists in several domains: write {abbrev}@DOMAIN"
            ))),
        }
    }

    // ----- persons -----

    pub async fn add_person(&self, new: &NewPerson) -> Result<Person> {
        let address = normalize_address(&new.address);
        split_address(&address)?;
        if new.full_name.trim().is_empty() {
            return Err(Error::Invalid("person name is empty".into()));
        }
        let unit_id = match &new.unit_abbrev {
            None => None,
            Some(abbrev) => Some(self.unit(abbrev).await?.id),
        };
        let mut tx = self.begin_write().await?;
        let account_id = Self::insert_account_in(
            &mut tx,
            "person",
            &address,
            &new.full_name,
            new.must_change_password,
            new.quota_bytes,
        )
        .await?;
        sqlx::query(
            "INSERT INTO persons (account_id, full_name, job_position, unit_id, phone) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account_id)
        .bind(new.full_name.clone())
        .bind(new.position.clone())
        .bind(unit_id)
        .bind(new.phone.clone())
        .execute(&mut *tx)
        .await?;
        Self::set_credential_in(&mut tx, account_id, &new.password_phc).await?;
        tx.commit().await?;
        self.person(&address).await
    }

    const PERSON_SELECT: &'static str = "SELECT a.id, a.address, p.full_name, p.job_position, \
         p.phone, u.abbrev AS unit, ua.address AS unit_address, a.status, a.must_change_password, \
         a.quota_bytes, a.used_bytes, a.created_at \
         FROM persons p JOIN accounts a ON a.id = p.account_id \
         LEFT JOIN units u ON u.id = p.unit_id LEFT JOIN accounts ua ON ua.id = u.account_id";

    async fn person_from_row(&self, r: &AnyRow) -> Result<Person> {
        let account_id: i64 = r.get("id");
        let aliases = sqlx::query_scalar(
            "SELECT address FROM addresses WHERE account_id = $1 AND kind = 'alias' ORDER BY address",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Person {
            account_id,
            address: r.get("address"),
            full_name: r.get("full_name"),
            position: r.get("job_position"),
            phone: r.get("phone"),
            unit: r.get("unit"),
            unit_address: r.get("unit_address"),
            status: AccountStatus::parse(&r.get::<String, _>("status")),
            must_change_password: r.get::<i64, _>("must_change_password") != 0,
            quota_bytes: r.get("quota_bytes"),
            used_bytes: r.get("used_bytes"),
            aliases,
            created_at: r.get("created_at"),
        })
    }

    /// A person by primary address or alias.
    pub async fn person(&self, address: &str) -> Result<Person> {
        let address = normalize_address(address);
        let sql = format!(
            "{} WHERE a.id = (SELECT account_id FROM addresses WHERE address = $1)",
            Self::PERSON_SELECT
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(address.clone())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {address}")))?;
        self.person_from_row(&row).await
    }

    pub async fn list_persons(&self, unit_abbrev: Option<&str>) -> Result<Vec<Person>> {
        let unit_id = match unit_abbrev {
            Some(abbrev) => self.unit(abbrev).await?.id,
            None => 0,
        };
        let sql = format!(
            "{} WHERE ($1 = 0 OR p.unit_id = $1) ORDER BY a.address",
            Self::PERSON_SELECT
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(unit_id)
            .fetch_all(&self.pool)
            .await?;
        let mut persons = Vec::with_capacity(rows.len());
        for row in &rows {
            persons.push(self.person_from_row(row).await?);
        }
        Ok(persons)
    }

    /// Allows or denies login (BD-6.1), or marks an account departed.
    pub async fn set_status(&self, address: &str, status: AccountStatus) -> Result<()> {
        let address = normalize_address(address);
        let departed_at = (status == AccountStatus::Departed).then(now);
        let mut tx = self.begin_write().await?;
        let account_id: i64 = sqlx::query_scalar(
            "SELECT account_id FROM addresses WHERE address = $1 AND account_id IS NOT NULL",
        )
        .bind(address.clone())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("account {address}")))?;
        sqlx::query("UPDATE accounts SET status = $1, departed_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(departed_at)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        if status != AccountStatus::Active {
            // BD-6.1: login denied now, also for sessions already open.
            Self::bump_session_epoch_in(&mut tx, account_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets an account's quota in bytes (0 = unlimited).
    pub async fn set_quota(&self, address: &str, quota_bytes: i64) -> Result<()> {
        let address = normalize_address(address);
        let done = sqlx::query(
            "UPDATE accounts SET quota_bytes = $1 WHERE id = (SELECT account_id FROM addresses WHERE address = $2)",
        )
        .bind(quota_bytes)
        .bind(address.clone())
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("account {address}")));
        }
        Ok(())
    }

    pub(crate) async fn set_credential_in(tx: &mut Tx, account_id: i64, phc: &str) -> Result<()> {
        if !phc.starts_with("$argon2id$") {
            return Err(Error::Invalid(
                "only argon2id PHC strings are stored".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO credentials (account_id, phc, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET phc = $2, updated_at = $3",
        )
        .bind(account_id)
        .bind(phc.to_string())
        .bind(now())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Replaces an account's password hash and sets whether it must be changed at next use.
    pub async fn set_password(&self, address: &str, phc: &str, must_change: bool) -> Result<()> {
        let address = normalize_address(address);
        let mut tx = self.begin_write().await?;
        let account_id: i64 = sqlx::query_scalar(
            "SELECT account_id FROM addresses WHERE address = $1 AND account_id IS NOT NULL",
        )
        .bind(address.clone())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("account {address}")))?;
        sqlx::query(
            "INSERT INTO credential_history (account_id, phc, retired_at) \
             SELECT account_id, phc, $1 FROM credentials WHERE account_id = $2",
        )
        .bind(now())
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        Self::set_credential_in(&mut tx, account_id, phc).await?;
        // Sessions opened with the old password end, after a reset (BD-9.5, KT-7.5) and after
        // the owner's own change alike: a password changed because it leaked must not leave
        // the intruder's open sessions running.
        Self::bump_session_epoch_in(&mut tx, account_id).await?;
        sqlx::query("UPDATE accounts SET must_change_password = $1 WHERE id = $2")
            .bind(must_change as i64)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What a login attempt must check. Logins are primary addresses or aliases.
    pub async fn login_record(&self, login: &str) -> Result<Option<LoginRecord>> {
        let row = sqlx::query(
            "SELECT a.id, a.address, a.status, a.must_change_password, c.phc \
             FROM addresses ad JOIN accounts a ON a.id = ad.account_id \
             LEFT JOIN credentials c ON c.account_id = a.id WHERE ad.address = $1",
        )
        .bind(normalize_address(login))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| LoginRecord {
            account_id: r.get(0),
            address: r.get(1),
            status: AccountStatus::parse(&r.get::<String, _>(2)),
            must_change_password: r.get::<i64, _>(3) != 0,
            phc: r.get(4),
        }))
    }

    /// Checks a user name and password. `verify(password, phc)` is the hash check (policy's
    /// argon2); it runs on the blocking pool. Unknown users cost the same time as known ones.
    pub async fn check_login(
        &self,
        login: &str,
        password: &str,
        verify: fn(&str, &str) -> bool,
        dummy_phc: &'static str,
    ) -> Result<LoginOutcome> {
        let record = self.login_record(login).await?;
        let phc = record.as_ref().and_then(|r| r.phc.clone());
        let password = password.to_string();
        // argon2id takes ~19 MiB and tens of ms per check: a storm of logins must queue, not
        // run hundreds at once on the blocking pool (memory and CPU stay bounded).
        let _slot = PASSWORD_CHECKS
            .acquire()
            .await
            .map_err(|_| Error::Invalid("shutting down".into()))?;
        let matches = tokio::task::spawn_blocking(move || match phc {
            Some(phc) => verify(&password, &phc),
            None => {
                verify(&password, dummy_phc);
                false
            }
        })
        .await
        .unwrap_or(false);
        let Some(record) = record.filter(|r| matches && r.status == AccountStatus::Active) else {
            return Ok(LoginOutcome::Refused);
        };
        if record.must_change_password {
            return Ok(LoginOutcome::MustChangePassword);
        }
        Ok(LoginOutcome::Ok {
            account_id: record.account_id,
            address: record.address,
        })
    }

    // ----- aliases -----

    /// Adds `alias` pointing at the account or group that owns `target`.
    pub async fn add_alias(
        &self,
        alias: &str,
        target: &str,
        expires_at: Option<i64>,
    ) -> Result<()> {
        let alias = normalize_address(alias);
        let (_, domain) = split_address(&alias)?;
        let target = normalize_address(target);
        let mut tx = self.begin_write().await?;
        let domain_id = Self::domain_id_in(&mut tx, &domain).await?;
        let row = sqlx::query("SELECT account_id, group_id FROM addresses WHERE address = $1")
            .bind(target.clone())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("address {target}")))?;
        let (account_id, group_id): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        sqlx::query(
            "INSERT INTO addresses (address, domain_id, kind, account_id, group_id, expires_at, created_at) \
             VALUES ($1, $2, 'alias', $3, $4, $5, $6)",
        )
        .bind(alias.clone())
        .bind(domain_id)
        .bind(account_id)
        .bind(group_id)
        .bind(expires_at)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, format!("address {alias}")))?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_alias(&self, alias: &str) -> Result<()> {
        let alias = normalize_address(alias);
        let done = sqlx::query("DELETE FROM addresses WHERE address = $1 AND kind = 'alias'")
            .bind(alias.clone())
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("alias {alias}")));
        }
        Ok(())
    }

    // ----- resolution -----

    pub async fn account_ref(&self, account_id: i64) -> Result<AccountRef> {
        let sql = format!("{ACCOUNT_REF_SELECT} WHERE a.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("account {account_id}")))?;
        Ok(account_ref(&row))
    }

    /// Resolves a recipient address: primary, alias (unexpired), or group (expanded to its
    /// members, each once).
    pub async fn resolve(&self, address: &str) -> Result<Resolved> {
        let address = normalize_address(address);
        // One round trip for the common case (a person or unit address).
        let sql = format!(
            "{ACCOUNT_REF_SELECT} JOIN addresses ad ON ad.account_id = a.id \
             WHERE ad.address = $1 AND (ad.expires_at IS NULL OR ad.expires_at > $2)"
        );
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(address.clone())
            .bind(now())
            .fetch_optional(&self.pool)
            .await?
        {
            return Ok(Resolved::Account(account_ref(&row)));
        }
        let group_id: Option<i64> = sqlx::query_scalar(
            "SELECT group_id FROM addresses WHERE address = $1 AND group_id IS NOT NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(address)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        let Some(group_id) = group_id else {
            return Ok(Resolved::Unknown);
        };
        let send_policy: String =
            sqlx::query_scalar("SELECT send_policy FROM mail_groups WHERE id = $1")
                .bind(group_id)
                .fetch_one(&self.pool)
                .await?;
        let sql = format!(
            "{ACCOUNT_REF_SELECT} WHERE a.id IN (SELECT account_id FROM group_members WHERE group_id = $1) \
             ORDER BY a.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(group_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(Resolved::Group {
            group_id,
            send_policy,
            members: rows.iter().map(account_ref).collect(),
        })
    }

    /// Every address an account may use as sender: its own addresses and aliases, plus those of
    /// mailboxes on which it holds the send right (unit mailboxes of delegates and heads).
    pub async fn sendable_addresses(&self, account_id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT address FROM addresses WHERE account_id = $1 \
             UNION SELECT ad.address FROM addresses ad JOIN mailbox_acl m \
               ON m.owner_account_id = ad.account_id \
               WHERE m.grantee_account_id = $1 AND m.may_send = 1 \
             UNION SELECT ad.address FROM addresses ad JOIN units u ON u.account_id = ad.account_id \
               WHERE u.head_account_id = $1",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    // ----- groups -----

    pub async fn add_group(&self, address: &str, name: &str, send_policy: &str) -> Result<i64> {
        let address = normalize_address(address);
        let (_, domain) = split_address(&address)?;
        let mut tx = self.begin_write().await?;
        let domain_id = Self::domain_id_in(&mut tx, &domain).await?;
        let group_id: i64 = sqlx::query_scalar(
            "INSERT INTO mail_groups (domain_id, address, name, send_policy, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(domain_id)
        .bind(address.clone())
        .bind(name.to_string())
        .bind(send_policy.to_string())
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, format!("group {address}")))?;
        sqlx::query(
            "INSERT INTO addresses (address, domain_id, kind, group_id, created_at) \
             VALUES ($1, $2, 'group', $3, $4)",
        )
        .bind(address.clone())
        .bind(domain_id)
        .bind(group_id)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, format!("address {address}")))?;
        tx.commit().await?;
        Ok(group_id)
    }

    pub async fn remove_group_member(&self, group: &str, member: &str) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM group_members WHERE group_id = (SELECT id FROM mail_groups WHERE address = $1) \
             AND account_id = (SELECT account_id FROM addresses WHERE address = $2)",
        )
        .bind(normalize_address(group))
        .bind(normalize_address(member))
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("{member} in group {group}")));
        }
        Ok(())
    }

    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>> {
        let rows =
            sqlx::query("SELECT id, address, name, send_policy FROM mail_groups ORDER BY address")
                .fetch_all(&self.pool)
                .await?;
        let mut groups = vec![];
        for row in &rows {
            let members = sqlx::query_scalar(
                "SELECT a.address FROM group_members m JOIN accounts a ON a.id = m.account_id \
                 WHERE m.group_id = $1 ORDER BY a.address",
            )
            .bind(row.get::<i64, _>(0))
            .fetch_all(&self.pool)
            .await?;
            groups.push(GroupInfo {
                address: row.get(1),
                name: row.get(2),
                send_policy: row.get(3),
                members,
            });
        }
        Ok(groups)
    }

    pub async fn add_group_member(&self, group: &str, member: &str) -> Result<()> {
        let group = normalize_address(group);
        let member = normalize_address(member);
        let group_id: i64 = sqlx::query_scalar("SELECT id FROM mail_groups WHERE address = $1")
            .bind(group.clone())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("group {group}")))?;
        let account_id: i64 = sqlx::query_scalar(
            "SELECT account_id FROM addresses WHERE address = $1 AND account_id IS NOT NULL",
        )
        .bind(member.clone())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("account {member}")))?;
        sqlx::query(
            "INSERT INTO group_members (group_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group_id)
        .bind(account_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
