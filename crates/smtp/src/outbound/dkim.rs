//! DKIM signing (RFC 6376, RFC 8463) of mail leaving for the Internet, with mail-auth.
//!
//! The key is chosen by the From: header's domain (what DMARC aligns with), walking up to a
//! parent domain that has a key (relaxed alignment), else by the envelope sender's domain.
//! Canonicalisation relaxed/relaxed; the usual headers are signed and, when absent,
//! over-signed (so nobody can add a Reply-To or a second Subject later).

use std::collections::HashMap;

use base64::Engine;
use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::DkimKeyConfig;

/// Headers covered by the signature.
pub const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Parses a PEM private key: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA.
pub fn parse_key(pem: &str) -> Result<DkimKey, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("not a PEM private key: {e}"))?;
    match &der {
        PrivateKeyDer::Pkcs1(_) => RsaKey::<Sha256>::from_key_der(der.clone_key())
            .map(DkimKey::Rsa)
            .map_err(|e| format!("RSA key: {e}")),
        PrivateKeyDer::Pkcs8(pkcs8) => {
            match RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                pkcs8.secret_pkcs8_der().to_vec(),
            ))) {
                Ok(key) => Ok(DkimKey::Rsa(key)),
                Err(rsa_error) => {
                    Ed25519Key::from_pkcs8_maybe_unchecked_der(pkcs8.secret_pkcs8_der())
                        .map(DkimKey::Ed25519)
                        .map_err(|e| {
                            format!("neither an RSA key ({rsa_error}) nor an Ed25519 key ({e})")
                        })
                }
            }
        }
        _ => Err("unsupported key type (use RSA or Ed25519)".into()),
    }
}

/// DER length octets.
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// SubjectPublicKeyInfo for a PKCS#1 RSAPublicKey (what `p=` of an RSA DKIM record holds).
pub fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }
    let algorithm: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let mut content = algorithm.to_vec();
    content.extend(der(0x03, &bits));
    der(0x30, &content)
}

/// The DNS TXT record value publishing the public half of `key`.
pub fn dns_txt(key: &DkimKey) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    match key {
        DkimKey::Rsa(rsa) => format!(
            "v=DKIM1; k=rsa; p={}",
            b64.encode(rsa_spki(&rsa.public_key()))
        ),
        DkimKey::Ed25519(ed) => format!("v=DKIM1; k=ed25519; p={}", b64.encode(ed.public_key())),
    }
}

/// Reads a key file and returns its DNS TXT record value.
pub fn dns_txt_for_file(path: &std::path::Path) -> Result<String, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = parse_key(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(dns_txt(&key))
}

struct DomainSigner {
    signer: DkimSigner<DkimKey, Done>,
}

/// Every configured signing key, by domain.
#[derive(Default)]
pub struct Signers {
    by_domain: HashMap<String, DomainSigner>,
}

/// The domain of an address (lower case).
fn domain_of(address: &str) -> Option<String> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().trim_end_matches(['>', '.']).to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// The address of the first From: header field.
pub fn header_from(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::default().parse_headers(message)?;
    parsed.from()?.first()?.address().map(|a| a.to_string())
}

impl Signers {
    /// Loads every key; an unreadable or invalid key is an error naming it.
    pub fn load(configs: &[DkimKeyConfig]) -> Result<Signers, String> {
        let mut by_domain = HashMap::new();
        for (i, config) in configs.iter().enumerate() {
            let domain = config
                .domain
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if domain.is_empty() || config.selector.trim().is_empty() {
                return Err(format!("keys[{i}]: domain and selector are required"));
            }
            let pem = std::fs::read_to_string(&config.private_key).map_err(|e| {
                format!(
                    "keys[{i}] ({domain}): {}: {e}",
                    config.private_key.display()
                )
            })?;
            let key = parse_key(&pem).map_err(|e| {
                format!(
                    "keys[{i}] ({domain}): {}: {e}",
                    config.private_key.display()
                )
            })?;
            let signer = DkimSigner::from_key(key)
                .domain(domain.clone())
                .selector(config.selector.trim())
                .headers(SIGNED_HEADERS)
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed);
            if by_domain
                .insert(domain.clone(), DomainSigner { signer })
                .is_some()
            {
                return Err(format!("keys[{i}]: a second key for {domain}"));
            }
        }
        Ok(Signers { by_domain })
    }

    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }

    fn find(&self, domain: &str) -> Option<(&str, &DomainSigner)> {
        let mut candidate = domain;
        loop {
            if let Some((d, s)) = self.by_domain.get_key_value(candidate) {
                return Some((d.as_str(), s));
            }
            // Parent domain, but never a bare TLD.
            let (_, parent) = candidate.split_once('.')?;
            if !parent.contains('.') {
                return None;
            }
            candidate = parent;
        }
    }

    /// The `DKIM-Signature: ...\r\n` field for `message`, or None when no key fits.
    pub fn sign(&self, message: &[u8], envelope_sender: &str) -> Option<Result<String, String>> {
        if self.by_domain.is_empty() {
            return None;
        }
        let from_domain = header_from(message).and_then(|a| domain_of(&a));
        let (_domain, signer) = from_domain
            .as_deref()
            .and_then(|d| self.find(d))
            .or_else(|| domain_of(envelope_sender).and_then(|d| self.find(&d)))?;
        Some(
            signer
                .signer
                .sign(message)
                .map(|signature| signature.to_header())
                .map_err(|e| e.to_string()),
        )
    }
}

/// The algorithm name of a key, for messages.
pub fn algorithm_name(key: &DkimKey) -> &'static str {
    match key.algorithm() {
        mail_auth::common::crypto::Algorithm::RsaSha256
        | mail_auth::common::crypto::Algorithm::RsaSha1 => "rsa",
        mail_auth::common::crypto::Algorithm::Ed25519Sha256 => "ed25519",
    }
}
