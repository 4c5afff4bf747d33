//! A stand-in for `berthd` in this crate's tests.
//!
//! - `berth-shim-test shim DIR` runs the shim exactly as berthd's multicall
//!   entry does, before any thread exists.
//! - `berth-shim-test daemon CONFIG.json` plays a daemon: it creates and
//!   starts a container through [`ShimClient`], says `started`, and then
//!   idles until it is killed (the tests `kill -9` it).

use berth_runtime::{ShimClient, ShimConfig};
use std::io::Write;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|a| a.to_str()) {
        Some("shim") => std::process::exit(berth_runtime::shim::main_from_args(args[1..].to_vec())),
        Some("daemon") if args.len() == 2 => {
            let data = std::fs::read(&args[1]).expect("read config");
            let cfg: ShimConfig = serde_json::from_slice(&data).expect("parse config");
            let rt = tokio::runtime::Runtime::new().expect("tokio");
            rt.block_on(async {
                let exe = std::env::current_exe().expect("current_exe");
                let client = ShimClient::create(&exe, cfg).await.expect("create");
                client.start().await.expect("start");
                let mut out = std::io::stdout();
                let _ = writeln!(out, "started {}", client.pid());
                let _ = out.flush();
                std::future::pending::<()>().await;
            });
        }
        _ => {
            eprintln!("usage: berth-shim-test shim STATE_DIR | daemon CONFIG.json");
            std::process::exit(2);
        }
    }
}
