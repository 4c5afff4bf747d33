//! What the embedded DNS servers answer: names of containers on the user
//! networks the asker shares with them.

use super::*;

/// What DNS answers come from: network id → (names, ip); container id →
/// its networks.
#[derive(Default)]
pub(super) struct DnsView {
    entries: HashMap<String, Vec<(Vec<String>, Ipv4Addr)>>,
    net_names: HashMap<String, String>,
    member_of: HashMap<String, Vec<String>>,
}

impl DnsView {
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let mut out = Vec::new();
        for nid in self.member_of.get(asker)? {
            let netname = self.net_names.get(nid).map(String::as_str).unwrap_or("");
            for (names, ip) in self.entries.get(nid).into_iter().flatten() {
                let hit = names.iter().any(|n| {
                    n == name || (!netname.is_empty() && format!("{n}.{netname}") == name)
                });
                if hit && !out.contains(ip) {
                    out.push(*ip);
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

impl NetworkManager {
    /// Recomputes what the DNS servers answer.
    pub(super) fn refresh(&self, st: &State) {
        let mut v = DnsView::default();
        for n in st.networks.values().filter(|n| !n.is_default()) {
            v.net_names.insert(n.id.clone(), n.name.clone());
            let list = v.entries.entry(n.id.clone()).or_default();
            for (cid, e) in &n.endpoints {
                let mut names = vec![
                    e.container_name.to_ascii_lowercase(),
                    cid[..12.min(cid.len())].to_string(),
                ];
                names.extend(e.aliases.iter().map(|a| a.to_ascii_lowercase()));
                if let Some(sb) = st.sandboxes.get(cid) {
                    if !sb.hostname.is_empty() && sb.hostname.len() != 12 {
                        names.push(sb.hostname.to_ascii_lowercase());
                    }
                }
                list.push((names, e.ip));
                v.member_of
                    .entry(cid.clone())
                    .or_default()
                    .push(n.id.clone());
            }
        }
        *self.view.write().unwrap() = v;
    }

    pub(super) fn needs_dns(&self, st: &State, sb: &Sandbox) -> bool {
        sb.netns.is_some()
            && sb.mode == mode::ENDPOINTS
            && sb
                .networks
                .iter()
                .any(|nid| st.networks.get(nid).is_some_and(|n| !n.is_default()))
    }

    pub(super) fn start_dns(&self, st: &mut State, sb: &Sandbox) -> Result<()> {
        if st.dns.contains_key(&sb.container_id) {
            return Ok(());
        }
        let Some(path) = &sb.netns else { return Ok(()) };
        let upstreams: Vec<SocketAddr> = if !sb.dns.is_empty() {
            sb.dns
                .iter()
                .filter_map(|d| d.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
                .collect()
        } else if let Some(u) = &self.cfg.dns_upstreams {
            u.clone()
        } else {
            dns::upstreams_from_resolv_conf(
                &std::fs::read_to_string(&self.cfg.resolv_conf).unwrap_or_default(),
            )
        };
        let view = self.view.clone();
        let asker = sb.container_id.clone();
        let lookup: dns::Lookup =
            Arc::new(move |name: &str| view.read().unwrap().lookup(&asker, name));
        let srv = DnsServer::start(path, lookup, upstreams)?;
        st.dns.insert(sb.container_id.clone(), srv);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_view_scopes_names_to_shared_networks() {
        let mut v = DnsView::default();
        v.net_names.insert("n1".into(), "front".into());
        v.entries.insert(
            "n1".into(),
            vec![(vec!["web".into(), "w".into()], Ipv4Addr::new(10, 0, 0, 2))],
        );
        v.entries.insert(
            "n2".into(),
            vec![(vec!["db".into()], Ipv4Addr::new(10, 1, 0, 2))],
        );
        v.member_of.insert("c1".into(), vec!["n1".into()]);
        assert_eq!(v.lookup("c1", "w"), Some(vec![Ipv4Addr::new(10, 0, 0, 2)]));
        assert_eq!(
            v.lookup("c1", "web.front"),
            Some(vec![Ipv4Addr::new(10, 0, 0, 2)])
        );
        assert_eq!(v.lookup("c1", "db"), None, "not on a shared network");
        assert_eq!(v.lookup("nobody", "web"), None);
    }
}
