//! Egress in step with the desired state: the proxy's listeners (one per egress sandbox, on
//! its network's gateway) built from `Desired` and handed to `egress`, which knows nothing
//! of the reconciler.

use std::net::SocketAddr;
use std::path::Path;

use super::desired::Desired;
use crate::egress;
use crate::engine::Engine;

/// Brings the proxy in step with `desired`: each egress network's host firewall rules
/// ensured, the configuration written, the proxy started when none runs, and waited for
/// until it serves it. Returns warnings: the proxy could not be started or did not answer
/// in time (egress sandboxes then reach nothing, which is the safe side), or the firewall
/// rules could not be installed (the host is then reachable from the sandbox). Rules of
/// networks served before and now gone are removed.
pub async fn sync(engine: &Engine, pd_dir: &Path, desired: &Desired) -> Vec<String> {
    let before = egress::read_config(pd_dir).await;
    let mut listeners = Vec::new();
    let mut warnings = Vec::new();
    for s in desired.sandboxes.values() {
        let Some(allow) = &s.egress else { continue };
        let Some(n) = desired.networks.get(&egress::network_name(&s.name)) else {
            continue;
        };
        let Ok(Some(gateway)) = engine.network_gateway(&n.network_name).await else {
            continue;
        };
        let Ok(Some(network)) = engine.inspect_network(&n.network_name).await else {
            continue;
        };
        let Some(subnet) = network.subnets.first() else {
            continue;
        };
        // Before the proxy serves it (and so before the sandbox starts).
        warnings.extend(egress::guard_host(engine, &n.network_name, gateway).await);
        listeners.push(egress::Listener {
            sandbox: s.name.clone(),
            network: n.network_name.clone(),
            subnet: subnet.clone(),
            address: SocketAddr::new(gateway, egress::PROXY_PORT),
            allow: allow.clone(),
        });
    }
    // Rules of networks this workspace served before and that are gone now.
    if let Some(before) = before {
        for l in before.listeners {
            if !listeners.iter().any(|n| n.network == l.network)
                && matches!(engine.inspect_network(&l.network).await, Ok(None))
            {
                egress::unguard_host(&l.network).await;
            }
        }
    }
    warnings.extend(egress::start_and_wait(pd_dir, listeners).await);
    warnings
}
