//! Small internal helpers: the recurring timer.

pub(crate) mod recurring_timer;
