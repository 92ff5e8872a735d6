//! The background services that follow the live runtime and act on the
//! backends it holds: the outlier [`Ejector`] and the weight
//! [`Refresher`]. They sit above the runtime and the backends (they read
//! both, and nothing they read imports them back);
//! [`Fairway::background_services`](crate::Fairway::background_services)
//! starts them, with the health checker, the reloader and discovery.

mod eject;
mod refresh;

pub use eject::{sweep, Ejector, FOLLOW_PERIOD};
pub use refresh::Refresher;
