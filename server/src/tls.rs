//! HTTPS served by the console itself: a certificate chain and its key read
//! from PEM files (`CONSOLE_TLS_CERT`, `CONSOLE_TLS_KEY`), read again on
//! SIGHUP so a renewed certificate is served without a restart. A renewal
//! that cannot be read (a half-written file, a key of another certificate)
//! is refused with its reason in the log, and the previous certificate
//! keeps being served.
//!
//! Handshakes run each in its own task, so a client that stalls in the
//! middle of one holds nobody else up; each has [`HANDSHAKE_TIMEOUT`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The longest a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate being served, and where it is read from.
pub struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Served>,
}

/// A certificate as loaded, with what the log says of it.
#[derive(Clone)]
struct Served {
    key: Arc<CertifiedKey>,
    not_after: Option<OffsetDateTime>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Reads the certificate chain and its key; fails, naming the file and
    /// the reason, when either cannot be used.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let served = read(cert_path, key_path, &provider)?;
        Ok(Arc::new(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: RwLock::new(served),
        }))
    }

    /// Reads the files again; on success the next handshakes get the new
    /// certificate, on failure the previous one stays.
    pub fn reload(&self) -> Result<()> {
        let served = read(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = served;
        Ok(())
    }

    /// When the certificate being served expires (`None`: not readable as X.509).
    pub fn not_after(&self) -> Option<OffsetDateTime> {
        self.served().not_after
    }

    /// The server's TLS settings: TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    fn served(&self) -> Served {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reloads on each SIGHUP, for as long as the process runs.
    pub fn reload_on_hangup(self: &Arc<Self>) -> Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
        let certificates = self.clone();
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match certificates.reload() {
                    Ok(()) => tracing::info!(
                        cert = %certificates.cert_path.display(),
                        expires = ?certificates.not_after(),
                        "SIGHUP: TLS certificate reloaded"
                    ),
                    Err(error) => tracing::error!(
                        "SIGHUP: the TLS certificate was not reloaded, the previous one is still served: {error:#}"
                    ),
                }
            }
        });
        Ok(())
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.served().key)
    }
}

fn read(cert_path: &Path, key_path: &Path, provider: &CryptoProvider) -> Result<Served> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("CONSOLE_TLS_CERT: reading {}", cert_path.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "CONSOLE_TLS_CERT: {} holds no PEM certificate",
        cert_path.display()
    );
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("CONSOLE_TLS_KEY: reading a PEM private key from {}", key_path.display()))?;
    let not_after = domain::probes::certificate_not_after(&chain[0]);
    let key = CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "CONSOLE_TLS_KEY: {} is not the key of the certificate in {}",
            key_path.display(),
            cert_path.display()
        )
    })?;
    Ok(Served {
        key: Arc::new(key),
        not_after,
    })
}

/// Accepts TCP connections and hands on those whose TLS handshake
/// completed: what `axum::serve` listens on when the console serves HTTPS.
pub struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(mut tcp: TcpListener, acceptor: TlsAcceptor) -> Result<Self> {
        let local = tcp.local_addr()?;
        let (sender, handshaken) = mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = axum::serve::Listener::accept(&mut tcp).await;
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            handshaken,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // The port is closed with the listener, not at the process' end.
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task never ends on its own (it is aborted with
            // the listener).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
