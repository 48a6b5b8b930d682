//! `Token`: the user's tag for a registration, echoed back in every event.

/// Associates readiness events with a registration.
///
/// A token is chosen by the caller at `register` time and returned in each [`Event`]
/// for that registration. [`Token::RESERVED`] (`usize::MAX`) belongs to the selectors'
/// wake path on every backend and is refused with `InvalidInput`.
///
/// [`Event`]: crate::Event
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub usize);

impl Token {
    /// The one token no registration may use: backends tag their waker with it.
    pub const RESERVED: Token = Token(usize::MAX);
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
