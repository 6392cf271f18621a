//! Gossip topics: a trace is published to the topic of its marking prefix (and,
//! with a factory code, of that factory), and to the topic of each import-mark
//! country; a node subscribes to the topics of what its registry holds, and
//! every node to the roster's and the maker table's.

use std::fmt;
use std::str::FromStr;

use crate::marking::{FactoryPrefix, MarkingPrefix};
use crate::model::CountryCode;

/// Every tracenet topic starts with this; others are refused by the subscription filter.
pub const TOPIC_ROOT: &str = "tracenet/1/";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// `tracenet/1/prefix/DE/CARLWALTHER`: records by country of manufacture and maker.
    Prefix(MarkingPrefix),
    /// `tracenet/1/import/NG`: records carrying an import mark of that country.
    Import(CountryCode),
    /// `tracenet/1/factory/CN/66`: records marked with that factory code
    /// (ITI para 8(a)), made in that country, under whatever maker.
    Factory(FactoryPrefix),
    /// `tracenet/1/roster`: signed roster updates, for every node.
    Roster,
    /// `tracenet/1/makers`: signed maker reference tables, for every node.
    Makers,
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Prefix(p) => write!(f, "{TOPIC_ROOT}prefix/{p}"),
            Topic::Import(c) => write!(f, "{TOPIC_ROOT}import/{c}"),
            Topic::Factory(p) => write!(f, "{TOPIC_ROOT}factory/{}/{}", p.country, p.code),
            Topic::Roster => write!(f, "{TOPIC_ROOT}roster"),
            Topic::Makers => write!(f, "{TOPIC_ROOT}makers"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a tracenet topic (tracenet/1/prefix/CC/MAKER, tracenet/1/import/CC or tracenet/1/factory/CC/CODE)"
)]
pub struct TopicError(String);

impl FromStr for Topic {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TopicError(s.chars().take(100).collect());
        let rest = s.strip_prefix(TOPIC_ROOT).ok_or_else(err)?;
        if rest == "roster" {
            return Ok(Topic::Roster);
        }
        if rest == "makers" {
            return Ok(Topic::Makers);
        }
        if let Some(p) = rest.strip_prefix("prefix/") {
            return p.parse().map(Topic::Prefix).map_err(|_| err());
        }
        if let Some(c) = rest.strip_prefix("import/") {
            return CountryCode::parse(c).map(Topic::Import).map_err(|_| err());
        }
        if let Some(p) = rest.strip_prefix("factory/") {
            // Only the canonical form, which `FactoryPrefix` checks.
            if p.contains(':') {
                return Err(err());
            }
            return p.parse().map(Topic::Factory).map_err(|_| err());
        }
        Err(err())
    }
}

impl Topic {
    pub fn to_gossip(&self) -> libp2p::gossipsub::IdentTopic {
        libp2p::gossipsub::IdentTopic::new(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_foreign_ones_are_refused() {
        let p: MarkingPrefix = "DE/CARLWALTHER".parse().unwrap();
        let f: FactoryPrefix = "CN/FC:66".parse().unwrap();
        assert_eq!(
            Topic::Factory(f.clone()).to_string(),
            "tracenet/1/factory/CN/66"
        );
        for t in [
            Topic::Prefix(p),
            Topic::Import(CountryCode::parse("NG").unwrap()),
            Topic::Roster,
            Topic::Makers,
            Topic::Factory(f),
        ] {
            assert_eq!(t.to_string().parse::<Topic>().unwrap(), t);
        }
        assert_eq!(
            Topic::Import(CountryCode::parse("NG").unwrap()).to_string(),
            "tracenet/1/import/NG"
        );
        for bad in [
            "tracenet/1/prefix/XX/A",
            "tracenet/2/import/NG",
            "other",
            "tracenet/1/import/ng2",
            "tracenet/1/factory/CN/FC:66",
            "tracenet/1/factory/CN/6 6",
            "tracenet/1/factory/CN/",
            "tracenet/1/factory/XX/66",
        ] {
            assert!(bad.parse::<Topic>().is_err(), "{bad}");
        }
    }
}
