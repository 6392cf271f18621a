use clap::Parser;

/// mimalloc instead of the system allocator: sled allocates and frees a node
/// copy on every write, and with glibc's malloc a third of the import thread's
/// time went to the allocator (see `scripts/bench/registry.rs`, which declares
/// the same allocator so that it measures what this binary runs).
///
/// The feature `system-allocator` builds with the system's malloc instead,
/// for heap profilers that intercept it (heaptrack, valgrind's massif; see
/// proto-docs/PERFORMANCE.md, "Where the holder's memory goes"); not for
/// deployment.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    #[cfg(not(feature = "system-allocator"))]
    tracenet::allocator::return_freed_pages_at_once();
    no_transparent_huge_pages();
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
        if let Some(partial) = e.downcast_ref::<tracenet::cli::ImportedWithRejections>() {
            tracenet::logging::say(&format!("warning: {partial}"));
            std::process::exit(tracenet::cli::EXIT_REJECTED);
        }
        // Bounded in time after `node run`, whose stderr may not be read.
        tracenet::logging::say(&format!("error: {}", tracenet::cli::error_line(&e)));
        std::process::exit(tracenet::cli::EXIT_RUNTIME);
    }
}

/// Asks Linux for no transparent huge pages in this process, whatever the
/// host's THP mode. mimalloc is built not to ask for them (Cargo.toml,
/// `no_thp`), which is enough where THP is "madvise"; where it is "always",
/// the kernel would still back mimalloc's arenas with 2 MiB pages, each
/// zeroed whole at its first touch. Since Linux 4.18 the flag is read at
/// each page fault, so setting it here also covers the arena reserved before
/// `main` (from 3.15 to 4.17 it covers new mappings only). It is inherited by
/// the one child a node starts (`mkfifo`), harmlessly. A kernel that refuses
/// it (older, or a seccomp filter) costs only that CPU and memory; no
/// logging is set up yet at this point, so `tracenet node run` reports it
/// once its log is (`report_huge_pages`).
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
