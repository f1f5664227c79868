//! How every command prints: aligned tables and fields for people, JSON for scripts.

use serde::Serialize;

pub use pinbridge_domain::time::format_utc_millis;

/// Prints `value` as pretty JSON, the keys of every object in alphabetical order.
pub fn print_json(value: &impl Serialize) {
    let text = serde_json::to_value(value).and_then(|v| serde_json::to_string_pretty(&v));
    println!("{}", text.unwrap_or_default());
}

/// Prints rows as aligned columns under a header.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints name–value pairs, the names aligned.
pub fn print_fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in fields {
        println!("{k:<width$}  {v}");
    }
}
