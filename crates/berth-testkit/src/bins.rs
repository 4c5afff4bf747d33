//! Finding other binaries of the workspace (sample plugins, say) from an
//! integration test of another package, where `CARGO_BIN_EXE_*` does not
//! reach.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The profile directory (`target/debug`) of the running test binary
/// (`target/debug/deps/NAME-HASH`).
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    Some(deps.parent()?.to_path_buf())
}

/// The workspace root: the parent of `target/`.
fn workspace_root(profile: &Path) -> Option<PathBuf> {
    let target = profile.parent()?;
    Some(target.parent()?.to_path_buf())
}

/// The binary `bin` of workspace package `package`. `cargo test
/// --workspace` has built it beside this test's own binaries; otherwise
/// (`cargo test -p berthd`) it is built once, into a separate target
/// directory so the outer cargo's lock is never waited on.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let profile = profile_dir().expect("locating the test's target directory");
    let beside = profile.join(bin);
    if beside.is_file() {
        return beside;
    }
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let root = workspace_root(&profile).expect("locating the workspace");
    let target = profile.parent().unwrap().join("testkit-bins");
    let built = target.join("debug").join(bin);
    if built.is_file() {
        return built;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "-q", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("running cargo build");
    assert!(st.success(), "cargo build -p {package} failed");
    built
}
