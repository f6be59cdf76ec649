//! A table of text cells, printed for the terminal (columns padded, numbers aligned right) or
//! as GitHub-flavoured Markdown (for a pull-request comment), from the same rows.
//!
//! Written here rather than taken from a table crate (comfy-table, tabled): those draw boxes
//! for the terminal and would add their width and styling machinery to the build for what is
//! two short functions over a `Vec` of rows, and the Markdown must escape `|` in cells the way
//! GitHub reads it, which this does in one line.

use std::fmt::Write;

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned right (numbers).
    right: Vec<bool>,
}

impl Table {
    pub fn new(header: &[&str], right: &[bool]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new(), right: right.to_vec() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|column| {
                self.rows
                    .iter()
                    .map(|row| row[column].chars().count())
                    .chain([self.header[column].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            cells
                .iter()
                .enumerate()
                .map(|(column, cell)| {
                    if self.right[column] {
                        format!("{cell:>width$}", width = widths[column])
                    } else {
                        format!("{cell:<width$}", width = widths[column])
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = String::new();
        let header = line(&self.header);
        let _ = writeln!(out, "{header}");
        let _ = writeln!(out, "{}", "-".repeat(header.chars().count()));
        for row in &self.rows {
            let _ = writeln!(out, "{}", line(row));
        }
        out
    }

    pub fn markdown(&self) -> String {
        let escape = |cell: &String| cell.replace('|', "\\|");
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", self.header.iter().map(escape).collect::<Vec<_>>().join(" | "));
        let _ = writeln!(
            out,
            "|{}|",
            self.right.iter().map(|right| if *right { " ---: " } else { " --- " }).collect::<Vec<_>>().join("|")
        );
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.iter().map(escape).collect::<Vec<_>>().join(" | "));
        }
        out
    }
}
