//! The conferencing emails: a subject, a plain-text part and an HTML part, from the
//! content queued in the outbox. Every value is escaped in the HTML part; names and
//! addresses cannot hold line breaks (the domain types refuse them at input), so they
//! are safe in headers.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use pinbridge_domain::email::EmailKind;
use pinbridge_store::outbox::{DialInNumber, MailContent};
use zeroize::Zeroize;

/// Settings every email shares.
#[derive(Debug, Clone)]
pub struct MessageSettings {
    /// The From address.
    pub from_address: lettre::Address,
    /// The From display name; the tenant's display name when not set.
    pub from_name: Option<String>,
    /// The web address users reach pinbridge at, without a trailing slash; the
    /// self-service portal is `<public_url>/usp`.
    pub public_url: String,
}

impl MessageSettings {
    pub fn portal_url(&self) -> String {
        format!("{}/usp", self.public_url.trim_end_matches('/'))
    }
}

/// A rendered email. Its parts may hold a PIN: they are wiped from memory when dropped.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Drop for Rendered {
    fn drop(&mut self) {
        self.text.zeroize();
        self.html.zeroize();
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn kind_label(number: &DialInNumber) -> &'static str {
    match number.kind.as_str() {
        "toll-free" => "Toll-free",
        _ => "Toll",
    }
}

