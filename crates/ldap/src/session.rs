//! One LDAP connection (RFC 4511), read-only.
//!
//! Implementation notes:
//! - Requests are read one at a time and answered in order (no concurrent operations on one
//!   connection; RFC 4511 4.1.1 allows that). Abandon is therefore a no-op.
//! - Each request is at most `max_request_bytes` BER bytes and `max_request_depth` deep
//!   (ldap3_proto's codec); a request it cannot decode ends the connection with a Notice of
//!   Disconnection (RFC 4511 4.4.1, protocolError).
//! - Simple bind only under TLS (LDAPS or after StartTLS), or from loopback when
//!   `allow_plaintext_loopback`; the same argon2 check and AUTH throttle as IMAP and SMTP.
//! - Anonymous binds succeed (RFC 4513 5.1.1) but, like no bind, only rootDSE and the subschema entry may be read (RFC 4512 5.1 lets
//!   clients probe them), unless `allow_anonymous`.
//! - Every search is bounded: `max_results` entries (or a page), `max_search_time`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapBindResponse, LdapExtendedRequest, LdapExtendedResponse,
    LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute, LdapResult, LdapResultCode,
    LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
};
use ldap3_proto::LdapCodec;
use listener::ShutdownSignal;
use policy::limits::AuthGate;
use storage::LoginOutcome;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use crate::directory::{self, Directory, Entry};
use crate::filter::{self, Truth};
use crate::schema::{subschema, SUBSCHEMA_DN};
use crate::Context;

/// RFC 4511 4.14.1: the StartTLS extended operation.
pub const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";
/// RFC 4532: Who am I?
pub const OID_WHOAMI: &str = "1.3.6.1.4.1.4203.1.11.3";
/// RFC 4511 4.4.1: Notice of Disconnection.
pub const OID_NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
/// RFC 2696: the simple paged results control.
pub const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
/// Most nodes a filter may have.
const MAX_FILTER_NODES: usize = 256;

/// How a session run ended.
pub enum Outcome<S> {
    Closed,
    StartTls(S),
}

enum State {
    Anonymous,
    Bound { address: String },
}

pub struct Session {
    context: Arc<Context>,
    peer: SocketAddr,
    shutdown: ShutdownSignal,
    tls: bool,
    state: State,
    id: String,
}

type Io<S> = Framed<S, LdapCodec>;

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.to_string(),
        referral: vec![],
    }
}

/// The Notice of Disconnection (RFC 4511 4.4.1): message ID 0, an ExtendedResponse.
pub fn notice_of_disconnection(code: LdapResultCode, message: &str) -> LdapMsg {
    LdapMsg {
        msgid: 0,
        op: LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: result(code, message),
            name: Some(OID_NOTICE_OF_DISCONNECTION.to_string()),
            value: None,
        }),
        ctrl: vec![],
    }
}

/// Encodes one message to bytes (for refusals written before a session exists).
pub fn encode(msg: LdapMsg) -> Vec<u8> {
    use tokio_util::codec::Encoder;
    let mut buf = bytes::BytesMut::new();
    let _ = LdapCodec::default().encode(msg, &mut buf);
    buf.to_vec()
}

enum Next {
    Continue,
    Close,
    StartTls,
}

impl Session {
    pub fn new(context: Arc<Context>, peer: SocketAddr, shutdown: ShutdownSignal) -> Session {
        Session {
            context,
            peer,
            shutdown,
            tls: false,
            state: State::Anonymous,
            id: listener::session_id("l"),
        }
    }

    pub fn set_tls(&mut self) {
        self.tls = true;
    }

    fn bind_allowed(&self) -> bool {
        self.tls || (self.context.settings.allow_plaintext_loopback && self.peer.ip().is_loopback())
    }

