//! Small text encoders shared by the HTML pages, the reports and the CSV exports.

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One CSV field (RFC 4180): quoted when it holds a separator, a quote, a line break, or
/// spaces at either end that a spreadsheet would otherwise drop.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Writes to stdout for the admin commands. When the reader has gone (`govmail user list |
/// head -2`), the process ends quietly with status 0 — the output was not wanted any more —
/// instead of `println!`'s panic; any other write error ends it with one line and status 1.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(std::io::stderr(), "error: writing the output: {e}");
        std::process::exit(1);
    }
}

/// `println!` for admin output, through [`write_stdout`].
#[macro_export]
macro_rules! outln {
    () => { $crate::text::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::text::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for admin output, through [`write_stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::text::write_stdout(format_args!($($arg)*)) };
}
