//! Reading newline-terminated lines with an upper bound on their length.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A complete line (without its newline) is in the buffer.
    Complete,
    /// The line was longer than the limit; it was consumed and dropped. Holds its length.
    TooLong(usize),
    /// End of input; the buffer holds any unterminated tail.
    Eof,
}

/// Reads one line into `buf` (cleared first), keeping at most `max` bytes in memory.
///
/// An over-long line is consumed up to its newline and reported as [`Line::TooLong`], so
/// the next call starts at the following line.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if total > max {
                buf.clear();
                Line::TooLong(total)
            } else {
                Line::Eof
            });
        }
        let (chunk, found_newline) = match available.iter().position(|&b| b == b'\n') {
            Some(pos) => (&available[..pos], true),
            None => (available, false),
        };
        total += chunk.len();
        if total <= max {
            buf.extend_from_slice(chunk);
        } else {
            buf.clear();
        }
        let consumed = chunk.len() + usize::from(found_newline);
        reader.consume(consumed);
        if found_newline {
            return Ok(if total > max {
                Line::TooLong(total)
            } else {
                Line::Complete
            });
        }
    }
}

#[cfg(test)]
mod tests;
