//! Choosing an egress network's subnet. Podman gives an internal network without DNS no
//! gateway address unless the subnet and gateway are named, so pocket-dock names them: a
//! free `/24` in [`POOL`], clear of every network the engine has and every route of the host.

use std::net::Ipv4Addr;

/// Where egress subnets come from: `10.213.0.0/16`.
pub const POOL: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 213, 0, 0), 16);

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Net {
    /// `10.89.0.0/24`; `None` for anything else (IPv6 included).
    pub fn parse(cidr: &str) -> Option<Net> {
        let (ip, prefix) = cidr.split_once('/')?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        Some(Net {
            base: Ipv4Addr::from(u32::from(ip) & mask(prefix)),
            prefix,
        })
    }

    fn overlaps(&self, other: &Net) -> bool {
        let shorter = self.prefix.min(other.prefix);
        (u32::from(self.base) & mask(shorter)) == (u32::from(other.base) & mask(shorter))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & mask(self.prefix)) == u32::from(self.base)
    }

    /// The first host address: the gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// A free `/24` of the pool, trying from `seed` on (a hash of the network's name, so that
/// two workspaces rarely race for the same one); `None` when all 256 are taken.
pub fn pick(used: &[Net], seed: u8) -> Option<Net> {
    let base = u32::from(POOL.0);
    (0..=255u8)
        .map(|i| Net {
            base: Ipv4Addr::from(base | (u32::from(seed.wrapping_add(i)) << 8)),
            prefix: 24,
        })
        .find(|candidate| !used.iter().any(|u| u.overlaps(candidate)))
}

/// The host's IPv4 routes (`/proc/net/route`): destination and mask, little-endian hex.
/// The default route (`0.0.0.0/0`) is left out: everything would overlap it.
pub fn host_routes(table: &str) -> Vec<Net> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let netmask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            // The kernel prints the raw (network-order) word as a native integer.
            let prefix = netmask.count_ones() as u8;
            (prefix > 0).then(|| Net {
                base: Ipv4Addr::from(destination.to_ne_bytes()),
                prefix,
            })
        })
        .map(|n| Net {
            base: Ipv4Addr::from(u32::from(n.base) & mask(n.prefix)),
            prefix: n.prefix,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_free_slot_from_the_seed_is_taken() {
        let used = [
            Net::parse("10.213.5.0/24").unwrap(),
            Net::parse("10.213.6.128/25").unwrap(),
        ];
        assert_eq!(pick(&used, 5).unwrap().to_string(), "10.213.7.0/24");
        assert_eq!(pick(&used, 4).unwrap().to_string(), "10.213.4.0/24");
        assert_eq!(
            pick(&[], 255).unwrap().gateway().to_string(),
            "10.213.255.1"
        );
        // A wider network covering the pool leaves nothing.
        assert_eq!(pick(&[Net::parse("10.0.0.0/8").unwrap()], 0), None);
        assert_eq!(
            Net::parse("10.89.3.7/24").unwrap().to_string(),
            "10.89.3.0/24"
        );
        assert_eq!(Net::parse("fd00::/64"), None);
        let net = Net::parse("10.213.7.0/24").unwrap();
        assert!(net.contains("10.213.7.2".parse().unwrap()));
        assert!(!net.contains("10.213.8.2".parse().unwrap()));
    }

    #[test]
    fn host_routes_are_read_from_proc() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            podman1\t00D50A0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let routes = host_routes(table);
        assert_eq!(
            routes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["192.168.0.0/24", "10.10.0.0/16"]
        );
    }
}
