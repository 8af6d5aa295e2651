//! Connections to external services (lab systems, e-prescribing gateways, clearinghouses,
//! storage, records exchange): what kind of service, how it is reached, and how Switchboard
//! authenticates to it. Settings are parsed here into a `Target` that cannot be invalid; the
//! secret parts of the authentication are a `Credentials` value that only leaves the server
//! sealed (`keyring`) or towards the service itself.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::environment::Environment;
use super::stored_enum::stored_enum;

/// The longest name, description, identifier, header name or user name accepted.
pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 500;
/// The longest secret (an API key, a password) accepted.
pub const MAX_SECRET: usize = 4096;
/// The longest PEM bundle (a private CA) accepted.
pub const MAX_PEM: usize = 65_536;
/// Bounds of a connection's timeout.
pub const MIN_TIMEOUT_MS: u32 = 100;
pub const MAX_TIMEOUT_MS: u32 = 120_000;

stored_enum! {
    /// What kind of system a connection reaches.
    pub enum ServiceType {
        /// A laboratory information system: orders out, results in.
        Lab = "LAB",
        /// An e-prescribing gateway.
        Pharmacy = "PHARMACY",
        /// An insurance claims clearinghouse.
        Clearinghouse = "CLEARINGHOUSE",
        /// Archival or backup storage.
        DataStorage = "DATA_STORAGE",
        /// An outside-records / care-summary service: takes patient requests, answers by
        /// webhook.
        RecordsExchange = "RECORDS_EXCHANGE",
    }
}

stored_enum! {
    /// How a connection talks to its service.
    pub enum Protocol {
        /// JSON over HTTPS (plain HTTP for sandbox connections only).
        HttpsJson = "HTTPS_JSON",
        /// HL7 v2 messages over MLLP (a TCP connection, optionally TLS).
        Hl7v2Mllp = "HL7V2_MLLP",
        /// HL7 v2 messages POSTed over HTTPS.
        Hl7v2Http = "HL7V2_HTTP",
        /// A directory on the server's own file system (storage only).
        LocalPath = "LOCAL_PATH",
        /// An S3-compatible object store (storage only): `https://endpoint/bucket/prefix`,
        /// requests signed with AWS Signature Version 4.
        S3 = "S3",
    }
}

stored_enum! {
    /// How Switchboard proves who it is to the service.
    pub enum AuthKind {
        /// No credentials (a service on a trusted network, or one that needs none).
        None = "NONE",
        /// A secret sent in a header of the connection's choosing.
        ApiKey = "API_KEY",
        /// HTTP basic authentication: a user name and a password.
        Basic = "BASIC",
        /// OAuth 2.0 client credentials (RFC 6749 §4.4): a token fetched from the service's
        /// token endpoint with a client id and secret, sent as a bearer token.
        Oauth2ClientCredentials = "OAUTH2_CLIENT_CREDENTIALS",
        /// Mutual TLS: a client certificate and its private key (PEM), presented in the TLS
        /// handshake.
        ClientCertificate = "CLIENT_CERTIFICATE",
        /// An access key id and secret access key (S3-compatible stores), which sign each
        /// request (AWS Signature Version 4).
        AccessKey = "ACCESS_KEY",
    }
}

impl ServiceType {
    /// The protocols a service of this type may use.
    pub fn protocols(self) -> &'static [Protocol] {
        use Protocol::*;
        match self {
            ServiceType::Lab => &[HttpsJson, Hl7v2Mllp, Hl7v2Http],
            ServiceType::Pharmacy | ServiceType::Clearinghouse | ServiceType::RecordsExchange => {
                &[HttpsJson]
            }
            ServiceType::DataStorage => &[LocalPath, S3],
        }
    }
}

