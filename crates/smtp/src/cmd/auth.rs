//! AUTH PLAIN and LOGIN (RFC 4954, RFC 4616), only under TLS, with failure throttling shared
//! with IMAP.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::codes::*;
use crate::io::{read_line, Line};
use crate::session::{flush, AuthUser, Io, Next, Session};
use policy::limits::AuthGate;
use storage::LoginOutcome;

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text.trim()).ok()
}

impl Session {
    /// Reads one SASL continuation line; `None` when the client cancelled or the line is bad.
    async fn sasl_line<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        challenge: &str,
    ) -> std::io::Result<Option<Vec<u8>>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        Reply::new(334, "", challenge).encode(out);
        flush(io, out).await?;
        let line = tokio::time::timeout(
            self.context.settings.idle_timeout,
            read_line(io, 4096, 4096),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "AUTH timed out"))??;
        let Line::Complete(line) = line else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&line).trim().to_string();
        if text == "*" {
            return Ok(None);
        }
        Ok(decode_b64(&text))
    }

    pub(crate) async fn auth<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        mechanism: u64,
        initial: &str,
    ) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if !self.auth_allowed() {
            // RFC 4954 4: no AUTH on MX; RFC 3207 / 8314: no cleartext passwords.
            if self.kind == crate::ListenerKind::Mx {
                reply(
                    C502_NOT_IMPLEMENTED,
                    "AUTH is not available on this port; use submission",
                )
                .encode(out);
            } else {
                reply(C538_TLS_REQUIRED, "Must issue a STARTTLS command first").encode(out);
            }
            return Ok(if self.error_limit_reached() {
                Next::Close
            } else {
                Next::Continue
            });
        }
        if self.auth.is_some() {
            reply(C503_SEQUENCE, "Already authenticated").encode(out);
            return Ok(Next::Continue);
        }
        if self.transaction.is_some() {
            reply(C503_SEQUENCE, "AUTH not allowed during a mail transaction").encode(out);
            return Ok(Next::Continue);
        }
        let credentials = if mechanism == smtp_proto::AUTH_PLAIN {
            let response = if initial.is_empty() {
                self.sasl_line(io, out, "").await?
            } else if initial == "=" {
                Some(vec![])
            } else {
                decode_b64(initial)
            };
            // RFC 4616 2: [authzid] NUL authcid NUL passwd. An authzid other than the authcid
            // asks to act as a unit mailbox (the same as the login `authzid*authcid`).
            response.and_then(|bytes| {
                let parts: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
                match parts.as_slice() {
                    [authzid, authcid, password] => {
                        let authzid = String::from_utf8_lossy(authzid).into_owned();
                        let authcid = String::from_utf8_lossy(authcid).into_owned();
                        let password = String::from_utf8_lossy(password).into_owned();
                        let unit = policy::naming::canonical_login(&authzid);
                        if unit.is_empty() || unit == policy::naming::canonical_login(&authcid) {
                            Some((authcid, password))
                        } else if authcid.contains('*') {
                            None
                        } else {
                            Some((format!("{unit}*{authcid}"), password))
                        }
                    }
                    _ => None,
                }
            })
        } else if mechanism == smtp_proto::AUTH_LOGIN {
            let user = if initial.is_empty() {
                self.sasl_line(io, out, "VXNlcm5hbWU6").await?
            } else {
                decode_b64(initial)
            };
            match user {
                Some(user) => self.sasl_line(io, out, "UGFzc3dvcmQ6").await?.map(|pw| {
                    (
                        String::from_utf8_lossy(&user).into_owned(),
                        String::from_utf8_lossy(&pw).into_owned(),
                    )
                }),
                None => None,
            }
        } else {
            reply(C504_MECHANISM, "Unrecognised authentication type").encode(out);
            return Ok(Next::Continue);
        };
        let Some((login, password)) = credentials else {
            reply(C501_ARGS, "Authentication cancelled or malformed").encode(out);
            return Ok(if self.error_limit_reached() {
                Next::Close
            } else {
                Next::Continue
            });
        };
        // `UNIT*PERSON` (the master-user convention): the person submits for the unit
        // mailbox with their own password; the throttle keys on the person's login.
        let (unit, login) = match policy::naming::unit_login(&login) {
            Some((unit, person)) => (Some(unit), person),
            None => (None, login),
        };
        // The one form of the login: the throttle key and the account looked up are the same.
        let login = policy::naming::canonical_login(&login);
        let ip = self.peer.ip();
        let throttle = self.context.auth_throttle.clone();
        match throttle.check(ip, &login, Instant::now()) {
            // RFC 4954 6: 454 4.7.0, a temporary failure; the client may try again later.
            AuthGate::Locked(left) | AuthGate::Banned(left) => {
                reply(
                    C454_AUTH_TEMP,
                    format!(
                        "Too many failed logins, try again in {} s",
                        left.as_secs().max(1)
                    ),
                )
                .encode(out);
                return Ok(if self.error_limit_reached() {
                    Next::Close
                } else {
                    Next::Continue
                });
            }
            AuthGate::Proceed => {}
        }
        let check = match self
            .context
            .store
            .check_login(
                &login,
                &password,
                policy::password::verify,
                policy::password::DUMMY_PHC,
            )
            .await
        {
            Ok(check) => check,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "auth lookup failed");
                reply(C454_AUTH_TEMP, "Temporary authentication failure").encode(out);
                return Ok(Next::Continue);
            }
        };
        // A unit login needs a right on the unit now (`l`, as IMAP); without one it is refused
        // exactly like a wrong password.
        let check = match (check, unit) {
            (
                LoginOutcome::Ok {
                    account_id,
                    address,
                },
                Some(unit),
            ) => match self.context.store.unit_access(&unit, account_id).await {
                Ok(Some(access)) if access.rights.contains('l') => Ok((
                    account_id,
                    address,
                    Some(crate::session::UnitMailbox {
                        account_id: access.unit_account_id,
                        address: access.unit_address,
                    }),
                )),
                Ok(_) => Err(LoginOutcome::Refused),
                Err(e) => {
                    tracing::warn!(session = %self.id, error = %e, "unit lookup failed");
                    reply(C454_AUTH_TEMP, "Temporary authentication failure").encode(out);
                    return Ok(Next::Continue);
                }
            },
            (
                LoginOutcome::Ok {
                    account_id,
                    address,
                },
                None,
            ) => Ok((account_id, address, None)),
            (other, _) => Err(other),
        };
        match check {
            Ok((account_id, address, unit)) => {
                throttle.success(ip, &login);
                tracing::info!(session = %self.id, user = %address, unit = ?unit.as_ref().map(|u| &u.address), "authenticated");
                if let Some(unit) = &unit {
                    // KT-8, KT-11: who worked in the unit mailbox, from when.
                    let _ = self
                        .context
                        .store
                        .log_event(
                            &address,
                            storage::Action::UnitLogin,
                            &unit.address,
                            "",
                            serde_json::json!({"protocol": "smtp", "session": self.id}),
                        )
                        .await;
                }
                self.auth = Some(AuthUser {
                    account_id,
                    address,
                    unit,
                });
                reply(C235_AUTH_OK, "Authentication successful").encode(out);
            }
            Err(LoginOutcome::MustChangePassword) => {
                // The password was right: nothing to hold against this client.
                throttle.success(ip, &login);
                // KT-7.1: the initial password must be changed before use.
                reply(
                    C535_AUTH_FAILED,
                    format!(
                        "Password must be changed first: {}",
                        self.context.settings.password_url
                    ),
                )
                .encode(out);
            }
            Err(LoginOutcome::Refused | LoginOutcome::Ok { .. }) => {
                metrics::counter!("govmail_auth_failures_total", "protocol" => "smtp").increment(1);
                let failure = throttle.failure(ip, &login, Instant::now());
                self.context
                    .store
                    .record_auth_failure("smtp", &self.id.to_string(), &login, ip, &failure)
                    .await;
                // The answer waits (doubling per failure of this login from this address).
                tokio::time::sleep(failure.delay).await;
                reply(C535_AUTH_FAILED, "Authentication credentials invalid").encode(out);
                if self.error_limit_reached() {
                    return Ok(Next::Close);
                }
            }
        }
        Ok(Next::Continue)
    }
}
