use clap::Parser;

fn main() {
    tracenet::cli::install_panic_hook();
    let cli = tracenet::cli::Cli::parse();
    if let Err(e) = tracenet::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(tracenet::cli::EXIT_RUNTIME);
    }
}
