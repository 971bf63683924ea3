//! `aurora`: Aurora's command-line client. See `aurora --help`.

fn main() {
    aurora_cli::exit_quietly_on_broken_pipe();
    std::process::exit(aurora_cli::aurora::run(std::env::args_os()));
}
