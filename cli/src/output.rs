//! How answers reach a person or a script: JSON lines (one object per line) when the
//! output goes to a pipe or a file, or with `--json`; a table when a terminal is attached
//! (or `TELEPAY_OUTPUT=table`), its columns the fields of the rows, ids first.

use std::io::IsTerminal;
use std::sync::Mutex;

use serde_json::Value;

/// The rows a command printed, kept until it ends when a table is wanted.
static ROWS: Mutex<Vec<Value>> = Mutex::new(Vec::new());
static TABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Decides once: a table for a terminal (unless `--json`), JSON lines otherwise.
pub(crate) fn choose(json: bool) {
    let forced = std::env::var("TELEPAY_OUTPUT").ok();
    let table = match forced.as_deref() {
        Some("table") => true,
        Some("json") => false,
        _ => !json && std::io::stdout().is_terminal(),
    };
    let _ = TABLE.set(table);
}

fn table() -> bool {
    TABLE.get().copied().unwrap_or(false)
}

/// One answer: printed now as a JSON line, or kept for the table.
pub(crate) fn print(value: Value) {
    if table() {
        ROWS.lock().unwrap().push(value);
    } else {
        println!("{value}");
    }
}

/// Prints the kept rows as a table (nothing when JSON lines went out as they came).
pub(crate) fn finish() {
    let rows = std::mem::take(&mut *ROWS.lock().unwrap());
    if !rows.is_empty() {
        print!("{}", render(&rows));
    }
}

/// A cell: text as it is, numbers and flags as written, nothing for null, anything nested
/// as compact JSON cut to 60 characters.
fn cell(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let text = text.replace('\n', " ");
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(59).collect::<String>())
    } else {
        text
    }
}

/// The rows as an aligned table under a header; a row that is not an object is one cell.
pub(crate) fn render(rows: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(fields) = row {
            for name in fields.keys() {
                if !columns.contains(name) {
                    columns.push(name.clone());
                }
            }
        }
    }
    // What a row is about first (its ids), then the rest as they came.
    columns.sort_by_key(|name| !(name == "id" || name.ends_with("_id")));
    if columns.is_empty() {
        return rows
            .iter()
            .map(|row| format!("{}\n", cell(Some(row))))
            .collect();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|name| cell(row.get(name))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| -> String {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(columns.iter().map(String::as_str).collect());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn rows_become_an_aligned_table_with_every_field_as_a_column() {
        let table = render(&[
            json!({"user_id": 7, "status": "active", "expires_at": "2026-12-31T00:00:00Z"}),
            json!({"user_id": 123456, "status": "removal_failed", "reason": null, "grants": [1, 2]}),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        let expected = [
            "user_id  expires_at            status          grants  reason",
            "-------  --------------------  --------------  ------  ------",
            "7        2026-12-31T00:00:00Z  active",
            "123456                         removal_failed  [1,2]",
        ];
        assert_eq!(lines, expected);
    }
}
