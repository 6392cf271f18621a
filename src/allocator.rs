//! How the process's allocator, mimalloc, gives freed memory back to the
//! system. The `tracenet` binary and the benchmarks that run its code use
//! mimalloc as their global allocator (src/main.rs, Cargo.toml); this module
//! only tunes it, and uses no other module.
//!
//! mimalloc 3 waits 1 s (`purge_delay`) before it returns the pages it freed
//! to the system, and then only when an allocation passes that way. Under a
//! holder's steady load (a write to sled per audit entry, a file of half a
//! million entries written every few minutes) that left freed pages
//! resident. Two pairs of 4,000,000-query soaks, each pair side by side:
//! past the first million queries the holder's memory rose 31.4 and 40.0
//! MiB per million on the 1 s delay, 1.6 and 26.7 with pages returned at
//! once, 80 to 128 MiB lower, at answers per second within 1.5%
//! (proto-docs/PERFORMANCE.md, "Freed pages returned at once"). The live
//! heap did not grow (heaptrack, "The soak's memory, longer" there).

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t` (its
/// `include/mimalloc.h`; `libmimalloc-sys` names only some options).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc to return freed pages to the system at once (purge delay
/// 0 ms), unless its environment set the delay (`MIMALLOC_PURGE_DELAY`, in
/// any case, or its older name `MIMALLOC_RESET_DELAY`), which then wins: an
/// operator's choice, or a benchmark's control run. mimalloc reads its
/// environment when the process loads; this changes only a default it has
/// not taken from there. Call first thing in `main`, before other threads
/// start: mimalloc's options are plain values, not atomics.
pub fn return_freed_pages_at_once() {
    // SAFETY: `mi_option_set_default` takes an option number and a value
    // and touches nothing else (an out-of-range number is ignored); 15 is
    // `mi_option_purge_delay` in the mimalloc this crate builds
    // (libmimalloc-sys 0.1's default, v3), checked by the test below, and 0
    // is a value it documents ("0 for immediate purging").
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn option_15_is_the_purge_delay_and_is_set_to_0() {
        // SAFETY: reads an option, as the setter writes it.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        // mimalloc reads MIMALLOC_PURGE_DELAY or MIMALLOC_RESET_DELAY, in
        // any case. Run with MIMALLOC_PURGE_DELAY=5: the environment wins.
        let set: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                let k = k.to_ascii_uppercase();
                k == "MIMALLOC_PURGE_DELAY" || k == "MIMALLOC_RESET_DELAY"
            })
            .collect();
        if !set.is_empty() {
            let before = get();
            super::return_freed_pages_at_once();
            assert_eq!(
                get(),
                before,
                "the environment's delay was overridden: {set:?}"
            );
            return;
        }
        // Before: mimalloc 3's documented default for the purge delay, 1000
        // ms, which no neighbouring option has: a wrong number, or a
        // mimalloc whose options moved, fails here.
        assert_eq!(get(), 1000, "option 15 is not mimalloc 3's purge delay");
        super::return_freed_pages_at_once();
        assert_eq!(get(), 0);
    }
}
