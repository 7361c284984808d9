//! Kill points, for emberflow's own crash tests (not an API): with
//! `EMBERFLOW_KILL_POINT=<name>:<n>` in the environment of a process, the context it creates
//! aborts the process (no destructor, no flush: what a SIGKILL leaves on disk) the `n`-th
//! time execution passes the point `name`. Points sit where a crash is most telling: between
//! a write and what makes it count. Read once per context, counted per context.

use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the kill point.
pub const ENV: &str = "EMBERFLOW_KILL_POINT";

/// The armed point of one context, if any.
#[derive(Default)]
pub(crate) struct KillPoints {
    target: Option<(String, u64)>,
    passes: AtomicU64,
}

impl KillPoints {
    pub(crate) fn from_env() -> Self {
        let target = std::env::var(ENV).ok().and_then(|v| {
            let (name, n) = v.rsplit_once(':')?;
            Some((name.to_owned(), n.parse().ok()?))
        });
        KillPoints {
            target,
            passes: AtomicU64::new(0),
        }
    }

    pub(crate) fn pass(&self, name: &str) {
        let Some((target, n)) = &self.target else {
            return;
        };
        if target == name && self.passes.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            log::warn!("kill point {name} reached (pass {n}): aborting");
            std::process::abort();
        }
    }
}

/// Passes the kill point `name` of `ctx`'s process (see the module docs).
#[doc(hidden)]
pub fn kill_point(ctx: &crate::Context, name: &str) {
    ctx.inner.kill.pass(name);
}
