//! Comma-separated text as spreadsheets write it (RFC 4180): fields may be quoted (`"…"`,
//! with `""` for a quote), and a quoted field may hold commas and line breaks. Read record by
//! record, so that an upload of any size is never held whole.

/// The fields of one record (without its line break).
pub fn fields(record: &str) -> Result<Vec<String>, &'static str> {
    let record = record.strip_suffix('\r').unwrap_or(record);
    let mut fields = vec![];
    let mut field = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed");
    }
    fields.push(field);
    Ok(fields)
}

/// A value as a CSV field: quoted when it holds a separator, a quote or a line break; a
/// leading `=`, `+`, `-` or `@` is prefixed with `'` so that a spreadsheet does not run it as
/// a formula (the values come from callers).
pub fn field(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Where records end in a stream of bytes: at each line break outside quotes (`quotes`: CSV)
/// or at each line break (NDJSON). Fed piece by piece; counts lines so that each record is
/// known by the line it starts on.
#[derive(Clone, Debug)]
pub struct RecordEnds {
    quotes: bool,
    quoted: bool,
}

impl RecordEnds {
    pub fn new(quotes: bool) -> Self {
        RecordEnds {
            quotes,
            quoted: false,
        }
    }

    /// The offsets in `bytes` just past each record's line break, continuing from the bytes
    /// fed before; and the line breaks seen (inside quoted fields too), so the caller can
    /// number lines.
    pub fn feed(&mut self, bytes: &[u8], ends: &mut Vec<usize>) -> usize {
        let mut breaks = 0;
        if !self.quotes {
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\n' {
                    ends.push(i + 1);
                    breaks += 1;
                }
            }
            return breaks;
        }
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'"' => self.quoted = !self.quoted,
                b'\n' => {
                    breaks += 1;
                    if !self.quoted {
                        ends.push(i + 1);
                    }
                }
                _ => {}
            }
        }
        breaks
    }
}

/// The records of `text` (whole records, as cut by `RecordEnds`), each with the number of the
/// line it starts on, counting from `first_line`; blank records are left out (their lines
/// still count).
pub fn records(text: &str, quotes: bool, first_line: u32) -> Vec<(u32, &str)> {
    let mut ends = vec![];
    let mut cut = RecordEnds::new(quotes);
    cut.feed(text.as_bytes(), &mut ends);
    if ends.last() != Some(&text.len()) {
        ends.push(text.len());
    }
    let mut out = Vec::with_capacity(ends.len());
    let (mut start, mut line) = (0, first_line);
    for end in ends {
        let record = &text[start..end];
        let body = record.strip_suffix('\n').unwrap_or(record);
        if !body.trim().is_empty() {
            out.push((line, body));
        }
        line += record.bytes().filter(|b| *b == b'\n').count() as u32;
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        assert_eq!(
            fields("a,\"b, c\",\"say \"\"hi\"\"\",\r").unwrap(),
            vec!["a", "b, c", "say \"hi\"", ""]
        );
        assert_eq!(
            fields("\"line\nbreak\",x").unwrap(),
            vec!["line\nbreak", "x"]
        );
        assert!(fields("\"open,x").is_err());
    }

    #[test]
    fn records_are_numbered_by_their_first_line_across_pieces() {
        let text = "h1,h2\n\"a\nb\",1\n\n c,2\nlast,3";
        let mut ends = vec![];
        let mut cut = RecordEnds::new(true);
        // Fed in two pieces cut inside the quoted field: the same ends as in one.
        let (one, two) = text.as_bytes().split_at(8);
        cut.feed(one, &mut ends);
        let mut later = vec![];
        cut.feed(two, &mut later);
        ends.extend(later.into_iter().map(|e| e + one.len()));
        assert_eq!(ends, vec![6, 14, 15, 20]);
        let got = records(text, true, 1);
        assert_eq!(
            got,
            vec![(1, "h1,h2"), (2, "\"a\nb\",1"), (5, " c,2"), (6, "last,3")]
        );
        // NDJSON does not look at quotes.
        assert_eq!(records("{\"a\":\"\\\"\"}\n{}\n", false, 10).len(), 2);
    }
}
