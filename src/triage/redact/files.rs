//! Files that are credentials by their name: `.env`, private keys,
//! keystores, cloud and package-manager credential files. The builtin
//! agent's file reads call [`is_secret_file`] and refuse these: redacting
//! a whole key file line by line is weaker than never reading it.

use std::path::Path;

/// True when `path` names a file that holds credentials by convention
/// (`.env`, `.env.production`, `*.pem`, `*.key`, `id_rsa`, `credentials`,
/// `.netrc`, `.npmrc`, `.pgpass`, `*.tfstate`, …). Templates such as
/// `.env.example` are not secrets and stay readable.
pub fn is_secret_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    const TEMPLATES: &[&str] = &[
        ".example",
        ".sample",
        ".template",
        ".dist",
        ".tmpl",
        ".defaults",
    ];
    if TEMPLATES.iter().any(|t| name.ends_with(t)) {
        return false;
    }
    const NAMES: &[&str] = &[
        ".env",
        ".envrc",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
        "credentials",
        "credentials.json",
        "credentials.yaml",
        "credentials.yml",
        "credentials.toml",
        "credentials.xml",
        ".git-credentials",
        ".netrc",
        "_netrc",
        ".npmrc",
        ".pypirc",
        ".pgpass",
        ".my.cnf",
        ".htpasswd",
        ".dockercfg",
        "kubeconfig",
        "secrets.yaml",
        "secrets.yml",
        "secrets.json",
        "secrets.toml",
        "secret.yaml",
        "secret.yml",
        "master.key",
        "terraform.tfstate",
        "terraform.tfstate.backup",
        "service-account.json",
        "client_secret.json",
        "authorized_keys",
        "known_hosts",
        "shadow",
    ];
    if NAMES.contains(&name.as_str()) || name.starts_with(".env.") {
        return true;
    }
    const EXTS: &[&str] = &[
        ".pem",
        ".key",
        ".p12",
        ".pfx",
        ".jks",
        ".keystore",
        ".kdbx",
        ".ppk",
        ".asc",
        ".gpg",
        ".tfstate",
        ".tfvars",
        ".ovpn",
        ".age",
        ".p8",
    ];
    if EXTS.iter().any(|e| name.ends_with(e)) {
        return true;
    }
    // `.aws/credentials`, `.docker/config.json`, `.kube/config`, `.ssh/*` keys.
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    matches!(
        (parent, name.as_str()),
        (".aws", "config") | (".docker", "config.json") | (".kube", "config")
    ) || (parent == ".ssh" && !name.ends_with(".pub"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_files_by_name() {
        for p in [
            ".env",
            "deploy/.env.production",
            "certs/server.pem",
            "tls.key",
            "home/.ssh/id_ed25519",
            ".aws/credentials",
            ".docker/config.json",
            "infra/terraform.tfstate",
        ] {
            assert!(is_secret_file(Path::new(p)), "{p}");
        }
        for p in [
            ".env.example",
            "src/main.rs",
            "k8s/api.yaml",
            ".ssh/id_rsa.pub",
            "keys.rs",
            "README.md",
        ] {
            assert!(!is_secret_file(Path::new(p)), "{p}");
        }
    }
}