/// The parts of an email, as paragraphs and labelled values, written once and turned
/// into both text and HTML.
struct Body {
    greeting: String,
    intro: Vec<String>,
    details: Vec<(&'static str, String)>,
    numbers: Vec<DialInNumber>,
    how_to_join: bool,
    outro: Vec<String>,
}

const JOIN_STEPS: [&str; 4] = [
    "Call one of the dial-in numbers.",
    "Enter the conference ID followed by #.",
    "If you are the organiser, press * right after that # and enter your PIN followed by #: \
     this starts the meeting, and *21 admits everyone waiting in the lobby.",
    "Everyone else waits in the lobby until they are admitted.",
];

fn body(kind: EmailKind, content: &MailContent, settings: &MessageSettings) -> (String, Body) {
    let tenant = &content.tenant_name;
    let portal = settings.portal_url();
    let mut details = Vec::new();
    if let Some(id) = &content.conference_id {
        details.push(("Conference ID", id.clone()));
    }
    if let Some(pin) = &content.pin {
        details.push(("PIN", pin.clone()));
    }
    let reset_yourself =
        format!("Forgot your PIN? Reset it yourself in the self-service portal: {portal}");
    let withheld = content.pin_withheld.then(|| {
        format!(
            "Your PIN is not included in this email. Reset it yourself in the self-service \
             portal, {portal}, or ask your administrator for a new one."
        )
    });
    let mut outro = Vec::new();
    let (subject, intro, numbers, how_to_join) = match kind {
        EmailKind::SetUp => {
            let mut intro = vec![format!(
                "You are set up for audio conferencing in {tenant}. People can join your \
                 meetings by phone, and you can start them by phone with your PIN."
            )];
            intro.extend(withheld.clone());
            if content.pin.is_some() {
                outro.push("Keep your PIN to yourself: it starts meetings in your name.".into());
            }
            outro.push(reset_yourself.clone());
            (
                format!("{tenant}: you are set up for audio conferencing"),
                intro,
                true,
                true,
            )
        }
        EmailKind::PinReset => {
            let mut intro = vec![format!(
                "An administrator of {tenant} reset your audio conferencing PIN. Your previous \
                 PIN no longer works."
            )];
            intro.extend(withheld.clone());
            if content.pin.is_some() {
                outro.push("Keep your PIN to yourself: it starts meetings in your name.".into());
            }
            outro.push(reset_yourself.clone());
            (
                format!("{tenant}: your audio conferencing PIN was reset"),
                intro,
                true,
                true,
            )
        }
        EmailKind::ConferenceInfoChanged => {
            outro.push(reset_yourself.clone());
            (
                format!("{tenant}: your audio conferencing information has changed"),
                vec![
                    "Your conference ID or dial-in numbers have changed. Your PIN has not \
                     changed. Meetings you schedule from now on use the details below."
                        .to_owned(),
                ],
                true,
                true,
            )
        }
        EmailKind::Disabled => (
            format!("{tenant}: audio conferencing is turned off for you"),
            vec![format!(
                "An administrator of {tenant} turned off audio conferencing for you. Your PIN \
                 has been removed: you can no longer start meetings by phone. Your conference \
                 ID stays reserved for you."
            )],
            false,
            false,
        ),
        EmailKind::ConferenceInfo => {
            outro.push(reset_yourself.clone());
            (
                format!("{tenant}: your audio conferencing information"),
                vec![format!(
                    "Here is your audio conferencing information for {tenant}. Your PIN is \
                     not included."
                )],
                true,
                true,
            )
        }
    };
    let body = Body {
        greeting: format!("Hello {},", content.user_display_name),
        intro,
        details,
        numbers: if numbers {
            content.numbers.clone()
        } else {
            Vec::new()
        },
        how_to_join,
        outro,
    };
    (subject, body)
}

fn text_part(body: &Body, tenant: &str) -> String {
    let mut out = String::new();
    out.push_str(&body.greeting);
    out.push_str("\n\n");
    for p in &body.intro {
        out.push_str(p);
        out.push_str("\n\n");
    }
    if !body.details.is_empty() {
        for (label, value) in &body.details {
            out.push_str(&format!("{label}: {value}\n"));
        }
        out.push('\n');
    }
    if !body.numbers.is_empty() {
        out.push_str("Dial-in numbers:\n");
        for n in &body.numbers {
            out.push_str(&format!(
                "  {}  {} ({})\n",
                n.number,
                kind_label(n),
                n.languages.join(", ")
            ));
        }
        out.push('\n');
    }
    if body.how_to_join {
        out.push_str("How to join by phone:\n");
        for (i, step) in JOIN_STEPS.iter().enumerate() {
            out.push_str(&format!("  {}. {step}\n", i + 1));
        }
        out.push('\n');
    }
    for p in &body.outro {
        out.push_str(p);
        out.push_str("\n\n");
    }
    out.push_str(&format!("-- \n{tenant} audio conferencing\n"));
    out
}

fn html_part(body: &Body, tenant: &str, portal: &str) -> String {
    let e = escape_html;
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family: sans-serif\">\n",
    );
    out.push_str(&format!("<p>{}</p>\n", e(&body.greeting)));
    for p in &body.intro {
        out.push_str(&format!("<p>{}</p>\n", e(p)));
    }
    if !body.details.is_empty() {
        out.push_str("<table>\n");
        for (label, value) in &body.details {
            out.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td><strong>{}</strong></td></tr>\n",
                e(label),
                e(value)
            ));
        }
        out.push_str("</table>\n");
    }
    if !body.numbers.is_empty() {
        out.push_str("<h3>Dial-in numbers</h3>\n<ul>\n");
        for n in &body.numbers {
            out.push_str(&format!(
                "<li><a href=\"tel:{}\">{}</a> &middot; {} &middot; {}</li>\n",
                e(&n.number),
                e(&n.number),
                kind_label(n),
                e(&n.languages.join(", "))
            ));
        }
        out.push_str("</ul>\n");
    }
    if body.how_to_join {
        out.push_str("<h3>How to join by phone</h3>\n<ol>\n");
        for step in JOIN_STEPS {
            out.push_str(&format!("<li>{}</li>\n", e(step)));
        }
        out.push_str("</ol>\n");
    }
    for p in &body.outro {
        // The portal address becomes a link; the rest of the paragraph is text.
        match p.split_once(portal) {
            Some((before, after)) if !portal.is_empty() => out.push_str(&format!(
                "<p>{}<a href=\"{}\">{}</a>{}</p>\n",
                e(before),
                e(portal),
                e(portal),
                e(after)
            )),
            _ => out.push_str(&format!("<p>{}</p>\n", e(p))),
        }
    }
    out.push_str(&format!(
        "<p style=\"color: #666\">{} audio conferencing</p>\n</body></html>\n",
        e(tenant)
    ));
    out
}

/// Renders the email of `kind` from its queued content.
pub fn render(kind: EmailKind, content: &MailContent, settings: &MessageSettings) -> Rendered {
    let (subject, body) = body(kind, content, settings);
    let text = text_part(&body, &content.tenant_name);
    let html = html_part(&body, &content.tenant_name, &settings.portal_url());
    // The body's copies of the PIN are wiped here; the rendered parts wipe theirs.
    let Body { mut details, .. } = body;
    for (_, value) in &mut details {
        value.zeroize();
    }
    Rendered {
        subject,
        text,
        html,
    }
}

