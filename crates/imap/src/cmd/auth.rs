//! LOGIN, AUTHENTICATE PLAIN (RFC 4616, SASL-IR RFC 4959), ENABLE (RFC 5161), NAMESPACE.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use policy::limits::AuthGate;
use storage::LoginOutcome;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite};

use crate::encode::{Code, Done};
use crate::state::{AccountView, Io, Session, State, User};

impl Session {
    /// LOGIN, or the PLAIN exchange's outcome. `UNIT*PERSON` (the master-user convention) is
    /// the person logging in to a unit mailbox with their own password.
    pub(crate) async fn login(&mut self, login: &str, password: &str) -> Done {
        match policy::naming::unit_login(login) {
            Some((unit, person)) => self.sign_in(Some(&unit), &person, password).await,
            None => self.sign_in(None, login, password).await,
        }
    }

    /// Checks the person's password and, for a unit login, that they hold `l` on the unit now.
    /// A unit login without a right is refused exactly like a wrong password (same answer,
    /// same throttle on the person's login, same delay), so it reveals nothing.
    async fn sign_in(&mut self, unit: Option<&str>, login: &str, password: &str) -> Done {
        if !self.login_allowed() {
            // RFC 9051 6.2.3: no cleartext passwords.
            return Done::no_with(Code::PrivacyRequired, "Use STARTTLS or port 993 first");
        }
        // The one form of the login: the throttle key and the account looked up are the same.
        let login = &policy::naming::canonical_login(login);
        let ip = self.peer.ip();
        let throttle = self.context.auth_throttle.clone();
        match throttle.check(ip, login, Instant::now()) {
            // RFC 5530 3: UNAVAILABLE, a temporary condition; the client may retry later.
            AuthGate::Locked(left) | AuthGate::Banned(left) => {
                return Done::no_with(
                    Code::Unavailable,
                    format!(
                        "Too many failed logins, try again in {} s",
                        left.as_secs().max(1)
                    ),
                )
            }
            AuthGate::Proceed => {}
        }
        let outcome = self
            .context
            .store
            .check_login(
                login,
                password,
                policy::password::verify,
                policy::password::DUMMY_PHC,
            )
            .await;
        match outcome {
            Ok(LoginOutcome::Ok {
                account_id,
                address,
            }) => {
                let store = self.context.store.clone();
                let view = match unit {
                    None => AccountView::Own,
                    Some(unit) => match store.unit_access(unit, account_id).await {
                        Ok(Some(access)) if access.rights.contains('l') => AccountView::Unit {
                            account_id: access.unit_account_id,
                            address: access.unit_address,
                            epoch: access.unit_epoch,
                            rights: access.rights,
                        },
                        Ok(_) => return self.refuse_login(login).await,
                        Err(e) => {
                            tracing::warn!(session = %self.id, error = %e, "unit lookup failed");
                            return Done::no_with(
                                Code::Unavailable,
                                "Temporary failure, try again",
                            );
                        }
                    },
                };
                throttle.success(ip, login);
                tracing::info!(session = %self.id, user = %address, unit = ?unit, "imap login");
                let epoch = store.session_epoch(account_id).await.unwrap_or(0);
                let user = User {
                    account_id,
                    address,
                    epoch,
                    view,
                };
                if let Some(unit) = user.unit_address() {
                    // KT-8, KT-11: who worked in the unit mailbox, from when.
                    let _ = store
                        .log_event(
                            &user.address,
                            storage::Action::UnitLogin,
                            unit,
                            "",
                            serde_json::json!({"protocol": "imap", "session": self.id,
                                "rights": user.home_rights()}),
                        )
                        .await;
                }
                self.state = State::Authenticated { user };
                Done::ok_with(Code::Capability(self.capabilities()), "Logged in")
            }
            Ok(LoginOutcome::MustChangePassword) => {
                // The password was right: nothing to hold against this client.
                throttle.success(ip, login);
                Done::no_with(
                    Code::Alert,
                    format!(
                        "Your initial password must be changed first: {}",
                        self.context.settings.password_url
                    ),
                )
            }
            Ok(LoginOutcome::Refused) => self.refuse_login(login).await,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "login lookup failed");
                Done::no_with(Code::Unavailable, "Temporary failure, try again")
            }
        }
    }

    /// A refused login: counted against the login (the person's) and the address, recorded,
    /// answered after the throttle's delay.
    async fn refuse_login(&mut self, login: &str) -> Done {
        let ip = self.peer.ip();
        metrics::counter!("govmail_auth_failures_total", "protocol" => "imap").increment(1);
        let failure = self
            .context
            .auth_throttle
            .failure(ip, login, Instant::now());
        self.context
            .store
            .record_auth_failure("imap", &self.id.to_string(), login, ip, &failure)
            .await;
        // The answer waits (doubling per failure of this login from this address).
        tokio::time::sleep(failure.delay).await;
        // RFC 5530 3 / RFC 9051 7.1: wrong name or password.
        Done::no_with(Code::AuthenticationFailed, "Invalid credentials")
    }

    pub(crate) async fn authenticate<S>(
        &mut self,
        io: &mut Io<S>,
        _tag: &str,
        mechanism: &str,
        initial: Option<Vec<u8>>,
    ) -> std::io::Result<Done>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return Ok(Done::no_with(Code::Cannot, "Only PLAIN is supported"));
        }
        if !self.login_allowed() {
            return Ok(Done::no_with(
                Code::PrivacyRequired,
                "Use STARTTLS or port 993 first",
            ));
        }
        let response = match initial {
            Some(bytes) => bytes,
            None => {
                self.out.extend_from_slice(b"+ \r\n");
                self.flush(io).await?;
                let mut line = Vec::new();
                (&mut *io).take(8192).read_until(b'\n', &mut line).await?;
                let text = String::from_utf8_lossy(&line).trim().to_string();
                if text == "*" {
                    return Ok(Done::bad("Authentication cancelled"));
                }
                match BASE64.decode(&text) {
                    Ok(bytes) => bytes,
                    Err(_) => return Ok(Done::bad("Invalid base64")),
                }
            }
        };
        // RFC 4616 2: [authzid] NUL authcid NUL passwd. An authzid other than the authcid
        // asks to act as that identity: only a unit mailbox the person holds a right on
        // (the same as the login `authzid*authcid`).
        let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
        let (authzid, authcid, password) = match parts.as_slice() {
            [authzid, authcid, password] => (
                String::from_utf8_lossy(authzid).into_owned(),
                String::from_utf8_lossy(authcid).into_owned(),
                String::from_utf8_lossy(password).into_owned(),
            ),
            _ => return Ok(Done::bad("Malformed PLAIN response")),
        };
        let unit = policy::naming::canonical_login(&authzid);
        if unit.is_empty() || unit == policy::naming::canonical_login(&authcid) {
            return Ok(self.login(&authcid, &password).await);
        }
        if authcid.contains('*') {
            // Two ways of naming a unit at once.
            return Ok(Done::bad("Malformed PLAIN response"));
        }
        Ok(self.sign_in(Some(&unit), &authcid, &password).await)
    }

    pub(crate) fn enable(&mut self, capabilities: &[String]) -> Done {
        let mut enabled = vec![];
        for capability in capabilities {
            match capability.to_ascii_uppercase().as_str() {
                "CONDSTORE" => {
                    self.condstore = true;
                    enabled.push("CONDSTORE");
                }
                // RFC 7162 3.2.3: QRESYNC implies CONDSTORE.
                "QRESYNC" => {
                    self.qresync = true;
                    self.condstore = true;
                    enabled.push("QRESYNC");
                }
                "UTF8=ACCEPT" => {
                    self.utf8 = true;
                    enabled.push("UTF8=ACCEPT");
                }
                // RFC 9051 6.3.1: a server offering both revisions behaves as IMAP4rev2 once
                // the client enables it (ESEARCH for SEARCH, no \Recent).
                "IMAP4REV2" => {
                    self.rev2 = true;
                    enabled.push("IMAP4rev2");
                }
                _ => {}
            }
        }
        self.untagged(format!("ENABLED {}", enabled.join(" ")).trim_end());
        Done::ok("ENABLE completed")
    }

    pub(crate) fn namespace(&mut self) -> Done {
        // RFC 2342: personal folders at the root, '/' as the separator.
        // Unit mailboxes shared with the user live under "Đơn vị/" (the shared namespace);
        // a unit login shows the unit's folders at the root and nothing shared.
        if self.user().is_some_and(|u| u.unit_view()) {
            self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
            return Done::ok("NAMESPACE completed");
        }
        let shared = self.encode_name(&format!("{}/", crate::names::SHARED_ROOT));
        self.untagged(&format!("NAMESPACE ((\"\" \"/\")) NIL (({shared} \"/\"))"));
        Done::ok("NAMESPACE completed")
    }
}
