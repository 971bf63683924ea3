//! `aurora-admin`: Aurora's administration client. See `aurora-admin --help`.

fn main() {
    std::process::exit(aurora_cli::admin::run(std::env::args_os()));
}
