//! `Store::unit_access`, behind the `UNIT*PERSON` login (issue 14), on both backends: only a
//! unit's address, only an active person holding a grant there, rights and the send right as
//! they are now. Run with `scripts/test -p storage --test storage_tests -- unit_access::`.

use crate::common;

use common::{for_each_backend, Ctx};
use storage::{AccountStatus, NewPerson, NewUnit};

const DOMAIN: &str = "kontum.gov.vn";
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qLml5cbXmYxYhVsxzrs5gZBUYcGmDS8IYKCWeb0nCXw";
const A: &str = "nvan.stttt@kontum.gov.vn";
const B: &str = "ttbinh.stttt@kontum.gov.vn";

fn person(address: &str, name: &str) -> NewPerson {
    NewPerson {
        full_name: name.into(),
        address: address.into(),
        unit_abbrev: Some("STTTT".into()),
        position: String::new(),
        phone: String::new(),
        password_phc: PHC.into(),
        must_change_password: false,
        quota_bytes: 0,
    }
}

#[tokio::test]
async fn unit_access_only_for_a_units_active_grantee() {
    for_each_backend("unit_access", |ctx: Ctx| async move {
        let s = &ctx.store;
        let name = ctx.name();
        s.add_domain(DOMAIN, "kontum").await.unwrap();
        let unit = s
            .add_unit(&NewUnit {
                domain: DOMAIN.into(),
                abbrev: "STTTT".into(),
                name: "Sở Thông tin và Truyền thông".into(),
                parent_abbrev: None,
                quota_bytes: 0,
            })
            .await
            .unwrap();
        let a = s.add_person(&person(A, "Nguyễn Văn An")).await.unwrap();
        let b = s.add_person(&person(B, "Trần Thị Bình")).await.unwrap();

        // No grant: nothing.
        assert_eq!(
            s.unit_access(&unit.address, a.account_id).await.unwrap(),
            None,
            "[{name}]"
        );
        s.delegate("STTTT", A, storage::RIGHTS_READ, false)
            .await
            .unwrap();
        let access = s
            .unit_access(&unit.address, a.account_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(access.unit_account_id, unit.account_id, "[{name}]");
        assert_eq!(access.unit_address, unit.address, "[{name}]");
        assert_eq!(access.rights, storage::RIGHTS_READ, "[{name}]");
        assert!(!access.may_send, "[{name}]");
        // Any spelling of the address the login canonicalises the same way.
        let upper = unit.address.to_uppercase();
        assert!(
            s.unit_access(&upper, a.account_id).await.unwrap().is_some(),
            "[{name}]"
        );

        // The send right: delegated, or as the head.
        s.delegate("STTTT", B, storage::RIGHTS_HANDLE, true)
            .await
            .unwrap();
        assert!(
            s.unit_access(&unit.address, b.account_id)
                .await
                .unwrap()
                .unwrap()
                .may_send
        );
        s.set_unit_head("STTTT", A).await.unwrap();
        let head = s
            .unit_access(&unit.address, a.account_id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            head.may_send && head.rights == storage::RIGHTS_HEAD,
            "[{name}] {head:?}"
        );

        // A person's address is never a "unit", even with the person's own id.
        assert_eq!(
            s.unit_access(B, a.account_id).await.unwrap(),
            None,
            "[{name}]"
        );
        assert_eq!(
            s.unit_access(A, a.account_id).await.unwrap(),
            None,
            "[{name}]"
        );
        // The unit itself is not its own grantee.
        assert_eq!(
            s.unit_access(&unit.address, unit.account_id).await.unwrap(),
            None
        );

        // A disabled person, a revoked grant: nothing.
        s.set_status(B, AccountStatus::Disabled).await.unwrap();
        assert_eq!(
            s.unit_access(&unit.address, b.account_id).await.unwrap(),
            None,
            "[{name}]"
        );
        s.set_status(B, AccountStatus::Active).await.unwrap();
        assert!(s
            .unit_access(&unit.address, b.account_id)
            .await
            .unwrap()
            .is_some());
        s.revoke("STTTT", B).await.unwrap();
        assert_eq!(
            s.unit_access(&unit.address, b.account_id).await.unwrap(),
            None,
            "[{name}]"
        );
    })
    .await;
}
