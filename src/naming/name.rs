//! An image's name in werf.yaml: `image: NAME`, or `image: ~` for the one nameless image,
//! which messages, tables and the command line write as `~`.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

/// How the nameless image is written.
pub const NAMELESS: &str = "~";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ImageName {
    Nameless,
    Named(String),
}

impl ImageName {
    /// `~` is the nameless image; anything else a name.
    pub fn parse(s: &str) -> Self {
        if s == NAMELESS {
            ImageName::Nameless
        } else {
            ImageName::Named(s.to_string())
        }
    }

    /// The name as the model keys images (`None` = nameless).
    pub fn into_option(self) -> Option<String> {
        match self {
            ImageName::Nameless => None,
            ImageName::Named(n) => Some(n),
        }
    }
}

impl From<Option<&str>> for ImageName {
    fn from(name: Option<&str>) -> Self {
        name.map_or(ImageName::Nameless, |n| ImageName::Named(n.to_string()))
    }
}

impl From<Option<String>> for ImageName {
    fn from(name: Option<String>) -> Self {
        name.map_or(ImageName::Nameless, ImageName::Named)
    }
}

/// `~` is the nameless image (as `image: ~` and `--introspect-stage ~/STAGE` write it).
impl FromStr for ImageName {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ImageName::parse(s))
    }
}

/// Pads as `{:<20}` asks (tables).
impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageName::Nameless => f.pad(NAMELESS),
            ImageName::Named(n) => f.pad(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameless_is_written_as_a_tilde_and_read_back() {
        assert_eq!(ImageName::from(None::<&str>).to_string(), "~");
        assert_eq!(format!("{:<4}|", ImageName::from(Some("ab"))), "ab  |");
        assert_eq!("~".parse::<ImageName>(), Ok(ImageName::Nameless));
        assert_eq!(
            "app".parse::<ImageName>().map(ImageName::into_option),
            Ok(Some("app".to_string()))
        );
    }
}
