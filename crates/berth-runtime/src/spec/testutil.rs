//! Fixtures the spec tests share.

use super::SpecOptions;
use berth_types::container::ContainerCreateRequest;
use std::path::Path;

pub fn req(s: &str) -> ContainerCreateRequest {
    ContainerCreateRequest::from_json(s.as_bytes()).unwrap()
}

pub fn rootfs() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    std::fs::write(
        d.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("etc/group"),
        "root:x:0:\nwheel:x:10:root\nwww:x:33:\nstaff:x:50:www\n",
    )
    .unwrap();
    d
}

pub fn opts(rootfs: &Path) -> SpecOptions {
    SpecOptions {
        id: "0123456789abcdef0123".into(),
        rootfs: rootfs.to_path_buf(),
        ..Default::default()
    }
}
