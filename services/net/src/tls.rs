//! TLS on both sides of every connection, with rustls on the ring provider.
//!
//! - [`ServerTls`]: a server's certificate chain and key (`--tls-cert`, `--tls-key`) and,
//!   optionally, a CA whose client certificates it requires (`--tls-client-ca`): with it, a
//!   client that presents no certificate, or one that CA did not sign, fails the handshake.
//! - [`ClientTls`]: what a client trusts (a CA file, else the system's roots) and the
//!   certificate it presents, if any. Every HTTP client in the project is built from one:
//!   reqwest is compiled without a crypto provider of its own, so a client built any other way
//!   cannot speak TLS at all.
//!
//! Files are PEM. They are read when the value is made, so a missing or malformed file is an
//! error at start-up that names the file, never a failed handshake later. A server reads its
//! files again on [`ServerTls::reload`] (every SIGHUP, see [`ServerTls::reload_on_hangup`]), so
//! a renewed certificate is served without a restart; files that do not load leave the
//! previous certificate in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// The environment variables a client reads when no flag says otherwise (see
/// [`ClientTls::from_env`]).
pub const CA_FILE_VAR: &str = "AURORA_CA_FILE";
/// The client certificate to present (PEM chain), with [`CLIENT_KEY_VAR`].
pub const CLIENT_CERT_VAR: &str = "AURORA_CLIENT_CERT";
/// The client certificate's private key (PEM).
pub const CLIENT_KEY_VAR: &str = "AURORA_CLIENT_KEY";

/// The one provider every config is built on: ring, named explicitly so that nothing depends
/// on which provider some other crate installed as the process default. (rustls deprecates
/// ring's provider for lacking post-quantum key exchange; the one that has it, aws-lc, is a
/// C and CMake build this project does without.)
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in the PEM file at `path`; at least one.
fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            what,
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::Pem {
            what,
            path: path.to_path_buf(),
            detail: "no CERTIFICATE block in it".to_string(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in the PEM file at `path`.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let what = "private key";
    let pem = read(path, what)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| Error::Pem {
        what,
        path: path.to_path_buf(),
        detail: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY block in it".to_string(),
            e => e.to_string(),
        },
    })
}

/// A root store holding every certificate in the CA file at `path`.
fn roots(path: &Path) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for cert in certificates(path, "CA certificate")? {
        store.add(cert).map_err(|e| Error::Pem {
            what: "CA certificate",
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    }
    Ok(store)
}

/// The system's trusted roots (Debian's ca-certificates), for servers with public
/// certificates. Certificates the system store cannot parse are skipped, as browsers do.
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "skipping part of the system's certificate store");
    }
    let mut store = RootCertStore::empty();
    let (_added, skipped) = store.add_parsable_certificates(found.certs);
    if skipped > 0 {
        tracing::debug!(skipped, "system certificates rustls cannot use");
    }
    store
}

/// A TLS server's identity and client-certificate policy. Clones share it: a reload through
/// one is seen by every server holding another.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: Arc<RwLock<TlsAcceptor>>,
    files: Arc<ServerFiles>,
    requires_client_certificates: bool,
}

