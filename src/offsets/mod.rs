//! Offsets: the exact source-to-target map of acknowledged batches, the resume position of
//! every partition, and the store that keeps them across restarts.