/// Builds the MIME message: From, To, Subject, the fixed Message-ID, and the
/// multipart/alternative text and HTML parts.
pub fn build_message(
    kind: EmailKind,
    message_id: &str,
    recipient: &pinbridge_domain::EmailAddress,
    content: &MailContent,
    settings: &MessageSettings,
) -> Result<Message, String> {
    let rendered = render(kind, content, settings);
    let to_address: lettre::Address = recipient
        .as_str()
        .parse()
        .map_err(|e| format!("the recipient address is not usable: {e}"))?;
    let from_name = settings
        .from_name
        .clone()
        .unwrap_or_else(|| content.tenant_name.clone());
    Message::builder()
        .from(Mailbox::new(Some(from_name), settings.from_address.clone()))
        .to(Mailbox::new(
            Some(content.user_display_name.clone()),
            to_address,
        ))
        .subject(rendered.subject.clone())
        .message_id(Some(message_id.to_owned()))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text.clone(),
            rendered.html.clone(),
        ))
        .map_err(|e| format!("the message cannot be built: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MessageSettings {
        MessageSettings {
            from_address: "conferencing@contoso.example".parse().unwrap(),
            from_name: None,
            public_url: "https://meet.contoso.example/".into(),
        }
    }

    fn content(pin: Option<&str>) -> MailContent {
        MailContent {
            tenant_name: "Contoso <Sales> & Co".into(),
            user_display_name: "Alice \"Al\" O'Neil".into(),
            user_upn: "alice@contoso.example".into(),
            conference_id: Some("123456789".into()),
            numbers: vec![
                DialInNumber {
                    number: "+14255550100".into(),
                    kind: "toll".into(),
                    languages: vec!["en-US".into(), "fr-FR".into()],
                },
                DialInNumber {
                    number: "+18005550100".into(),
                    kind: "toll-free".into(),
                    languages: vec!["en-US".into()],
                },
            ],
            pin: pin.map(str::to_owned),
            pin_withheld: false,
        }
    }

    #[test]
    fn the_pin_appears_only_where_the_kind_carries_it() {
        let s = settings();
        let with = render(EmailKind::SetUp, &content(Some("482915736204")), &s);
        assert!(with.text.contains("PIN: 482915736204"), "{}", with.text);
        assert!(with.html.contains("482915736204"));
        for kind in [
            EmailKind::ConferenceInfo,
            EmailKind::ConferenceInfoChanged,
            EmailKind::Disabled,
        ] {
            let r = render(kind, &content(None), &s);
            assert!(!r.text.contains("PIN:"), "{kind:?}: {}", r.text);
        }
    }

    #[test]
    fn numbers_have_labels_and_languages_and_the_portal_is_linked() {
        let r = render(EmailKind::ConferenceInfo, &content(None), &settings());
        assert!(
            r.text.contains("+14255550100  Toll (en-US, fr-FR)"),
            "{}",
            r.text
        );
        assert!(r.text.contains("+18005550100  Toll-free (en-US)"));
        assert!(r.text.contains("Conference ID: 123456789"));
        assert!(r.text.contains("https://meet.contoso.example/usp"));
        assert!(
            r.html
                .contains("<a href=\"https://meet.contoso.example/usp\">")
        );
        let off = render(EmailKind::Disabled, &content(None), &settings());
        assert!(!off.text.contains("+14255550100"));
    }

    #[test]
    fn values_are_escaped_in_html() {
        let r = render(
            EmailKind::SetUp,
            &content(Some("482915736204")),
            &settings(),
        );
        assert!(
            r.html.contains("Contoso &lt;Sales&gt; &amp; Co"),
            "{}",
            r.html
        );
        assert!(r.html.contains("Alice &quot;Al&quot; O&#39;Neil"));
        assert!(!r.html.contains("<Sales>"));
    }

    #[test]
    fn the_message_keeps_its_message_id_and_has_both_parts() {
        let to = pinbridge_domain::EmailAddress::parse("alice@contoso.example").unwrap();
        let message = build_message(
            EmailKind::PinReset,
            "<abc.pinbridge@contoso.example>",
            &to,
            &content(Some("482915736204")),
            &settings(),
        )
        .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <abc.pinbridge@contoso.example>"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
    }
}
