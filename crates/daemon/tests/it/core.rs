//! The loop against the in-process sim with native plugins: order, gaps, isolation, faults,
//! restarts.

pub(crate) mod support;

mod delivery;
mod faults;
mod load;
mod operator;
mod reload;
mod tasks;