// One type for what is stored, what the API answers and what it takes.
/// Identifiers a service knows Switchboard and itself by (each optional).
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    async_graphql::SimpleObject,
    async_graphql::InputObject,
)]
#[serde(rename_all = "camelCase")]
#[graphql(name = "ServiceIdentifiers", input_name = "ServiceIdentifiersInput")]
pub struct Identifiers {
    /// HL7 MSH-3 (a test message sends SWITCHBOARD when it is not set).
    pub sending_application: Option<String>,
    /// HL7 MSH-4.
    pub sending_facility: Option<String>,
    /// HL7 MSH-5.
    pub receiving_application: Option<String>,
    /// HL7 MSH-6.
    pub receiving_facility: Option<String>,
    /// A clearinghouse's submitter id.
    pub submitter_id: Option<String>,
    /// The assigning authority (MRN root) of patients' ids at this service.
    pub assigning_authority: Option<String>,
}

impl Identifiers {
    fn check(&self) -> Result<(), (String, String)> {
        let fields = [
            ("sendingApplication", &self.sending_application),
            ("sendingFacility", &self.sending_facility),
            ("receivingApplication", &self.receiving_application),
            ("receivingFacility", &self.receiving_facility),
            ("submitterId", &self.submitter_id),
            ("assigningAuthority", &self.assigning_authority),
        ];
        for (name, value) in fields {
            let Some(v) = value else { continue };
            if v.is_empty() || v.chars().count() > MAX_NAME {
                return Err((name.into(), format!("1 to {MAX_NAME} characters")));
            }
            // HL7 v2's delimiters and line breaks would break the messages they go into.
            if v.chars()
                .any(|c| "|^~\\&\r\n".contains(c) || c.is_control())
            {
                return Err((
                    name.into(),
                    "must not contain | ^ ~ \\ & or control characters".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Where a connection reaches its service, parsed for its protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// An HTTP(S) base URL (`HTTPS_JSON`, `HL7V2_HTTP`).
    Url(url::Url),
    /// A TCP host and port, with or without TLS (`HL7V2_MLLP`).
    Tcp { host: String, port: u16, tls: bool },
    /// A directory on this server (`LOCAL_PATH`).
    Directory(std::path::PathBuf),
    /// A bucket of an S3-compatible store (`S3`): the store's base URL, the bucket, the prefix
    /// objects go under (empty, or ending in `/`), and the region requests are signed for.
    Bucket {
        url: url::Url,
        bucket: String,
        prefix: String,
        region: String,
    },
}

impl Endpoint {
    /// The host connected to, if the endpoint is on the network.
    pub fn host(&self) -> Option<&str> {
        match self {
            Endpoint::Url(u) | Endpoint::Bucket { url: u, .. } => u.host_str(),
            Endpoint::Tcp { host, .. } => Some(host),
            Endpoint::Directory(_) => None,
        }
    }
}

/// The address as an administrator writes it, parsed for `protocol` in `env`: a base URL
/// (`https`, or `http` in sandbox), `mllp://host:port` or `mllps://host:port` (TLS), or an
/// absolute directory.
pub fn parse_endpoint(raw: &str, protocol: Protocol, env: Environment) -> Result<Endpoint, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2000 {
        return Err("1 to 2000 characters".into());
    }
    match protocol {
        Protocol::HttpsJson | Protocol::Hl7v2Http => {
            let url = url::Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
            match (url.scheme(), env) {
                ("https", _) | ("http", Environment::Sandbox) => {}
                ("http", Environment::Production) => {
                    return Err("a production connection must use https".into());
                }
                (other, _) => return Err(format!("scheme `{other}` is not allowed; use https")),
            }
            if url.host().is_none() {
                return Err("has no host".into());
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(
                    "must not contain a user name or password (set them as credentials)".into(),
                );
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err("must not contain a query or a fragment".into());
            }
            Ok(Endpoint::Url(url))
        }
        Protocol::Hl7v2Mllp => {
            let url = url::Url::parse(raw)
                .map_err(|_| "write it as mllp://host:port, or mllps://host:port for TLS")?;
            let tls = match (url.scheme(), env) {
                ("mllps", _) => true,
                ("mllp", Environment::Sandbox) => false,
                ("mllp", Environment::Production) => {
                    return Err("a production connection must use TLS (mllps://)".into());
                }
                _ => {
                    return Err("write it as mllp://host:port, or mllps://host:port for TLS".into());
                }
            };
            let host = url.host_str().ok_or("has no host")?.to_owned();
            let port = url.port().ok_or("name the port (mllp://host:port)")?;
            if url.path() != "" && url.path() != "/" {
                return Err("an MLLP address has no path".into());
            }
            Ok(Endpoint::Tcp { host, port, tls })
        }
        Protocol::S3 => parse_bucket(raw, env),
        Protocol::LocalPath => {
            let path = std::path::PathBuf::from(raw);
            if !path.is_absolute() {
                return Err("an absolute directory path".into());
            }
            if path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err("must not contain `..`".into());
            }
            Ok(Endpoint::Directory(path))
        }
    }
}

/// The region requests are signed for when the address names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// `https://endpoint[:port]/bucket[/prefix…][?region=…]` (plain `http` in sandbox): path-style,
/// which every S3-compatible store takes.
fn parse_bucket(raw: &str, env: Environment) -> Result<Endpoint, String> {
    const FORM: &str = "write it as https://endpoint/bucket or https://endpoint/bucket/prefix (?region=… if not us-east-1)";
    let url = url::Url::parse(raw).map_err(|_| FORM.to_owned())?;
    match (url.scheme(), env) {
        ("https", _) | ("http", Environment::Sandbox) => {}
        ("http", Environment::Production) => {
            return Err("a production connection must use https".into());
        }
        _ => return Err(FORM.into()),
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err("needs a host, and no user name or password (set them as credentials)".into());
    }
    if url.fragment().is_some() {
        return Err(FORM.into());
    }
    let mut region = DEFAULT_REGION.to_owned();
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "region"
                if !v.is_empty()
                    && v.len() <= 64
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                region = v.into_owned();
            }
            _ => {
                return Err(format!(
                    "`{k}={v}`: only ?region=… (letters, digits, -) is taken"
                ));
            }
        }
    }
    let mut segments = url
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty());
    let bucket = segments.next().ok_or(FORM)?.to_owned();
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !valid_bucket {
        return Err(format!(
            "`{bucket}` is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
        ));
    }
    let rest: Vec<&str> = segments.collect();
    if rest
        .iter()
        .any(|s| *s == ".." || *s == "." || s.contains('%'))
    {
        return Err("the prefix must not contain `.`, `..` or escapes".into());
    }
    let prefix = if rest.is_empty() {
        String::new()
    } else {
        format!("{}/", rest.join("/"))
    };
    let mut base = url.clone();
    base.set_path("/");
    base.set_query(None);
    Ok(Endpoint::Bucket {
        url: base,
        bucket,
        prefix,
        region,
    })
}

