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

/// Encodes the state to hand back to the host.
pub(crate) fn save<T: Serialize>(state: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(state).map_err(|e| format!("state could not be encoded: {e}"))
}
