//! CIDR blocks for AppRole's source-address bindings: parse `10.0.0.0/8` or `::1/128` (a bare
//! address is a single-host block), and test membership. Nothing else.

use std::net::IpAddr;

use crate::api::ApiError;

/// A parsed CIDR block. Host bits are cleared at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(value: u128, prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let keep = u32::from(width - prefix);
        value >> keep << keep
    }
}

impl std::str::FromStr for Cidr {
    type Err = ApiError;

    fn from_str(text: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad(format!("invalid CIDR block {text:?}"));
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let (value, width) = bits(ip);
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None => width,
        };
        if prefix > width {
            return Err(bad());
        }
        let net = match ip {
            IpAddr::V4(_) => IpAddr::V4(
                u32::try_from(mask(value, prefix, width))
                    .map_err(|_| bad())?
                    .into(),
            ),
            IpAddr::V6(_) => IpAddr::V6(mask(value, prefix, width).into()),
        };
        Ok(Self { net, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (value, width) = bits(ip);
        let (net, net_width) = bits(self.net);
        width == net_width && mask(value, self.prefix, width) == net
    }

    /// Whether every address of `other` is in this block.
    pub fn covers(&self, other: &Self) -> bool {
        other.prefix >= self.prefix && self.contains(other.net)
    }
}

/// Parses a list of CIDR blocks, normalized.
pub fn parse_list(items: &[String]) -> Result<Vec<String>, ApiError> {
    items
        .iter()
        .map(|s| s.parse::<Cidr>().map(|c| c.to_string()))
        .collect()
}

/// Whether `ip` is in any of the (already validated) blocks.
pub fn any_contains(blocks: &[String], ip: IpAddr) -> bool {
    blocks
        .iter()
        .filter_map(|b| b.parse::<Cidr>().ok())
        .any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contain() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains("10.200.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let host: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(host.to_string(), "127.0.0.1/32");
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(c.covers(&"10.1.0.0/16".parse().unwrap()));
        assert!(!c.covers(&"0.0.0.0/0".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
