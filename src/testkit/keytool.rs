//! PKCS12 and JKS stores made the way certificate providers make them: `openssl pkcs12
//! -export` turns a kit key and certificate into a PKCS12 file, and Java's `keytool` copies it
//! into the stores it writes itself (PKCS12 with PBES2/AES-256 and HMAC-SHA256, as Java 17 and
//! later do by default; legacy PKCS12 with RC2/3DES and HMAC-SHA1; JKS), and imports the CA
//! into truststores. Needs `openssl` and `keytool` (a JDK's bin directory, or `JAVA_HOME`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::certs::{Leaf, TestCa};

/// Paths of the stores written by [`write`], all opened with the password given there.
#[derive(Debug, Clone)]
pub struct Stores {
    /// openssl's PKCS12 keystore (alias `kmirror`): the client key and chain with the CA.
    pub openssl_pkcs12: PathBuf,
    /// keytool's PKCS12 keystore (its default algorithms).
    pub pkcs12: PathBuf,
    /// keytool's PKCS12 keystore with `-J-Dkeystore.pkcs12.legacy` (RC2/3DES, HMAC-SHA1).
    pub legacy_pkcs12: PathBuf,
    /// keytool's JKS keystore.
    pub jks: PathBuf,
    /// keytool's JKS keystore whose key has its own password, [`KEY_PASSWORD`].
    pub jks_key_password: PathBuf,
    /// keytool's JKS keystore with two private keys (`kmirror` and `other`).
    pub jks_two_keys: PathBuf,
    /// keytool's truststores with the CA (alias `ca`).
    pub trust_pkcs12: PathBuf,
    pub trust_jks: PathBuf,
}

/// The key password of [`Stores::jks_key_password`].
pub const KEY_PASSWORD: &str = "key-pass-42";

/// The `keytool` to run: `$JAVA_HOME/bin/keytool` if set, else the one on `PATH`.
fn keytool() -> Command {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin/keytool").exists() => {
            Command::new(Path::new(&home).join("bin/keytool"))
        }
        _ => Command::new("keytool"),
    }
}

fn run(mut command: Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let out = command.output().map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Writes the stores of `client` (signed by `ca`) into `dir`.
pub fn write(dir: &Path, ca: &TestCa, client: &Leaf, password: &str) -> Result<Stores, String> {
    let put = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let ca_pem = put("ks-ca.pem", &ca.cert_pem)?;
    let chain = put("ks-chain.pem", &format!("{}{}", client.cert_pem, ca.cert_pem))?;
    let key = put("ks-key.pem", &client.key_pem)?;
    let other = ca.client("other");
    let other_chain = put("ks-other.pem", &format!("{}{}", other.cert_pem, ca.cert_pem))?;
    let other_key = put("ks-other-key.pem", &other.key_pem)?;
    let pass = format!("pass:{password}");
    let export = |chain: &Path, key: &Path, alias: &str, out: &str| -> Result<PathBuf, String> {
        let path = dir.join(out);
        let mut c = Command::new("openssl");
        c.args(["pkcs12", "-export", "-name", alias, "-passout", &pass, "-in"])
            .arg(chain)
            .arg("-inkey")
            .arg(key)
            .arg("-out")
            .arg(&path);
        run(c)?;
        Ok(path)
    };
    let openssl_pkcs12 = export(&chain, &key, "kmirror", "openssl.p12")?;
    let other_p12 = export(&other_chain, &other_key, "other", "other.p12")?;
    let import = |from: &Path, to: &Path, store_type: &str, extra: &[&str], legacy: bool| {
        let mut c = keytool();
        if legacy {
            c.arg("-J-Dkeystore.pkcs12.legacy");
        }
        c.args(["-importkeystore", "-noprompt", "-srcstoretype", "PKCS12"])
            .args(["-srcstorepass", password, "-deststorepass", password])
            .args(["-deststoretype", store_type])
            .arg("-srckeystore")
            .arg(from)
            .arg("-destkeystore")
            .arg(to)
            .args(extra);
        run(c)
    };
    let stores = Stores {
        pkcs12: dir.join("keytool.p12"),
        legacy_pkcs12: dir.join("keytool-legacy.p12"),
        jks: dir.join("keytool.jks"),
        jks_key_password: dir.join("keytool-keypass.jks"),
        jks_two_keys: dir.join("keytool-two.jks"),
        trust_pkcs12: dir.join("trust.p12"),
        trust_jks: dir.join("trust.jks"),
        openssl_pkcs12,
    };
    import(&stores.openssl_pkcs12, &stores.pkcs12, "PKCS12", &[], false)?;
    import(&stores.openssl_pkcs12, &stores.legacy_pkcs12, "PKCS12", &[], true)?;
    import(&stores.openssl_pkcs12, &stores.jks, "JKS", &[], false)?;
    let keypass = [
        "-srcalias",
        "kmirror",
        "-srckeypass",
        password,
        "-destkeypass",
        KEY_PASSWORD,
    ];
    import(
        &stores.openssl_pkcs12,
        &stores.jks_key_password,
        "JKS",
        &keypass,
        false,
    )?;
    import(&stores.openssl_pkcs12, &stores.jks_two_keys, "JKS", &[], false)?;
    import(&other_p12, &stores.jks_two_keys, "JKS", &[], false)?;
    for (path, store_type) in [(&stores.trust_pkcs12, "PKCS12"), (&stores.trust_jks, "JKS")] {
        let mut c = keytool();
        c.args(["-importcert", "-noprompt", "-alias", "ca", "-storepass", password])
            .args(["-storetype", store_type, "-file"])
            .arg(&ca_pem)
            .arg("-keystore")
            .arg(path);
        run(c)?;
    }
    Ok(stores)
}
