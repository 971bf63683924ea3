//! `aurora-admin`: Aurora's administration client. See `aurora-admin --help`.

fn main() {
    aurora_cli::exit_quietly_on_broken_pipe();
    std::process::exit(aurora_cli::admin::run(std::env::args_os()));
}
