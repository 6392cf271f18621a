//! Any bytes read back from the registry's sled tree (a damaged disk, an edited
//! store) yield a record, a bucket or an error, never a panic: the stored record
//! is bincode, decoded through `tracenet::codec` under its size limit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tracenet::registry::fuzz_stored_forms(data);
});
