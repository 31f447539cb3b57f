//! One module per `guard-agent` verb.
pub mod doctor;
pub mod enforcer;
pub mod run;
pub mod status;
pub mod unload;
