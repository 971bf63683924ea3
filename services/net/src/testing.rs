//! Certificates for tests, made fresh in a directory: a CA, a server certificate it signed for
//! `127.0.0.1` and `localhost`, a client certificate it signed, and a stranger (a second CA
//! and a client certificate of its own) that nothing trusts.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// The files of a test PKI (all PEM).
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA nobody trusts, and a client certificate it signed.
    pub stranger_ca: PathBuf,
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

fn leaf(
    names: &[&str],
    issuer: &CertifiedIssuer<'static, KeyPair>,
    dir: &Path,
    stem: &str,
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
    let cert = CertificateParams::new(names)
        .expect("leaf parameters")
        .signed_by(&key, issuer)
        .expect("leaf certificate");
    let (cert_path, key_path) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).expect("writing a test certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("writing a test key");
    (cert_path, key_path)
}

impl Pki {
    /// Makes every file under `dir`.
    pub fn new(dir: &Path) -> Self {
        let authority = ca("aurora test CA");
        let stranger = ca("a CA nobody trusts");
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("writing a test CA");
            path
        };
        let (server_cert, server_key) =
            leaf(&["127.0.0.1", "localhost"], &authority, dir, "server");
        let (client_cert, client_key) = leaf(&["agent-1"], &authority, dir, "client");
        let (stranger_cert, stranger_key) = leaf(&["intruder"], &stranger, dir, "stranger");
        Self {
            ca: write("ca.pem", authority.pem()),
            server_cert,
            server_key,
            client_cert,
            client_key,
            stranger_ca: write("stranger-ca.pem", stranger.pem()),
            stranger_cert,
            stranger_key,
        }
    }
}
