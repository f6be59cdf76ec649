//! Who the client is, by IP address, for limits per client (signups).
//!
//! The client is the connection's peer, unless that peer is one of `TRUSTED_PROXIES`: then it
//! is the address `X-Forwarded-For` names, read from the right (the nearest hop) past every
//! trusted proxy. From anyone else the header is ignored, so a client cannot choose its own
//! address by sending it. At most [`MAX_FORWARDED_HOPS`] entries are read, however long the
//! header. IPv6 clients are limited per /64 (one subscriber's usual allocation), so a client
//! cannot walk through its own addresses to escape a limit.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Most `X-Forwarded-For` entries looked at, from the right.
pub const MAX_FORWARDED_HOPS: usize = 16;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `TRUSTED_PROXIES` entries: IP addresses or CIDRs.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for entry in entries.iter().map(|entry| entry.trim()).filter(|entry| !entry.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => entry.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!("TRUSTED_PROXIES has `{entry}`: give IP addresses or CIDRs, e.g. 10.0.0.0/8,192.0.2.7")
                })?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The client's address (see the module documentation).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|value| value.to_str().unwrap_or_default().rsplit(','))
        .take(MAX_FORWARDED_HOPS);
    for hop in hops {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage from a hop we cannot vouch for: the last good address stands.
            break;
        };
        client = canonical(ip);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// The key a per-client limit counts under: the IPv4 address, or the IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIpKey(IpAddr);

pub fn limit_key(ip: IpAddr) -> ClientIpKey {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            ClientIpKey(IpAddr::V6(Ipv6Addr::new(segments[0], segments[1], segments[2], segments[3], 0, 0, 0, 0)))
        }
        v4 => ClientIpKey(v4),
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        assert_eq!(client_ip(ip("203.0.113.9"), &headers(&["1.2.3.4"]), &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.7".into()]).unwrap();
        // The client forged the first entry; the proxies appended the rest.
        let forwarded = headers(&["6.6.6.6, 198.51.100.20", "192.0.2.7"]);
        assert_eq!(client_ip(ip("10.1.2.3"), &forwarded, &trusted), ip("198.51.100.20"));
        assert_eq!(client_ip(ip("10.1.2.3"), &HeaderMap::new(), &trusted), ip("10.1.2.3"));
    }

    #[test]
    fn a_long_or_garbled_forwarded_header_is_read_only_so_far() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let long = vec!["10.0.0.1"; 10_000].join(",");
        assert_eq!(client_ip(ip("10.0.0.2"), &headers(&[&long]), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.2"), &headers(&["nonsense"]), &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_clients_share_a_limit_per_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), limit_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), limit_key(ip("192.0.2.1")));
    }

    #[test]
    fn a_bad_trusted_proxy_entry_is_named() {
        let error = TrustedProxies::parse(&["10.0.0.0/8".into(), "proxy.local".into()]).unwrap_err();
        assert!(error.contains("`proxy.local`"), "{error}");
    }
}
