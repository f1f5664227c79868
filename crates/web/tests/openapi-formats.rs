//! The API document states each text value's format as a pattern, and the API accepts
//! exactly what the pattern allows: the patterns in the document are the ones checked
//! here, and for sample and generated strings "the pattern matches" and "the API's
//! parser accepts" agree. (schemathesis relies on this: data the document allows must
//! be accepted.)

mod common;

use pinbridge_domain::{DisplayName, E164, EmailAddress, LanguageTag, MeetingSubject, Upn};
use pinbridge_web::api::{
    DISPLAY_NAME_PATTERN, E164_PATTERN, EMAIL_LOCAL_PART_PATTERN, EMAIL_PATTERN, LANGUAGE_PATTERN,
    MEETING_SUBJECT_PATTERN, SEARCH_PATTERN,
};
use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;

fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(pattern).expect("a valid pattern").is_match(text)
}

/// What the API accepts: no spaces around the value, and the domain's parser.
fn accepted<T, E>(text: &str, parse: impl Fn(&str) -> Result<T, E>) -> bool {
    text.trim() == text && parse(text).is_ok()
}

fn email_allowed(text: &str) -> bool {
    let chars = text.chars().count();
    (3..=254).contains(&chars)
        && matches(EMAIL_PATTERN, text)
        && matches(EMAIL_LOCAL_PART_PATTERN, text)
}

fn display_name_allowed(text: &str) -> bool {
    (1..=256).contains(&text.chars().count()) && matches(DISPLAY_NAME_PATTERN, text)
}

fn meeting_subject_allowed(text: &str) -> bool {
    (1..=200).contains(&text.chars().count()) && matches(MEETING_SUBJECT_PATTERN, text)
}

fn check_all(text: &str) {
    assert_eq!(
        email_allowed(text),
        accepted(text, EmailAddress::parse),
        "email address {text:?}"
    );
    assert_eq!(
        email_allowed(text),
        accepted(text, Upn::parse),
        "UPN {text:?}"
    );
    assert_eq!(
        display_name_allowed(text),
        accepted(text, DisplayName::parse),
        "display name {text:?}"
    );
    assert_eq!(
        meeting_subject_allowed(text),
        accepted(text, MeetingSubject::parse),
        "meeting subject {text:?}"
    );
    assert_eq!(
        matches(E164_PATTERN, text),
        accepted(text, E164::parse),
        "phone number {text:?}"
    );
    assert_eq!(
        matches(LANGUAGE_PATTERN, text),
        accepted(text, LanguageTag::parse),
        "language {text:?}"
    );
    assert_eq!(
        matches(SEARCH_PATTERN, text),
        !text.chars().any(char::is_control),
        "search {text:?}"
    );
}

#[test]
fn samples_are_accepted_exactly_when_the_patterns_allow_them() {
    let long_local = format!("{}@contoso.example", "a".repeat(64));
    let too_long_local = format!("{}@contoso.example", "a".repeat(65));
    let long_label = format!("a@{}.example", "b".repeat(63));
    let too_long_label = format!("a@{}.example", "b".repeat(64));
    let long_address = format!("a@{}.example", vec!["c".repeat(60); 4].join("."));
    let too_long_address = format!("a@{}.example", vec!["c".repeat(61); 4].join("."));
    let long_name = "n".repeat(256);
    let too_long_name = "n".repeat(257);
    let long_subject = "s".repeat(200);
    let too_long_subject = "s".repeat(201);
    let samples = [
        "",
        " ",
        "alice@contoso.example",
        "Alice.Smith@Contoso.Example",
        " alice@contoso.example",
        "alice@contoso.example ",
        "alice@contoso",
        "alice@@contoso.example",
        ".alice@contoso.example",
        "alice.@contoso.example",
        "al..ice@contoso.example",
        "a!#$%&'*+/=?^_`{|}~-@x.y",
        "alice@-contoso.example",
        "alice@contoso-.example",
        "alice@contoso..example",
        "alice@con_toso.example",
        "alice@1.2",
        "\"alice\"@contoso.example",
        "ålice@contoso.example",
        &long_local,
        &too_long_local,
        &long_label,
        &too_long_label,
        &long_address,
        &too_long_address,
        "Alice Smith",
        "Alice\tSmith",
        "Alice\nSmith",
        "Alice\u{85}Smith",
        "\u{a0}Alice",
        "Alice\u{3000}",
        "\u{feff}",
        "\u{200b}",
        "Ålice Ünïcode 日本",
        "x",
        &long_name,
        &too_long_name,
        &long_subject,
        &too_long_subject,
        "+14255550100",
        "+1",
        "+0123",
        "+1234567890123456",
        "+123456789012345",
        "14255550100",
        "+1 425",
        "en-US",
        "EN-us",
        "fr",
        "ast",
        "e",
        "en-USA",
        "en_US",
        "en-",
        "1a",
    ];
    for text in samples {
        check_all(text);
    }
}

fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'f'),
        2 => Just('@'),
        2 => Just('.'),
        1 => Just('-'),
        1 => Just('+'),
        1 => proptest::char::range('0', '3'),
        1 => proptest::sample::select(vec![
            ' ', '\t', '\n', '\u{0}', '\u{7f}', '\u{85}', '\u{9f}', '\u{a0}', '\u{1680}',
            '\u{2000}', '\u{200a}', '\u{200b}', '\u{2028}', '\u{202f}', '\u{3000}', '\u{feff}',
            '_', '!', '"', 'Å', 'Z', '日',
        ]),
    ]
}

proptest! {
    #[test]
    fn generated_strings_are_accepted_exactly_when_the_patterns_allow_them(
        chars in proptest::collection::vec(interesting_char(), 0..24)
    ) {
        let text: String = chars.into_iter().collect();
        check_all(&text);
    }
}

#[tokio::test]
async fn the_document_states_these_patterns() {
    let h = common::Harness::new().await;
    let reply = h.get("/api/v1/openapi.json", "").await;
    let doc: Value = serde_json::from_str(&reply.body).expect("the document is JSON");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["EmailAddress"]["allOf"][0]["pattern"], EMAIL_PATTERN,
        "{schemas:#}"
    );
    assert_eq!(schemas["EmailAddress"]["allOf"][0]["maxLength"], 254);
    assert_eq!(
        schemas["EmailAddress"]["allOf"][1]["pattern"],
        EMAIL_LOCAL_PART_PATTERN
    );
    assert_eq!(schemas["DisplayName"]["pattern"], DISPLAY_NAME_PATTERN);
    assert_eq!(schemas["DisplayName"]["maxLength"], 256);
    assert_eq!(
        schemas["MeetingSubject"]["pattern"],
        MEETING_SUBJECT_PATTERN
    );
    assert_eq!(schemas["MeetingSubject"]["maxLength"], 200);
    assert_eq!(schemas["E164"]["pattern"], E164_PATTERN);
    assert_eq!(schemas["LanguageTag"]["pattern"], LANGUAGE_PATTERN);
    let search = doc["paths"]["/api/v1/users"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "search")
        .expect("the search parameter")
        .clone();
    assert_eq!(search["schema"]["pattern"], SEARCH_PATTERN, "{search:#}");
}
