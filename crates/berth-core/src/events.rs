//! The event bus: one in-process bus every subsystem publishes to, backed by
//! a bounded on-disk journal under the data root. (Being implemented.)
