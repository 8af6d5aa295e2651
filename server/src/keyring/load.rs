//! Where the master keys come from: configuration (`secrets.*`, or `*_file` paths to them),
//! or, for an embedded SQLite database with none configured, a key file made beside the
//! database on first start. PostgreSQL needs a configured key: its replicas must share one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;

use super::{KEY_LEN, Keyring};
use crate::config::SecretsSettings;

/// The suffix of the key file made beside a SQLite database (`switchboard.db.master-key`).
pub const KEY_FILE: &str = "master-key";

/// A new random master key, base64 (what `switchboard keys generate` prints).
pub fn generate_key() -> String {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).expect("operating system random number generator failed");
    STANDARD.encode(key)
}

fn parse(text: &str, what: &str) -> anyhow::Result<[u8; KEY_LEN]> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| <[u8; KEY_LEN]>::try_from(b).ok())
        .with_context(|| {
            format!("{what} is not a master key: 32 bytes, base64 (make one with `switchboard keys generate`)")
        })
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// How the keyring was found.
pub enum Loaded {
    /// From configuration, or a key file that exists.
    Ready(Box<Keyring>),
    /// Nothing configured, SQLite: a key file to make at `path` (`make_file`), if the database
    /// holds no secret sealed under a key that would then be lost.
    MakeFile {
        path: PathBuf,
        previous: Vec<[u8; KEY_LEN]>,
    },
}

/// The master keys `settings` name, for the database at `url`.
pub fn load(settings: &SecretsSettings, url: &str) -> anyhow::Result<Loaded> {
    let mut previous = vec![];
    for (i, key) in settings.previous_master_keys.iter().enumerate() {
        previous.push(parse(
            key.expose_secret(),
            &format!("secrets.previous_master_keys[{i}]"),
        )?);
    }
    if let Some(path) = &settings.previous_master_keys_file {
        let text = read(path, "secrets.previous_master_keys_file")?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            previous.push(parse(line, "a line of secrets.previous_master_keys_file")?);
        }
    }
    let configured = match (&settings.master_key, &settings.master_key_file) {
        (Some(key), _) => Some(parse(key.expose_secret(), "secrets.master_key")?),
        (None, Some(path)) => Some(parse(
            &read(path, "secrets.master_key_file")?,
            "secrets.master_key_file",
        )?),
        (None, None) => None,
    };
    if let Some(current) = configured {
        return Ok(Loaded::Ready(Box::new(Keyring::new(
            Some(current),
            &previous,
        ))));
    }
    if url.starts_with("postgres") {
        anyhow::bail!(
            "no master key is configured: with PostgreSQL, set secrets.master_key or \
             secrets.master_key_file (the same key on every replica; make one with \
             `switchboard keys generate`)"
        );
    }
    match crate::store::sqlite_file(url) {
        None => {
            // An in-memory database dies with the process, and so may its key.
            let key = parse(&generate_key(), "a generated key")?;
            Ok(Loaded::Ready(Box::new(Keyring::new(Some(key), &previous))))
        }
        Some(db) => {
            let path = PathBuf::from(format!("{}.{KEY_FILE}", db.display()));
            if path.exists() {
                let key = parse(&read(&path, "the master key file")?, "the master key file")?;
                Ok(Loaded::Ready(Box::new(Keyring::new(Some(key), &previous))))
            } else {
                Ok(Loaded::MakeFile { path, previous })
            }
        }
    }
}

/// Makes the key file at `path` (readable by its owner only) and answers the keyring with its
/// key as the current one.
pub fn make_file(path: &Path, previous: &[[u8; KEY_LEN]]) -> anyhow::Result<Keyring> {
    let key = generate_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("making the master key file {}", path.display()))?;
    file.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the master key file {}", path.display()))?;
    Ok(Keyring::new(
        Some(parse(&key, "a generated key")?),
        previous,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            crate::store::sqlite_file("sqlite://data/switchboard.db?mode=rwc"),
            Some(PathBuf::from("data/switchboard.db"))
        );
        assert_eq!(
            crate::store::sqlite_file("sqlite:///tmp/x.db"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(crate::store::sqlite_file("sqlite::memory:"), None);
        assert_eq!(crate::store::sqlite_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(crate::store::sqlite_file("postgres://h/db"), None);
    }
}
