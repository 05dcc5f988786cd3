//! The batches waiting in a produce loop, one queue per partition.
//!
//! A Produce request carries at most one batch per partition (a broker rule from v3 on), so a
//! request takes the first waiting batch of each partition. A single arrival-ordered queue
//! made that a scan of every waiting batch per request, with a hash of its topic name each:
//! with a fetch response of hundreds of batches waiting, the scan cost more per batch than the
//! rewrite. Here each partition has its own queue and a ring of the partitions with batches
//! waiting is walked once per request: the work per request is the partitions it serves.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Items waiting per key (a partition), served one per key per request.
#[derive(Debug)]
pub(crate) struct PartitionQueues<K, T> {
    queues: HashMap<K, VecDeque<T>>,
    /// Keys with at least one item waiting, each once, in the order they are to be served.
    ready: VecDeque<K>,
    len: usize,
}

impl<K: Hash + Eq + Clone, T> Default for PartitionQueues<K, T> {
    fn default() -> Self {
        Self {
            queues: HashMap::new(),
            ready: VecDeque::new(),
            len: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, T> PartitionQueues<K, T> {
    pub(crate) fn push(&mut self, key: K, item: T) {
        let queue = match self.queues.get_mut(&key) {
            Some(q) => q,
            None => self.queues.entry(key.clone()).or_default(),
        };
        if queue.is_empty() {
            self.ready.push_back(key);
        }
        queue.push_back(item);
        self.len += 1;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first waiting item of every key, keys in the order they became ready, at most
    /// `max_bytes` in all unless the first alone is larger. A key whose first item does not
    /// fit takes nothing this time, so that its items keep their order; it stays ready.
    pub(crate) fn take_request(&mut self, size: impl Fn(&T) -> usize, max_bytes: usize) -> Vec<T> {
        let mut taken = Vec::with_capacity(self.ready.len());
        let mut bytes = 0usize;
        for _ in 0..self.ready.len() {
            let Some(key) = self.ready.pop_front() else { break };
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            let fits = queue
                .front()
                .is_some_and(|item| taken.is_empty() || bytes.saturating_add(size(item)) <= max_bytes);
            if fits && let Some(item) = queue.pop_front() {
                bytes = bytes.saturating_add(size(&item));
                taken.push(item);
                self.len -= 1;
            }
            if queue.is_empty() {
                // Keep memory bounded by the partitions that have work, not all ever seen.
                let _ = self.queues.remove(&key);
            } else {
                self.ready.push_back(key);
            }
        }
        taken
    }

    /// Every waiting item, partition by partition (each partition's in order).
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        self.ready.clear();
        self.len = 0;
        self.queues.drain().flat_map(|(_, q)| q).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn take(q: &mut PartitionQueues<i32, (i32, usize, usize)>, max: usize) -> Vec<usize> {
        q.take_request(|i| i.1, max).into_iter().map(|i| i.2).collect()
    }

    fn queues(items: &[(i32, usize, usize)]) -> PartitionQueues<i32, (i32, usize, usize)> {
        let mut q = PartitionQueues::default();
        for i in items {
            q.push(i.0, *i);
        }
        q
    }

    #[test]
    fn a_request_takes_one_batch_per_partition_within_the_size_cap() {
        // (partition, bytes, arrival)
        let mut q = queues(&[(0, 40, 0), (1, 50, 1), (0, 10, 2), (2, 20, 3), (3, 5, 4)]);
        // Partition 2's batch would pass 100 bytes; partition 3's still fits.
        assert_eq!(take(&mut q, 100), [0, 1, 4]);
        assert_eq!(take(&mut q, 100), [2, 3]);
        assert!(q.is_empty());

        // A batch larger than the cap goes alone, and the partition behind a batch that did not
        // fit sends nothing before it.
        let mut q = queues(&[(0, 10, 0), (1, 500, 1), (1, 1, 2)]);
        assert_eq!(take(&mut q, 100), [0]);
        assert_eq!(take(&mut q, 100), [1]);
        assert_eq!(take(&mut q, 100), [2]);
        assert!(q.is_empty());
        assert!(take(&mut q, 100).is_empty());
    }

    #[test]
    fn take_all_empties_every_partition_in_order() {
        let mut q = queues(&[(0, 1, 0), (1, 1, 1), (0, 1, 2)]);
        let mut all: Vec<_> = q.take_all().into_iter().map(|i| (i.0, i.2)).collect();
        all.sort_unstable();
        assert_eq!(all, [(0, 0), (0, 2), (1, 1)]);
        assert!(q.is_empty());
        q.push(5, (5, 1, 9));
        assert_eq!(take(&mut q, 100), [9]);
    }

    proptest! {
        /// Whatever arrives and however requests are cut, every item leaves exactly once,
        /// each partition's items in arrival order, at most one per partition per request,
        /// and a request passes the cap only when it holds a single item.
        #[test]
        fn every_item_leaves_once_in_partition_order(
            arrivals in proptest::collection::vec((0i32..6, 1usize..120), 0..200),
            cap in 1usize..300,
        ) {
            let items: Vec<(i32, usize, usize)> =
                arrivals.iter().enumerate().map(|(n, (p, s))| (*p, *s, n)).collect();
            let mut q = PartitionQueues::default();
            let mut out: Vec<(i32, usize, usize)> = Vec::new();
            let mut pushed = 0;
            while out.len() < items.len() {
                // Interleave arrivals with requests.
                if pushed < items.len() {
                    let (p, s, n) = items[pushed];
                    q.push(p, (p, s, n));
                    pushed += 1;
                    if pushed % 3 != 0 {
                        continue;
                    }
                }
                let request = q.take_request(|i| i.1, cap);
                prop_assert!(!request.is_empty() || q.is_empty());
                let mut seen = std::collections::HashSet::new();
                for i in &request {
                    prop_assert!(seen.insert(i.0), "two items of partition {} in one request", i.0);
                }
                let bytes: usize = request.iter().map(|i| i.1).sum();
                prop_assert!(request.len() == 1 || bytes <= cap);
                out.extend(request);
            }
            prop_assert!(q.is_empty());
            for p in 0..6 {
                let order: Vec<usize> = out.iter().filter(|i| i.0 == p).map(|i| i.2).collect();
                let mut sorted = order.clone();
                sorted.sort_unstable();
                prop_assert_eq!(order, sorted);
            }
            prop_assert_eq!(out.len(), items.len());
        }
    }
}
