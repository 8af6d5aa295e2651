//! Test Connection of an S3-compatible bucket: the name looked up under the address policy,
//! the connection and (for https) the TLS handshake made as every connection's are, so each
//! failure is classified the same way; then a probe object written, read back and deleted with
//! `object_store`, signed with the connection's access key, over the same address-guarded HTTP
//! client as webhooks (`guarded_client`: every name it resolves is checked again).

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{ClientOptions, HttpClient, HttpConnector};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, RetryConfig};

use super::probe::{self, timed};
use super::{Connector, Failure, Report};
use crate::domain::integration::{IntegrationErrorCode as Code, ProbeStep};
use crate::domain::service_connection::Credentials;

/// Hands `object_store` our client instead of one of its own.
#[derive(Debug)]
struct Guarded(reqwest::Client);

impl HttpConnector for Guarded {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(self.0.clone()))
    }
}

pub struct Bucket<'a> {
    pub url: &'a url::Url,
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub region: &'a str,
}

pub async fn test(c: &Connector<'_>, b: Bucket<'_>, report: &mut Report) -> Result<(), Failure> {
    let timeout = c.timeout();
    let host = b.url.host_str().unwrap_or_default().to_owned();
    let port = b.url.port_or_known_default().unwrap_or(443);
    let addrs = timed(
        report,
        ProbeStep::Resolve,
        timeout,
        probe::resolve(&c.reach.policy, &host, port),
    )
    .await?;
    let stream = timed(report, ProbeStep::Connect, timeout, probe::connect(&addrs)).await?;
    if b.url.scheme() == "https" {
        let config = probe::client_config(c.settings.ca_pem.as_deref(), None)
            .map_err(|e| Failure::new(Code::ProtocolError, e, "Edit the connection."))?;
        timed(
            report,
            ProbeStep::Tls,
            timeout,
            probe::tls(stream, &host, config, &[b"http/1.1"]),
        )
        .await?;
    }
    let store = store(c, &b).map_err(|e| {
        Failure::new(
            Code::ProtocolError,
            format!("the store's client cannot be made ({e})"),
            "Edit the connection.",
        )
    })?;
    timed(report, ProbeStep::Storage, timeout, async {
        probe_object(&store, &b).await
    })
    .await
}

fn store(c: &Connector<'_>, b: &Bucket<'_>) -> anyhow::Result<AmazonS3> {
    let roots = match &c.settings.ca_pem {
        Some(pem) => reqwest::Certificate::from_pem_bundle(pem.as_bytes())?,
        None => vec![],
    };
    let client =
        crate::outbound::guarded_client(c.reach.policy.clone(), c.timeout(), roots)?.build()?;
    let mut builder = AmazonS3Builder::new()
        .with_endpoint(b.url.as_str().trim_end_matches('/'))
        .with_bucket_name(b.bucket)
        .with_region(b.region)
        .with_allow_http(b.url.scheme() == "http")
        .with_virtual_hosted_style_request(false)
        .with_http_connector(Guarded(client))
        // Tries again are the caller's (`retry`): a test answers what happened at once.
        .with_retry(RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        });
    builder = match c.credentials {
        Credentials::AccessKey {
            access_key_id,
            secret_access_key,
        } => builder
            .with_access_key_id(access_key_id)
            .with_secret_access_key(secret_access_key),
        _ => builder.with_skip_signature(true),
    };
    Ok(builder.build()?)
}

async fn probe_object(store: &AmazonS3, b: &Bucket<'_>) -> Result<((), String), Failure> {
    let key = format!("{}.switchboard-probe-{}", b.prefix, uuid::Uuid::now_v7());
    let path = Path::parse(&key).map_err(|e| {
        Failure::new(
            Code::ProtocolError,
            format!("the probe's name is not a valid object name ({e})"),
            "Edit the connection's prefix.",
        )
    })?;
    let content = uuid::Uuid::now_v7().to_string();
    let bucket = b.bucket;
    store
        .put(&path, PutPayload::from(content.clone().into_bytes()))
        .await
        .map_err(|e| failed("could not write a probe object to", bucket, e))?;
    let back = match store.get(&path).await {
        Ok(got) => got.bytes().await,
        Err(e) => Err(e),
    };
    let removed = store.delete(&path).await;
    let back = back.map_err(|e| failed("could not read the probe object back from", bucket, e))?;
    removed.map_err(|e| failed("could not delete the probe object from", bucket, e))?;
    if back.as_ref() != content.as_bytes() {
        return Err(Failure::new(
            Code::UnexpectedResponse,
            format!("bucket {bucket} gave back other content than was written"),
            "Check the store: it does not keep what is written.",
        ));
    }
    Ok((
        (),
        format!("wrote, read back and deleted {key} in {bucket}"),
    ))
}

/// The most of a store's error kept in a message.
const WHY_MAX: usize = 400;

/// What a refused store operation means.
fn failed(what: &str, bucket: &str, e: object_store::Error) -> Failure {
    // Its text holds its causes already, and the store's answer (its error code).
    let mut why: String = e.to_string().chars().take(WHY_MAX).collect();
    if why.len() < e.to_string().len() {
        why.push('…');
    }
    let (code, fix) = match &e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => (
            Code::AuthFailed,
            "Check the access key id and secret, and that they may write, read and delete in the bucket.",
        ),
        object_store::Error::NotFound { .. } => (
            Code::UnexpectedResponse,
            "Check the bucket's name (and the region): the store does not know it.",
        ),
        _ if why.contains("timed out") || why.contains("operation timed out") => (
            Code::Timeout,
            "Check that the store is running; or raise the connection's timeout.",
        ),
        _ => (
            Code::UnexpectedResponse,
            "Check the address: it should be the store's endpoint, then the bucket.",
        ),
    };
    Failure::new(code, format!("{what} bucket {bucket}: {why}"), fix)
}
