//! The proximity check against relayed logins: is the phone that approves on the same
//! network as the browser that shows the QR code? An attacker who relays a login page's
//! QR code to a victim is, as a rule, somewhere else than the victim's phone.
//!
//! The verdict compares two addresses by prefix (docs/security.md, "Proximity"):
//! - an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is its IPv4 address;
//! - IPv4 with IPv4: the same /24 is the same network;
//! - IPv6 with IPv6: the same /64 (one link's prefix) is the same network;
//! - addresses from different spaces cannot be compared and give `unknown`: IPv4 with
//!   IPv6 (a dual-stack home reaches one service over either), and a public address with
//!   a private, loopback, link-local, carrier-grade NAT or unique-local one (a network
//!   behind NAT reaches the server from its public address);
//! - a side with no address gives `unknown`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proximity {
    SameNetwork,
    DifferentNetwork,
    Unknown,
}

impl Proximity {
    pub fn as_str(self) -> &'static str {
        match self {
            Proximity::SameNetwork => "same_network",
            Proximity::DifferentNetwork => "different_network",
            Proximity::Unknown => "unknown",
        }
    }
}

/// Where an address is, coarsely, from the GeoIP database the operator gave the server
/// (none by default; docs/security.md, "Proximity"): shown on the phone beside the verdict,
/// so a user in Berlin sees that the login they approve is for a browser in Lagos. Never
/// finer than a city, and each part is left out when the database does not know it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The country's English name, e.g. `Germany`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    /// The largest subdivision's English name (a state or province), e.g. `Berlin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The city's English name, e.g. `Berlin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