/// The secret parts of a connection's authentication. Never printed; kept sealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Credentials {
    None,
    ApiKey {
        header: String,
        key: String,
    },
    Basic {
        username: String,
        password: String,
    },
    #[serde(rename_all = "camelCase")]
    ClientCertificate {
        certificate_pem: String,
        private_key_pem: String,
    },
    #[serde(rename_all = "camelCase")]
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    AccessKey {
        access_key_id: String,
        secret_access_key: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("Credentials::None"),
            Credentials::ApiKey { header, .. } => {
                write!(
                    f,
                    "Credentials::ApiKey {{ header: {header:?}, key: <redacted> }}"
                )
            }
            Credentials::Basic { username, .. } => write!(
                f,
                "Credentials::Basic {{ username: {username:?}, password: <redacted> }}"
            ),
            Credentials::ClientCertificate { .. } => f.write_str(
                "Credentials::ClientCertificate { certificate: <pem>, private_key: <redacted> }",
            ),
            Credentials::OAuth2 {
                token_url,
                client_id,
                scope,
                ..
            } => write!(
                f,
                "Credentials::OAuth2 {{ token_url: {token_url:?}, client_id: {client_id:?}, scope: {scope:?}, client_secret: <redacted> }}"
            ),
            Credentials::AccessKey { access_key_id, .. } => write!(
                f,
                "Credentials::AccessKey {{ access_key_id: {access_key_id:?}, secret_access_key: <redacted> }}"
            ),
        }
    }
}

