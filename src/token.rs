//! `Token`: the user's tag for a registration, echoed back in every event.

/// Associates readiness events with a registration.
///
/// A token is chosen by the caller at `register` time and returned in each [`Event`]
/// for that registration. [`Token::RESERVED`] (`usize::MAX`) belongs to the selectors'
/// wake path on every backend and is refused with `InvalidInput`; [`Token::EVENT_LOOP`]
/// (`usize::MAX - 1`) belongs to the [`EventLoop`](crate::EventLoop)'s own source, and
/// the loop refuses it the same way.
///
/// A token is usually an index into the caller's table of connections:
///
/// ```
/// use selectio::Token;
///
/// let names = ["listener", "client"];
/// let token = Token(1); // registered with the client
/// assert_eq!(names[token.0], "client");
/// assert_eq!(usize::from(token), 1);
/// ```
///
/// [`Event`]: crate::Event
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub usize);

impl Token {
    /// The one token no registration may use: backends tag their waker with it.
    pub const RESERVED: Token = Token(usize::MAX);

    /// The token an [`EventLoop`](crate::EventLoop) gives its own source in its
    /// selector: the self-pipe of [`watch_signal`](crate::EventLoop::watch_signal).
    /// The loop's `register`, `reregister`, `connect` and `listen` refuse it with
    /// `InvalidInput`, whether or not a signal is watched; a [`Selector`](crate::Selector)
    /// used on its own accepts it, but not the selector of a loop
    /// ([`EventLoop::selector`](crate::EventLoop::selector)) if you register on it directly.
    pub const EVENT_LOOP: Token = Token(usize::MAX - 1);
}

impl From<usize> for Token {
    fn from(value: usize) -> Token {
        Token(value)
    }
}

impl From<Token> for usize {
    fn from(token: Token) -> usize {
        token.0
    }
}
