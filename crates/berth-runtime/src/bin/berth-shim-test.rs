//! A stand-in for `berthd` in this crate's tests: `berth-shim-test shim DIR`
//! runs the shim exactly as berthd's multicall entry does, before any
//! thread exists.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "shim") {
        std::process::exit(berth_runtime::shim::main_from_args(args[1..].to_vec()));
    }
    eprintln!("usage: berth-shim-test shim STATE_DIR");
    std::process::exit(2);
}