impl Credentials {
    pub fn kind(&self) -> AuthKind {
        match self {
            Credentials::None => AuthKind::None,
            Credentials::ApiKey { .. } => AuthKind::ApiKey,
            Credentials::Basic { .. } => AuthKind::Basic,
            Credentials::OAuth2 { .. } => AuthKind::Oauth2ClientCredentials,
            Credentials::ClientCertificate { .. } => AuthKind::ClientCertificate,
            Credentials::AccessKey { .. } => AuthKind::AccessKey,
        }
    }

    /// Whether these credentials go with `protocol`: an access key only with S3, which takes
    /// an access key or none.
    pub fn fits(&self, protocol: Protocol) -> Result<(), String> {
        match (self, protocol) {
            (Credentials::AccessKey { .. } | Credentials::None, Protocol::S3) => Ok(()),
            (_, Protocol::S3) => {
                Err("an S3 connection takes an access key (ACCESS_KEY) or none".into())
            }
            (Credentials::AccessKey { .. }, _) => Err("an access key is for S3 connections".into()),
            _ => Ok(()),
        }
    }

    /// Checks the parts: a header name HTTP accepts (and not one Switchboard sets itself),
    /// secrets of a sane length without line breaks, a token endpoint that is `https` (`http`
    /// in sandbox). The error names the field.
    pub fn check(&self, env: Environment) -> Result<(), (String, String)> {
        let secret = |field: &str, v: &str| {
            if v.is_empty() || v.len() > MAX_SECRET {
                return Err((field.to_owned(), format!("1 to {MAX_SECRET} bytes")));
            }
            if v.chars().any(char::is_control) {
                return Err((
                    field.to_owned(),
                    "must not contain control characters".to_owned(),
                ));
            }
            Ok(())
        };
        match self {
            Credentials::None => Ok(()),
            Credentials::ApiKey { header, key } => {
                let valid = !header.is_empty()
                    && header.len() <= MAX_NAME
                    && header
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
                if !valid {
                    return Err((
                        "apiKeyHeader".into(),
                        "a header name: letters, digits, - and _".into(),
                    ));
                }
                let reserved = ["host", "content-length", "content-type", "connection"];
                if reserved.contains(&header.to_ascii_lowercase().as_str()) {
                    return Err((
                        "apiKeyHeader".into(),
                        format!("`{header}` is set by Switchboard itself"),
                    ));
                }
                secret("apiKey", key)
            }
            Credentials::Basic { username, password } => {
                if username.is_empty()
                    || username.chars().count() > MAX_NAME
                    || username.contains(':')
                {
                    return Err((
                        "username".into(),
                        format!("1 to {MAX_NAME} characters, without `:`"),
                    ));
                }
                secret("username", username)?;
                secret("password", password)
            }
            Credentials::ClientCertificate {
                certificate_pem,
                private_key_pem,
            } => {
                if certificate_pem.len() > MAX_PEM
                    || !certificate_pem.contains("-----BEGIN CERTIFICATE-----")
                {
                    return Err((
                        "certificate".into(),
                        "a PEM certificate (-----BEGIN CERTIFICATE-----), with its chain".into(),
                    ));
                }
                if private_key_pem.len() > MAX_PEM || !private_key_pem.contains("PRIVATE KEY-----")
                {
                    return Err((
                        "privateKey".into(),
                        "a PEM private key (-----BEGIN PRIVATE KEY-----)".into(),
                    ));
                }
                Ok(())
            }
            Credentials::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                token_endpoint(token_url, env).map_err(|e| ("tokenUrl".to_owned(), e))?;
                secret("clientId", client_id)?;
                secret("clientSecret", client_secret)?;
                if let Some(scope) = scope {
                    secret("scope", scope)?;
                }
                Ok(())
            }
            Credentials::AccessKey {
                access_key_id,
                secret_access_key,
            } => {
                secret("accessKeyId", access_key_id)?;
                secret("secretAccessKey", secret_access_key)
            }
        }
    }

    /// The header that carries the credentials on an HTTP request, if any (an OAuth token is
    /// fetched first: `integrations::token`).
    pub fn http_header(&self) -> Option<(String, String)> {
        use base64::Engine;
        match self {
            Credentials::None => None,
            Credentials::ApiKey { header, key } => Some((header.clone(), key.clone())),
            Credentials::Basic { username, password } => Some((
                "authorization".into(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ),
            )),
            Credentials::OAuth2 { .. }
            | Credentials::ClientCertificate { .. }
            | Credentials::AccessKey { .. } => None,
        }
    }

    /// The client certificate and key (PEM) to present in the TLS handshake, if any.
    pub fn client_identity(&self) -> Option<(&str, &str)> {
        match self {
            Credentials::ClientCertificate {
                certificate_pem,
                private_key_pem,
            } => Some((certificate_pem, private_key_pem)),
            _ => None,
        }
    }
}

