//! Directory fixtures shared by the operations tests of `storage` and `govmail` (the latter
//! includes this file by path).

#![allow(dead_code)]

use storage::{NewPerson, NewUnit};

pub const DOMAIN: &str = "kontum.gov.vn";
/// A syntactically valid argon2id PHC string (storage only stores it; policy verifies).
pub const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qLml5cbXmYxYhVsxzrs5gZBUYcGmDS8IYKCWeb0nCXw";

pub fn person(address: &str, name: &str, unit: Option<&str>) -> NewPerson {
    NewPerson {
        full_name: name.to_string(),
        address: address.to_string(),
        unit_abbrev: unit.map(str::to_string),
        position: String::new(),
        phone: String::new(),
        password_phc: PHC.to_string(),
        must_change_password: false,
        quota_bytes: 0,
    }
}

pub fn unit(abbrev: &str, name: &str) -> NewUnit {
    NewUnit {
        domain: DOMAIN.to_string(),
        abbrev: abbrev.to_string(),
        name: name.to_string(),
        parent_abbrev: None,
        quota_bytes: 0,
    }
}
