//! Crate-private macros.

/// A `tracing` trace event when the `tracing` feature is on; nothing at all otherwise.
macro_rules! trace {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            tracing::trace!($($arg)*);
        }
    };
}
