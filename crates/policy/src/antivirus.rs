//! The clamd adapter: INSTREAM over TCP or a unix socket (clamav-client), with a timeout, and a
//! parser for clamd's reply (its own `clean()` is a substring test, too loose to trust).

use std::time::Duration;

use clamav_client::tokio::{get_version, ping, scan_buffer, Socket, Tcp};

/// Where clamd listens, parsed from `tcp://host:port` or `unix:///path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Tcp(String),
    Unix(String),
}

impl ClamdAddress {
    pub fn parse(text: &str) -> Result<ClamdAddress, String> {
        if let Some(rest) = text.strip_prefix("tcp://") {
            if rest
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            {
                return Ok(ClamdAddress::Tcp(rest.to_string()));
            }
            return Err(format!("{text:?}: expected tcp://HOST:PORT"));
        }
        if let Some(rest) = text.strip_prefix("unix://") {
            if rest.starts_with('/') {
                return Ok(ClamdAddress::Unix(rest.to_string()));
            }
            return Err(format!("{text:?}: expected unix:///absolute/path"));
        }
        Err(format!(
            "{text:?}: expected tcp://HOST:PORT or unix:///PATH"
        ))
    }
}

/// What clamd said about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature name, e.g. `Eicar-Test-Signature.UNOFFICIAL`.
    Infected(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("clamd unreachable: {0}")]
    Unreachable(String),
    #[error("clamd timed out after {0:?}")]
    Timeout(Duration),
    #[error("clamd error: {0}")]
    Clamd(String),
}

/// Parses an INSTREAM reply: `stream: OK`, `stream: NAME FOUND`, or `... ERROR`.
pub fn parse_reply(reply: &[u8]) -> Result<Verdict, ScanError> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n', '\r', ' ']);
    let body = text.strip_prefix("stream: ").unwrap_or(text);
    if body == "OK" {
        return Ok(Verdict::Clean);
    }
    if let Some(name) = body.strip_suffix(" FOUND") {
        return Ok(Verdict::Infected(name.trim().to_string()));
    }
    Err(ScanError::Clamd(text.to_string()))
}

/// A clamd client with a deadline on every call.
#[derive(Debug, Clone)]
pub struct Clamd {
    pub address: ClamdAddress,
    pub timeout: Duration,
}

impl Clamd {
    pub fn new(address: ClamdAddress, timeout: Duration) -> Clamd {
        Clamd { address, timeout }
    }

    /// Scans `bytes` with INSTREAM.
    pub async fn scan(&self, bytes: &[u8]) -> Result<Verdict, ScanError> {
        let call = async {
            match &self.address {
                ClamdAddress::Tcp(host) => {
                    scan_buffer(
                        bytes,
                        Tcp {
                            host_address: host.as_str(),
                        },
                        Some(64 * 1024),
                    )
                    .await
                }
                ClamdAddress::Unix(path) => {
                    scan_buffer(
                        bytes,
                        Socket {
                            socket_path: path.as_str(),
                        },
                        Some(64 * 1024),
                    )
                    .await
                }
            }
        };
        let reply = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ScanError::Timeout(self.timeout))?
            .map_err(|e| ScanError::Unreachable(e.to_string()))?;
        parse_reply(&reply)
    }

    /// VERSION → `ClamAV 1.4.6/27000/Mon Nov 23 09:00:00 2026` (engine / signature version /
    /// signature date), trimmed.
    pub async fn version(&self) -> Result<String, ScanError> {
        let call = async {
            match &self.address {
                ClamdAddress::Tcp(host) => {
                    get_version(Tcp {
                        host_address: host.as_str(),
                    })
                    .await
                }
                ClamdAddress::Unix(path) => {
                    get_version(Socket {
                        socket_path: path.as_str(),
                    })
                    .await
                }
            }
        };
        let reply = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ScanError::Timeout(self.timeout))?
            .map_err(|e| ScanError::Unreachable(e.to_string()))?;
        Ok(String::from_utf8_lossy(&reply)
            .trim_end_matches(['\0', '\n', '\r', ' '])
            .to_string())
    }

    /// PING → PONG.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let call = async {
            match &self.address {
                ClamdAddress::Tcp(host) => {
                    ping(Tcp {
                        host_address: host.as_str(),
                    })
                    .await
                }
                ClamdAddress::Unix(path) => {
                    ping(Socket {
                        socket_path: path.as_str(),
                    })
                    .await
                }
            }
        };
        let reply = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ScanError::Timeout(self.timeout))?
            .map_err(|e| ScanError::Unreachable(e.to_string()))?;
        if reply.starts_with(b"PONG") {
            Ok(())
        } else {
            Err(ScanError::Clamd(
                String::from_utf8_lossy(&reply).into_owned(),
            ))
        }
    }
}

/// The date of the signatures a VERSION reply names (`.../27000/Mon Nov 23 09:00:00 2026`), as
/// Unix seconds read as UTC (clamd prints the database's build time); None when the reply has
/// no signature part (a private database without a daily file).
pub fn signature_date(version: &str) -> Option<i64> {
    let date = version.split('/').nth(2)?;
    let words: Vec<&str> = date.split_whitespace().collect();
    let [_, month, day, clock, year] = words.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_dates() {
        // 2026-11-23T09:00:00Z
        assert_eq!(
            signature_date("ClamAV 1.4.6/27000/Mon Nov 23 09:00:00 2026"),
            Some(1_795_424_400)
        );
        assert_eq!(
            signature_date("ClamAV 1.4.6/27000/Tue Mar  3 00:00:00 2026"),
            Some(1_772_496_000)
        );
        assert_eq!(signature_date("ClamAV 1.4.6"), None);
        assert_eq!(signature_date("ClamAV 1.4.6/1/garbage"), None);
    }

    #[test]
    fn replies() {
        let table: &[(&[u8], Result<Verdict, ()>)] = &[
            (b"stream: OK\0", Ok(Verdict::Clean)),
            (
                b"stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0",
                Ok(Verdict::Infected("Eicar-Test-Signature.UNOFFICIAL".into())),
            ),
            (b"INSTREAM size limit exceeded. ERROR\0", Err(())),
            (b"stream: OK FOUND-ish\0", Err(())),
        ];
        for (reply, expected) in table {
            assert_eq!(parse_reply(reply).map_err(|_| ()), *expected, "{reply:?}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            ClamdAddress::parse("tcp://127.0.0.1:3310"),
            Ok(ClamdAddress::Tcp("127.0.0.1:3310".into()))
        );
        assert!(ClamdAddress::parse("unix:///run/clamav/clamd.ctl").is_ok());
        assert!(ClamdAddress::parse("tcp://nohost").is_err());
        assert!(ClamdAddress::parse("http://x:1").is_err());
    }
}
