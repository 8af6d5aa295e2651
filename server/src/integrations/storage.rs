//! Test Connection of a storage directory: write a probe file, read it back, delete it. Only
//! under a directory the server's operator allowed (`services.storage_roots`): an
//! administrator of the portal must not be able to write anywhere the server can.

use std::path::Path;

use super::probe::timed;
use super::{Connector, Failure, Report};
use crate::domain::integration::{IntegrationErrorCode as Code, ProbeStep};

/// Whether `dir` lies under one of `roots`.
pub fn allowed(dir: &Path, roots: &[std::path::PathBuf]) -> bool {
    roots.iter().any(|root| dir.starts_with(root))
}

pub async fn test(c: &Connector<'_>, dir: &Path, report: &mut Report) -> Result<(), Failure> {
    if !allowed(dir, &c.reach.storage_roots) {
        return Err(Failure::new(
            Code::BlockedAddress,
            format!("{} is not under a storage root", dir.display()),
            "The server's operator allows directories in services.storage_roots.",
        ));
    }
    let timeout = c.timeout();
    timed(report, ProbeStep::Storage, timeout, probe(dir)).await
}

async fn probe(dir: &Path) -> Result<((), String), Failure> {
    let io = |what: &str, e: std::io::Error| {
        let (code, fix) = match e.kind() {
            std::io::ErrorKind::PermissionDenied => (
                Code::AuthFailed,
                "Give the server's user the right to write in this directory.",
            ),
            std::io::ErrorKind::NotFound => (
                Code::UnexpectedResponse,
                "Create the directory, or correct the path.",
            ),
            _ => (
                Code::UnexpectedResponse,
                "Check the directory and its file system.",
            ),
        };
        Failure::new(code, format!("{what} {}: {e}", dir.display()), fix)
    };
    let name = dir.join(format!(".switchboard-probe-{}", uuid::Uuid::now_v7()));
    let content = uuid::Uuid::now_v7().to_string();
    tokio::fs::write(&name, &content)
        .await
        .map_err(|e| io("could not write in", e))?;
    let back = tokio::fs::read_to_string(&name).await;
    let removed = tokio::fs::remove_file(&name).await;
    let back = back.map_err(|e| io("could not read back from", e))?;
    removed.map_err(|e| io("could not delete the probe file in", e))?;
    if back != content {
        return Err(Failure::new(
            Code::UnexpectedResponse,
            format!("{} gave back other content than was written", dir.display()),
            "Check the directory's file system.",
        ));
    }
    Ok(((), "wrote, read back and deleted a probe file".into()))
}