/// Where a server's certificate, key and client CA are read from.
#[derive(Debug)]
struct ServerFiles {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field(
                "requires_client_certificates",
                &self.requires_client_certificates,
            )
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Serves the chain in `cert` with the key in `key`; with `client_ca`, requires every
    /// client to present a certificate signed by it.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, Error> {
        let files = ServerFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            client_ca: client_ca.map(Path::to_path_buf),
        };
        Ok(Self {
            acceptor: Arc::new(RwLock::new(acceptor(&files)?)),
            requires_client_certificates: client_ca.is_some(),
            files: Arc::new(files),
        })
    }

    /// Reads the files again and serves what they hold to every new connection (connections
    /// already open keep theirs). On an error the previous certificate stays in use.
    pub fn reload(&self) -> Result<(), Error> {
        let fresh = acceptor(&self.files)?;
        match self.acceptor.write() {
            Ok(mut current) => *current = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// Reloads on every SIGHUP for as long as the process runs (needs a tokio runtime),
    /// logging what happened. `what` names the server in the log (`scheduler`, `observer`).
    pub fn reload_on_hangup(&self, what: &'static str) {
        let tls = self.clone();
        crate::on_hangup("the TLS certificate", move || match tls.reload() {
            Ok(()) => tracing::info!(
                cert = %tls.files.cert.display(),
                "{what}: TLS certificate reloaded"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "{what}: TLS files did not load; the previous certificate stays in use"
            ),
        });
    }

    /// The acceptor that performs a new connection's handshake.
    pub fn acceptor(&self) -> TlsAcceptor {
        match self.acceptor.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.requires_client_certificates
    }

    /// From the usual three optional flags: both of `cert` and `key` or neither (then plain
    /// HTTP, and `client_ca` must be absent too).
    pub fn from_flags(
        cert: Option<&Path>,
        key: Option<&Path>,
        client_ca: Option<&Path>,
    ) -> Result<Option<Self>, Error> {
        match (cert, key) {
            (Some(cert), Some(key)) => Self::load(cert, key, client_ca).map(Some),
            (None, None) if client_ca.is_none() => Ok(None),
            (None, None) => Err(Error::Flags(
                "--tls-client-ca needs --tls-cert and --tls-key: client certificates are checked during a TLS handshake",
            )),
            (Some(_), None) => Err(Error::Flags("--tls-cert needs --tls-key")),
            (None, Some(_)) => Err(Error::Flags("--tls-key needs --tls-cert")),
        }
    }
}

/// A server config read from `files`.
fn acceptor(files: &ServerFiles) -> Result<TlsAcceptor, Error> {
    let (cert, client_ca) = (&files.cert, files.client_ca.as_deref());
    let chain = certificates(cert, "certificate")?;
    let key = private_key(&files.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                    .build()
                    .map_err(|e| Error::Config(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| Error::KeyMismatch {
            cert: cert.to_path_buf(),
            detail: e.to_string(),
        })?;
    // The servers speak HTTP/1.1 only (hyper's http1 connection builder).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What a client trusts and presents. The default trusts the system's roots and presents
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// Trust only the certificates in this PEM file (a private CA, or a self-signed server).
    pub ca_file: Option<PathBuf>,
    /// The certificate chain and key to present to servers that require one.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    /// From `AURORA_CA_FILE`, `AURORA_CLIENT_CERT` and `AURORA_CLIENT_KEY` (empty means unset).
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self::from_parts(var(CA_FILE_VAR), var(CLIENT_CERT_VAR), var(CLIENT_KEY_VAR)).map_err(
            |_| {
                Error::Flags(
                    "AURORA_CLIENT_CERT and AURORA_CLIENT_KEY must be set together, or neither",
                )
            },
        )
    }

    /// From a CA file and a certificate/key pair, given together or not at all.
    pub fn from_parts(
        ca_file: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Result<Self, Error> {
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(Error::Flags(
                    "a client certificate needs its key, and a key its certificate",
                ));
            }
        };
        Ok(Self { ca_file, identity })
    }

    /// The rustls configuration: the CA file's roots (or the system's), the identity if any,
    /// HTTP/1.1.
    pub fn config(&self) -> Result<ClientConfig, Error> {
        let roots = match &self.ca_file {
            Some(path) => roots(path)?,
            None => system_roots(),
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(e.to_string()))?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(certificates(cert, "client certificate")?, private_key(key)?)
                .map_err(|e| Error::KeyMismatch {
                    cert: cert.clone(),
                    detail: e.to_string(),
                })?,
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// An async reqwest builder that speaks TLS with this configuration (and plain HTTP to
    /// `http://` URLs, as always).
    #[allow(clippy::disallowed_methods)] // the one place clients are made
    pub fn builder(&self) -> Result<reqwest::ClientBuilder, Error> {
        Ok(reqwest::Client::builder().tls_backend_preconfigured(self.config()?))
    }

    /// The blocking counterpart of [`ClientTls::builder`].
    #[cfg(feature = "blocking")]
    #[allow(clippy::disallowed_methods)] // the one place clients are made
    pub fn blocking_builder(&self) -> Result<reqwest::blocking::ClientBuilder, Error> {
        Ok(reqwest::blocking::Client::builder().tls_backend_preconfigured(self.config()?))
    }
}

/// The flags of a TLS server: `--tls-cert`, `--tls-key`, `--tls-client-ca`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerTlsArgs {
    /// Serve HTTPS with this certificate chain (PEM; the server's certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require every client to present a certificate signed by this CA (PEM); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

impl ServerTlsArgs {
    /// The server's TLS, or `None` for plain HTTP.
    pub fn load(&self) -> Result<Option<ServerTls>, Error> {
        ServerTls::from_flags(
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_client_ca.as_deref(),
        )
    }

    /// `https` with TLS, else `http`: the scheme of the URLs this server prints.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// The flags of a TLS client: `--tls-ca`, `--tls-client-cert`, `--tls-client-key`, each
/// defaulting to its environment variable (`AURORA_CA_FILE`, `AURORA_CLIENT_CERT`,
/// `AURORA_CLIENT_KEY`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientTlsArgs {
    /// Trust the scheduler's certificate only if this CA (PEM) signed it (default: the
    /// system's roots).
    #[arg(long, value_name = "FILE", env = CA_FILE_VAR)]
    pub tls_ca: Option<PathBuf>,
    /// Present this certificate (PEM) to servers that require client certificates.
    #[arg(long, value_name = "FILE", env = CLIENT_CERT_VAR, requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// The private key of --tls-client-cert (PEM).
    #[arg(long, value_name = "FILE", env = CLIENT_KEY_VAR, requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
}

impl ClientTlsArgs {
    /// The client's TLS, its files read now so that a bad one is an error at start-up.
    pub fn load(&self) -> Result<ClientTls, Error> {
        let tls = ClientTls::from_parts(
            self.tls_ca.clone(),
            self.tls_client_cert.clone(),
            self.tls_client_key.clone(),
        )?;
        tls.config()?;
        Ok(tls)
    }
}

/// An async client from `tls` with `configure`'s settings, for constructors that cannot fail.
/// Should `tls` not load now (a file removed or half-written since it was checked at
/// start-up), the error is logged and the client trusts nothing and presents nothing: every
/// HTTPS call then fails, naming the certificate it could not verify, rather than going to
/// servers the operator never meant to trust (with the credentials it carries).
pub fn client(
    tls: &ClientTls,
    configure: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> reqwest::Client {
    let built = tls
        .builder()
        .map_err(|e| e.to_string())
        .and_then(|builder| configure(builder).build().map_err(|e| e.to_string()));
    match built {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client as configured; its HTTPS calls will fail");
            let trusting_nothing = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map(|builder| {
                    builder
                        .with_root_certificates(RootCertStore::empty())
                        .with_no_client_auth()
                });
            #[allow(clippy::disallowed_methods)] // given a config of our own just below
            let builder = reqwest::Client::builder();
            let builder = match trusting_nothing {
                Ok(config) => builder.tls_backend_preconfigured(config),
                Err(_) => builder,
            };
            // Timeouts and headers: nothing left that can fail to build.
            configure(builder)
                .build()
                .expect("an HTTP client that trusts nothing builds")
        }
    }
}

/// An async client with reqwest's defaults that trusts the system's roots.
pub fn default_client() -> reqwest::Client {
    client(&ClientTls::default(), |builder| builder)
}
