//! The two messages sent once per event and callback, `run` and a successful `result`,
//! written and read without the general JSON path. Both give exactly what serde_json gives
//! for the same message; any other line goes the general way.

use std::io::Write;

use super::ChildMessage;

/// Appends `{"type":"run","slot":S,"id":N,"callbacks":[...]}\n`, byte for byte what
/// serde_json writes for [`super::HostMessage::Run`].
pub(crate) fn write_run(out: &mut Vec<u8>, slot: u32, id: i64, callbacks: &[usize]) {
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{{\"type\":\"run\",\"slot\":{slot},\"id\":{id},\"callbacks\":["
    );
    for (idx, callback) in callbacks.iter().enumerate() {
        if idx > 0 {
            out.push(b',');
        }
        let _ = write!(out, "{callback}");
    }
    out.extend_from_slice(b"]}\n");
}

/// Reads `{"type":"result","slot":S,"id":N,"callback":C,"ok":true}` exactly as the runner
/// writes it (no spaces, these keys in this order); `None` for anything else.
pub(crate) fn read_ok_result(line: &[u8]) -> Option<ChildMessage> {
    let rest = line.strip_prefix(b"{\"type\":\"result\",\"slot\":")?;
    let (slot, rest) = number(rest)?;
    let rest = rest.strip_prefix(b",\"id\":")?;
    let (id, rest) = number(rest)?;
    let rest = rest.strip_prefix(b",\"callback\":")?;
    let (callback, rest) = number(rest)?;
    if rest != b",\"ok\":true}" {
        return None;
    }
    Some(ChildMessage::Result {
        slot: u32::try_from(slot).ok()?,
        id,
        callback: usize::try_from(callback).ok()?,
        ok: true,
        error: None,
    })
}

/// A JSON integer at the start of `text` (`-?(0|[1-9][0-9]*)`, fitting an i64) and the rest.
fn number(text: &[u8]) -> Option<(i64, &[u8])> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 || (len > 1 && digits[0] == b'0') || len > 18 {
        return None; // no digits, a leading zero (not JSON), or longer than we need
    }
    let value = digits[..len]
        .iter()
        .fold(0_i64, |acc, &b| acc * 10 + i64::from(b - b'0'));
    Some((if negative { -value } else { value }, &digits[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::HostMessage;

    #[test]
    fn run_is_what_serde_writes() {
        for (slot, id, callbacks) in [
            (0, 42, &[0_usize, 1][..]),
            (7, -3, &[][..]),
            (u32::MAX, i64::MAX, &[12][..]),
            (1, i64::MIN, &[0, 5, 99][..]),
        ] {
            let mut out = b"prefix".to_vec();
            write_run(&mut out, slot, id, callbacks);
            let want = HostMessage::Run {
                slot,
                id,
                callbacks,
            }
            .to_line();
            assert_eq!(out.get(6..), Some(want.as_slice()));
        }
    }

    #[test]
    fn ok_result_is_what_serde_reads() {
        for line in [
            r#"{"type":"result","slot":0,"id":42,"callback":1,"ok":true}"#,
            r#"{"type":"result","slot":3,"id":-7,"callback":0,"ok":true}"#,
            r#"{"type":"result","slot":12,"id":123456789012345678,"callback":10,"ok":true}"#,
        ] {
            let general: ChildMessage = serde_json::from_str(line).unwrap();
            assert_eq!(read_ok_result(line.as_bytes()), Some(general), "{line}");
        }
    }

    #[test]
    fn anything_else_goes_the_general_way() {
        for line in [
            r#"{"type":"result","slot":0,"id":42,"callback":1,"ok":false,"error":"x"}"#,
            r#"{"type":"result","slot":0,"id":42,"callback":1,"ok":true,"error":null}"#,
            r#"{"type":"result", "slot":0,"id":42,"callback":1,"ok":true}"#,
            r#"{"type":"result","slot":01,"id":42,"callback":1,"ok":true}"#,
            r#"{"type":"result","slot":-1,"id":42,"callback":1,"ok":true}"#,
            r#"{"type":"result","slot":0,"id":,"callback":1,"ok":true}"#,
            r#"{"type":"result","slot":0,"id":4.5,"callback":1,"ok":true}"#,
            r#"{"type":"result","slot":0,"id":1234567890123456789,"callback":1,"ok":true}"#,
            r#"{"type":"result","slot":0,"id":42,"callback":1,"ok":true} "#,
            r#"{"type":"log","logger":"x","level":20,"message":"m"}"#,
        ] {
            assert_eq!(read_ok_result(line.as_bytes()), None, "{line}");
        }
    }
}
