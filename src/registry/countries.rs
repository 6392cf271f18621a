//! The countries of manufacture a registry holds records under, kept in
//! memory so that routing a lookup to a former State or its successors costs
//! nothing where no such records are held.

use crate::model::CountryCode;

/// The countries of manufacture held, as one flag per two-letter code: a
/// lookup for `DE` scans `DD` (which `DE` routes with) only if some record
/// was placed under `DD`, so a registry without former States pays nothing
/// for them. Flags are set before a record is written and never cleared, so
/// a reader never misses a country a record is under (at worst it scans an
/// empty range).
pub(super) struct CountriesHeld(Box<[std::sync::atomic::AtomicBool]>);

impl CountriesHeld {
    pub(super) fn new() -> Self {
        CountriesHeld(
            (0..26 * 26)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
        )
    }

    fn at(c: CountryCode) -> usize {
        let b = c.as_bytes();
        usize::from(b[0].wrapping_sub(b'A')) * 26 + usize::from(b[1].wrapping_sub(b'A'))
    }

    pub(super) fn insert(&self, c: CountryCode) {
        if let Some(f) = self.0.get(Self::at(c)) {
            f.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    pub(super) fn contains(&self, c: CountryCode) -> bool {
        self.0
            .get(Self::at(c))
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Acquire))
    }
}
