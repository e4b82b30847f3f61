//! The address book the directory front ends (LDAP, CardDAV) serve: every person who has not
//! left, every unit, every group with its members, each read in one query (10,000 persons
//! cost three round trips, not 10,000).

use std::collections::HashMap;

use sqlx::Row;

use crate::{GroupInfo, Result, Store, Unit};

/// A person as the address book shows them (departed persons are never in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookPerson {
    pub account_id: i64,
    pub address: String,
    pub full_name: String,
    pub position: String,
    pub phone: String,
    /// The unit's abbreviation.
    pub unit: Option<String>,
}

/// One consistent reading of the directory for address books.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    pub persons: Vec<BookPerson>,
    pub units: Vec<Unit>,
    pub groups: Vec<GroupInfo>,
}

impl Store {
    /// Persons (departed ones left out), units and groups with members, ordered by address.
    pub async fn address_book(&self) -> Result<AddressBook> {
        let rows = sqlx::query(
            "SELECT a.id, a.address, p.full_name, p.job_position, p.phone, u.abbrev \
             FROM persons p JOIN accounts a ON a.id = p.account_id \
             LEFT JOIN units u ON u.id = p.unit_id \
             WHERE a.status <> 'departed' ORDER BY a.address",
        )
        .fetch_all(&self.pool)
        .await?;
        let persons = rows
            .iter()
            .map(|r| BookPerson {
                account_id: r.get(0),
                address: r.get(1),
                full_name: r.get(2),
                position: r.get(3),
                phone: r.get(4),
                unit: r.get(5),
            })
            .collect();
        let units = self.list_units().await?;
        let groups =
            sqlx::query("SELECT id, address, name, send_policy FROM mail_groups ORDER BY address")
                .fetch_all(&self.pool)
                .await?;
        let members = sqlx::query(
            "SELECT m.group_id, a.address FROM group_members m \
             JOIN accounts a ON a.id = m.account_id \
             WHERE a.status <> 'departed' ORDER BY m.group_id, a.address",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_group: HashMap<i64, Vec<String>> = HashMap::new();
        for m in &members {
            by_group.entry(m.get(0)).or_default().push(m.get(1));
        }
        let groups = groups
            .iter()
            .map(|g| GroupInfo {
                address: g.get(1),
                name: g.get(2),
                send_policy: g.get(3),
                members: by_group.remove(&g.get::<i64, _>(0)).unwrap_or_default(),
            })
            .collect();
        Ok(AddressBook {
            persons,
            units,
            groups,
        })
    }
}
