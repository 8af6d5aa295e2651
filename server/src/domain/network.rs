//! Where a request comes from, and the address lists and request rates credentials are held
//! to. No I/O: the limiter and the checks that use these are in `access::protection`.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::validate::Invalid;

/// Ranges in one allowed-address list at most: a list is a handful of offices and servers,
/// and every request of the credential walks it.
pub const ALLOWED_IPS_MAX: usize = 100;
/// The bounds of a rate an administrator may set.
pub const PER_MINUTE_MAX: u32 = 1_000_000;
pub const BURST_MAX: u32 = 100_000;

/// A request rate: `per_minute` sustained, with up to `burst` at once (GCRA: a credential
/// that has been quiet may send `burst` requests back to back, then one every
/// `60 / per_minute` seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

impl RateLimit {
    pub fn new(field: &str, per_minute: i64, burst: i64) -> Result<Self, Invalid> {
        let per_minute = u32::try_from(per_minute)
            .ok()
            .filter(|n| (1..=PER_MINUTE_MAX).contains(n))
            .ok_or_else(|| {
                Invalid::new(
                    format!("{field}.perMinute"),
                    format!("must be between 1 and {PER_MINUTE_MAX}"),
                )
            })?;
        let burst = u32::try_from(burst)
            .ok()
            .filter(|n| (1..=BURST_MAX).contains(n))
            .ok_or_else(|| {
                Invalid::new(
                    format!("{field}.burst"),
                    format!("must be between 1 and {BURST_MAX}"),
                )
            })?;
        Ok(RateLimit { per_minute, burst })
    }
}

/// What one credential (an API key, a partner app) is held to besides its grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// The addresses it may be used from; `None`: anywhere (the server-wide list still
    /// applies).
    pub allowed_ips: Option<Vec<IpNet>>,
    /// Its own rate; `None`: the server-wide default.
    pub rate: Option<RateLimit>,
}

impl Limits {
    /// As the columns keep it: the list as a JSON array, the rate as two numbers.
    pub fn to_columns(&self) -> (Option<String>, Option<i32>, Option<i32>) {
        let ips = self.allowed_ips.as_ref().map(|nets| {
            serde_json::to_string(&nets.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into())
        });
        let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        (
            ips,
            self.rate.map(|r| int(r.per_minute)),
            self.rate.map(|r| int(r.burst)),
        )
    }

    /// From the columns. A list that cannot be read admits nothing (it was written by this
    /// code, so it is not expected; failing closed is the safe way to be wrong).
    pub fn from_columns(ips: Option<&str>, per_minute: Option<i32>, burst: Option<i32>) -> Self {
        let allowed_ips = ips.map(|raw| {
            serde_json::from_str::<Vec<String>>(raw)
                .ok()
                .and_then(|list| parse_allowed_ips("allowedIps", &list).ok())
                .unwrap_or_default()
        });
        let rate = match (per_minute, burst) {
            (Some(p), Some(b)) => RateLimit::new("rateLimit", i64::from(p), i64::from(b)).ok(),
            _ => None,
        };
        Limits { allowed_ips, rate }
    }
}

/// Reads an allowed-address list: CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`) or single
/// addresses, IPv4 or IPv6. Each is kept in its canonical form (host bits cleared), so what
/// an administrator reads back is what is enforced.
pub fn parse_allowed_ips(field: &str, entries: &[String]) -> Result<Vec<IpNet>, Invalid> {
    if entries.len() > ALLOWED_IPS_MAX {
        return Err(Invalid::new(
            field,
            format!("at most {ALLOWED_IPS_MAX} ranges"),
        ));
    }
    let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let entry = entry.trim();
        let net = entry
            .parse::<IpNet>()
            .map(|net| net.trunc())
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                Invalid::new(
                    format!("{field}[{i}]"),
                    "must be an IPv4 or IPv6 address or CIDR range (e.g. 203.0.113.0/24)",
                )
            })?;
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok(nets)
}

/// Whether `ip` is in one of `nets`. An IPv4 address that arrives as IPv6 (`::ffff:a.b.c.d`,
/// from a dual-stack listener) is compared as the IPv4 address it is.
pub fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    nets.iter().any(|net| net.contains(&ip))
}

pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address. The direct peer is the client unless it is one of the `trusted`
/// proxies; then the forwarding headers are read from the right (each trusted proxy appended
/// the address it received from), and the first address that is not a trusted proxy is the
/// client. A forged entry further left is never reached, since an untrusted hop stops the
/// walk. `Forwarded` (RFC 7239) is read when present, otherwise `X-Forwarded-For`. An entry
/// that is not an address (`unknown`, an obfuscated name, garbage) stops the walk at the
/// proxy that wrote it: that proxy is the nearest address known.
pub fn client_ip(
    peer: IpAddr,
    forwarded: Option<&str>,
    x_forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> IpAddr {
    let mut client = canonical(peer);
    if !contains(trusted, client) {
        return client;
    }
    let hops: Vec<Option<IpAddr>> = match (forwarded, x_forwarded_for) {
        (Some(header), _) => forwarded_for(header),
        (None, Some(header)) => header.split(',').map(|h| parse_hop(h.trim())).collect(),
        (None, None) => return client,
    };
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) => {
                client = canonical(ip);
                if !contains(trusted, client) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// The `for=` parameters of a `Forwarded` header, in order; `None` for one that is not an
/// address.
fn forwarded_for(header: &str) -> Vec<Option<IpAddr>> {
    header
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_hop(value.trim().trim_matches('"')))
            })
        })
        .collect()
}

/// One hop: `203.0.113.5`, `203.0.113.5:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        parse_allowed_ips(
            "ips",
            &list.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lists_take_ranges_and_addresses_of_both_families_in_canonical_form() {
        let list = nets(&["10.1.2.3/8", "203.0.113.7", "2001:db8::5/32", " ::1 "]);
        let shown: Vec<String> = list.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            shown,
            ["10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32", "::1/128"]
        );
        assert!(contains(&list, ip("10.200.0.1")));
        assert!(contains(&list, ip("::ffff:10.9.9.9")), "IPv4-mapped IPv6");
        assert!(!contains(&list, ip("11.0.0.1")));
        assert!(contains(&list, ip("2001:db8:ffff::1")));
        assert!(!contains(&list, ip("2001:db9::1")));
    }

    #[test]
    fn bad_entries_are_named_by_position() {
        let err = parse_allowed_ips("input.allowedIps", &["10.0.0.0/8".into(), "nope".into()])
            .unwrap_err();
        assert_eq!(err.field, "input.allowedIps[1]");
        let err = parse_allowed_ips("x", &["10.0.0.0/33".into()]).unwrap_err();
        assert_eq!(err.field, "x[0]");
        let many: Vec<String> = (0..=ALLOWED_IPS_MAX)
            .map(|i| format!("10.0.{i}.1"))
            .collect();
        assert!(parse_allowed_ips("x", &many).is_err());
    }

    #[test]
    fn limits_survive_their_columns() {
        let limits = Limits {
            allowed_ips: Some(nets(&["10.0.0.0/8", "2001:db8::/32"])),
            rate: Some(RateLimit {
                per_minute: 120,
                burst: 5,
            }),
        };
        let (ips, p, b) = limits.to_columns();
        assert_eq!(Limits::from_columns(ips.as_deref(), p, b), limits);
        assert_eq!(Limits::from_columns(None, None, None), Limits::default());
        let broken = Limits::from_columns(Some("not json"), None, None);
        assert_eq!(broken.allowed_ips, Some(vec![]), "fails closed");
    }

    #[test]
    fn rates_are_bounded() {
        assert!(RateLimit::new("r", 60, 10).is_ok());
        assert_eq!(RateLimit::new("r", 0, 10).unwrap_err().field, "r.perMinute");
        assert_eq!(RateLimit::new("r", 60, -1).unwrap_err().field, "r.burst");
        assert!(RateLimit::new("r", i64::from(PER_MINUTE_MAX) + 1, 1).is_err());
    }

    #[test]
    fn forwarding_headers_count_only_behind_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8"]);
        // Straight from an untrusted peer: its headers are the client's own words.
        assert_eq!(
            client_ip(ip("198.51.100.9"), None, Some("1.2.3.4"), &trusted),
            ip("198.51.100.9")
        );
        // Behind one trusted proxy: the address it appended.
        assert_eq!(
            client_ip(ip("10.0.0.2"), None, Some("203.0.113.5"), &trusted),
            ip("203.0.113.5")
        );
        // A spoofed entry left of the real client is never reached.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                None,
                Some("1.2.3.4, 203.0.113.5, 10.0.0.3"),
                &trusted
            ),
            ip("203.0.113.5")
        );
        // Garbage where the client should be: the proxy is the nearest address known.
        assert_eq!(
            client_ip(ip("10.0.0.2"), None, Some("unknown"), &trusted),
            ip("10.0.0.2")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), None, None, &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_ipv6() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(
            client_ip(
                ip("fd00::1"),
                Some(r#"for=1.2.3.4, for="[2001:db8::7]:4711";proto=https, for=10.0.0.9:80"#),
                Some("9.9.9.9"),
                &trusted
            ),
            ip("2001:db8::7")
        );
        assert_eq!(
            client_ip(ip("10.1.1.1"), Some("For=203.0.113.5:443"), None, &trusted),
            ip("203.0.113.5")
        );
    }
}
