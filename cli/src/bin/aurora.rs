//! `aurora`: Aurora's command-line client. See `aurora --help`.

fn main() {
    std::process::exit(aurora_cli::aurora::run(std::env::args_os()));
}
