//! The fault suite: failures of replicated clusters during a continuous keyed stream, with
//! kmirror as a separate process. Each scenario ends with the e2e verifier's verdict on what
//! the target holds (nothing lost, nothing twice, per-key order) and the time from the fault's
//! end until the target held everything the source had then. CI runs the short forms;
//! `scripts/faults.sh` runs the long ones (`KMIRROR_FAULTS=full`) and prints the table
//! (docs/failures.md).

mod harness;
mod kmirror;
mod network;
mod source;
mod target;
