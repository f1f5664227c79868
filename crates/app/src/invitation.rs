//! The invitation to a meeting: what its organiser pastes into a calendar invite.

use pinbridge_domain::NumberKind;

use crate::report::DialInNumber;

/// A meeting's invitation: the join link, the numbers to call with the conference ID,
/// and where the organiser resets the PIN that starts the meeting by phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The meeting's conference ID.
    pub conference_id: String,
    /// The subject, if the meeting has one.
    pub subject: Option<String>,
    /// The conference ID is the organiser's own (the personal meeting).
    pub personal: bool,
    /// Where signed-in users join from the browser (`<public_url>/meet/<ID>`).
    pub join_url: String,
    /// The self-service portal, where the organiser resets the PIN (`<public_url>/usp`).
    pub reset_pin_url: String,
    /// The organiser's toll and toll-free numbers.
    pub dial_in_numbers: Vec<DialInNumber>,
}

impl Invitation {
    /// The invitation as plain text, one item a line. Each number is also written with
    /// the conference ID after two pauses (`+14255550100,,123456789#`), which phones
    /// dial in one tap.
    pub fn text(&self) -> String {
        let id = &self.conference_id;
        let mut lines = Vec::new();
        if let Some(subject) = &self.subject {
            lines.push(subject.clone());
            lines.push(String::new());
        }
        lines.push("Join the meeting from your browser:".to_owned());
        lines.push(self.join_url.clone());
        lines.push(String::new());
        if self.dial_in_numbers.is_empty() {
            lines.push("Call in (audio only): no dial-in number is set up yet.".to_owned());
        } else {
            lines.push("Or call in (audio only):".to_owned());
            for n in &self.dial_in_numbers {
                let kind = match n.kind {
                    NumberKind::Toll => "toll",
                    NumberKind::TollFree => "toll-free",
                };
                lines.push(format!("{},,{id}# ({kind})", n.number));
            }
        }
        lines.push(format!("Phone conference ID: {id}#"));
        lines.push(String::new());
        lines.push(format!("Reset dial-in PIN: {}", self.reset_pin_url));
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation() -> Invitation {
        Invitation {
            conference_id: "123456789".into(),
            subject: Some("Q3 review".into()),
            personal: false,
            join_url: "https://pinbridge.contoso.example/meet/123456789".into(),
            reset_pin_url: "https://pinbridge.contoso.example/usp".into(),
            dial_in_numbers: vec![
                DialInNumber {
                    number: "+14255550100".into(),
                    kind: NumberKind::Toll,
                },
                DialInNumber {
                    number: "+18005550100".into(),
                    kind: NumberKind::TollFree,
                },
            ],
        }
    }

    #[test]
    fn the_text_has_the_link_the_numbers_the_id_and_the_reset_link() {
        assert_eq!(
            invitation().text(),
            "Q3 review\n\
             \n\
             Join the meeting from your browser:\n\
             https://pinbridge.contoso.example/meet/123456789\n\
             \n\
             Or call in (audio only):\n\
             +14255550100,,123456789# (toll)\n\
             +18005550100,,123456789# (toll-free)\n\
             Phone conference ID: 123456789#\n\
             \n\
             Reset dial-in PIN: https://pinbridge.contoso.example/usp\n"
        );
    }

    #[test]
    fn without_a_subject_or_numbers_the_text_says_so() {
        let bare = Invitation {
            subject: None,
            dial_in_numbers: vec![],
            ..invitation()
        };
        let text = bare.text();
        assert!(
            text.starts_with("Join the meeting from your browser:\n"),
            "{text}"
        );
        assert!(
            text.contains("Call in (audio only): no dial-in number is set up yet.\n"),
            "{text}"
        );
        assert!(text.contains("Phone conference ID: 123456789#\n"), "{text}");
    }
}
