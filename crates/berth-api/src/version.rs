//! The `/v1.NN` path prefix: parsed, checked against the supported range,
//! and stripped before routing, so every route works with and without it.

use berth_types::system::{API_VERSION, MIN_API_VERSION};
use berth_types::Error;

/// An Engine API version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once('.')?;
        if a.is_empty() || b.is_empty() || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(ApiVersion {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
        })
    }

    pub fn min() -> Self {
        Self::parse(MIN_API_VERSION).expect("valid constant")
    }

    pub fn max() -> Self {
        Self::parse(API_VERSION).expect("valid constant")
    }

    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ApiVersion { major, minor }
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What the prefix of a request path says.
#[derive(Debug, PartialEq, Eq)]
pub enum Prefix<'a> {
    /// No `/vN.N` prefix: the path is used as is, at the newest version.
    None,
    /// A supported version, and the path that follows the prefix.
    Versioned(ApiVersion, &'a str),
}

/// Splits `/v1.41/containers/json` into the version and `/containers/json`.
/// A segment that looks like a version (`v` then digits and dots) but is
/// outside the supported range is dockerd's 400.
pub fn split_prefix(path: &str) -> Result<Prefix<'_>, Error> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(Prefix::None);
    };
    let (seg, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if seg.is_empty() || !seg.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return Ok(Prefix::None);
    }
    let Some(v) = ApiVersion::parse(seg) else {
        return Err(Error::invalid(format!("invalid API version: {seg}")));
    };
    if v < ApiVersion::min() {
        return Err(Error::invalid(format!(
            "client version {v} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            ApiVersion::min()
        )));
    }
    if v > ApiVersion::max() {
        return Err(Error::invalid(format!(
            "client version {v} is too new. Maximum supported API version is {}",
            ApiVersion::max()
        )));
    }
    Ok(Prefix::Versioned(
        v,
        if tail.is_empty() { "/" } else { tail },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_supported_versions() {
        assert_eq!(
            split_prefix("/v1.41/version").unwrap(),
            Prefix::Versioned(
                ApiVersion {
                    major: 1,
                    minor: 41
                },
                "/version"
            )
        );
        assert_eq!(
            split_prefix("/v1.24/_ping").unwrap(),
            Prefix::Versioned(
                ApiVersion {
                    major: 1,
                    minor: 24
                },
                "/_ping"
            )
        );
        assert_eq!(split_prefix("/version").unwrap(), Prefix::None);
        assert_eq!(split_prefix("/volumes/x").unwrap(), Prefix::None);
        assert_eq!(split_prefix("/vfoo/version").unwrap(), Prefix::None);
    }

    #[test]
    fn out_of_range_is_dockerds_message() {
        let e = split_prefix("/v1.12/version").unwrap_err();
        assert_eq!(
            e.message,
            "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
        );
        let e = split_prefix("/v1.99/version").unwrap_err();
        assert!(e.message.contains("too new"), "{}", e.message);
        assert!(split_prefix("/v1./version").is_err());
        assert!(split_prefix("/v1.2.3/version").is_err());
    }

    #[test]
    fn ordering() {
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.10").unwrap());
        assert!(ApiVersion::parse("1.44").unwrap().at_least(1, 41));
    }
}
