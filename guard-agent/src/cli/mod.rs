//! One module per `guard-agent` verb.
pub mod check;
pub mod doctor;
pub mod enforcer;
pub mod policy;
pub mod run;
pub mod status;
pub mod unload;
