//! `Interest` (which readiness to watch) and `Mode` (how it is reported).

use std::fmt;
use std::num::NonZeroU8;
use std::ops;

const READABLE: u8 = 0b01;
const WRITABLE: u8 = 0b10;

/// The readiness a registration asks for: readable, writable, or both. Never empty.
///
/// Error and hang-up conditions are reported whatever the interest, as the kernels do.
///
/// ```
/// use selectio::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert_eq!(both, Interest::BOTH);
/// assert_eq!(both.remove(Interest::WRITABLE), Some(Interest::READABLE));
/// assert_eq!(Interest::READABLE.remove(Interest::READABLE), None); // never empty
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(NonZeroU8);

impl Interest {
    /// Interest in read readiness.
    pub const READABLE: Interest = Interest(match NonZeroU8::new(READABLE) {
        Some(v) => v,
        None => unreachable!(),
    });
    /// Interest in write readiness.
    pub const WRITABLE: Interest = Interest(match NonZeroU8::new(WRITABLE) {
        Some(v) => v,
        None => unreachable!(),
    });
    /// Interest in both read and write readiness.
    pub const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

    /// The union of two interests.
    #[must_use]
    pub const fn add(self, other: Interest) -> Interest {
        match NonZeroU8::new(self.0.get() | other.0.get()) {
            Some(v) => Interest(v),
            None => unreachable!(),
        }
    }

    /// `self` without `other`, or `None` if nothing would be left (an interest is never empty).
    #[must_use]
    pub const fn remove(self, other: Interest) -> Option<Interest> {
        match NonZeroU8::new(self.0.get() & !other.0.get()) {
            Some(v) => Some(Interest(v)),
            None => None,
        }
    }

    /// Whether read readiness is asked for.
    pub const fn is_readable(self) -> bool {
        self.0.get() & READABLE != 0
    }

    /// Whether write readiness is asked for.
    pub const fn is_writable(self) -> bool {
        self.0.get() & WRITABLE != 0
    }
}

impl ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl ops::BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        *self = self.add(other);
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            _ => f.write_str("WRITABLE"),
        }
    }
}

/// How readiness is reported for a registration.
///
/// `Level` and `Oneshot` work on every backend; `Edge` only where the kernel has it, so
/// ask the selector first ([`EventLoop::reregister`](crate::EventLoop::reregister) shows
/// Oneshot's re-arming):
///
/// ```
/// use selectio::{EventLoop, Handler, Mode, Selector};
///
/// struct App;
///
/// impl Handler for App {
///     type Timeout = ();
///     type Message = ();
/// }
///
/// let el: EventLoop<App> = EventLoop::new()?;
/// let caps = el.selector().capabilities();
/// let mode = if caps.supports(Mode::Edge) { Mode::Edge } else { Mode::Level };
/// println!("{} registers in {} mode", el.selector().name(), mode.name());
/// assert_eq!("oneshot".parse::<Mode>()?, Mode::Oneshot);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Reported by every `select` while the condition holds (until the data is drained).
    Level,
    /// Reported when the condition newly arises (new data, new buffer space); offered only
    /// where the kernel has it, see [`Capabilities`](crate::selector::Capabilities).
    Edge,
    /// Reported once, then the registration is disarmed until `reregister`.
    Oneshot,
}

impl Mode {
    /// All modes, in declaration order.
    pub const ALL: [Mode; 3] = [Mode::Level, Mode::Edge, Mode::Oneshot];

    /// The mode's name in lower case: `level`, `edge`, `oneshot`.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Level => "level",
            Mode::Edge => "edge",
            Mode::Oneshot => "oneshot",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = std::io::Error;

    /// Parses a mode name, in any case; another is `InvalidInput` listing the valid names.
    fn from_str(s: &str) -> std::io::Result<Mode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("selectio: unknown mode {s:?}; valid names: level, edge, oneshot"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_parse_back() {
        for mode in Mode::ALL {
            assert_eq!(mode.name().parse::<Mode>().unwrap(), mode);
            assert_eq!(mode.name().to_uppercase().parse::<Mode>().unwrap(), mode);
        }
        let err = "fast".parse::<Mode>().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("\"fast\""), "{err}");
    }

    #[test]
    fn interest_algebra() {
        assert_eq!(Interest::READABLE | Interest::WRITABLE, Interest::BOTH);
        assert_eq!(
            Interest::BOTH.remove(Interest::READABLE),
            Some(Interest::WRITABLE)
        );
        assert_eq!(Interest::READABLE.remove(Interest::READABLE), None);
        assert!(Interest::BOTH.is_readable() && Interest::BOTH.is_writable());
        assert!(!Interest::READABLE.is_writable());
        assert_eq!(format!("{:?}", Interest::BOTH), "READABLE | WRITABLE");
    }
}
