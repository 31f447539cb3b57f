//! One module per `guard-agent` verb.
pub mod audit;
pub mod check;
pub mod doctor;
pub mod enforcer;
pub mod export;
pub mod kube;
pub mod policy;
pub mod replay;
pub mod run;
pub mod serve;
pub mod status;
pub mod unload;
