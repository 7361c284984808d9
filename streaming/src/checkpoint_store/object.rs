//! The checkpoint store on an object store (S3 and S3-compatible services), through the
//! `object_store` crate.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use parking_lot::Mutex;

use super::{check_name, CheckpointStore};
use crate::error::{Error, Result};

/// A [`CheckpointStore`] in a bucket of an object store: every object a `PUT` (atomic on
/// S3), `put_new` a conditional `PUT` (`If-None-Match: *`, which S3 and the common
/// S3-compatible servers honour).
///
/// The engine's code is synchronous; each call runs its request on the store's own
/// one-thread tokio runtime, one request at a time (checkpoints are few and small).
pub struct ObjectCheckpointStore {
    store: Box<dyn ObjectStore>,
    prefix: Path,
    url: String,
    runtime: Mutex<tokio::runtime::Runtime>,
}

impl ObjectCheckpointStore {
    /// The store at `url` (`s3://bucket/some/prefix`), with `object_store`'s options for it
    /// (`aws_endpoint`, `aws_region`, `aws_access_key_id`, `aws_secret_access_key`,
    /// `aws_allow_http`, …); options not given come from the `AWS_*` environment variables.
    ///
    /// ```no_run
    /// use emberflow_streaming::checkpoint_store::ObjectCheckpointStore;
    /// let store = ObjectCheckpointStore::from_url(
    ///     "s3://checkpoints/orders",
    ///     [("aws_endpoint", "http://127.0.0.1:9000"), ("aws_allow_http", "true")],
    /// )?;
    /// # Ok::<(), emberflow_streaming::Error>(())
    /// ```
    pub fn from_url<I, K, V>(url: &str, options: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let bad =
            |reason: String| Error::InvalidConfig(format!("checkpoint store {url}: {reason}"));
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let mut opts: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        opts.extend(
            options
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into())),
        );
        let (store, prefix) =
            object_store::parse_url_opts(&parsed, opts).map_err(|e| bad(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start its runtime: {e}")))?;
        Ok(ObjectCheckpointStore {
            store,
            prefix,
            url: url.to_owned(),
            runtime: Mutex::new(runtime),
        })
    }

    fn path(&self, name: &str) -> Result<Path> {
        check_name(name)?;
        Ok(name
            .split('/')
            .fold(self.prefix.clone(), |p, part| p.child(part)))
    }

    fn failed(&self, operation: &str, name: &str, e: object_store::Error) -> Error {
        Error::Store {
            store: self.url.clone(),
            operation: format!("{operation} {name}"),
            reason: e.to_string(),
        }
    }

    fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.lock().block_on(f)
    }
}

impl CheckpointStore for ObjectCheckpointStore {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(name)?;
        let payload = PutPayload::from(bytes.to_vec());
        self.run(self.store.put(&path, payload))
            .map(|_| ())
            .map_err(|e| self.failed("put", name, e))
    }

    fn put_new(&self, name: &str, bytes: &[u8]) -> Result<bool> {
        let path = self.path(name)?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let payload = PutPayload::from(bytes.to_vec());
        match self.run(self.store.put_opts(&path, payload, opts)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.failed("create", name, e)),
        }
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name)?;
        let got = self.run(async {
            let r = self.store.get(&path).await?;
            r.bytes().await
        });
        match got {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed("get", name, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        // Listing goes by whole path parts: the directory part of the prefix is listed, the
        // rest filters.
        let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let base = if dir.is_empty() {
            self.prefix.clone()
        } else {
            self.path(dir)?
        };
        let metas: Vec<_> = self
            .run(self.store.list(Some(&base)).try_collect())
            .map_err(|e| self.failed("list", prefix, e))?;
        let root = self.prefix.as_ref();
        let mut out: Vec<String> = metas
            .into_iter()
            .filter_map(|m| {
                let full = m.location.as_ref();
                let rel = if root.is_empty() {
                    full
                } else {
                    full.strip_prefix(root)?.strip_prefix('/')?
                };
                rel.starts_with(prefix).then(|| rel.to_owned())
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        match self.run(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", name, e)),
        }
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}