/// A token endpoint's URL: `https` (`http` in sandbox), without credentials or a fragment.
pub fn token_endpoint(raw: &str, env: Environment) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL ({e})"))?;
    match (url.scheme(), env) {
        ("https", _) | ("http", Environment::Sandbox) => {}
        _ => return Err("must use https".into()),
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err("needs a host and no user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    Ok(url)
}

/// Everything a connection is configured with, parsed and checked together.
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    pub name: String,
    pub description: String,
    pub service_type: ServiceType,
    pub protocol: Protocol,
    pub endpoint: Endpoint,
    /// For HTTP protocols: the path of the harmless request Test Connection makes (a health
    /// or metadata resource), relative to the base URL.
    pub health_path: String,
    pub identifiers: Identifiers,
    pub environment: Environment,
    pub enabled: bool,
    pub timeout_ms: u32,
    /// Certificate authorities (PEM) trusted for this service instead of the system's: a
    /// private CA.
    pub ca_pem: Option<String>,
    /// The service's production test address (same form as `endpoint`): where requests go
    /// in validation mode, to be checked but not processed.
    pub validation_endpoint: Option<url::Url>,
    /// Requests go to `validation_endpoint` (production connections only).
    pub validation_mode: bool,
    /// The client a LAB connection's results belong to (of the connection's environment;
    /// checked against the clients when saved).
    pub client_id: Option<uuid::Uuid>,
}

/// What an administrator submits, before it is checked.
#[derive(Clone, Debug)]
pub struct ConnectionForm {
    pub name: String,
    pub description: String,
    pub service_type: ServiceType,
    pub protocol: Protocol,
    pub address: String,
    pub health_path: Option<String>,
    pub identifiers: Identifiers,
    pub enabled: bool,
    pub timeout_ms: Option<u32>,
    pub ca_pem: Option<String>,
    pub validation_address: Option<String>,
    pub validation_mode: bool,
    pub client_id: Option<uuid::Uuid>,
}

/// The default harmless request.
pub const DEFAULT_HEALTH_PATH: &str = "health";
/// The default timeout of each step.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

