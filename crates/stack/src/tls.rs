//! nginx's TLS listener: a certificate authority made by `up` for this stack alone and the
//! server certificate it signs for the loopback names (`localhost`, `127.0.0.1`, `::1`), in
//! `<state dir>/tls/`. The CA's key is used once and never written: nothing can be signed with
//! it afterwards, and its name constraints limit it to loopback names even where it is trusted.
//! The server's key is written 0600 and never printed; the CA certificate's path is recorded in
//! the state file, so `load --cacert` and the `nginx-tls` tier find it.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
};

/// The stack's TLS directory, under its state directory.
pub const TLS_DIR: &str = "tls";
/// The CA certificate (PEM) a client trusts.
pub const CA_CERT: &str = "ca.pem";
/// nginx's certificate and key (PEM).
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server-key.pem";

/// The names the server certificate is valid for: every name a loopback client uses.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Makes a new CA and nginx's certificate in `<state_dir>/tls/` (0700, files 0600); returns the
/// CA certificate's absolute path.
pub fn issue(state_dir: &Path, stack_id: &str) -> Result<PathBuf, String> {
    let dir = std::path::absolute(state_dir.join(TLS_DIR)).map_err(|e| e.to_string())?;
    crate::state::private_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let failed = |e: rcgen::Error| format!("making the stack's TLS certificates: {e}");
    let ca_key = KeyPair::generate().map_err(failed)?;
    let ca = ca_params(stack_id).self_signed(&ca_key).map_err(failed)?;
    let server_key = KeyPair::generate().map_err(failed)?;
    let server = server_params()?
        .signed_by(&server_key, &ca, &ca_key)
        .map_err(failed)?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        contextforge::secrets::write_private(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(SERVER_KEY, server_key.serialize_pem())?;
    write(SERVER_CERT, server.pem())?;
    write(CA_CERT, ca.pem())?;
    Ok(dir.join(CA_CERT))
}

/// A CA that may sign server certificates for loopback names only, and no other CA.
fn ca_params(stack_id: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, format!("mcpbench stack {stack_id} CA"));
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".into()),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([127, 0, 0, 0], 8)),
            GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(
                std::net::Ipv6Addr::LOCALHOST.octets(),
                128,
            )),
        ],
        excluded_subtrees: vec![],
    });
    params
}

fn server_params() -> Result<CertificateParams, String> {
    let names = SERVER_NAMES.map(String::from).to_vec();
    let mut params = CertificateParams::new(names)
        .map_err(|e| format!("making the stack's TLS certificates: {e}"))?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "localhost");
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_ca_and_the_server_certificate_are_written_owner_only_without_the_cas_key() {
        let dir = std::env::temp_dir().join(format!("stack-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca = issue(&dir, "0123456789abcdef").unwrap();
        assert!(ca.is_absolute() && ca.ends_with("tls/ca.pem"), "{ca:?}");
        let tls = dir.join(TLS_DIR);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&tls), 0o700);
        let mut files: Vec<String> = std::fs::read_dir(&tls)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, [CA_CERT, SERVER_KEY, SERVER_CERT]);
        for file in &files {
            assert_eq!(mode(&tls.join(file)), 0o600, "{file}");
        }
        let read = |f: &str| std::fs::read_to_string(tls.join(f)).unwrap();
        assert!(read(CA_CERT).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(read(SERVER_KEY).starts_with("-----BEGIN PRIVATE KEY-----"));
        // A second up makes a new CA: nothing of the first one is trusted any more.
        let first = read(CA_CERT);
        issue(&dir, "0123456789abcdef").unwrap();
        assert_ne!(read(CA_CERT), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
