//! SPF, DKIM and DMARC for MX mail (mail-auth), written into an `Authentication-Results`
//! header (RFC 8601) and fed to the spam score. DNS goes through the resolvers in config
//! (`dns.resolvers`), so tests point it at a server they control.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    MessageAuthenticator, SpfOutput, SpfResult,
};
use policy::spam::AuthOutcome;

/// Verifies the sender's authentication.
#[derive(Clone)]
pub struct Authenticator {
    inner: MessageAuthenticator,
    /// All the look-ups of one message, in all (`dns.auth_deadline_secs`).
    deadline: Duration,
}

/// The default of [`Authenticator::with_deadline`].
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// What a check that ran out of time reports (RFC 8601 2.7: "temperror").
fn out_of_time() -> mail_auth::Error {
    mail_auth::Error::Io("DNS look-ups exceeded the per-message deadline".into())
}

/// What the checks found.
#[derive(Debug, Clone)]
pub struct AuthReport {
    /// The full `Authentication-Results: ...\r\n` header field.
    pub header: String,
    pub spf: AuthOutcome,
    pub dkim: AuthOutcome,
    pub dmarc: AuthOutcome,
    /// The From: domain publishes p=reject or p=quarantine.
    pub dmarc_policy_reject: bool,
}

impl Authenticator {
    /// Uses `resolvers` (IP:port), or the system's resolv.conf when the list is empty.
    pub fn new(resolvers: &[SocketAddr]) -> std::io::Result<Authenticator> {
        let inner = if resolvers.is_empty() {
            MessageAuthenticator::new_system_conf().map_err(std::io::Error::other)?
        } else {
            let servers = resolvers
                .iter()
                .map(|addr| {
                    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                    for connection in &mut server.connections {
                        connection.port = addr.port();
                    }
                    server
                })
                .collect();
            let mut options = ResolverOpts::default();
            options.timeout = Duration::from_secs(5);
            options.attempts = 1;
            MessageAuthenticator::new(ResolverConfig::from_name_servers(servers), options)
                .map_err(std::io::Error::other)?
        };
        Ok(Authenticator {
            inner,
            deadline: DEFAULT_DEADLINE,
        })
    }

    /// The A records of `name` (a DNSBL query), through the configured resolvers; none when
    /// the name does not exist, the look-up fails or `deadline` passes.
    pub async fn a_records(&self, name: &str, deadline: Duration) -> Vec<std::net::Ipv4Addr> {
        match tokio::time::timeout(deadline, self.inner.ipv4_lookup_raw(name)).await {
            Ok(Ok(entry)) => entry.entry.to_vec(),
            _ => vec![],
        }
    }

    /// Bounds the time all look-ups of one message take together; what is not answered by
    /// then is reported as `temperror`.
    pub fn with_deadline(mut self, deadline: Duration) -> Authenticator {
        self.deadline = deadline;
        self
    }

    /// Runs SPF (HELO and MAIL FROM) and DKIM at the same time, then DMARC on their results,
    /// all within one deadline: a resolver that does not answer costs a message at most the
    /// deadline, not a DNS timeout per look-up one after another.
    pub async fn check(
        &self,
        raw: &[u8],
        ip: IpAddr,
        helo: &str,
        mail_from: &str,
        hostname: &str,
    ) -> AuthReport {
        let deadline = tokio::time::Instant::now() + self.deadline;
        let helo = if helo.is_empty() { "unknown" } else { helo };
        let spf_domain = mail_from.rsplit_once('@').map(|(_, d)| d).unwrap_or(helo);
        let message = AuthenticatedMessage::parse(raw);
        let spf_check = tokio::time::timeout_at(
            deadline,
            self.inner.verify_spf(SpfParameters::verify_mail_from(
                ip, helo, hostname, mail_from,
            )),
        );
        let dkim_check = async {
            match &message {
                Some(message) => Some(
                    tokio::time::timeout_at(deadline, self.inner.verify_dkim(message))
                        .await
                        .unwrap_or_else(|_| vec![DkimOutput::temp_err(out_of_time())]),
                ),
                None => None,
            }
        };
        let (spf, dkim) = tokio::join!(spf_check, dkim_check);
        let spf = spf.unwrap_or_else(|_| {
            SpfOutput::new(spf_domain.to_string()).with_result(SpfResult::TempError)
        });
        let mut results = AuthenticationResults::new(hostname);
        results = if mail_from.is_empty() {
            results.with_spf_ehlo_result(&spf, ip, helo)
        } else {
            results.with_spf_mailfrom_result(&spf, ip, mail_from, helo)
        };
        let spf_outcome = match spf.result() {
            SpfResult::Pass => AuthOutcome::Pass,
            SpfResult::Fail => AuthOutcome::Fail,
            SpfResult::SoftFail => AuthOutcome::SoftFail,
            _ => AuthOutcome::None,
        };
        let (Some(message), Some(dkim)) = (&message, dkim) else {
            return AuthReport {
                header: format!("Authentication-Results: {results}\r\n"),
                spf: spf_outcome,
                dkim: AuthOutcome::None,
                dmarc: AuthOutcome::None,
                dmarc_policy_reject: false,
            };
        };
        let header_from = message.from.first().map(String::as_str).unwrap_or("");
        results = results.with_dkim_results(&dkim, header_from);
        let dkim_outcome = if dkim.iter().any(|d| d.result() == &DkimResult::Pass) {
            AuthOutcome::Pass
        } else if dkim
            .iter()
            .any(|d| matches!(d.result(), DkimResult::Fail(_)))
        {
            AuthOutcome::Fail
        } else {
            AuthOutcome::None
        };
        let mail_from_domain = mail_from.rsplit_once('@').map(|(_, d)| d).unwrap_or(helo);
        let dmarc = tokio::time::timeout_at(
            deadline,
            self.inner.verify_dmarc(DmarcParameters {
                message,
                dkim_output: &dkim,
                dkim2_output: None,
                rfc5321_mail_from_domain: mail_from_domain,
                spf_output: &spf,
            }),
        )
        .await
        .unwrap_or_else(|_| {
            let from_domain = header_from.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            DmarcOutput::new(from_domain.to_string())
                .with_spf_result(DmarcResult::TempError(out_of_time()))
                .with_dkim_result(DmarcResult::TempError(out_of_time()))
        });
        results = results.with_dmarc_result(&dmarc);
        let dmarc_outcome = match dmarc.result() {
            DmarcResult::Pass => AuthOutcome::Pass,
            DmarcResult::Fail(_) => AuthOutcome::Fail,
            _ => AuthOutcome::None,
        };
        AuthReport {
            header: format!("Authentication-Results: {results}\r\n"),
            spf: spf_outcome,
            dkim: dkim_outcome,
            dmarc: dmarc_outcome,
            dmarc_policy_reject: matches!(dmarc.policy(), Policy::Reject | Policy::Quarantine),
        }
    }
}