    /// Runs until unbind, an error, shutdown or StartTLS (the plain stream is handed back).
    pub async fn run<S>(&mut self, stream: S) -> std::io::Result<Outcome<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let settings = &self.context.settings;
        let codec = LdapCodec::new(
            Some(settings.max_request_bytes),
            Some(settings.max_request_depth),
        );
        let mut io = Framed::new(stream, codec);
        loop {
            let wait = match self.state {
                State::Anonymous => self.context.settings.login_timeout,
                State::Bound { .. } => self.context.settings.idle_timeout,
            };
            let mut shutdown = self.shutdown.clone();
            let read = tokio::select! {
                read = tokio::time::timeout(wait, io.next()) => read,
                _ = shutdown.changed() => {
                    let notice = notice_of_disconnection(LdapResultCode::Unavailable, "Server shutting down");
                    let _ = io.send(notice).await;
                    return Ok(Outcome::Closed);
                }
            };
            let msg = match read {
                Err(_) => {
                    // RFC 4511 4.4.1: the server may end an idle connection with a notice.
                    let notice =
                        notice_of_disconnection(LdapResultCode::Unavailable, "Idle for too long");
                    let _ = io.send(notice).await;
                    return Ok(Outcome::Closed);
                }
                Ok(None) => return Ok(Outcome::Closed),
                Ok(Some(Err(e))) => {
                    tracing::info!(session = %self.id, error = %e, "undecodable request");
                    let notice = notice_of_disconnection(
                        LdapResultCode::ProtocolError,
                        "Malformed or oversized request",
                    );
                    let _ = io.send(notice).await;
                    return Ok(Outcome::Closed);
                }
                Ok(Some(Ok(msg))) => msg,
            };
            match self.request(msg, &mut io).await? {
                Next::Continue => {}
                Next::Close => return Ok(Outcome::Closed),
                Next::StartTls => {
                    let parts = io.into_parts();
                    // RFC 4511 4.14.1: nothing may follow the StartTLS request before the
                    // handshake; bytes already buffered are dropped with the connection.
                    if !parts.read_buf.is_empty() {
                        return Ok(Outcome::Closed);
                    }
                    return Ok(Outcome::StartTls(parts.io));
                }
            }
        }
    }

    async fn request<S>(&mut self, msg: LdapMsg, io: &mut Io<S>) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let msgid = msg.msgid;
        let reply = |op| LdapMsg {
            msgid,
            op,
            ctrl: vec![],
        };
        let read_only = || {
            result(
                LdapResultCode::UnwillingToPerform,
                "The directory is read-only",
            )
        };
        match msg.op {
            LdapOp::BindRequest(bind) => {
                let res = self.bind(bind).await;
                io.send(reply(LdapOp::BindResponse(LdapBindResponse {
                    res,
                    saslcreds: None,
                })))
                .await?;
            }
            LdapOp::UnbindRequest => return Ok(Next::Close),
            LdapOp::SearchRequest(search) => self.search(msgid, search, &msg.ctrl, io).await?,
            LdapOp::AbandonRequest(_) => {}
            LdapOp::ExtendedRequest(LdapExtendedRequest { name, .. }) => {
                return self.extended(msgid, &name, io).await;
            }
            // RFC 4511 4.6-4.10: the answer to each update is its own response type.
            LdapOp::ModifyRequest(_) => io.send(reply(LdapOp::ModifyResponse(read_only()))).await?,
            LdapOp::AddRequest(_) => io.send(reply(LdapOp::AddResponse(read_only()))).await?,
            LdapOp::DelRequest(_) => io.send(reply(LdapOp::DelResponse(read_only()))).await?,
            LdapOp::ModifyDNRequest(_) => {
                io.send(reply(LdapOp::ModifyDNResponse(read_only())))
                    .await?
            }
            LdapOp::CompareRequest(_) => {
                let res = result(LdapResultCode::UnwillingToPerform, "Compare is not offered");
                io.send(reply(LdapOp::CompareResult(res))).await?
            }
            // A response type from a client: RFC 4511 4.1.1, protocolError and disconnect.
            _ => {
                let notice =
                    notice_of_disconnection(LdapResultCode::ProtocolError, "Not a request");
                io.send(notice).await?;
                return Ok(Next::Close);
            }
        }
        Ok(Next::Continue)
    }

    async fn extended<S>(&mut self, msgid: i32, name: &str, io: &mut Io<S>) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let respond = |res: LdapResult, name: Option<&str>, value: Option<Vec<u8>>| LdapMsg {
            msgid,
            op: LdapOp::ExtendedResponse(LdapExtendedResponse {
                res,
                name: name.map(str::to_string),
                value,
            }),
            ctrl: vec![],
        };
        match name {
            OID_STARTTLS => {
                // RFC 4511 4.14.1: operationsError when TLS is already established;
                // protocolError (or unavailable) when it cannot be offered.
                if self.tls {
                    let res = result(LdapResultCode::OperationsError, "TLS is already on");
                    io.send(respond(res, Some(OID_STARTTLS), None)).await?;
                    return Ok(Next::Continue);
                }
                if self.context.tls.is_none() {
                    let res = result(LdapResultCode::Unavailable, "TLS is not configured");
                    io.send(respond(res, Some(OID_STARTTLS), None)).await?;
                    return Ok(Next::Continue);
                }
                let res = result(LdapResultCode::Success, "");
                io.send(respond(res, Some(OID_STARTTLS), None)).await?;
                Ok(Next::StartTls)
            }
            OID_WHOAMI => {
                // RFC 4532 2.2: the authzId, "dn:..." or "u:..."; empty when anonymous.
                let authz = match &self.state {
                    State::Bound { address } => format!("u:{address}"),
                    State::Anonymous => String::new(),
                };
                let res = result(LdapResultCode::Success, "");
                io.send(respond(res, None, Some(authz.into_bytes())))
                    .await?;
                Ok(Next::Continue)
            }
            _ => {
                // RFC 4511 4.12: an unrecognised requestName is protocolError.
                let res = result(LdapResultCode::ProtocolError, "Unknown extended operation");
                io.send(respond(res, None, None)).await?;
                Ok(Next::Continue)
            }
        }
    }

    async fn bind(&mut self, bind: LdapBindRequest) -> LdapResult {
        // RFC 4511 4.2.2: a bind resets the connection to anonymous first.
        self.state = State::Anonymous;
        if bind.version != 3 {
            // RFC 4511 4.2.2: protocolError for versions not supported.
            return result(LdapResultCode::ProtocolError, "Only LDAPv3 is supported");
        }
        let password = match bind.cred {
            LdapBindCred::Simple(password) => password,
            // RFC 4511 4.2.2: authMethodNotSupported.
            LdapBindCred::SASL(_) | LdapBindCred::Unsupported => {
                return result(
                    LdapResultCode::AuthMethodNotSupported,
                    "Only simple bind is offered",
                )
            }
        };
        if password.is_empty() {
            if !bind.dn.is_empty() {
                // RFC 4513 5.1.2: unauthenticated binds are refused by default, unwillingToPerform.
                return result(
                    LdapResultCode::UnwillingToPerform,
                    "Unauthenticated bind refused",
                );
            }
            // RFC 4513 5.1.1: anonymous authentication succeeds; what it may read is limited
            // (rootDSE and subschema only, unless `allow_anonymous`), so clients can probe.
            return result(LdapResultCode::Success, "");
        }
        if !self.bind_allowed() {
            // RFC 4513 5.1.3 / RFC 4511 4.2.2: confidentialityRequired without TLS.
            return result(
                LdapResultCode::ConfidentialityRequired,
                "Use LDAPS or StartTLS first",
            );
        }
        let Some(login) = login_of(&bind.dn) else {
            return result(LdapResultCode::InvalidCredentials, "Invalid credentials");
        };
        self.login(&login, &password).await
    }

    async fn login(&mut self, login: &str, password: &str) -> LdapResult {
        let login = &policy::naming::canonical_login(login);
        let ip = self.peer.ip();
        let throttle = self.context.auth_throttle.clone();
        if let AuthGate::Locked(left) | AuthGate::Banned(left) =
            throttle.check(ip, login, Instant::now())
        {
            // RFC 4511 A.2: busy — the server is too busy to serve this request now.
            return result(
                LdapResultCode::Busy,
                &format!(
                    "Too many failed logins, try again in {} s",
                    left.as_secs().max(1)
                ),
            );
        }
        let store = &self.context.store;
        let outcome = store
            .check_login(
                login,
                password,
                policy::password::verify,
                policy::password::DUMMY_PHC,
            )
            .await;
        match outcome {
            Ok(LoginOutcome::Ok { address, .. }) => {
                throttle.success(ip, login);
                tracing::info!(session = %self.id, user = %address, "ldap bind");
                self.state = State::Bound { address };
                result(LdapResultCode::Success, "")
            }
            Ok(LoginOutcome::MustChangePassword) => {
                throttle.success(ip, login);
                result(
                    LdapResultCode::InvalidCredentials,
                    "Your initial password must be changed first",
                )
            }
            Ok(LoginOutcome::Refused) => {
                metrics::counter!("govmail_auth_failures_total", "protocol" => "ldap").increment(1);
                let failure = throttle.failure(ip, login, Instant::now());
                store
                    .record_auth_failure("ldap", &self.id.to_string(), login, ip, &failure)
                    .await;
                tokio::time::sleep(failure.delay).await;
                // RFC 4511 4.2.2: invalidCredentials.
                result(LdapResultCode::InvalidCredentials, "Invalid credentials")
            }
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "login lookup failed");
                result(LdapResultCode::Unavailable, "Temporary failure, try again")
            }
        }
    }

    async fn search<S>(
        &mut self,
        msgid: i32,
        search: LdapSearchRequest,
        controls: &[LdapControl],
        io: &mut Io<S>,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let done = |res: LdapResult, ctrl: Vec<LdapControl>| LdapMsg {
            msgid,
            op: LdapOp::SearchResultDone(res),
            ctrl,
        };
        let entry = |e: LdapSearchResultEntry| LdapMsg {
            msgid,
            op: LdapOp::SearchResultEntry(e),
            ctrl: vec![],
        };
        // RFC 4512 5.1: the rootDSE, a base search with an empty base.
        if search.base.is_empty() && search.scope == LdapSearchScope::Base {
            if filter_is_true_for_objectclass(&search.filter) {
                let dir = self.directory_or_empty().await;
                io.send(entry(self.root_dse(&dir, &search))).await?;
            }
            return io
                .send(done(result(LdapResultCode::Success, ""), vec![]))
                .await;
        }
        let norm_base = directory::normalize_dn(&search.base);
        if norm_base == SUBSCHEMA_DN.to_lowercase() && search.scope == LdapSearchScope::Base {
            if filter_is_true_for_objectclass(&search.filter) {
                io.send(entry(subschema(&search))).await?;
            }
            return io
                .send(done(result(LdapResultCode::Success, ""), vec![]))
                .await;
        }
        if matches!(self.state, State::Anonymous) && !self.context.settings.allow_anonymous {
            // RFC 4513 4: access control; insufficientAccessRights before a bind.
            let res = result(LdapResultCode::InsufficentAccessRights, "Bind first");
            return io.send(done(res, vec![])).await;
        }
        if filter::size(&search.filter) > MAX_FILTER_NODES {
            let res = result(LdapResultCode::AdminLimitExceeded, "Filter too complex");
            return io.send(done(res, vec![])).await;
        }
        let dir = match self.context.directory().await {
            Ok(dir) => dir,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "directory read failed");
                let res = result(LdapResultCode::Unavailable, "Temporary failure, try again");
                return io.send(done(res, vec![])).await;
            }
        };
        // RFC 4511 4.5.1.1: the base object must exist, else noSuchObject with matchedDN.
        if dir.find(&norm_base).is_none() {
            let mut res = result(LdapResultCode::NoSuchObject, "No such entry");
            res.matcheddn = matched_dn(&dir, &norm_base);
            return io.send(done(res, vec![])).await;
        }
        // RFC 2696 3: the paged-results control.
        let paged = controls.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
            _ => None,
        });
        let settings = &self.context.settings;
        let max = settings.max_results;
        let fingerprint = fingerprint(&search);
        let (start, page_size) = match &paged {
            Some((size, cookie)) => {
                let start = if cookie.is_empty() {
                    0
                } else {
                    match parse_cookie(cookie, fingerprint) {
                        Some(start) => start,
                        None => {
                            // RFC 2696 3: a cookie from another search is an error;
                            // unwillingToPerform as slapd answers.
                            let res = result(
                                LdapResultCode::UnwillingToPerform,
                                "Invalid paged results cookie",
                            );
                            return io.send(done(res, vec![])).await;
                        }
                    }
                };
                // RFC 2696 3: a size of zero abandons the paged search.
                if *size <= 0 {
                    let ctrl = paged_control(Vec::new());
                    return io
                        .send(done(result(LdapResultCode::Success, ""), vec![ctrl]))
                        .await;
                }
                (start, (*size as usize).min(max))
            }
            None => (0, max),
        };
        // RFC 4511 4.5.1.4: sizeLimit 0 is no client limit.
        let client_limit = usize::try_from(search.sizelimit).ok().filter(|n| *n > 0);
        let limit = client_limit.map_or(page_size, |n| n.min(page_size));
        let deadline = {
            let mut d = settings.max_search_time;
            if search.timelimit > 0 {
                d = d.min(std::time::Duration::from_secs(search.timelimit as u64));
            }
            Instant::now() + d
        };
        let selection = Selection::new(&search.attrs);
        let mut matched = 0usize;
        let mut sent = 0usize;
        let mut more = false;
        let mut timed_out = false;
        let prepared = filter::Prepared::new(&search.filter);
        for (i, e) in dir.entries.iter().enumerate() {
            if i % 256 == 0 && Instant::now() > deadline {
                timed_out = true;
                break;
            }
            if !in_scope(e, &norm_base, &search.scope)
                || filter::evaluate(&prepared, e) != Truth::True
            {
                continue;
            }
            matched += 1;
            if matched <= start {
                continue;
            }
            if sent == limit {
                more = true;
                break;
            }
            io.feed(entry(selection.render(e, search.typesonly)))
                .await?;
            sent += 1;
        }
        let res = if timed_out {
            result(LdapResultCode::TimeLimitExceeded, "Search took too long")
        } else if more && (paged.is_none() || client_limit.is_some_and(|n| n < page_size)) {
            // RFC 4511 4.5.1.4: more entries than the size limit, sizeLimitExceeded.
            result(
                LdapResultCode::SizeLimitExceeded,
                "More entries than the size limit",
            )
        } else {
            result(LdapResultCode::Success, "")
        };
        let ctrl = match &paged {
            // RFC 2696 3: the last page carries an empty cookie.
            Some(_) if more && !timed_out => {
                vec![paged_control(make_cookie(start + sent, fingerprint))]
            }
            Some(_) => vec![paged_control(Vec::new())],
            None => vec![],
        };
        io.send(done(res, ctrl)).await
    }

    async fn directory_or_empty(&self) -> Option<Arc<Directory>> {
        self.context.directory().await.ok()
    }

    /// RFC 4512 5.1: the rootDSE's operational attributes.
    fn root_dse(
        &self,
        dir: &Option<Arc<Directory>>,
        search: &LdapSearchRequest,
    ) -> LdapSearchResultEntry {
        let base = dir
            .as_ref()
            .map(|d| d.base_dn.clone())
            .unwrap_or_else(|| directory::base_dn(&self.context.settings.domain));
        let mut attrs = vec![
            ("objectClass", vec!["top".to_string()]),
            ("namingContexts", vec![base.clone()]),
            ("defaultNamingContext", vec![base]),
            ("subschemaSubentry", vec![SUBSCHEMA_DN.to_string()]),
            ("supportedLDAPVersion", vec!["3".to_string()]),
            ("supportedControl", vec![OID_PAGED_RESULTS.to_string()]),
            ("vendorName", vec!["govmail".to_string()]),
        ];
        let mut extensions = vec![OID_WHOAMI.to_string()];
        if self.context.tls.is_some() && !self.tls {
            extensions.push(OID_STARTTLS.to_string());
        }
        attrs.push(("supportedExtension", extensions));
        // RFC 4512 5.1: rootDSE attributes are operational, returned when asked by name or '+'.
        let wanted = |name: &str| {
            search.attrs.is_empty()
                || search
                    .attrs
                    .iter()
                    .any(|a| a == "*" || a == "+" || a.eq_ignore_ascii_case(name))
        };
        LdapSearchResultEntry {
            dn: String::new(),
            attributes: attrs
                .into_iter()
                .filter(|(name, _)| wanted(name))
                .map(|(name, vals)| LdapPartialAttribute {
                    atype: name.to_string(),
                    vals: vals.into_iter().map(String::into_bytes).collect(),
                })
                .collect(),
        }
    }
}

