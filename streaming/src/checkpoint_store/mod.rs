//! Where checkpoints live when several processes share them: the [`CheckpointStore`] trait
//! (a flat namespace of small objects with an atomic create-if-absent), its local-directory
//! implementation [`LocalDirStore`] and, with the `s3` feature, `ObjectCheckpointStore` on
//! any S3-compatible service. [`PartitionLease`] builds generation fencing on it: the owner
//! of a partition writes its checkpoints under the generation it claimed, and a member that
//! lost the partition (a zombie) can no longer have a checkpoint of its read by anyone.

mod lease;
mod local;
#[cfg(feature = "s3")]
mod object;

pub use lease::{check_graph, PartitionLease, Restored};
pub use local::LocalDirStore;
#[cfg(feature = "s3")]
pub use object::ObjectCheckpointStore;

use crate::error::Result;

/// A store of checkpoint objects shared by every member of a job.
///
/// Names are `/`-separated relative paths (`partitions/orders-3/claim-…`). Every write is
/// atomic: a reader sees an object whole or not at all. [`put_new`](Self::put_new) is the one
/// conditional operation fencing needs: it creates an object only if no object of that name
/// exists, and exactly one of several racing writers succeeds.
///
/// ```
/// use emberflow_streaming::checkpoint_store::{CheckpointStore, LocalDirStore};
/// let dir = tempfile::tempdir()?;
/// let store = LocalDirStore::new(dir.path())?;
/// assert!(store.put_new("a/claim-1", b"me")?);
/// assert!(!store.put_new("a/claim-1", b"you")?, "the first writer won");
/// assert_eq!(store.get("a/claim-1")?.as_deref(), Some(&b"me"[..]));
/// assert_eq!(store.list("a/")?, vec!["a/claim-1".to_string()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CheckpointStore: Send + Sync + 'static {
    /// Writes `bytes` under `name`, replacing what was there, atomically and durably.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<()>;
    /// Creates `name` with `bytes` if no object has that name: `true` if this call created
    /// it, `false` if it existed (its content is left as it was).
    fn put_new(&self, name: &str, bytes: &[u8]) -> Result<bool>;
    /// The content of `name`, `None` if there is no such object.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// The names starting with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Removes `name`; removing a missing object is not an error.
    fn delete(&self, name: &str) -> Result<()>;
    /// Where the store is, for messages (a directory, a URL).
    fn describe(&self) -> String;
}

/// Checks a name: relative, `/`-separated, no empty, `.` or `..` part (a name must not
/// escape the store).
pub(crate) fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        return Err(crate::error::Error::InvalidConfig(format!(
            "checkpoint object name {name:?} must be a relative path of non-empty parts"
        )));
    }
    Ok(())
}
