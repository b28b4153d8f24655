//! Quoting input back in a message, within a bound: [`Excerpt`].
//!
//! A rejection or an error quotes what it refuses (an unknown key, a value that is not a time) so
//! that a person can find it in the file. Quoted whole, a 200 MB key becomes a 200 MB report and a
//! 200 MB line on stderr (issue 10 item 11). Every quotation of input in a reason or an error goes
//! through [`Excerpt`], which keeps the beginning and marks the cut, so that the message stays short
//! whatever the input holds and still says where to look.

use std::fmt;

/// The most characters of one input text quoted back in a message. Field names, times and numbers
/// are far shorter, so nothing a person typed by mistake is cut; 60 is what the host already keeps of
/// a policy's ill-formed finding code.
pub const MAX_EXCERPT_CHARS: usize = 60;

/// The most characters of another library's message quoted back (an XML parser's error names the
/// tokens it met). Longer than [`MAX_EXCERPT_CHARS`], since the message itself is worth keeping.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// At most a bounded number of characters of a text from the input, for a message.
///
/// `Display` writes the text, `Debug` writes it quoted as Rust does (`"abc"`); either adds `…` after
/// a text that was cut, outside the quotes, so that the quoted part is exactly what the input holds.
#[derive(Clone, Copy)]
pub struct Excerpt<'a> {
    text: &'a str,
    max_chars: usize,
}

impl<'a> Excerpt<'a> {
    /// Quotes a text from the input: a key, a column, a value.
    pub fn of(text: &'a str) -> Excerpt<'a> {
        Excerpt {
            text,
            max_chars: MAX_EXCERPT_CHARS,
        }
    }

    /// Quotes another library's message, which may itself quote the input.
    pub fn of_message(text: &'a str) -> Excerpt<'a> {
        Excerpt {
            text,
            max_chars: MAX_MESSAGE_CHARS,
        }
    }

    /// The part that is quoted, and whether anything was cut.
    fn kept(self) -> (&'a str, bool) {
        match self.text.char_indices().nth(self.max_chars) {
            Some((end, _)) => (&self.text[..end], true),
            None => (self.text, false),
        }
    }
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kept, cut) = self.kept();
        f.write_str(kept)?;
        if cut { f.write_str("…") } else { Ok(()) }
    }
}

impl fmt::Debug for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kept, cut) = self.kept();
        write!(f, "{kept:?}")?;
        if cut { f.write_str("…") } else { Ok(()) }
    }
}

/// Short texts pass whole; long ones are cut at a character, not a byte.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_text_is_quoted_whole() {
        assert_eq!(Excerpt::of("lattitude").to_string(), "lattitude");
        assert_eq!(format!("{:?}", Excerpt::of("2021-05-16 06:00")), "\"2021-05-16 06:00\"");
        let exact = "k".repeat(MAX_EXCERPT_CHARS);
        assert_eq!(Excerpt::of(&exact).to_string(), exact);
    }

    /// Guards issue 10 item 11: a 200 MB key was echoed whole into the report.
    #[test]
    fn a_long_text_is_cut_and_marked() {
        let key = "ж".repeat(1_000_000);
        let shown = Excerpt::of(&key).to_string();
        assert_eq!(shown, format!("{}…", "ж".repeat(MAX_EXCERPT_CHARS)));
        let quoted = format!("{:?}", Excerpt::of(&key));
        assert_eq!(quoted, format!("\"{}\"…", "ж".repeat(MAX_EXCERPT_CHARS)));
        assert_eq!(
            Excerpt::of_message(&key).to_string().chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }
}
