//! The export's rows turned from PostgreSQL's binary `COPY` into CSV, byte
//! for byte what `COPY ... WITH (FORMAT csv)` wrote before (#8 item 7).
//! PostgreSQL turning times and text into CSV took a third of its time per
//! row; done here, it runs on another core while PostgreSQL reads on.
//!
//! The columns are those of `EXPORT_SELECT`, in [`super::CSV_COLUMNS`]'
//! order: id (int8), at (timestamptz), actor, action, target, outcome
//! (text), details (jsonb), client_address, request_id (text or NULL).

/// The binary `COPY` header: signature, then flags and the header
/// extension's length (4 bytes each).
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const HEADER_LENGTH: usize = SIGNATURE.len() + 8;
const COLUMNS: i16 = 9;
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// PostgreSQL's binary output, read as it arrives (a message may end in
/// the middle of a row) and written out as CSV rows.
#[derive(Default)]
pub(super) struct CsvRows {
    /// What has arrived and is not written yet.
    pending: Vec<u8>,
    header_read: bool,
    trailer_read: bool,
}

/// The binary output was not what the export's `SELECT` gives.
#[derive(Debug, thiserror::Error)]
#[error("the audit export's COPY output is malformed: {0}")]
pub(super) struct Malformed(&'static str);

impl CsvRows {
    /// Takes one message of `COPY` output and appends the CSV of every row
    /// it completes to `csv`.
    pub(super) fn write(&mut self, message: &[u8], csv: &mut Vec<u8>) -> Result<(), Malformed> {
        if self.pending.is_empty() {
            let used = self.write_complete(message, csv)?;
            self.pending.extend_from_slice(&message[used..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(message);
            let used = self.write_complete(&pending, csv)?;
            pending.drain(..used);
            self.pending = pending;
        }
        Ok(())
    }

    /// After the last message: the output ended with its trailer.
    pub(super) fn finish(&self) -> Result<(), Malformed> {
        if self.trailer_read && self.pending.is_empty() {
            Ok(())
        } else {
            Err(Malformed("it ended before its trailer"))
        }
    }

    /// Writes the complete rows at the start of `bytes`; returns how many
    /// bytes they took.
    fn write_complete(&mut self, bytes: &[u8], csv: &mut Vec<u8>) -> Result<usize, Malformed> {
        let mut reader = Reader { bytes, at: 0 };
        if !self.header_read {
            let Some(header) = reader.take(HEADER_LENGTH) else {
                return Ok(0);
            };
            if &header[..SIGNATURE.len()] != SIGNATURE || header[SIGNATURE.len() + 4..] != [0; 4] {
                return Err(Malformed("not a binary COPY header without extension"));
            }
            self.header_read = true;
        }
        let mut used = reader.at;
        loop {
            if self.trailer_read {
                return match used == bytes.len() {
                    true => Ok(used),
                    false => Err(Malformed("bytes after the trailer")),
                };
            }
            let Some(count) = reader.take(2) else {
                return Ok(used);
            };
            match i16::from_be_bytes([count[0], count[1]]) {
                -1 => self.trailer_read = true,
                COLUMNS => {
                    let row_start = csv.len();
                    if write_row(&mut reader, csv)?.is_none() {
                        // Written again in full when the rest arrives.
                        csv.truncate(row_start);
                        return Ok(used);
                    }
                }
                _ => return Err(Malformed("a row with another number of columns")),
            }
            used = reader.at;
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    /// One field: `None` when it has not all arrived, `Some(None)` for NULL.
    fn field(&mut self) -> Option<Option<&'a [u8]>> {
        let length = self.take(4)?;
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        match usize::try_from(length) {
            Ok(length) => self.take(length).map(Some),
            Err(_) => Some(None),
        }
    }
}

/// One row's nine fields as CSV: `Ok(None)` when its bytes have not all
/// arrived (the caller drops what was written of it).
fn write_row(reader: &mut Reader<'_>, csv: &mut Vec<u8>) -> Result<Option<()>, Malformed> {
    macro_rules! field {
        () => {
            match reader.field() {
                Some(field) => field,
                None => return Ok(None),
            }
        };
    }
    let id = field!().ok_or(Malformed("a NULL id"))?;
    write_integer(
        csv,
        i64::from_be_bytes(id.try_into().map_err(|_| Malformed("an id of another size"))?),
    );
    csv.push(b',');
    let at = field!().ok_or(Malformed("a NULL time"))?;
    write_time(
        csv,
        i64::from_be_bytes(at.try_into().map_err(|_| Malformed("a time of another size"))?),
    );
    csv.push(b',');
    write_cell(csv, field!(), Cell::SpreadsheetSafe); // actor
    csv.push(b',');
    write_cell(csv, field!(), Cell::AsIs); // action
    csv.push(b',');
    write_cell(csv, field!(), Cell::SpreadsheetSafe); // target
    csv.push(b',');
    write_cell(csv, field!(), Cell::AsIs); // outcome
    csv.push(b',');
    // jsonb's binary form is a version byte, then its text.
    let details = match field!() {
        Some([1, text @ ..]) => Some(text),
        Some(_) => return Err(Malformed("details in an unknown jsonb version")),
        None => None,
    };
    write_cell(csv, details, Cell::AsIs);
    csv.push(b',');
    write_cell(csv, field!(), Cell::AsIs); // client_address
    csv.push(b',');
    write_cell(csv, field!(), Cell::AsIs); // request_id
    csv.push(b'\n');
    Ok(Some(()))
}

#[derive(Clone, Copy, PartialEq)]
enum Cell {
    AsIs,
    /// A cell a spreadsheet would run as a formula (starting with = + - @,
    /// a tab or a carriage return) gets a leading quote.
    SpreadsheetSafe,
}

/// A text cell as PostgreSQL's CSV writes it: NULL as nothing; quoted when
/// empty or holding a comma, a double quote, a line feed or a carriage
/// return, its double quotes doubled.
fn write_cell(csv: &mut Vec<u8>, text: Option<&[u8]>, cell: Cell) {
    let Some(text) = text else { return };
    let defused =
        cell == Cell::SpreadsheetSafe && matches!(text.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
    let quoted = text.is_empty() || text.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !quoted {
        if defused {
            csv.push(b'\'');
        }
        csv.extend_from_slice(text);
        return;
    }
    csv.push(b'"');
    if defused {
        csv.push(b'\'');
    }
    let mut rest = text;
    while let Some(quote) = rest.iter().position(|b| *b == b'"') {
        csv.extend_from_slice(&rest[..=quote]);
        csv.push(b'"');
        rest = &rest[quote + 1..];
    }
    csv.extend_from_slice(rest);
    csv.push(b'"');
}

fn write_integer(csv: &mut Vec<u8>, value: i64) {
    let mut digits = [0_u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        csv.push(b'-');
    }
    csv.extend_from_slice(&digits[at..]);
}

/// `value` (below 10^width) in `width` digits, zeros first.
fn write_digits(csv: &mut Vec<u8>, value: i64, width: usize) {
    let start = csv.len();
    csv.resize(start + width, b'0');
    let mut rest = value;
    for digit in csv[start..].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// A timestamptz (microseconds since 2000-01-01 UTC) as the export wrote
/// it before: PostgreSQL's ISO text of the UTC time with `T` for the space
/// (`2026-11-25T18:04:08.1234Z`: the fraction's trailing zeros dropped,
/// none when whole), then `Z`.
fn write_time(csv: &mut Vec<u8>, micros: i64) {
    match micros {
        i64::MAX => return csv.extend_from_slice(b"infinityZ"),
        i64::MIN => return csv.extend_from_slice(b"-infinityZ"),
        _ => {}
    }
    let days = micros.div_euclid(MICROS_PER_DAY) + POSTGRES_EPOCH_DAYS;
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    // Before year 1: PostgreSQL writes 1 BC as year 0001 with " BC" after
    // the time (whose space became a T).
    let before_christ = year <= 0;
    let year = if before_christ { 1 - year } else { year };
    if year < 10_000 {
        write_digits(csv, year, 4);
    } else {
        write_integer(csv, year);
    }
    csv.push(b'-');
    write_digits(csv, month, 2);
    csv.push(b'-');
    write_digits(csv, day, 2);
    csv.push(b'T');
    let seconds = of_day / 1_000_000;
    write_digits(csv, seconds / 3600, 2);
    csv.push(b':');
    write_digits(csv, seconds / 60 % 60, 2);
    csv.push(b':');
    write_digits(csv, seconds % 60, 2);
    let fraction = of_day % 1_000_000;
    if fraction != 0 {
        csv.push(b'.');
        write_digits(csv, fraction, 6);
        // Not empty: the fraction is not zero.
        while csv.last() == Some(&b'0') {
            csv.pop();
        }
    }
    if before_christ {
        csv.extend_from_slice(b"TBC");
    }
    csv.push(b'Z');
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(micros: i64) -> String {
        let mut csv = Vec::new();
        write_time(&mut csv, micros);
        String::from_utf8(csv).unwrap()
    }

    #[test]
    fn times_read_as_postgresql_wrote_them() {
        assert_eq!(time(0), "2000-01-01T00:00:00Z");
        assert_eq!(time(-1), "1999-12-31T23:59:59.999999Z");
        assert_eq!(time(1_500_000), "2000-01-01T00:00:01.5Z");
        // 2026-11-25 18:04:08.0123 UTC.
        assert_eq!(time(848_945_048_012_300), "2026-11-25T18:04:08.0123Z");
        assert_eq!(time(5_097_600_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(time(i64::MAX), "infinityZ");
    }

    fn cell(text: Option<&str>, cell: Cell) -> String {
        let mut csv = Vec::new();
        write_cell(&mut csv, text.map(str::as_bytes), cell);
        String::from_utf8(csv).unwrap()
    }

    #[test]
    fn cells_are_quoted_as_postgresqls_csv_quotes_them() {
        assert_eq!(cell(None, Cell::AsIs), "");
        assert_eq!(cell(Some(""), Cell::AsIs), "\"\"");
        assert_eq!(cell(Some("plain text"), Cell::AsIs), "plain text");
        assert_eq!(cell(Some("a,b"), Cell::AsIs), "\"a,b\"");
        assert_eq!(cell(Some("say \"hi\""), Cell::AsIs), "\"say \"\"hi\"\"\"");
        assert_eq!(cell(Some("two\nlines"), Cell::AsIs), "\"two\nlines\"");
        assert_eq!(cell(Some("=1+2"), Cell::SpreadsheetSafe), "'=1+2");
        assert_eq!(cell(Some("=A1,B1"), Cell::SpreadsheetSafe), "\"'=A1,B1\"");
        assert_eq!(cell(Some("=1+2"), Cell::AsIs), "=1+2");
        assert_eq!(cell(Some("-"), Cell::SpreadsheetSafe), "'-");
    }

    fn binary_row(fields: [Option<&[u8]>; 9]) -> Vec<u8> {
        let mut row = COLUMNS.to_be_bytes().to_vec();
        for field in fields {
            match field {
                Some(bytes) => {
                    row.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    row.extend_from_slice(bytes);
                }
                None => row.extend_from_slice(&(-1_i32).to_be_bytes()),
            }
        }
        row
    }

    #[test]
    fn rows_cut_anywhere_across_messages_come_out_whole() {
        let mut output = SIGNATURE.to_vec();
        output.extend_from_slice(&[0; 8]);
        let details = b"\x01{\"n\": 1}";
        for id in [7_i64, 8] {
            output.extend(binary_row([
                Some(&id.to_be_bytes()),
                Some(&0_i64.to_be_bytes()),
                Some(b"+alice"),
                Some(b"session.sign_in"),
                Some(b""),
                Some(b"success"),
                Some(details),
                None,
                Some(b"req-1"),
            ]));
        }
        output.extend_from_slice(&(-1_i16).to_be_bytes());
        let expected = "7,2000-01-01T00:00:00Z,'+alice,session.sign_in,\"\",success,\"{\"\"n\"\": 1}\",,req-1\n\
                        8,2000-01-01T00:00:00Z,'+alice,session.sign_in,\"\",success,\"{\"\"n\"\": 1}\",,req-1\n";
        for cut in 0..=output.len() {
            let mut rows = CsvRows::default();
            let mut csv = Vec::new();
            rows.write(&output[..cut], &mut csv).unwrap();
            rows.write(&output[cut..], &mut csv).unwrap();
            rows.finish().unwrap();
            assert_eq!(String::from_utf8(csv).unwrap(), expected, "cut at {cut}");
        }
        let mut rows = CsvRows::default();
        rows.write(&output[..output.len() - 1], &mut Vec::new()).unwrap();
        assert!(rows.finish().is_err(), "no trailer");
    }
}