impl Location {
    /// "City, Region, Country" from what is known, for a person to read; `None` when
    /// nothing is.
    pub fn label(&self) -> Option<String> {
        let country = self.country_name.as_ref().or(self.country.as_ref());
        let mut parts: Vec<&str> = Vec::new();
        for p in [self.city.as_ref(), self.region.as_ref(), country]
            .into_iter()
            .flatten()
        {
            if parts.last() != Some(&p.as_str()) {
                parts.push(p);
            }
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// An address that is only meaningful inside one network.
fn local_v4(a: Ipv4Addr) -> bool {
    let [x, y, ..] = a.octets();
    a.is_private() || a.is_loopback() || a.is_link_local() || (x == 100 && (64..128).contains(&y))
}

fn local_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    a.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
}

/// Whether an address is one no one outside its own network sees (private, loopback,
/// link-local, carrier-grade NAT, unique-local, unspecified, broadcast): not comparable
/// with a public one, and in no GeoIP database.
pub fn is_local(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => local_v4(a) || a.is_unspecified() || a.is_broadcast(),
        IpAddr::V6(a) => local_v6(a) || a.is_unspecified(),
    }
}

fn parse(ip: Option<&str>) -> Option<IpAddr> {
    Some(ip?.trim().parse::<IpAddr>().ok()?.to_canonical())
}

/// The network of a textual address, as the verdict compares them: `a.b.c.0/24` for IPv4
/// (mapped IPv4 included), the /64 for IPv6; `None` for no address.
pub fn network_of(ip: &str) -> Option<String> {
    Some(match parse(Some(ip))? {
        IpAddr::V4(a) => {
            let [x, y, z, _] = a.octets();
            format!("{x}.{y}.{z}.0/24")
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    })
}

/// The verdict for a browser at `browser` and a phone at `phone` (textual addresses).
pub fn verdict(browser: Option<&str>, phone: Option<&str>) -> Proximity {
    let (Some(b), Some(p)) = (parse(browser), parse(phone)) else {
        return Proximity::Unknown;
    };
    let same = match (b, p) {
        (IpAddr::V4(b), IpAddr::V4(p)) => {
            if local_v4(b) != local_v4(p) {
                return Proximity::Unknown;
            }
            b.octets()[..3] == p.octets()[..3]
        }
        (IpAddr::V6(b), IpAddr::V6(p)) => {
            if local_v6(b) != local_v6(p) {
                return Proximity::Unknown;
            }
            b.segments()[..4] == p.segments()[..4]
        }
        _ => return Proximity::Unknown,
    };
    if same {
        Proximity::SameNetwork
    } else {
        Proximity::DifferentNetwork
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Proximity::*;

    fn v(b: &str, p: &str) -> Proximity {
        verdict(Some(b), Some(p))
    }

    #[test]
    fn ipv4_by_24() {
        assert_eq!(v("203.0.113.7", "203.0.113.7"), SameNetwork);
        assert_eq!(v("203.0.113.7", "203.0.113.200"), SameNetwork);
        assert_eq!(v("203.0.113.7", "203.0.114.7"), DifferentNetwork);
        assert_eq!(v("203.0.113.7", "198.51.100.7"), DifferentNetwork);
        // Two private addresses: one LAN or not.
        assert_eq!(v("192.168.1.10", "192.168.1.20"), SameNetwork);
        assert_eq!(v("10.0.0.1", "10.0.9.1"), DifferentNetwork);
        assert_eq!(v("127.0.0.1", "127.0.0.1"), SameNetwork);
    }

    #[test]
    fn ipv6_by_64() {
        assert_eq!(
            v("2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::2"),
            SameNetwork
        );
        assert_eq!(v("2001:db8:1:2::1", "2001:db8:1:3::1"), DifferentNetwork);
        assert_eq!(v("2001:db8:1:2::1", "2a00:1450::1"), DifferentNetwork);
        assert_eq!(v("::1", "::1"), SameNetwork);
    }

    #[test]
    fn mapped_addresses_are_their_ipv4() {
        assert_eq!(v("::ffff:203.0.113.7", "203.0.113.9"), SameNetwork);
        assert_eq!(v("203.0.113.7", "::ffff:198.51.100.1"), DifferentNetwork);
        assert_eq!(v("::ffff:cb00:7107", "203.0.113.1"), SameNetwork);
    }

    #[test]
    fn incomparable_or_missing_is_unknown() {
        // IPv4 against IPv6: a dual-stack network reaches the server over either.
        assert_eq!(v("203.0.113.7", "2001:db8::1"), Unknown);
        // Private or special against public: a NATed network shows its public address.
        assert_eq!(v("192.168.1.10", "203.0.113.7"), Unknown);
        assert_eq!(v("100.64.3.4", "203.0.113.7"), Unknown);
        assert_eq!(v("169.254.0.1", "203.0.113.7"), Unknown);
        assert_eq!(v("fd00::1", "2001:db8::1"), Unknown);
        assert_eq!(v("fe80::1", "2001:db8::1"), Unknown);
        assert_eq!(verdict(None, Some("203.0.113.7")), Unknown);
        assert_eq!(verdict(Some("203.0.113.7"), None), Unknown);
        assert_eq!(verdict(Some(""), Some("203.0.113.7")), Unknown);
        assert_eq!(v("not an address", "203.0.113.7"), Unknown);
    }

    #[test]
    fn local_addresses_are_told_from_public_ones() {
        let local = |s: &str| is_local(s.parse().unwrap());
        for a in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(local(a), "{a}");
        }
        for a in [
            "203.0.113.7",
            "100.128.0.1",
            "2001:db8::1",
            "::ffff:203.0.113.7",
        ] {
            assert!(!local(a), "{a}");
        }
    }

    #[test]
    fn networks_are_the_verdicts_prefixes() {
        assert_eq!(network_of("203.0.113.7").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(
            network_of(" ::ffff:203.0.113.200 ").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            network_of("2001:db8:1:2:aaaa::1").as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(network_of("not an address"), None);
        assert_eq!(network_of(""), None);
    }

    #[test]
    fn a_location_reads_from_what_is_known() {
        let berlin = Location {
            country: Some("DE".into()),
            country_name: Some("Germany".into()),
            region: Some("Berlin".into()),
            city: Some("Berlin".into()),
        };
        assert_eq!(berlin.label().as_deref(), Some("Berlin, Germany"));
        let code_only = Location {
            country: Some("NL".into()),
            ..Location::default()
        };
        assert_eq!(code_only.label().as_deref(), Some("NL"));
        assert_eq!(Location::default().label(), None);
        assert_eq!(
            serde_json::to_value(&code_only).unwrap(),
            serde_json::json!({"country": "NL"})
        );
    }

    #[test]
    fn names_on_the_wire() {
        assert_eq!(
            serde_json::to_value(DifferentNetwork).unwrap(),
            "different_network"
        );
        assert_eq!(SameNetwork.as_str(), "same_network");
    }
}
