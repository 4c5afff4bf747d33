//! One conformance suite per driver kind, run by every built-in and by at
//! least one plugin of that kind.

pub mod authz;
pub mod volume;
