//! Protocol checks at the boundaries, with a BER client on ldap3_proto's codec: bind
//! versions and methods, read-only refusals, paged-results cookies, the request size bound,
//! StartTLS answers, Who am I. Expected codes come from RFC 4511 (A.2 result codes), RFC 4513,
//! RFC 2696 and RFC 4532.

use crate::harness;

use harness::*;
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::*;
use tokio::io::AsyncWriteExt;

fn code_of(msg: &LdapMsg) -> LdapResultCode {
    match &msg.op {
        LdapOp::BindResponse(r) => r.res.code.clone(),
        LdapOp::SearchResultDone(r)
        | LdapOp::ModifyResponse(r)
        | LdapOp::AddResponse(r)
        | LdapOp::DelResponse(r)
        | LdapOp::ModifyDNResponse(r)
        | LdapOp::CompareResult(r) => r.code.clone(),
        LdapOp::ExtendedResponse(r) => r.res.code.clone(),
        other => panic!("not a result: {other:?}"),
    }
}

fn simple_bind(version: i64, dn: &str, password: &str) -> LdapOp {
    LdapOp::BindRequest(LdapBindRequest {
        version,
        dn: dn.into(),
        cred: LdapBindCred::Simple(password.into()),
    })
}

fn persons(attrs: &[&str]) -> LdapOp {
    LdapOp::SearchRequest(LdapSearchRequest {
        base: BASE.into(),
        scope: LdapSearchScope::Subtree,
        aliases: LdapDerefAliases::Never,
        sizelimit: 0,
        timelimit: 0,
        typesonly: false,
        filter: LdapFilter::Equality("objectClass".into(), "person".into()),
        attrs: attrs.iter().map(|a| a.to_string()).collect(),
    })
}

fn paged(size: i64, cookie: Vec<u8>) -> Vec<LdapControl> {
    vec![LdapControl::SimplePagedResults { size, cookie }]
}

fn cookie_of(msg: &LdapMsg) -> Vec<u8> {
    msg.ctrl
        .iter()
        .find_map(|c| match c {
            LdapControl::SimplePagedResults { cookie, .. } => Some(cookie.clone()),
            _ => None,
        })
        .expect("RFC 2696 3: the done message carries the control")
}

async fn bound(server: &TestServer) -> Client {
    let mut c = Client::connect(server.ldap).await;
    let r = c.request(simple_bind(3, TUYET, PASSWORD), vec![]).await;
    assert_eq!(code_of(&r[0]), LdapResultCode::Success);
    c
}

#[tokio::test]
async fn binds_versions_methods_and_whoami() {
    let server = start(|s| s.allow_plaintext_loopback = true).await;
    let mut c = Client::connect(server.ldap).await;
    // RFC 4511 4.2.2: an unsupported version is protocolError.
    let r = c.request(simple_bind(2, TUYET, PASSWORD), vec![]).await;
    assert_eq!(code_of(&r[0]), LdapResultCode::ProtocolError);
    // RFC 4511 4.2.2: a SASL mechanism we do not offer is authMethodNotSupported.
    let sasl = LdapOp::BindRequest(LdapBindRequest {
        version: 3,
        dn: String::new(),
        cred: LdapBindCred::SASL(SaslCredentials {
            mechanism: "PLAIN".into(),
            credentials: vec![],
        }),
    });
    let r = c.request(sasl, vec![]).await;
    assert_eq!(code_of(&r[0]), LdapResultCode::AuthMethodNotSupported);
    let r = c.request(simple_bind(3, TUYET, PASSWORD), vec![]).await;
    assert_eq!(code_of(&r[0]), LdapResultCode::Success);
    // RFC 4532 2.2: the authzId of the bound user.
    let whoami = LdapOp::ExtendedRequest(LdapExtendedRequest {
        name: "1.3.6.1.4.1.4203.1.11.3".into(),
        value: None,
    });
    let r = c.request(whoami, vec![]).await;
    match &r[0].op {
        LdapOp::ExtendedResponse(e) => {
            assert_eq!(e.res.code, LdapResultCode::Success);
            assert_eq!(e.value.as_deref(), Some(format!("u:{TUYET}").as_bytes()));
        }
        other => panic!("{other:?}"),
    }
    // RFC 4511 4.12: an unknown extended operation is protocolError.
    let unknown = LdapOp::ExtendedRequest(LdapExtendedRequest {
        name: "1.2.3.4".into(),
        value: None,
    });
    let r = c.request(unknown, vec![]).await;
    assert_eq!(code_of(&r[0]), LdapResultCode::ProtocolError);
}

