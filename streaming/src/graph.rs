//! The DStream graph of one StreamingContext: every node in creation order, the input
//! streams, the output operations, the zero time, and the settings nodes need. Nodes hold a
//! weak reference to it; handles hold a strong one, so the graph lives as long as any handle
//! and no reference cycle runs through it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use emberflow_core::Context;
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::plumbing::{DStreamBase, InputBase, OutputBase};
use crate::services::{Services, StreamingConfig};
use crate::time::Time;

pub(crate) struct Graph {
    /// What the nodes, the scheduler and receivers share (the graph reads them through
    /// `Deref`).
    pub(crate) services: Arc<Services>,
    next_id: AtomicUsize,
    nodes: Mutex<Vec<Arc<dyn DStreamBase>>>,
    inputs: Mutex<Vec<(usize, Arc<dyn InputBase>)>>,
    outputs: Mutex<Vec<Arc<dyn OutputBase>>>,
    pub(crate) started: AtomicBool,
    remember: Mutex<Option<Duration>>,
    /// Set by a restart from a checkpoint, taken by `start`.
    pub(crate) recovery: Mutex<Option<Recovery>>,
}

/// What a restart from a checkpoint hands to `start`.
#[derive(Clone, Debug)]
pub(crate) struct Recovery {
    pub(crate) zero_time: Time,
    /// The restored checkpoint's sequence number; the next one written continues from it.
    pub(crate) sequence: u64,
    pub(crate) pending: Vec<Time>,
    pub(crate) last_generated: Option<Time>,
    /// Each stream's checkpoint data, by stream id.
    pub(crate) streams: std::collections::BTreeMap<usize, Vec<u8>>,
}

impl std::ops::Deref for Graph {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

impl Graph {
    pub(crate) fn new(
        ctx: &Context,
        batch_interval: Duration,
        clock: Arc<dyn Clock>,
        config: StreamingConfig,
    ) -> Self {
        let config_remember = config.remember;
        Graph {
            services: Arc::new(Services::new(ctx, batch_interval, clock, config)),
            next_id: AtomicUsize::new(0),
            nodes: Mutex::new(Vec::new()),
            inputs: Mutex::new(Vec::new()),
            outputs: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
            remember: Mutex::new(config_remember),
            recovery: Mutex::new(None),
        }
    }

    pub(crate) fn new_id(&self) -> usize {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn add_node(&self, node: Arc<dyn DStreamBase>) {
        if self.started.load(Ordering::SeqCst) {
            log::warn!(
                "DStream {} ({}) created after the StreamingContext started; it is not part of the running graph",
                node.id(),
                node.kind()
            );
        }
        self.nodes.lock().push(node);
    }

    pub(crate) fn add_input(&self, stream_id: usize, input: Arc<dyn InputBase>) {
        self.inputs.lock().push((stream_id, input));
    }

    /// Input streams with their stream ids, in creation order.
    pub(crate) fn inputs(&self) -> Vec<(usize, Arc<dyn InputBase>)> {
        self.inputs.lock().clone()
    }

    pub(crate) fn add_output(&self, output: Arc<dyn OutputBase>) {
        if self.started.load(Ordering::SeqCst) {
            log::error!(
                "output operation {} added after the StreamingContext started is ignored; declare outputs before start()",
                output.name()
            );
            return;
        }
        self.outputs.lock().push(output);
    }

    pub(crate) fn outputs(&self) -> Vec<Arc<dyn OutputBase>> {
        self.outputs.lock().clone()
    }

    pub(crate) fn nodes(&self) -> Vec<Arc<dyn DStreamBase>> {
        self.nodes.lock().clone()
    }

    /// Raises the graph-wide remember duration.
    pub(crate) fn remember_at_least(&self, d: Duration) {
        let mut r = self.remember.lock();
        *r = Some(r.map_or(d, |cur| cur.max(d)));
    }

    pub(crate) fn remember_min(&self) -> Option<Duration> {
        *self.remember.lock()
    }

    /// Checks the graph can run: outputs exist, every node's durations fit the batch
    /// interval, inputs are ready.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.outputs.lock().is_empty() {
            return Err(Error::InvalidGraph(
                "no output operations are registered, so there is nothing to execute; add print(), foreach_rdd() or save_as_text_files() before start()".into(),
            ));
        }
        for node in self.nodes() {
            let slide = node.slide_duration();
            if !Time::from_millis(crate::time::millis(slide)).is_multiple_of(self.batch_interval) {
                return Err(crate::services::not_a_multiple(
                    "slide duration",
                    slide,
                    "batch interval",
                    self.batch_interval,
                ));
            }
            node.validate(self.batch_interval)?;
        }
        for (_, input) in self.inputs() {
            input.validate()?;
        }
        Ok(())
    }

    /// Sets every node's remember duration: at least its slide, what `remember` asked for,
    /// and what its children need (windows look back).
    pub(crate) fn init_remember(&self, minimum: Option<Duration>) {
        let from_outputs = || -> Vec<(Arc<dyn DStreamBase>, Duration)> {
            self.outputs()
                .into_iter()
                .map(|o| (o.stream(), minimum.unwrap_or_default()))
                .collect()
        };
        let mut stack = from_outputs();
        while let Some((node, need)) = stack.pop() {
            if node.require_remember(need) {
                let own = node.remember_duration();
                let for_parents = node.parent_remember(own);
                for dep in node.dependencies() {
                    stack.push((dep, for_parents));
                }
            }
        }
        // Sources keep their bookkeeping (files, ranges, blocks of each batch) for as long as
        // a restart, with every memo empty, may recompute their batches: through nodes that
        // hold their data (whose parents remember only their own batch), as far back as the
        // nodes above them look.
        let mut reach: std::collections::HashMap<usize, Duration> = Default::default();
        let mut stack = from_outputs();
        while let Some((node, need)) = stack.pop() {
            let need = need.max(node.slide_duration());
            let seen = reach.entry(node.id()).or_default();
            if *seen >= need && !seen.is_zero() {
                continue;
            }
            *seen = need;
            let deps = node.dependencies();
            if deps.is_empty() {
                node.require_remember(need);
            }
            let for_parents = node.parent_recompute(need);
            for dep in deps {
                stack.push((dep, for_parents));
            }
        }
    }

    /// Every node in creation order, as the checkpoint fingerprint records it.
    pub(crate) fn fingerprint(&self) -> Vec<crate::checkpoint::NodePrint> {
        self.nodes()
            .iter()
            .map(|n| crate::checkpoint::NodePrint {
                id: n.id(),
                description: n.fingerprint(),
            })
            .collect()
    }

    /// Forgets the RDDs of every node that fall out of its remember duration after `time`,
    /// and the input bookkeeping of batches before it except those in `keep` (failed
    /// batches a restart runs again).
    pub(crate) fn clear_metadata(&self, time: Time, keep: &BTreeSet<Time>) {
        for node in self.nodes() {
            node.forget(time);
        }
        let nodes = self.nodes();
        for (id, input) in self.inputs() {
            // An input keeps what its stream remembers (stateful streams downstream need
            // the batches since their last written state to recompute after a restart).
            let remember = nodes
                .iter()
                .find(|n| n.id() == id)
                .map_or(Duration::ZERO, |n| n.remember_duration());
            input.forget(time.saturating_sub(remember), keep);
        }
    }
}
