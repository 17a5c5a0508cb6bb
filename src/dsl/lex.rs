//! Lexing: one line of DSL text into tokens, with nom.
//!
//! The DSL is line-oriented, so the lexer works a line at a time and every token carries its
//! byte range in that line (columns for messages are computed from it). Tokens:
//!
//! - words: runs of characters other than white space and `, = { } ( ) " #`. A `[` inside a
//!   word opens a bracketed part that runs to the matching `]` and may hold anything,
//!   including spaces and `'quoted'` text: `tags['cost center']`,
//!   `[subscription().tags['env']]`;
//! - quoted strings `"..."` with the escapes `\"`, `\\`, `\n`, `\r`, `\t` and `\u{XXXX}`;
//! - the punctuation `,` `=` `{` `}` `(` `)`;
//! - `#` starts a comment that runs to the end of the line (outside strings and brackets).

use nom::branch::alt;
use nom::character::complete::{char, multispace0, one_of};
use nom::combinator::{map, opt, value};
use nom::error::{ErrorKind, ParseError};
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A bare word.
    Word,
    /// A quoted string (its value has the escapes undone).
    Str,
    /// `,`
    Comma,
    /// `=`
    Eq,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `(`
    LParen,
    /// `)`
    RParen,
}

/// One token of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// The word, the string's value, or the punctuation character.
    pub value: String,
    /// Byte offset of its first character in the line.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

impl Token {
    /// True for a word equal to `keyword` (keywords are matched case-insensitively).
    pub fn is_word(&self, keyword: &str) -> bool {
        self.kind == Kind::Word && self.value.eq_ignore_ascii_case(keyword)
    }
}

/// A lexing failure: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// Byte offset of the offending text in the line.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// nom's error for the lexer: the input where it failed and a message.
#[derive(Debug)]
struct Fail<'a> {
    input: &'a str,
    /// Length of the offending text (at least one character where there is one).
    len: usize,
    message: &'static str,
}

impl<'a> ParseError<&'a str> for Fail<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        Fail {
            input,
            len: input.chars().next().map_or(0, char::len_utf8),
            message: "unexpected character",
        }
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a str, T, Fail<'a>>;

fn fail<'a, T>(input: &'a str, len: usize, message: &'static str) -> Res<'a, T> {
    Err(nom::Err::Failure(Fail {
        input,
        len,
        message,
    }))
}

/// Characters that end a bare word (outside a bracketed part).
const STOP: &str = ",={}()\"#";

/// A bare word, with bracketed parts (`[...]`) that may hold anything.
fn word(input: &str) -> Res<'_, (Kind, String)> {
    let mut depth = 0usize;
    let mut quoted = false;
    let mut end = input.len();
    let mut open_at = 0;
    for (i, c) in input.char_indices() {
        if depth > 0 {
            if quoted {
                quoted = c != '\'';
                continue;
            }
            match c {
                '\'' => quoted = true,
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() || STOP.contains(c) {
            end = i;
            break;
        }
        if c == '[' {
            depth = 1;
            open_at = i;
        }
    }
    if depth > 0 {
        return fail(
            &input[open_at..],
            1,
            "`[` is never closed: expected a matching `]` on this line",
        );
    }
    if end == 0 {
        return Err(nom::Err::Error(Fail::from_error_kind(
            input,
            ErrorKind::Alpha,
        )));
    }
    Ok((&input[end..], (Kind::Word, input[..end].to_string())))
}

/// A quoted string; escapes are undone.
fn string(input: &str) -> Res<'_, (Kind, String)> {
    let (mut rest, _) = char('"').parse(input)?;
    let mut out = String::new();
    loop {
        match rest.chars().next() {
            None => {
                return fail(
                    input,
                    input.len(),
                    "this string is never closed: expected a closing `\"` on this line",
                )
            }
            Some('"') => return Ok((&rest[1..], (Kind::Str, out))),
            Some('\\') => {
                let (after, c) = escape(&rest[1..]).map_err(|_| {
                    nom::Err::Failure(Fail {
                        input: rest,
                        len: rest.chars().take(2).map(char::len_utf8).sum(),
                        message: "unknown escape: expected \\\", \\\\, \\n, \\r, \\t or \\u{XXXX}",
                    })
                })?;
                out.push(c);
                rest = after;
            }
            Some(c) => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
}

/// The character after a backslash.
fn escape(input: &str) -> Res<'_, char> {
    alt((
        value('"', char('"')),
        value('\\', char('\\')),
        value('\n', char('n')),
        value('\r', char('r')),
        value('\t', char('t')),
        preceded(char('u'), unicode_escape),
    ))
    .parse(input)
}

/// `{XXXX}` after `\u`.
fn unicode_escape(input: &str) -> Res<'_, char> {
    let (rest, _) = char('{').parse(input)?;
    let digits: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    let rest = &rest[digits.len()..];
    let (rest, _) = char('}').parse(rest)?;
    match u32::from_str_radix(&digits, 16)
        .ok()
        .and_then(char::from_u32)
    {
        Some(c) => Ok((rest, c)),
        None => Err(nom::Err::Error(Fail::from_error_kind(
            input,
            ErrorKind::HexDigit,
        ))),
    }
}

