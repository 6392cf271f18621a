use clap::Parser;

/// mimalloc instead of the system allocator: sled allocates and frees a node
/// copy on every write, and with glibc's malloc a third of the import thread's
/// time went to the allocator (see `scripts/bench/registry.rs`, which declares
/// the same allocator so that it measures what this binary runs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracenet::cli::install_panic_hook();
    let cli =
        tracenet::cli::Cli::try_parse().unwrap_or_else(|e| tracenet::cli::with_usage(e).exit());
    if let Err(e) = tracenet::cli::run(cli) {
        if let Some(usage) = e.downcast_ref::<clap::Error>() {
            usage.exit();
        }
        if tracenet::cli::closed_stdout(&e) {
            std::process::exit(tracenet::cli::EXIT_CLOSED_STDOUT);
        }
        eprintln!("error: {}", tracenet::cli::error_line(&e));
        std::process::exit(tracenet::cli::EXIT_RUNTIME);
    }
}
