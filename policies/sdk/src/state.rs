//! The state a policy keeps between batches. The host stores it as opaque
//! bytes; postcard makes those bytes compact and deterministic.

use serde::{Serialize, de::DeserializeOwned};

/// Reads the state the previous call returned; the first call of a transit
/// gets empty bytes and so `T::default()`.
pub(crate) fn load<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, String> {
    if bytes.is_empty() {
        return Ok(T::default());
    }
    postcard::from_bytes(bytes).map_err(|e| format!("state from the previous batch is unreadable: {e}"))
}

/// Encodes the state to hand back to the host, into a buffer as large as
/// the previous state's: a state seldom changes size, and a buffer grown
/// from nothing is reallocated at every doubling. A policy without a state
/// allocates nothing; a transit's first call grows its buffer once.
pub(crate) fn save<T: Serialize>(state: &T, previous_bytes: usize) -> Result<Vec<u8>, String> {
    postcard::to_extend(state, Vec::with_capacity(previous_bytes))
        .map_err(|e| format!("state could not be encoded: {e}"))
}