/// `mail=a@b,ou=...`, `uid=a@b,...`, `cn=a@b,...` or the bare address as a bind name.
fn login_of(dn: &str) -> Option<String> {
    let dn = dn.trim();
    if dn.is_empty() {
        return None;
    }
    if !dn.contains('=') {
        return Some(dn.to_string());
    }
    let first = dn.split(',').next()?;
    let (attr, value) = first.split_once('=')?;
    let attr = attr.trim();
    (["mail", "uid", "cn", "userPrincipalName"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(attr))
        && value.contains('@'))
    .then(|| value.trim().replace('\\', ""))
}

/// Clients probe rootDSE and subschema with `(objectClass=*)` (RFC 4512 5.1).
fn filter_is_true_for_objectclass(filter: &LdapFilter) -> bool {
    match filter {
        LdapFilter::Present(name) => name.eq_ignore_ascii_case("objectClass"),
        LdapFilter::And(items) => items.iter().all(filter_is_true_for_objectclass),
        LdapFilter::Or(items) => items.iter().any(filter_is_true_for_objectclass),
        LdapFilter::Equality(name, value) => {
            name.eq_ignore_ascii_case("objectClass")
                && ["top", "subschema", "subentry"]
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(value))
        }
        _ => false,
    }
}

/// RFC 4511 4.5.1.2: baseObject, singleLevel, wholeSubtree (and subordinates).
fn in_scope(entry: &Entry, norm_base: &str, scope: &LdapSearchScope) -> bool {
    let below = entry.norm_dn.len() > norm_base.len()
        && entry.norm_dn.ends_with(norm_base)
        && entry.norm_dn.as_bytes()[entry.norm_dn.len() - norm_base.len() - 1] == b',';
    match scope {
        LdapSearchScope::Base => entry.norm_dn == norm_base,
        LdapSearchScope::OneLevel => entry.norm_parent == norm_base,
        LdapSearchScope::Subtree => entry.norm_dn == norm_base || below,
        LdapSearchScope::Children => below,
    }
}

