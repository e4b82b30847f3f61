//! TLS: the configured certificate, or a self-signed pair generated once in `<data_dir>/tls/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// Paths of the certificate and key in use, generating a self-signed pair when none is set.
pub fn cert_paths(config: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
    if !config.tls.cert.is_empty() {
        return Ok((
            PathBuf::from(&config.tls.cert),
            PathBuf::from(&config.tls.key),
        ));
    }
    let dir = config.server.data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !(cert.is_file() && key.is_file()) {
        generate_self_signed(&config.server.hostname, &dir, &cert, &key)?;
    }
    Ok((cert, key))
}

fn generate_self_signed(hostname: &str, dir: &Path, cert: &Path, key: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let names = vec![hostname.to_string(), "localhost".to_string()];
    let pair = rcgen::generate_simple_self_signed(names)
        .context("generating a self-signed certificate")?;
    let key_tmp = key.with_extension("pem.tmp");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&key_tmp)?;
        file.write_all(pair.signing_key.serialize_pem().as_bytes())?;
        file.sync_all()?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&key_tmp, key)?;
    // Written to a temporary name, fsync'd, then renamed: a crash never leaves half a file.
    let cert_tmp = cert.with_extension("pem.tmp");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&cert_tmp)?;
        file.write_all(pair.cert.pem().as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&cert_tmp, cert)?;
    std::fs::File::open(dir)?.sync_all()?;
    tracing::warn!(cert = %cert.display(), "no tls.cert configured: generated a self-signed certificate");
    Ok(())
}

/// The server-side TLS configuration shared by every listener.
pub fn server_config(config: &Config) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let (cert_path, key_path) = cert_paths(config)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("tls.cert: reading {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("tls.cert: parsing {}", cert_path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("tls.cert: {} holds no certificate", cert_path.display());
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("tls.key: reading {}", key_path.display()))?;
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("tls.cert/tls.key do not match")?;
    Ok(Arc::new(server))
}