#[tokio::test]
async fn updates_are_refused_read_only() {
    let server = start(|s| s.allow_plaintext_loopback = true).await;
    let mut c = bound(&server).await;
    // RFC 4511 4.7/4.8: each update answered by its own response type; unwillingToPerform.
    let add = LdapOp::AddRequest(LdapAddRequest {
        dn: format!("mail=x@kontum.gov.vn,{BASE}"),
        attributes: vec![],
    });
    let r = c.request(add, vec![]).await;
    assert!(matches!(r[0].op, LdapOp::AddResponse(_)));
    assert_eq!(code_of(&r[0]), LdapResultCode::UnwillingToPerform);
    let r = c
        .request(LdapOp::DelRequest(format!("mail={TUYET},{BASE}")), vec![])
        .await;
    assert!(matches!(r[0].op, LdapOp::DelResponse(_)));
    assert_eq!(code_of(&r[0]), LdapResultCode::UnwillingToPerform);
    // The entry is still there.
    let r = c.request(persons(&["1.1"]), vec![]).await;
    assert_eq!(r.len(), 3 + 1, "3 present persons and the done message");
}

#[tokio::test]
async fn paged_results_cookies() {
    let server = start(|s| s.allow_plaintext_loopback = true).await;
    let mut c = bound(&server).await;
    let first = c.request(persons(&["mail"]), paged(2, vec![])).await;
    assert_eq!(first.len(), 2 + 1);
    let done = first.last().unwrap();
    assert_eq!(code_of(done), LdapResultCode::Success);
    let cookie = cookie_of(done);
    assert!(
        !cookie.is_empty(),
        "RFC 2696 3: more entries, a non-empty cookie"
    );
    // The cookie with another search: refused.
    let mut other = persons(&["cn"]);
    if let LdapOp::SearchRequest(s) = &mut other {
        s.filter = LdapFilter::Present("mail".into());
    }
    let r = c.request(other, paged(2, cookie.clone())).await;
    assert_eq!(code_of(&r[0]), LdapResultCode::UnwillingToPerform);
    // The next page: the last entry, and an empty cookie (RFC 2696 3).
    let second = c
        .request(persons(&["mail"]), paged(2, cookie.clone()))
        .await;
    assert_eq!(second.len(), 1 + 1);
    assert!(cookie_of(second.last().unwrap()).is_empty());
    // A size of zero abandons the paged search: no entries, an empty cookie (RFC 2696 3).
    let r = c.request(persons(&["mail"]), paged(0, cookie)).await;
    assert_eq!(r.len(), 1);
    assert!(cookie_of(&r[0]).is_empty());
    // A page larger than max_results is cut to it (the server's limit).
    drop(c);
    let server = start(|s| {
        s.allow_plaintext_loopback = true;
        s.max_results = 2;
    })
    .await;
    let mut c = bound(&server).await;
    let r = c.request(persons(&["mail"]), paged(100, vec![])).await;
    assert_eq!(r.len(), 2 + 1);
    assert!(!cookie_of(r.last().unwrap()).is_empty());
    // Without paging, more than max_results is sizeLimitExceeded (RFC 4511 4.5.1.4).
    let r = c.request(persons(&["mail"]), vec![]).await;
    assert_eq!(r.len(), 2 + 1);
    assert_eq!(
        code_of(r.last().unwrap()),
        LdapResultCode::SizeLimitExceeded
    );
}

#[tokio::test]
async fn oversized_request_ends_with_notice_of_disconnection() {
    let server = start(|s| {
        s.allow_plaintext_loopback = true;
        s.max_request_bytes = 1024;
    })
    .await;
    let mut c = bound(&server).await;
    let mut big = persons(&[]);
    if let LdapOp::SearchRequest(s) = &mut big {
        s.filter = LdapFilter::Equality("cn".into(), "x".repeat(4000));
    }
    c.send(big, vec![]).await;
    // RFC 4511 4.4.1: message ID 0, the notice's OID, then the connection closes.
    let notice = c.recv().await.expect("a notice");
    assert_eq!(notice.msgid, 0);
    match &notice.op {
        LdapOp::ExtendedResponse(e) => {
            assert_eq!(e.name.as_deref(), Some("1.3.6.1.4.1.1466.20036"));
            assert_eq!(e.res.code, LdapResultCode::ProtocolError);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.recv().await.is_none());
    // A request just under the bound is answered.
    let mut c = bound(&server).await;
    let mut fits = persons(&[]);
    if let LdapOp::SearchRequest(s) = &mut fits {
        s.filter = LdapFilter::Equality("cn".into(), "x".repeat(900));
    }
    let r = c.request(fits, vec![]).await;
    assert_eq!(code_of(&r[0]), LdapResultCode::Success);
}

#[tokio::test]
async fn starttls_answers() {
    let server = start(|_| {}).await;
    let starttls = || {
        LdapOp::ExtendedRequest(LdapExtendedRequest {
            name: "1.3.6.1.4.1.1466.20037".into(),
            value: None,
        })
    };
    // RFC 4511 4.14.2: after a success the next bytes are the TLS handshake; an LDAP
    // message in plaintext is not read as one, the connection ends.
    let mut c = Client::connect(server.ldap).await;
    c.send(starttls(), vec![]).await;
    let r = c.recv().await.unwrap();
    assert_eq!(code_of(&r), LdapResultCode::Success);
    c.raw()
        .write_all(b"\x30\x05\x02\x01\x09\x42\x00")
        .await
        .unwrap();
    // The server now waits for a TLS ClientHello; an unbind in plaintext is not one.
    assert!(c.recv().await.is_none());
}
