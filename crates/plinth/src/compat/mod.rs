//! The compatibility layer: what each backend can do (capabilities), how types carry over
//! (types), whether a live schema would survive a move (introspect), and what a migration file
//! will do on a given backend before it runs (lint).

pub mod capabilities;
pub mod introspect;
pub mod lint;
pub mod markdown;
pub mod types;

pub use capabilities::{
    capabilities_for, default_version, minimum_version, parse_backend_spec, AutoId, Capabilities,
    Capability, IsolationLevel, JsonKind, JsonSupport, LengthUnit, MaxIdentifier, MaxVarchar,
    OverlongIdentifier, Support,
};
pub use introspect::{
    introspect, portability_check, portability_check_for, Column, Finding, Index, IntrospectError,
    ObjectKind, Schema, Table,
};
pub use types::{equivalent_type, LogicalType, Mapping};