impl ConnectionForm {
    /// Checks the form for `env`; an error names the input field.
    pub fn parse(self, env: Environment) -> Result<ConnectionSettings, (String, String)> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(("name".into(), format!("1 to {MAX_NAME} characters")));
        }
        if self.description.chars().count() > MAX_DESCRIPTION {
            return Err((
                "description".into(),
                format!("at most {MAX_DESCRIPTION} characters"),
            ));
        }
        if !self.service_type.protocols().contains(&self.protocol) {
            let allowed: Vec<&str> = self
                .service_type
                .protocols()
                .iter()
                .map(|p| p.as_str())
                .collect();
            return Err((
                "protocol".into(),
                format!(
                    "a {} connection uses {}",
                    self.service_type.as_str(),
                    allowed.join(" or ")
                ),
            ));
        }
        let endpoint = parse_endpoint(&self.address, self.protocol, env)
            .map_err(|e| ("address".to_owned(), e))?;
        let health_path = self
            .health_path
            .unwrap_or_else(|| DEFAULT_HEALTH_PATH.into())
            .trim()
            .trim_start_matches('/')
            .to_owned();
        if health_path.len() > 500
            || health_path.contains("..")
            || health_path.contains('#')
            || health_path.chars().any(|c| c.is_control() || c == ' ')
        {
            return Err((
                "healthPath".into(),
                "a relative path (up to 500 characters) without `..`, spaces or `#`".into(),
            ));
        }
        self.identifiers
            .check()
            .map_err(|(f, m)| (format!("identifiers.{f}"), m))?;
        let timeout_ms = self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            return Err((
                "timeoutMs".into(),
                format!("between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
            ));
        }
        let ca_pem = self
            .ca_pem
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        if let Some(pem) = &ca_pem {
            if pem.len() > MAX_PEM || !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err((
                    "caCertificates".into(),
                    format!(
                        "PEM certificates (-----BEGIN CERTIFICATE-----), up to {MAX_PEM} bytes"
                    ),
                ));
            }
            if matches!(
                endpoint,
                Endpoint::Directory(_) | Endpoint::Tcp { tls: false, .. }
            ) || matches!(&endpoint, Endpoint::Url(u) if u.scheme() != "https")
            {
                return Err((
                    "caCertificates".into(),
                    "only a connection that uses TLS has certificate authorities".into(),
                ));
            }
        }
        let validation_endpoint = match self
            .validation_address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            None => None,
            Some(raw) => {
                if !matches!(self.protocol, Protocol::HttpsJson | Protocol::Hl7v2Http) {
                    return Err((
                        "validationAddress".into(),
                        "only an HTTP connection has a test address".into(),
                    ));
                }
                match parse_endpoint(raw, self.protocol, env) {
                    Ok(Endpoint::Url(url)) => Some(url),
                    Ok(_) => None,
                    Err(e) => return Err(("validationAddress".into(), e)),
                }
            }
        };
        if self.validation_mode {
            if env != Environment::Production {
                return Err((
                    "validationMode".into(),
                    "only a production connection has a validation mode (a sandbox connection is all tests)".into(),
                ));
            }
            if validation_endpoint.is_none() {
                return Err((
                    "validationMode".into(),
                    "set the service's production test address (validationAddress) first".into(),
                ));
            }
        }
        Ok(ConnectionSettings {
            name,
            description: self.description.trim().to_owned(),
            service_type: self.service_type,
            protocol: self.protocol,
            endpoint,
            health_path,
            identifiers: self.identifiers,
            environment: env,
            enabled: self.enabled,
            timeout_ms,
            ca_pem,
            validation_endpoint,
            validation_mode: self.validation_mode,
            client_id: self.client_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(protocol: Protocol, address: &str) -> ConnectionForm {
        ConnectionForm {
            name: "Acme LIS".into(),
            description: String::new(),
            service_type: ServiceType::Lab,
            protocol,
            address: address.into(),
            health_path: None,
            identifiers: Identifiers::default(),
            enabled: true,
            timeout_ms: None,
            ca_pem: None,
            validation_address: None,
            validation_mode: false,
            client_id: None,
        }
    }

    #[test]
    fn validation_mode_is_for_production_connections_with_a_test_address() {
        let mut f = form(Protocol::HttpsJson, "https://records.example.com/");
        f.validation_mode = true;
        assert_eq!(
            f.clone().parse(Environment::Production).unwrap_err().0,
            "validationMode"
        );
        f.validation_address = Some("https://test.records.example.com/".into());
        let s = f.clone().parse(Environment::Production).unwrap();
        assert!(s.validation_mode && s.validation_endpoint.is_some());
        assert_eq!(
            f.clone().parse(Environment::Sandbox).unwrap_err().0,
            "validationMode"
        );
        f.validation_mode = false;
        f.validation_address = Some("http://test.records.example.com/".into());
        assert_eq!(
            f.parse(Environment::Production).unwrap_err().0,
            "validationAddress"
        );
    }

    #[test]
    fn addresses_are_parsed_for_their_protocol_and_environment() {
        use Environment::*;
        let ok = |p, a, e| form(p, a).parse(e).map(|s| s.endpoint);
        assert!(matches!(
            ok(Protocol::HttpsJson, "https://lis.example/api/", Production),
            Ok(Endpoint::Url(_))
        ));
        assert!(ok(Protocol::HttpsJson, "http://lis.example/", Production).is_err());
        assert!(ok(Protocol::HttpsJson, "http://lis.example/", Sandbox).is_ok());
        assert!(ok(Protocol::HttpsJson, "https://u:p@lis.example/", Sandbox).is_err());
        assert!(ok(Protocol::HttpsJson, "ftp://lis.example/", Sandbox).is_err());
        assert_eq!(
            ok(Protocol::Hl7v2Mllp, "mllps://lis.example:2575", Production),
            Ok(Endpoint::Tcp {
                host: "lis.example".into(),
                port: 2575,
                tls: true
            })
        );
        assert!(ok(Protocol::Hl7v2Mllp, "mllp://lis.example:2575", Production).is_err());
        assert!(ok(Protocol::Hl7v2Mllp, "mllp://lis.example", Sandbox).is_err());
        assert!(ok(Protocol::Hl7v2Mllp, "lis.example:2575", Sandbox).is_err());
        // Storage only on storage connections.
        let err = form(Protocol::LocalPath, "/var/archive").parse(Sandbox);
        assert_eq!(err.unwrap_err().0, "protocol");
    }

    #[test]
    fn s3_addresses_name_a_bucket_a_prefix_and_a_region() {
        let parse = |raw: &str, env| parse_endpoint(raw, Protocol::S3, env);
        let Ok(Endpoint::Bucket {
            url,
            bucket,
            prefix,
            region,
        }) = parse(
            "https://s3.example.com/archive/clinic/daily?region=eu-west-1",
            Environment::Production,
        )
        else {
            panic!("not parsed");
        };
        assert_eq!(
            (
                url.as_str(),
                bucket.as_str(),
                prefix.as_str(),
                region.as_str()
            ),
            (
                "https://s3.example.com/",
                "archive",
                "clinic/daily/",
                "eu-west-1"
            )
        );
        let Ok(Endpoint::Bucket { prefix, region, .. }) =
            parse("http://127.0.0.1:9000/archive", Environment::Sandbox)
        else {
            panic!("not parsed");
        };
        assert_eq!((prefix.as_str(), region.as_str()), ("", DEFAULT_REGION));
        for (raw, env) in [
            ("http://s3.example.com/archive", Environment::Production),
            ("https://s3.example.com/", Environment::Sandbox),
            ("https://s3.example.com/Archive", Environment::Sandbox),
            ("https://s3.example.com/ab", Environment::Sandbox),
            ("https://s3.example.com/archive/../x", Environment::Sandbox),
            ("https://s3.example.com/archive?acl=1", Environment::Sandbox),
            ("https://k:s@s3.example.com/archive", Environment::Sandbox),
            ("ftp://s3.example.com/archive", Environment::Sandbox),
        ] {
            assert!(parse(raw, env).is_err(), "{raw}");
        }
    }

    #[test]
    fn identifiers_that_would_break_an_hl7_message_are_refused() {
        let mut f = form(Protocol::Hl7v2Mllp, "mllp://lis.example:2575");
        f.identifiers.sending_facility = Some("CLINIC|EVIL".into());
        assert_eq!(
            f.parse(Environment::Sandbox).unwrap_err().0,
            "identifiers.sendingFacility"
        );
    }

    #[test]
    fn credentials_never_print_their_secrets() {
        let c = Credentials::Basic {
            username: "lab".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let k = Credentials::ApiKey {
            header: "X-Api-Key".into(),
            key: "sk_live_123".into(),
        };
        assert!(!format!("{k:?}").contains("sk_live_123"));
        assert!(k.check(Environment::Production).is_ok());
        let a = Credentials::AccessKey {
            access_key_id: "AKIA1".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
        };
        assert!(!format!("{a:?}").contains("wJalrXUtnFEMI"));
        let bad = Credentials::ApiKey {
            header: "Host".into(),
            key: "x".into(),
        };
        assert_eq!(
            bad.check(Environment::Production).unwrap_err().0,
            "apiKeyHeader"
        );
        let o = Credentials::OAuth2 {
            token_url: "http://idp.example/token".into(),
            client_id: "switchboard".into(),
            client_secret: "cs_9f2".into(),
            scope: None,
        };
        assert!(!format!("{o:?}").contains("cs_9f2"));
        assert_eq!(o.check(Environment::Production).unwrap_err().0, "tokenUrl");
        assert!(o.check(Environment::Sandbox).is_ok());
    }
}
