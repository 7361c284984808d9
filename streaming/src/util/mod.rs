//! Small internal helpers: the recurring timer, record framing.

pub(crate) mod framing;
pub(crate) mod recurring_timer;
