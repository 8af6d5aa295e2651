//! Webhook endpoints: which addresses may receive events, their signing secrets, and the
//! Standard Webhooks signature (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use ipnet::IpNet;
use sha2::Sha256;

use super::environment::Environment;

/// The longest endpoint URL accepted.
const MAX_URL: usize = 2000;

/// An endpoint's URL as registered: absolute, `https` (plain `http` only for sandbox
/// endpoints), without credentials or a fragment. Where it points is checked by
/// `AddressPolicy`, here for literal addresses and at every connection for names.
pub fn parse_url(raw: &str, env: Environment) -> Result<url::Url, String> {
    if raw.len() > MAX_URL {
        return Err(format!("longer than {MAX_URL} characters"));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL ({e})"))?;
    match (url.scheme(), env) {
        ("https", _) | ("http", Environment::Sandbox) => {}
        ("http", Environment::Production) => {
            return Err("a production endpoint must use https".into());
        }
        (other, _) => return Err(format!("scheme `{other}` is not allowed; use https")),
    }
    if url.host().is_none() {
        return Err("has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment (#…)".into());
    }
    Ok(url)
}

/// Which addresses outgoing connections (webhooks, external services) may reach. By default
/// none of the loopback, private, link-local, unique-local, shared, multicast or
/// cloud-metadata ranges: an endpoint is an address typed by a user, and the server must not
/// become a way into the clinic's own network. Configuration opens hosts by name (`hosts`) or
/// address ranges (`nets`); `named` says whose policy it is, for the refusals.
#[derive(Clone, Debug, Default)]
pub struct AddressPolicy {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
    /// What is refused ("webhooks") and the setting that opens addresses for it.
    reaching: &'static str,
    setting: &'static str,
}

impl AddressPolicy {
    /// From the configured allow-list: each entry a host name, an address or a CIDR range.
    pub fn new(allowed: &[String]) -> Result<Self, String> {
        let mut policy = AddressPolicy::default();
        for entry in allowed {
            let entry = entry.trim();
            if let Ok(net) = entry.parse::<IpNet>() {
                policy.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                policy.nets.push(IpNet::from(ip));
            } else if !entry.is_empty() && !entry.contains('/') {
                policy.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(format!("`{entry}` is not a host, address or CIDR range"));
            }
        }
        Ok(policy)
    }

    /// The policy of `reaching` (as refusals name it: "webhooks"), opened by `setting`.
    pub fn named(mut self, reaching: &'static str, setting: &'static str) -> Self {
        self.reaching = reaching;
        self.setting = setting;
        self
    }

    /// What a refusal of `ip` says.
    pub fn refusal(&self, ip: IpAddr) -> String {
        format!(
            "points to {ip}, a loopback, private, link-local or metadata address, which {} may not reach (unless allowed in {})",
            self.reaching, self.setting
        )
    }

    /// What it refuses, in words ("webhooks").
    pub fn reaching(&self) -> &'static str {
        self.reaching
    }

    /// Whether a connection to `host` (a URL's host, as written) may go to `ip`: the host is
    /// opened by name (then any address it resolves to may be reached), or the address is
    /// public or in an opened range. The one rule for registration, resolution and literal
    /// addresses alike.
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        self.opens_host(host) || self.allows(ip)
    }

    fn opens_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip) || self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// The address a URL names literally (`https://10.0.0.1/`), which is never resolved.
pub fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Addresses that are not the public internet.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, with 169.254.169.254 (cloud metadata)
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (100.100.100.200: metadata)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7 (fd00:ec2::254: metadata)
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one.
        || (ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            && internal_v4(Ipv4Addr::from_bits(ip.to_bits() as u32)))
        || (first == 0x2002
            && internal_v4(Ipv4Addr::from_bits((ip.to_bits() >> 80) as u32)))
}

/// A new signing secret: `whsec_` and 32 random bytes in base64 (the Standard Webhooks
/// form; the key is the decoded bytes). With the prefix shown in lists.
pub fn new_signing_secret() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    let secret = format!("whsec_{}", STANDARD.encode(bytes));
    let prefix = secret[..12].to_owned();
    (secret, prefix)
}

/// One signature (`v1,…`) of a message with `secret`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .expect("HMAC takes a key of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per active secret, space-separated.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    msg_id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    secrets
        .into_iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_in_production_and_carry_no_credentials() {
        assert!(parse_url("https://hooks.example.com/in", Environment::Production).is_ok());
        assert!(parse_url("http://hooks.example.com/in", Environment::Sandbox).is_ok());
        for (raw, env) in [
            ("http://hooks.example.com/in", Environment::Production),
            ("ftp://hooks.example.com/in", Environment::Sandbox),
            ("https://user:pw@hooks.example.com/", Environment::Sandbox),
            ("https://hooks.example.com/#x", Environment::Sandbox),
            ("/relative", Environment::Sandbox),
        ] {
            assert!(parse_url(raw, env).is_err(), "{raw} accepted");
        }
    }

    #[test]
    fn internal_addresses_are_refused_unless_opened() {
        let none = AddressPolicy::new(&[]).unwrap();
        for ip in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(!none.allows(ip.parse().unwrap()), "{ip} allowed");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(none.allows(ip.parse().unwrap()), "{ip} refused");
        }
        let opened = AddressPolicy::new(&["127.0.0.0/8".into(), "receiver.local".into()]).unwrap();
        assert!(opened.allows("127.0.0.1".parse().unwrap()));
        assert!(!opened.allows("10.0.0.1".parse().unwrap()));
        assert!(opened.opens_host("Receiver.Local"));
        assert!(AddressPolicy::new(&["not a/host".into()]).is_err());
    }

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's published example.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let both = signature_header(["whsec_AAAA", "whsec_BBBB"], "m", 1, "{}");
        assert_eq!(both.split(' ').count(), 2);
    }
}
