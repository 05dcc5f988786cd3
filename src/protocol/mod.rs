//! The sans-IO protocol core: bytes in, values out, and back. No sockets, no runtime, no
//! clock, so everything here is fuzzed, property-tested and benchmarked without a broker.
//!
//! - [`frame`]: length-prefixed framing with a size limit.
//! - [`answer`]: broker-side responses, for the in-process brokers of tests and benchmarks.
//! - [`codec`]: request headers and bodies out, response headers and bodies in, through the
//!   kafka-protocol crate.
//! - [`versions`]: the API versions kmirror speaks and negotiation against a broker.
//! - [`batch`]: the v2 record batch as opaque bytes: header view, framer, classification.
//! - [`rewrite`]: producer-identity rewrite with a CRC recomputed over untouched records.
//! - [`produce`]: Produce requests as chained slices, batches included without a copy.
//! - [`produce_check`]: what a broker refuses in a partition's produced records.
//! - [`crc`]: a fast CRC-32C combine for the rewrite.
//! - [`trim`]: cutting the records before an offset off a batch (resuming inside one).
//! - [`records`]: the records inside a batch, for the rare paths that must decode them.
//! - [`renumber`]: compacted (gapped) batches made acceptable to a broker, records kept.
//! - [`timestamps`]: what the records of a LogAppendTime batch carry on the target.
//! - [`mm2`]: MirrorMaker 2's internal records (offset syncs, checkpoints, heartbeats).
//! - [`errors`]: Kafka error codes kmirror acts on.

pub mod answer;
pub mod batch;
pub mod codec;
pub mod crc;
pub mod errors;
pub mod frame;
pub mod mm2;
pub mod produce;
pub mod produce_check;
pub mod records;
pub mod renumber;
pub mod rewrite;
pub mod timestamps;
pub mod trim;
pub mod versions;
