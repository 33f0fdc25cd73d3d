use super::*;

async fn lines(input: &[u8], max: usize) -> Vec<(Line, String)> {
    let mut reader = tokio::io::BufReader::with_capacity(4, input);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        let line = read_line(&mut reader, &mut buf, max).await.unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        let eof = line == Line::Eof;
        out.push((line, text));
        if eof {
            return out;
        }
    }
}

#[tokio::test]
async fn splits_lines_across_small_buffers() {
    let got = lines(b"first line\nsecond\n", 100).await;
    assert_eq!(
        got,
        vec![
            (Line::Complete, "first line".to_owned()),
            (Line::Complete, "second".to_owned()),
            (Line::Eof, String::new()),
        ]
    );
}

#[tokio::test]
async fn drops_an_over_long_line_and_goes_on() {
    let got = lines(b"short\nthis one is far too long\nok\ntail", 8).await;
    assert_eq!(
        got,
        vec![
            (Line::Complete, "short".to_owned()),
            (Line::TooLong(24), String::new()),
            (Line::Complete, "ok".to_owned()),
            (Line::Eof, "tail".to_owned()),
        ]
    );
}

#[tokio::test]
async fn an_over_long_unterminated_tail_is_reported() {
    let got = lines(b"0123456789", 4).await;
    assert_eq!(
        got,
        vec![
            (Line::TooLong(10), String::new()),
            (Line::Eof, String::new())
        ]
    );
}
