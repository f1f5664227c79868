//! The schemas of the API's text values, stated as exactly as JSON Schema can state
//! what the domain's parsers accept (`pinbridge_domain::text`): a value the document
//! allows is accepted, and a value it does not allow is refused. The web crate's tests
//! check each pattern against its parser.

use std::borrow::Cow;

use utoipa::openapi::schema::{AllOfBuilder, Array, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, schema::SchemaType};
use utoipa::{PartialSchema, ToSchema};

/// An email address as `EmailAddress::parse` takes it: a local part of the
/// characters RFC 5322 allows unquoted, dots only between them; `@`; a domain of
/// at least two host-name labels.
pub const EMAIL_PATTERN: &str = concat!(
    "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    "@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
);
/// The part before `@` is at most 64 characters (a second pattern, since one
/// regular expression without look-ahead cannot count it).
pub const EMAIL_LOCAL_PART_PATTERN: &str = "^[^@]{1,64}@";
/// A display name: no control characters (Unicode Cc), and neither starting nor
/// ending with white space (Unicode White_Space), so at least one other character.
pub const DISPLAY_NAME_PATTERN: &str = concat!(
    "^[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
    "([^\\x00-\\x1f\\x7f-\\x9f]*",
    "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$"
);
/// A meeting's subject: what a display name may be (no control characters, no white
/// space at either end), up to 200 characters.
pub const MEETING_SUBJECT_PATTERN: &str = DISPLAY_NAME_PATTERN;
/// E.164: `+`, then 1 to 15 digits, the first not 0.
pub const E164_PATTERN: &str = "^\\+[1-9][0-9]{0,14}$";
/// A language tag: a language of 2 or 3 letters, optionally `-` and a region of 2.
pub const LANGUAGE_PATTERN: &str = "^[A-Za-z]{2,3}(-[A-Za-z]{2})?$";
/// A users search: any text without control characters.
pub const SEARCH_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

fn text(pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from(Type::String))
        .pattern(Some(pattern))
}

macro_rules! text_schema {
    ($(#[$doc:meta])* $name:ident, $title:literal, $schema:expr) => {
        $(#[$doc])*
        pub(super) struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T($schema)
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($title)
            }
        }
    };
}

text_schema!(
    /// An email address or a user principal name.
    EmailText,
    "EmailAddress",
    Schema::AllOf(
        AllOfBuilder::new()
        .description(Some(
            "An email address (a user principal name has the same form; it is \
             compared in lower case): at most 254 characters, at most 64 before @.",
        ))
        .item(text(EMAIL_PATTERN).min_length(Some(3)).max_length(Some(254)))
        .item(text(EMAIL_LOCAL_PART_PATTERN))
        .examples([serde_json::json!("alice@contoso.example")])
        .build()
    )
);
text_schema!(
    DisplayNameText,
    "DisplayName",
    Schema::Object(
        text(DISPLAY_NAME_PATTERN)
            .description(Some(
                "1 to 256 characters, no line breaks or other control characters, no \
             spaces at either end.",
            ))
            .min_length(Some(1))
            .max_length(Some(256))
            .examples([serde_json::json!("Alice Smith")])
            .build()
    )
);
text_schema!(
    MeetingSubjectText,
    "MeetingSubject",
    Schema::Object(
        text(MEETING_SUBJECT_PATTERN)
            .description(Some(
                "1 to 200 characters, no line breaks or other control characters, no \
             spaces at either end.",
            ))
            .min_length(Some(1))
            .max_length(Some(200))
            .examples([serde_json::json!("Q3 review")])
            .build()
    )
);
text_schema!(
    E164Text,
    "E164",
    Schema::Object(
        text(E164_PATTERN)
            .description(Some("A phone number in E.164 form, such as +14255550100."))
            .examples([serde_json::json!("+14255550100")])
            .build()
    )
);
fn language() -> ObjectBuilder {
    text(LANGUAGE_PATTERN)
        .description(Some("A language tag such as en-US or fr-FR (any case)."))
        .examples([serde_json::json!("fr-FR")])
}

text_schema!(
    LanguageText,
    "LanguageTag",
    Schema::Object(language().build())
);

/// A number's other languages: at most four, none twice.
pub(super) fn alternate_languages() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(language())
        .max_items(Some(4))
        .unique_items(true)
        .description(Some(
            "Up to four more languages. A language may be named once only, in any \
             case and counting the primary language (else 422): a rule between \
             fields that JSON Schema cannot state.",
        ))
        .build()
}
