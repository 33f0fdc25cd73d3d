use jiff::tz::TimeZone;

use super::*;

#[test]
fn single_id_allows_surrounding_whitespace() {
    assert_eq!(
        parse(b" 42\r\n", &TimeZone::UTC),
        Ok(LegacyState::SingleId(42))
    );
    assert_eq!(parse(b"-1", &TimeZone::UTC), Ok(LegacyState::SingleId(-1)));
}

#[test]
fn blank_is_empty_and_noise_is_not_a_pickle() {
    assert_eq!(parse(b"  \n", &TimeZone::UTC), Err(ParseError::Empty));
    assert!(matches!(
        parse(b"12 13", &TimeZone::UTC),
        Err(ParseError::NotPickle(_))
    ));
}

#[test]
fn errors_name_the_file() {
    let err =
        ParseError::Shape("[\"/p\"]".into(), "expected a dict".into()).at(Path::new("/var/x.id"));
    let text = err.to_string();
    assert!(
        text.contains("/var/x.id") && text.contains("[\"/p\"]"),
        "{text}"
    );
}
