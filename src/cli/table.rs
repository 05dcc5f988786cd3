//! The column tables the commands print (`offsets translate`, `takeover`).

/// `header` and `rows` as aligned columns: the topic columns (0 and 3) left-aligned, the others
/// right-aligned, two spaces between columns and no padding after the last one.
pub(super) fn render<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; N]| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            let cell = match i {
                _ if i + 1 == N => (*c).to_owned(),
                0 | 3 => format!("{c:<w$}  "),
                _ => format!("{c:>w$}  "),
            };
            s.push_str(&cell);
        }
        s.push('\n');
        s
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(std::array::from_fn(|i| row[i].as_str())));
    }
    out
}
