//! `User` and `GroupAdd` resolved against the image's /etc/passwd and
//! /etc/group.

use crate::{Result, RuntimeError};
use std::path::Path;

/// A user resolved against the rootfs's /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn read_passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    let text = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn read_group(rootfs: &Path) -> Vec<(String, u32, Vec<String>)> {
    let text = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some((
                f[0].to_string(),
                f[2].parse().ok()?,
                f[3].split(',')
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            ))
        })
        .collect()
}

/// Resolves `User` (`""`, `uid`, `name`, `uid:gid`, `name:group`) plus
/// `GroupAdd` the way dockerd does: names through the image's own
/// /etc/passwd and /etc/group, supplementary groups from group membership.
pub fn resolve_user(rootfs: &Path, user: &str, group_add: &[String]) -> Result<ResolvedUser> {
    let passwd = read_passwd(rootfs);
    let groups = read_group(rootfs);
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = if let Ok(uid) = u.parse::<u32>() {
        passwd.iter().find(|p| p.uid == uid)
    } else {
        Some(passwd.iter().find(|p| p.name == u).ok_or_else(|| {
            RuntimeError::InvalidParameter(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })?)
    };
    let uid = match u.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => entry.map(|e| e.uid).unwrap_or(0),
    };
    let find_group = |g: &str| -> Result<u32> {
        if let Ok(gid) = g.parse::<u32>() {
            return Ok(gid);
        }
        groups
            .iter()
            .find(|(n, _, _)| n == g)
            .map(|(_, gid, _)| *gid)
            .ok_or_else(|| {
                RuntimeError::InvalidParameter(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })
    };
    let gid = match g {
        Some(g) if !g.is_empty() => find_group(g)?,
        _ => entry.map(|e| e.gid).unwrap_or(0),
    };
    let mut additional: Vec<u32> = Vec::new();
    if g.is_none() {
        if let Some(e) = entry {
            for (_, ggid, members) in &groups {
                if members.contains(&e.name) && !additional.contains(ggid) {
                    additional.push(*ggid);
                }
            }
        }
    }
    for ga in group_add {
        let gid = find_group(ga)?;
        if !additional.contains(&gid) {
            additional.push(gid);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home: entry.map(|e| e.home.clone()).unwrap_or_else(|| "/".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testutil::rootfs;

    #[test]
    fn users() {
        let r = rootfs();
        let u = resolve_user(r.path(), "", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.clone()), (0, 0, vec![10]));
        let u = resolve_user(r.path(), "1000:1000", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/"));
        let u = resolve_user(r.path(), "www:wheel", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (33, 10));
        assert!(u.additional_gids.is_empty());
        assert!(resolve_user(r.path(), "www:nogroup", &[]).is_err());
    }
}
