fn main() {
    std::process::exit(berth_runc::main_from_args(
        std::env::args_os().skip(1).collect(),
    ))
}