fn punct(input: &str) -> Res<'_, (Kind, String)> {
    map(one_of(",={}()"), |c| {
        let kind = match c {
            ',' => Kind::Comma,
            '=' => Kind::Eq,
            '{' => Kind::LBrace,
            '}' => Kind::RBrace,
            '(' => Kind::LParen,
            _ => Kind::RParen,
        };
        (kind, c.to_string())
    })
    .parse(input)
}

/// Skips white space and a trailing comment; `None` at the end of the line.
fn gap(input: &str) -> Res<'_, Option<()>> {
    let (rest, _) = multispace0(input)?;
    let (rest, hash) = opt(char('#')).parse(rest)?;
    if hash.is_some() || rest.is_empty() {
        return Ok(("", None));
    }
    Ok((rest, Some(())))
}

/// Splits one line (without its line break) into tokens.
pub fn lex(line: &str) -> Result<Vec<Token>, LexError> {
    let mut tokens = Vec::new();
    let mut rest = line;
    loop {
        let (after_gap, more) = gap(rest).map_err(|e| to_lex_error(line, e))?;
        if more.is_none() {
            return Ok(tokens);
        }
        let start = line.len() - after_gap.len();
        let (after, (kind, value)) = alt((string, punct, word))
            .parse(after_gap)
            .map_err(|e| to_lex_error(line, e))?;
        tokens.push(Token {
            kind,
            value,
            start,
            end: line.len() - after.len(),
        });
        rest = after;
    }
}

fn to_lex_error(line: &str, e: nom::Err<Fail<'_>>) -> LexError {
    match e {
        nom::Err::Error(f) | nom::Err::Failure(f) => {
            let start = line.len() - f.input.len();
            LexError {
                start,
                end: start + f.len.max(1).min(f.input.len().max(1)),
                message: f.message.to_string(),
            }
        }
        nom::Err::Incomplete(_) => LexError {
            start: line.len(),
            end: line.len(),
            message: "unexpected end of line".to_string(),
        },
    }
}

/// True when `text` lexes back as exactly one bare word with the same text: the printer
/// writes such text as is, anything else quoted.
pub fn is_bare(text: &str) -> bool {
    matches!(lex(text).as_deref(), Ok([t]) if t.kind == Kind::Word && t.value == text)
}

/// `text` as a quoted string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` bare when it can be, quoted otherwise.
pub fn word_or_quoted(text: &str) -> String {
    if is_bare(text) {
        text.to_string()
    } else {
        quote(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(line: &str) -> Vec<String> {
        lex(line).unwrap().into_iter().map(|t| t.value).collect()
    }

    #[test]
    fn words_punctuation_strings_and_comments() {
        assert_eq!(
            values("inbound 100 deny tcp from Internet to 10.0.1.0/24 ports 22,3389 # x"),
            [
                "inbound",
                "100",
                "deny",
                "tcp",
                "from",
                "Internet",
                "to",
                "10.0.1.0/24",
                "ports",
                "22",
                ",",
                "3389"
            ]
        );
        assert_eq!(
            values(r#"name "a \"b\" \u{e9}" {"#),
            ["name", "a \"b\" é", "{"]
        );
        assert_eq!(values("tags env=prod"), ["tags", "env", "=", "prod"]);
        assert!(values("   # only a comment").is_empty());
        assert_eq!(values("in (a, b)"), ["in", "(", "a", ",", "b", ")"]);
    }

    #[test]
    fn brackets_hold_spaces_and_quotes() {
        assert_eq!(
            values("[subscription().tags['cost center']] in (x)"),
            ["[subscription().tags['cost center']]", "in", "(", "x", ")"]
        );
        assert_eq!(
            values("tags['a b'] equals c"),
            ["tags['a b']", "equals", "c"]
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = lex(r#"name "open"#).unwrap_err();
        assert_eq!(e.start, 5);
        assert!(e.message.contains("never closed"));
        let e = lex("x tags['a").unwrap_err();
        assert_eq!(e.start, 6);
        let e = lex(r#"x "a\qb""#).unwrap_err();
        assert_eq!(e.start, 4);
        assert!(e.message.contains("unknown escape"));
    }

    #[test]
    fn bare_and_quoted_round_trip() {
        for text in ["a b", "x#y", "", "a,b", "é", "[x", "\u{1}", "\"q\""] {
            let printed = word_or_quoted(text);
            let toks = lex(&printed).unwrap();
            assert_eq!(toks.len(), 1, "{printed}");
            assert_eq!(toks[0].value, text);
        }
        assert!(is_bare("10.0.0.0/8"));
        assert!(is_bare("tags['env']"));
        assert!(!is_bare("a b"));
    }
}