/// The longest existing ancestor of a DN that does not exist (RFC 4511 4.1.9 matchedDN).
fn matched_dn(dir: &Directory, norm_dn: &str) -> String {
    let mut rest = norm_dn;
    while let Some((_, parent)) = rest.split_once(',') {
        if let Some(found) = dir.find(parent) {
            return found.dn.clone();
        }
        rest = parent;
    }
    String::new()
}

fn paged_control(cookie: Vec<u8>) -> LdapControl {
    LdapControl::SimplePagedResults { size: 0, cookie }
}

/// A cookie: the offset of the next entry and a fingerprint of the search it belongs to.
fn make_cookie(offset: usize, fingerprint: u64) -> Vec<u8> {
    let mut cookie = (offset as u64).to_be_bytes().to_vec();
    cookie.extend_from_slice(&fingerprint.to_be_bytes());
    cookie
}

fn parse_cookie(cookie: &[u8], fingerprint: u64) -> Option<usize> {
    let (offset, print) = cookie.split_at_checked(8)?;
    let print = u64::from_be_bytes(print.try_into().ok()?);
    (print == fingerprint).then(|| u64::from_be_bytes(offset.try_into().unwrap_or([0; 8])) as usize)
}

/// RFC 2696 3: the page requests of one search repeat its base, scope, filter and attributes.
fn fingerprint(search: &LdapSearchRequest) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    search.base.to_lowercase().hash(&mut h);
    (search.scope.clone() as i64).hash(&mut h);
    format!("{:?}", search.filter).hash(&mut h);
    search.attrs.hash(&mut h);
    h.finish()
}

/// Which attributes a search returns (RFC 4511 4.5.1.8).
struct Selection {
    all: bool,
    names: Vec<&'static str>,
}

impl Selection {
    fn new(attrs: &[String]) -> Selection {
        // RFC 4511 4.5.1.8: empty list or "*" is all user attributes; "1.1" none.
        let all = attrs.is_empty() || attrs.iter().any(|a| a == "*");
        let names = attrs
            .iter()
            .filter_map(|a| directory::attribute(a).map(|(c, _)| c))
            .collect();
        Selection { all, names }
    }

    fn render(&self, entry: &Entry, types_only: bool) -> LdapSearchResultEntry {
        LdapSearchResultEntry {
            dn: entry.dn.clone(),
            attributes: entry
                .attrs
                .iter()
                .filter(|a| self.all || self.names.contains(&a.name))
                .map(|a| LdapPartialAttribute {
                    atype: a.name.to_string(),
                    vals: if types_only {
                        vec![]
                    } else {
                        a.values.iter().map(|v| v.clone().into_bytes()).collect()
                    },
                })
                .collect(),
        }
    }
}
