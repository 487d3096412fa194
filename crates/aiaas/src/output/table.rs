//! Aligned plain text: rows under a header with each column as wide as its widest cell, and
//! `key: value` blocks.

use std::fmt::Write;

/// Rows under a header, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `key: value` lines with the values aligned.
pub fn pairs(items: &[(&str, String)]) -> String {
    let width = items.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in items {
        let _ = writeln!(out, "{:<width$} {value}", format!("{key}:"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["NAME", "ROWS"],
            &[
                vec!["iris".into(), "150".into()],
                vec!["breast_cancer".into(), "569".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME           ROWS\niris           150\nbreast_cancer  569\n"
        );
        assert_eq!(
            pairs(&[("name", "iris".into()), ("rows", "150".into())]),
            "name: iris\nrows: 150\n"
        );
    }
}
