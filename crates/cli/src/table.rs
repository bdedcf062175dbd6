//! A table of strings printed two ways — aligned plain text for the terminal and GitHub
//! Markdown — so each table's columns are defined once for both; every command prints through it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// A row with one cell per column.
    pub fn push(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// The column titles, for a view that lays the table out itself (an HTML page).
    pub fn columns(&self) -> Vec<&'static str> {
        self.columns.iter().map(|(title, _)| *title).collect()
    }

    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Columns padded to their widest cell, two spaces apart; no trailing spaces.
    pub fn text(&self) -> String {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (title, _))| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([title.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&self.columns)
                .zip(&widths)
                .map(|((cell, (_, align)), width)| {
                    let pad = " ".repeat(width - cell.chars().count());
                    match align {
                        Align::Left => format!("{cell}{pad}"),
                        Align::Right => format!("{pad}{cell}"),
                    }
                })
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut out = line(self.columns.iter().map(|(t, _)| *t).collect());
        for row in &self.rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        out
    }

    /// A GitHub-flavoured Markdown table; cells escaped so run data cannot break the table or
    /// inject HTML into a step summary.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        out.push_str(&row(self
            .columns
            .iter()
            .map(|(t, _)| t.to_string())
            .collect()));
        out.push_str(&row(self
            .columns
            .iter()
            .map(|(_, align)| match align {
                Align::Left => "---".to_string(),
                Align::Right => "---:".to_string(),
            })
            .collect()));
        for cells in &self.rows {
            out.push_str(&row(cells.iter().map(|c| markdown_cell(c)).collect()));
        }
        out
    }
}

/// Text safe in a Markdown table cell: no pipes, line breaks or raw HTML.
pub fn markdown_cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(&[("name", Align::Left), ("ms", Align::Right)]);
        t.push(vec!["tools/call".into(), "1.50".into()]);
        t.push(vec!["a|<b>".into(), "12.25".into()]);
        t
    }

    #[test]
    fn text_columns_align_and_numbers_are_right_aligned() {
        assert_eq!(
            table().text(),
            "name           ms\ntools/call   1.50\na|<b>       12.25\n"
        );
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        let md = table().markdown();
        assert!(md.starts_with("| name | ms |\n| --- | ---: |\n"));
        assert!(md.contains("| a\\|&lt;b&gt; | 12.25 |"));
    }
}
