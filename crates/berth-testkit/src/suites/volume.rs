//! The volume driver conformance suite: every [`VolumeDriver`] (the
//! built-in `local`, a plugin behind the proxy) must pass it.

use berth_core::volumes::VolumeDriver;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a driver under test does not do.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    /// The driver removes volumes (a sample that refuses `Remove` does not).
    pub remove: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Checks { remove: true }
    }
}

/// The volume plugin in Python's standard library:
/// `python3 pyvol.py SOCKET ROOT LOG [MODE]` (see its header).
pub fn pyvol_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/pyvol.py")
}

/// Runs every check against `d`: create (twice, idempotent), mount by two
/// IDs onto the same data, path, get, list, errors for a missing volume,
/// unmount, remove. Panics on the first failure.
pub async fn run(d: &dyn VolumeDriver, checks: Checks) {
    let none = BTreeMap::new();
    d.create("conf-a", &none).await.unwrap();
    d.create("conf-a", &none).await.unwrap(); // idempotent
    let p = d.mount("conf-a", "c1").await.unwrap();
    std::fs::write(p.join("f"), b"data").unwrap();
    let p2 = d.mount("conf-a", "c2").await.unwrap();
    assert_eq!(std::fs::read(p2.join("f")).unwrap(), b"data");
    assert_eq!(d.path("conf-a").await.unwrap(), p.display().to_string());
    let g = d.get("conf-a").await.unwrap();
    assert_eq!(g.name, "conf-a");
    assert!(d.get("conf-missing").await.is_err());
    assert!(d.mount("conf-missing", "c1").await.is_err());
    let names: Vec<String> = d
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(names.contains(&"conf-a".to_string()), "{names:?}");
    d.unmount("conf-a", "c1").await.unwrap();
    d.unmount("conf-a", "c2").await.unwrap();
    if checks.remove {
        d.remove("conf-a").await.unwrap();
        assert!(d.get("conf-a").await.is_err());
        let names: Vec<String> = d
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert!(!names.contains(&"conf-a".to_string()), "{names:?}");
    }
}
