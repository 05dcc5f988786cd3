//! What the memory budget counts: whole fetch responses, not the batches cut from them.
//!
//! A forwarded batch is a slice of its fetch response (nothing is copied), so as long as one
//! batch of a response waits for its acknowledgement the whole response stays in memory.
//! Counting batches alone let responses that were mostly acknowledged, but not entirely,
//! outgrow the budget (316 MiB for a 64 MiB budget with 1,000 partitions and 8 MiB fetches).
//! So each response holds budget for all its records until its last slice is gone:
//!
//! ```text
//!  partition task: reserve its fetch room ─► Fetcher: the rooms of one request together
//!      cap its max_bytes, then shrink to the records received ─► ResponseHold (Arc)
//!      ─► one clone per partition ─► one clone per forwarded batch, dropped when answered
//! ```
//!
//! A batch rebuilt by kmirror (trimmed or renumbered) is a copy and takes its own share.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget one fetch response holds, shared by every partition and batch cut from it;
/// returned when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct ResponseHold {
    _held: Option<Arc<OwnedSemaphorePermit>>,
}

impl ResponseHold {
    /// Bytes of budget held (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self._held.as_ref().map_or(0, |p| p.num_permits())
    }
}

/// Turns the fetch rooms reserved for one request into the hold of its response of `size`
/// bytes of records: the rooms beyond `size` go back to the budget at once. A response larger
/// than its rooms (a broker returns the first batch even when it exceeds the request's limits,
/// KIP-74) takes the difference only if the budget has it now: waiting here, with the rooms of
/// the partitions queued behind this request in hand, could wait for itself.
pub(crate) fn hold_response(
    budget: &Arc<Semaphore>,
    rooms: Option<OwnedSemaphorePermit>,
    size: usize,
) -> ResponseHold {
    let Some(mut held) = rooms else {
        return ResponseHold { _held: None };
    };
    let reserved = held.num_permits();
    if size < reserved {
        drop(held.split(reserved - size));
    } else if size > reserved {
        let extra = u32::try_from(size - reserved).unwrap_or(u32::MAX);
        if let Ok(more) = budget.clone().try_acquire_many_owned(extra) {
            held.merge(more);
        }
    }
    if size == 0 {
        return ResponseHold { _held: None };
    }
    ResponseHold {
        _held: Some(Arc::new(held)),
    }
}

/// What a batch handed to the produce loop holds of the budget until the target answers it
/// (acknowledged or failed) or it is dropped.
#[derive(Debug)]
pub(crate) struct BatchBudget {
    /// A slice of a fetch response: a share in the response's hold.
    _slice: Option<ResponseHold>,
    /// A batch kmirror rebuilt: its own bytes (`None` when the budget was spent).
    _copy: Option<OwnedSemaphorePermit>,
}

impl BatchBudget {
    pub(crate) fn slice(hold: &ResponseHold) -> Self {
        Self {
            _slice: Some(hold.clone()),
            _copy: None,
        }
    }

    pub(crate) fn copy(permit: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            _slice: None,
            _copy: permit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserve(budget: &Arc<Semaphore>, n: u32) -> OwnedSemaphorePermit {
        budget
            .clone()
            .try_acquire_many_owned(n)
            .expect("budget available")
    }

    #[test]
    fn unused_room_goes_back_and_the_rest_stays_until_the_last_slice_is_gone() {
        let budget = Arc::new(Semaphore::new(1000));
        let mut rooms = reserve(&budget, 300);
        rooms.merge(reserve(&budget, 300));
        let hold = hold_response(&budget, Some(rooms), 250);
        assert_eq!((hold.bytes(), budget.available_permits()), (250, 750));

        let partitions = [hold.clone(), hold.clone()];
        drop(hold);
        let batches: Vec<BatchBudget> = (0..5).map(|_| BatchBudget::slice(&partitions[0])).collect();
        drop(partitions);
        assert_eq!(
            budget.available_permits(),
            750,
            "batches in flight keep the whole response"
        );
        drop(batches);
        assert_eq!(budget.available_permits(), 1000);
    }

    #[test]
    fn an_empty_response_holds_nothing() {
        let budget = Arc::new(Semaphore::new(100));
        let hold = hold_response(&budget, Some(reserve(&budget, 60)), 0);
        assert_eq!((hold.bytes(), budget.available_permits()), (0, 100));
        assert_eq!(hold_response(&budget, None, 10).bytes(), 0);
    }

    #[test]
    fn an_oversized_response_takes_the_difference_only_when_it_is_free() {
        let budget = Arc::new(Semaphore::new(100));
        let hold = hold_response(&budget, Some(reserve(&budget, 40)), 70);
        assert_eq!((hold.bytes(), budget.available_permits()), (70, 30));
        let other = reserve(&budget, 30);
        let second = hold_response(&budget, Some(reserve(&budget, 0)), 0);
        assert_eq!(second.bytes(), 0);
        drop(other);
        let rooms = reserve(&budget, 20);
        let tight = hold_response(&budget, Some(rooms), 50);
        assert_eq!((tight.bytes(), budget.available_permits()), (20, 10));
    }
}
