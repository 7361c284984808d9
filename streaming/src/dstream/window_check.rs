//! What every windowed node checks and how the fingerprint names it (shared by the windows
//! of `windowed.rs` and the per-partition windows of a group-partitioned job).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::time::Time;

/// How the graph fingerprint describes a windowed node.
pub(crate) fn window_fingerprint(kind: &str, window: Duration, slide: Duration) -> String {
    format!(
        "{kind} window={}ms slide={}ms",
        window.as_millis(),
        slide.as_millis()
    )
}

/// Checks a window's durations against its parent's slide: neither zero, both multiples of
/// it.
pub(crate) fn check_window(
    window: Duration,
    slide: Duration,
    parent_slide: Duration,
) -> Result<()> {
    let ms = |d: Duration| Time::from_millis(d.as_millis() as u64);
    // A zero duration is a multiple of anything, and such a stream would never emit.
    for (what, d) in [("window duration", window), ("slide duration", slide)] {
        if d.is_zero() {
            return Err(Error::ZeroDuration {
                what,
                base: "parent slide (batch interval)",
                base_ms: parent_slide.as_millis() as u64,
            });
        }
    }
    if !ms(window).is_multiple_of(parent_slide) {
        return Err(crate::services::not_a_multiple(
            "window duration",
            window,
            "parent slide (batch interval)",
            parent_slide,
        ));
    }
    if !ms(slide).is_multiple_of(parent_slide) {
        return Err(crate::services::not_a_multiple(
            "slide duration",
            slide,
            "parent slide (batch interval)",
            parent_slide,
        ));
    }
    Ok(())
}
