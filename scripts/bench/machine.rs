//! What the benchmarks share: their settings, read from the environment,
//! and the machine's load average, printed beside their figures (the
//! development machine is shared and noisy: a figure compares only with
//! those measured under a like load, or in the same run).
#![allow(dead_code)]

/// The whole number the environment variable `name` holds, or `default`
/// when it is unset or not one.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// [`env_u64`] for a count of things.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them
/// ("unknown" where it cannot be read).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
