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

/// The binary `bin` of workspace package `package`, beside this test's own
/// binaries: `cargo test --workspace` has usually built it already; if
/// not (`cargo test -p berthd`), it is built once. Cargo holds no lock on
/// the target directory while tests run, so the nested build is safe.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let profile = profile_dir().expect("locating the test's target directory");
    let beside = profile.join(bin);
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if beside.is_file() {
        return beside;
    }
    let root = workspace_root(&profile).expect("locating the workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "-q", "-p", package, "--bin", bin])
        .status()
        .expect("running cargo build");
    assert!(st.success(), "cargo build -p {package} failed");
    assert!(beside.is_file(), "no {} after building", beside.display());
    beside
}
