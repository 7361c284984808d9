//! Backpressure: a PID controller estimates, after every batch, the rate at which the job
//! processes records, and every source's rate hook (`Source::set_rate_limit`) is set to it,
//! so input never outruns processing for long (Spark's `PIDRateEstimator` and
//! `RateController`, with Spark's defaults).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::listener::{BatchInfo, StreamingListener};
use crate::plumbing::InputBase;

/// Estimates the rate (records per second) a job can take, from each batch's records,
/// processing and scheduling delay: a PID controller on the difference between the rate it
/// allowed and the rate processed, with the scheduling delay's backlog as the integral term.
///
/// ```
/// use emberflow_streaming::PidRateEstimator;
/// use std::time::Duration;
/// let mut pid = PidRateEstimator::new(Duration::from_secs(1));
/// // The first batch only measures: 10,000 records in 2 s, 0 s late.
/// assert_eq!(pid.compute(1_000, 10_000, 2_000, 0), None);
/// // The next, as slow and now 1 s late: the rate drops below what was processed.
/// let rate = pid.compute(2_000, 10_000, 2_000, 1_000).unwrap();
/// assert!(rate < 5_000.0, "{rate}");
/// ```
///
/// # Spark
/// The same controller and defaults (`spark.streaming.backpressure.pid.*`): proportional
/// 1.0, integral 0.2, derivative 0.0, minimum rate 100 records/s.
#[derive(Clone, Debug)]
pub struct PidRateEstimator {
    batch_interval_ms: f64,
    proportional: f64,
    integral: f64,
    derivative: f64,
    min_rate: f64,
    first: bool,
    latest_time: u64,
    latest_rate: f64,
    latest_error: f64,
}

impl PidRateEstimator {
    /// An estimator with Spark's defaults, for batches every `batch_interval`.
    pub fn new(batch_interval: Duration) -> Self {
        Self::with_gains(batch_interval, 1.0, 0.2, 0.0, 100.0)
    }

    /// An estimator with its own gains and minimum rate (records per second).
    pub fn with_gains(
        batch_interval: Duration,
        proportional: f64,
        integral: f64,
        derivative: f64,
        min_rate: f64,
    ) -> Self {
        PidRateEstimator {
            batch_interval_ms: (batch_interval.as_millis() as f64).max(1.0),
            proportional,
            integral,
            derivative,
            min_rate: min_rate.max(0.0),
            first: true,
            latest_time: 0,
            latest_rate: -1.0,
            latest_error: -1.0,
        }
    }

    /// A batch completed at `time_ms` (milliseconds) with `elements` records, processed in
    /// `processing_delay_ms` after waiting `scheduling_delay_ms`: the new rate, once the
    /// estimator has a previous batch to compare with (`None` for the first, for batches
    /// without records, and for those that took no time).
    pub fn compute(
        &mut self,
        time_ms: u64,
        elements: u64,
        processing_delay_ms: u64,
        scheduling_delay_ms: u64,
    ) -> Option<f64> {
        if time_ms <= self.latest_time || elements == 0 || processing_delay_ms == 0 {
            return None;
        }
        let since_update = (time_ms - self.latest_time) as f64 / 1000.0;
        let processing_rate = elements as f64 / processing_delay_ms as f64 * 1000.0;
        let error = self.latest_rate - processing_rate;
        // The backlog the scheduling delay stands for, as a rate over one batch interval.
        let historical_error =
            scheduling_delay_ms as f64 * processing_rate / self.batch_interval_ms;
        let d_error = (error - self.latest_error) / since_update;
        let new_rate = (self.latest_rate
            - self.proportional * error
            - self.integral * historical_error
            - self.derivative * d_error)
            .max(self.min_rate);
        self.latest_time = time_ms;
        if self.first {
            self.latest_rate = processing_rate;
            self.latest_error = 0.0;
            self.first = false;
            return None;
        }
        self.latest_rate = new_rate;
        self.latest_error = error;
        Some(new_rate)
    }

    /// [`compute`](Self::compute) for a completed batch, of which one input gave `records`.
    pub fn batch_completed(&mut self, info: &BatchInfo, records: u64) -> Option<f64> {
        let (end, processing, scheduling) = (
            info.processing_end_time?,
            info.processing_delay()?,
            info.scheduling_delay()?,
        );
        self.compute(
            end.millis(),
            records,
            processing.as_millis() as u64,
            scheduling.as_millis() as u64,
        )
    }
}

/// Feeds every input's rate hook from its own estimator after each batch (an engine
/// listener: it runs where the batch completes, before the next batch is decided).
pub(crate) struct RateController {
    inputs: Vec<(usize, Arc<dyn InputBase>)>,
    estimators: Mutex<BTreeMap<usize, PidRateEstimator>>,
}

impl RateController {
    pub(crate) fn new(inputs: Vec<(usize, Arc<dyn InputBase>)>, batch_interval: Duration) -> Self {
        let estimators = inputs
            .iter()
            .map(|(id, _)| (*id, PidRateEstimator::new(batch_interval)))
            .collect();
        RateController {
            inputs,
            estimators: Mutex::new(estimators),
        }
    }
}

impl StreamingListener for RateController {
    fn on_batch_completed(&self, info: &BatchInfo) {
        let mut estimators = self.estimators.lock();
        for (id, input) in &self.inputs {
            let elements = info.records_per_input.get(id).copied().unwrap_or(0);
            let Some(pid) = estimators.get_mut(id) else {
                continue;
            };
            if let Some(rate) = pid.batch_completed(info, elements) {
                log::debug!("backpressure: {} at {rate:.0} records/s", input.name());
                input.set_rate_limit(Some(rate.round().max(1.0) as u64));
            }
        }
    }
}
