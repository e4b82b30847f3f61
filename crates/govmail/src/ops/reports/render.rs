//! What both reports are drawn with: CSV lines, Vietnamese number formatting, the
//! self-contained HTML page (inline CSS, printable) and its SVG bar charts.

use std::fmt::Write as _;

use crate::text::csv_field;
pub(super) use crate::text::escape_html as esc;

/// One CSV line (RFC 4180 quoting, CRLF).
pub(super) fn csv_line(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

pub fn vn_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Bytes as "1.234,5 MB".
pub fn vn_mb(bytes: i64) -> String {
    let tenths = (bytes as f64 / 1024.0 / 1024.0 * 10.0).round() as i64;
    format!("{},{} MB", vn_int(tenths / 10), (tenths % 10).abs())
}

const PAGE_STYLE: &str = "body{font-family:'Times New Roman',Times,serif;margin:24px;color:#1a1a1a}\
h1{font-size:22px;text-align:center;margin-bottom:4px}h2{font-size:17px;margin-top:28px}\
.sub{text-align:center;color:#444;margin-top:0}table{border-collapse:collapse;margin:8px 0;font-size:13px}\
th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}th{background:#e8eef7}\
td.n{text-align:right}td.ok{background:#dff0d8}td.no{background:#f8d7da}tr.total td{font-weight:bold;background:#f2f2f2}\
.small{font-size:11px;color:#555}.cards{display:flex;flex-wrap:wrap;gap:12px}\
.card{border:1px solid #bbb;border-radius:6px;padding:8px 14px;min-width:150px}.card b{font-size:20px;display:block}\
@media print{body{margin:8mm}h2{page-break-after:avoid}}";

pub(super) fn page(title: &str, subtitle: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{PAGE_STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n\
         <p class=\"sub\">{}</p>\n{body}</body>\n</html>\n",
        esc(title),
        esc(title),
        esc(subtitle)
    )
}

/// A horizontal grouped bar chart as inline SVG.
pub fn bar_chart(
    title: &str,
    series: &[(&str, &str)],
    rows: &[(String, Vec<f64>)],
    value_text: &dyn Fn(f64) -> String,
    fixed_max: Option<f64>,
) -> String {
    let label_w = 230.0;
    let chart_w = 430.0;
    let value_w = 90.0;
    let bar_h = 12.0;
    let gap = 8.0;
    let legend_h = 22.0;
    let group_h = bar_h * series.len() as f64 + gap;
    let height = legend_h + group_h * rows.len().max(1) as f64 + 6.0;
    let width = label_w + chart_w + value_w;
    let max = fixed_max
        .unwrap_or_else(|| {
            rows.iter()
                .flat_map(|(_, v)| v.iter().copied())
                .fold(0.0, f64::max)
        })
        .max(f64::MIN_POSITIVE);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure><figcaption><b>{}</b></figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{}\" font-family=\"Arial, sans-serif\" font-size=\"11\">\n",
        esc(title),
        esc(title)
    );
    let mut x = label_w;
    for (name, color) in series {
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"14\">{}</text>",
            x + 16.0,
            esc(name)
        );
        x += 24.0 + name.chars().count() as f64 * 6.5;
    }
    for (i, (label, values)) in rows.iter().enumerate() {
        let y0 = legend_h + i as f64 * group_h;
        let shown: String = if label.chars().count() > 38 {
            label.chars().take(36).collect::<String>() + "…"
        } else {
            label.clone()
        };
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y0 + group_h / 2.0,
            esc(&shown)
        );
        for (j, value) in values.iter().enumerate() {
            let w = (value / max * chart_w).max(0.0);
            let y = y0 + j as f64 * bar_h;
            let color = series.get(j).map(|s| s.1).unwrap_or("#888");
            let _ = writeln!(
                svg,
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{color}\">\
                 <title>{}: {}</title></rect><text x=\"{:.1}\" y=\"{}\">{}</text>",
                bar_h - 1.0,
                esc(label),
                esc(&value_text(*value)),
                label_w + w + 4.0,
                y + bar_h - 2.0,
                esc(&value_text(*value))
            );
        }
    }
    let _ = write!(
        svg,
        "<line x1=\"{label_w}\" y1=\"{legend_h}\" x2=\"{label_w}\" y2=\"{height}\" stroke=\"#333\"/>\n</svg></figure>\n"
    );
    svg
}
