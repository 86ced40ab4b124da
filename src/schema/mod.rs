//! Database schemas as barge sees them, whatever the engine: the type plan
//! of a copy ([`type_plan`]), renaming ([`naming`]), the two-pass DDL of
//! `barge schema copy` ([`ddl`], [`copy`]), `barge schema diff` ([`diff`])
//! and the foreign-key order tables load in ([`order`]). The catalog model
//! they read is [`crate::model::catalog`].

pub mod copy;
pub mod ddl;
pub mod diff;
pub mod naming;
pub mod order;
pub mod type_plan;
