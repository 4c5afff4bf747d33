//! A stand-in for `berthd` in this crate's tests: `berth-proxy-test proxy
//! ...` runs the port proxy exactly as berthd's multicall entry does,
//! before any thread exists.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|a| a.to_str()) {
        Some(berth_network::proxy_process::SUBCOMMAND) => std::process::exit(
            berth_network::proxy_process::main_from_args(args[1..].to_vec()),
        ),
        _ => {
            eprintln!(
                "usage: berth-proxy-test proxy --container ID --pid-file PATH PROTO:FD:IP:PORT..."
            );
            std::process::exit(2);
        }
    }
}
