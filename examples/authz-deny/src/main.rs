//! authz-deny: an authorization plugin that denies the operations it is
//! given and allows everything else. See the library docs for the flags.

#[tokio::main]
async fn main() {
    if let Err(e) = authz_deny::run(std::env::args().skip(1).collect()).await {
        eprintln!("authz-deny: {e}");
        std::process::exit(1);
    }
}
