//! A cursor over one line's tokens, with errors that say what was expected and where.

use super::lex::{Kind, Token};

/// A syntax error in one line: byte range, offending text, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// Byte offset of the offending text.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// The offending text (empty at the end of the line).
    pub found: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// The result of parsing part of a line.
pub type Parsed<T> = Result<T, LineError>;

/// A token's text as it reads in a message.
pub fn shown(t: &Token) -> String {
    match t.kind {
        Kind::Str => super::lex::quote(&t.value),
        _ => t.value.clone(),
    }
}

/// Reads the tokens of one statement left to right.
pub struct Cursor<'t> {
    tokens: &'t [Token],
    pos: usize,
    /// Byte offset of the end of the line's content, for "missing" errors.
    eol: usize,
}

impl<'t> Cursor<'t> {
    /// A cursor at the first token; `eol` is where errors about missing text point.
    pub fn new(tokens: &'t [Token], eol: usize) -> Cursor<'t> {
        Cursor {
            tokens,
            pos: 0,
            eol,
        }
    }

    /// The next token, not consumed.
    pub fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.pos)
    }

    /// The token after the next one, not consumed.
    pub fn peek2(&self) -> Option<&'t Token> {
        self.tokens.get(self.pos + 1)
    }

    /// Consumes and returns the next token.
    pub fn bump(&mut self) -> Option<&'t Token> {
        let t = self.tokens.get(self.pos)?;
        self.pos += 1;
        Some(t)
    }

    /// True when every token has been read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// True when the next token is the keyword.
    pub fn peek_is(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(keyword))
    }

    /// Consumes the keyword if it is next.
    pub fn eat(&mut self, keyword: &str) -> bool {
        let yes = self.peek_is(keyword);
        if yes {
            self.pos += 1;
        }
        yes
    }

    /// Consumes a token of this kind if it is next.
    pub fn eat_kind(&mut self, kind: Kind) -> bool {
        let yes = self.peek().is_some_and(|t| t.kind == kind);
        if yes {
            self.pos += 1;
        }
        yes
    }

    /// An error at the next token (or the end of the line) saying what was expected.
    pub fn expected(&self, what: &str) -> LineError {
        match self.peek() {
            Some(t) => LineError {
                start: t.start,
                end: t.end,
                found: shown(t),
                message: format!("expected {what}, found `{}`", shown(t)),
            },
            None => self.missing(what),
        }
    }

    /// An error at the end of the line: `what` is missing.
    pub fn missing(&self, what: &str) -> LineError {
        LineError {
            start: self.eol,
            end: self.eol,
            found: String::new(),
            message: format!("expected {what}, but the line ends here"),
        }
    }

    /// An error about a token already read.
    pub fn error_at(t: &Token, message: impl Into<String>) -> LineError {
        LineError {
            start: t.start,
            end: t.end,
            found: shown(t),
            message: message.into(),
        }
    }

    /// Consumes the keyword or fails saying it was expected.
    pub fn expect(&mut self, keyword: &str) -> Parsed<&'t Token> {
        match self.peek() {
            Some(t) if t.is_word(keyword) => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.expected(&format!("`{keyword}`"))),
        }
    }

    /// A word or a quoted string (a name, a value).
    pub fn text(&mut self, what: &str) -> Parsed<&'t Token> {
        match self.peek() {
            Some(t) if matches!(t.kind, Kind::Word | Kind::Str) => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A comma-separated list of at least one item.
    pub fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Parsed<T>) -> Parsed<Vec<T>> {
        let mut out = vec![item(self)?];
        while self.eat_kind(Kind::Comma) {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// Fails unless every token has been read.
    pub fn finish(&self, what: &str) -> Parsed<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.expected(what)),
        }
    }
}
