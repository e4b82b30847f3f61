//! TLS for outbound SMTP: one verifier, two modes.
//!
//! - Opportunistic (default): STARTTLS whenever offered; a certificate that does not verify
//!   (self-signed, wrong name, expired — common among MX hosts) is logged and the session is
//!   still encrypted.
//! - Required (per destination domain): the certificate must verify against the trust anchors
//!   (`outbound.tls_ca_file`), or nothing is sent.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    strict: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let outcome = match &self.inner {
            Some(inner) => {
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::General(
                "no trusted CA certificates loaded".into(),
            )),
        };
        match outcome {
            Ok(verified) => Ok(verified),
            Err(e) if self.strict => {
                tracing::warn!(server = ?server_name, error = %e, "outbound TLS: certificate refused (TLS required)");
                Err(e)
            }
            Err(e) => {
                tracing::warn!(server = ?server_name, error = %e, "outbound TLS: certificate does not verify; encrypting anyway (opportunistic)");
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// TLS connectors for both modes.
#[derive(Clone)]
pub(crate) struct Connectors {
    pub opportunistic: TlsConnector,
    pub required: TlsConnector,
}

impl Connectors {
    /// Loads the trust anchors from `ca_file` (a missing default file only means that
    /// "required" destinations cannot be verified).
    pub fn new(ca_file: Option<&Path>) -> Result<Connectors, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        if let Some(path) = ca_file {
            match CertificateDer::pem_file_iter(path) {
                Ok(certs) => {
                    let certs: Vec<_> = certs.filter_map(Result::ok).collect();
                    let (added, _ignored) = roots.add_parsable_certificates(certs);
                    if added == 0 {
                        tracing::warn!(path = %path.display(), "outbound TLS: no CA certificate in the file");
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "outbound TLS: cannot read the CA file; certificates cannot be verified")
                }
            }
        }
        let inner = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?,
            )
        };
        let make = |strict: bool| -> Result<TlsConnector, String> {
            let verifier = Arc::new(Verifier {
                inner: inner.clone(),
                provider: provider.clone(),
                strict,
            });
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            Ok(TlsConnector::from(Arc::new(config)))
        };
        Ok(Connectors {
            opportunistic: make(false)?,
            required: make(true)?,
        })
    }
}
