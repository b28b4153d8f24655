//! Columns that stay aligned: [`Table`], whose widths are measured from
//! what the cells hold, so a long code or place name widens its column
//! instead of pushing the rest of its row out of line.
//!
//! Widths count characters (`char`s), which is right for the Latin and
//! Cyrillic names Escort prints in a monospaced font; a character drawn
//! two cells wide (CJK) would still push its row by one cell each.

use std::fmt::Write;

/// How a column's cells sit in its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text: against the left edge.
    Left,
    /// Numbers: against the right edge, so that their units line up.
    Right,
}

/// One line of a table: cells, one per column, or a note printed as it is
/// under the row before it, from the second column on.
#[derive(Debug)]
enum Line {
    Cells(Vec<String>),
    Note(String),
}

/// A table of text with a header row.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<(String, Align)>,
    lines: Vec<Line>,
}

/// Space between two columns.
const GAP: &str = "  ";

impl Table {
    /// A table with these column titles and alignments.
    pub(crate) fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|(title, align)| ((*title).to_owned(), *align))
                .collect(),
            lines: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra ones are dropped.
    pub(crate) fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.columns.len(), String::new());
        self.lines.push(Line::Cells(cells));
    }

    /// Adds a note under the last row, starting where its second column
    /// starts. It takes no part in the widths: a long message stays on its
    /// own line instead of widening every row.
    pub(crate) fn note(&mut self, text: String) {
        self.lines.push(Line::Note(text));
    }

    /// The table as text, every line ending with a newline and without
    /// trailing spaces.
    pub(crate) fn render(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|(title, _)| title.chars().count()).collect();
        for line in &self.lines {
            if let Line::Cells(cells) = line {
                for (width, cell) in widths.iter_mut().zip(cells) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let indent = " ".repeat(widths.first().map_or(0, |width| width + GAP.len()));
        let mut text = String::new();
        let titles: Vec<String> = self.columns.iter().map(|(title, _)| title.clone()).collect();
        self.write_row(&mut text, &titles, &widths);
        for line in &self.lines {
            match line {
                Line::Cells(cells) => self.write_row(&mut text, cells, &widths),
                Line::Note(note) => {
                    let _ = writeln!(text, "{indent}{note}");
                }
            }
        }
        text
    }

    fn write_row(&self, text: &mut String, cells: &[String], widths: &[usize]) {
        let mut line = String::new();
        for (index, ((cell, width), (_, align))) in cells.iter().zip(widths).zip(&self.columns).enumerate() {
            if index > 0 {
                line.push_str(GAP);
            }
            let _ = match align {
                Align::Left => write!(line, "{cell:<width$}"),
                Align::Right => write!(line, "{cell:>width$}"),
            };
        }
        let _ = writeln!(text, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    //! Widths from content, and notes that take no part in them.

    use super::*;

    #[test]
    fn a_long_cell_widens_its_column_for_every_row() {
        let mut table = Table::new(&[("code", Align::Left), ("km", Align::Right), ("place", Align::Left)]);
        table.row(vec!["a".into(), "1.0".into(), "X".into()]);
        table.row(vec!["a-very-long-code".into(), "123.4".into(), "Y".into()]);
        table.note("a message longer than any column, which widens none".into());
        assert_eq!(
            table.render(),
            "code                 km  place\n\
             a                   1.0  X\n\
             a-very-long-code  123.4  Y\n\
             \x20                 a message longer than any column, which widens none\n"
        );
    }
}
