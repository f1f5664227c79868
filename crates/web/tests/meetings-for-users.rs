//! A signed-in user's meetings at `/meetings`: scheduling one (audited, as the user),
//! its invitation ready to paste into a calendar invite (join link under the public URL,
//! the organiser's numbers, the conference ID, the PIN reset link) with a copy button
//! that needs no script from elsewhere, the list with the personal meeting, bad form
//! input refused without a change, and nobody seeing or creating meetings of others.

mod common;

use axum::http::StatusCode;
use common::{ADMIN, ADMIN_PASSWORD, Harness, Reply, USER, USER_PASSWORD};
use pinbridge_domain::audit::AuditAction;
use pinbridge_domain::{Actor, ConferenceId, PublicUrl, Upn};
use pinbridge_store::AuditQuery;
use pinbridge_web::{AppState, WebConfig};

const PUBLIC_URL: &str = "https://pinbridge.contoso.example";

/// The harness with the router serving under [`PUBLIC_URL`].
async fn harness() -> Harness {
    let mut h = Harness::new().await;
    let mut state = AppState::new(h.app.clone());
    state.web = std::sync::Arc::new(WebConfig {
        public_url: PublicUrl::parse(PUBLIC_URL).unwrap(),
        ..WebConfig::default()
    });
    h.router = pinbridge_web::app(state);
    h
}

async fn alice_conference_id(h: &Harness) -> String {
    h.app
        .user(&Upn::parse(USER).unwrap())
        .await
        .unwrap()
        .conferencing
        .conference_id
        .expect("alice has a conference ID")
        .to_string()
}

/// HTML text with its character references decoded (numeric ones, and the five named
/// ones an escaper writes).
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| name.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the page's invitation field, unescaped.
fn invitation_text(page: &Reply) -> String {
    let start = page
        .body
        .find("<textarea id=\"invitation\"")
        .unwrap_or_else(|| panic!("no invitation field in {}", page.body));
    let open = page.body[start..].find('>').unwrap() + start + 1;
    let close = page.body[open..].find("</textarea>").unwrap() + open;
    unescape(&page.body[open..close])
}

/// Posts the scheduling form as `cookies` with the session's CSRF token.
async fn schedule(h: &Harness, cookies: &str, fields: &[(&str, &str)]) -> Reply {
    let csrf = h.csrf(cookies).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    h.post_form("/meetings", cookies, &all).await
}

fn meeting_audits(records: &[pinbridge_store::AuditRecord]) -> Vec<&pinbridge_store::AuditRecord> {
    records
        .iter()
        .filter(|r| r.action == AuditAction::MeetingCreated)
        .collect()
}

#[tokio::test]
async fn a_user_schedules_a_meeting_and_gets_its_invitation() {
    let h = harness().await;
    let alice = h.sign_in(USER, USER_PASSWORD).await.ok().unwrap();
    let personal_id = alice_conference_id(&h).await;

    // The list before: only the personal meeting, marked, and the form with the
    // inherited values as its defaults (alice's "callers can start my meetings" and
    // the tenant's lobby bypass are both off).
    let page = h.get("/meetings", &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("action=\"/meetings\""), "{}", page.body);
    assert!(page.body.contains("Your default (no)"), "{}", page.body);
    assert!(
        page.body.contains("Your organisation's default (no)"),
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("<tr").count(), 2, "{}", page.body);
    assert!(
        page.body.contains("<tr class=\"personal\">"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(
            "<a href=\"/meetings/{personal_id}\">{personal_id}</a>"
        )),
        "{}",
        page.body
    );

    let reply = schedule(
        &h,
        &alice,
        &[
            ("subject", "  Q3 review & planning  "),
            ("allow_anonymous_start", "on"),
            ("allow_pstn_users_to_bypass_lobby", "default"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let id = reply
        .location()
        .strip_prefix("/meetings/")
        .and_then(|rest| rest.strip_suffix("?done=created"))
        .unwrap_or_else(|| panic!("redirected to {}", reply.location()))
        .to_owned();
    assert_ne!(id, personal_id);

    // What was stored, and the audit line naming alice as who did it and for whom.
    let report = h
        .app
        .meeting_report(&ConferenceId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(report.organizer, USER);
    assert_eq!(report.subject.as_deref(), Some("Q3 review & planning"));
    assert_eq!(report.allow_anonymous_start, Some(true));
    assert_eq!(report.allow_pstn_users_to_bypass_lobby, None);
    assert!(!report.personal);
    let audit = h
        .app
        .audit(&AuditQuery {
            limit: 100,
            target: None,
        })
        .await
        .unwrap();
    let created = meeting_audits(&audit);
    assert_eq!(created.len(), 1, "{audit:?}");
    assert_eq!(created[0].actor, Actor::user(&Upn::parse(USER).unwrap()));
    assert_eq!(created[0].target.as_ref().map(|u| u.as_str()), Some(USER));
    assert!(created[0].detail.contains(&id), "{}", created[0].detail);

    // The invitation, after the redirect.
    let page = h.get(reply.location(), &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("The meeting was created."),
        "{}",
        page.body
    );
    assert_eq!(
        invitation_text(&page),
        format!(
            "Q3 review & planning\n\
             \n\
             Join the meeting from your browser:\n\
             {PUBLIC_URL}/meet/{id}\n\
             \n\
             Or call in (audio only):\n\
             +14255550100,,{id}# (toll)\n\
             Phone conference ID: {id}#\n\
             \n\
             Reset dial-in PIN: {PUBLIC_URL}/usp\n"
        )
    );
    // It works without JavaScript: the text is in a read-only field. The copy button
    // is shown by a script of our own; no script or style comes from another host.
    assert!(
        page.body.contains("<textarea id=\"invitation\" readonly"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<button type=\"button\" id=\"copy-invitation\" data-copy=\"invitation\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<script src=\"/static/copy.js\" defer></script>"),
        "{}",
        page.body
    );
    for attribute in ["src=\"", "href=\""] {
        for value in page.body.split(attribute).skip(1) {
            assert!(
                value.starts_with('/') || value.starts_with('#'),
                "{attribute}{} leads off the site",
                value.split('"').next().unwrap_or("")
            );
        }
    }
    let script = h.get("/static/copy.js", "").await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        script
            .body
            .contains("navigator.clipboard.writeText(field.value)")
    );

    // The join address is in the invitation, but the page links to it only if the
    // router serves it: a button that leads to a 404 is no use to anybody.
    let meet = h.get(&format!("/meet/{id}"), &alice).await;
    let served = meet.status != StatusCode::NOT_FOUND;
    assert_eq!(
        page.body.contains(&format!("href=\"/meet/{id}\"")),
        served,
        "/meet/{id} answers {}: {}",
        meet.status,
        page.body
    );
    if !served {
        assert!(!page.body.contains("href=\"/meet/"), "{}", page.body);
        assert!(
            page.body.contains(&format!(
                "<span id=\"join-url\">{PUBLIC_URL}/meet/{id}</span>"
            )),
            "{}",
            page.body
        );
    }

    // A reload of the invitation schedules nothing more.
    h.get(reply.location(), &alice).await;
    let again = h
        .app
        .organiser_meetings(&Upn::parse(USER).unwrap())
        .await
        .unwrap();
    assert_eq!(again.meetings.len(), 2);

    // The list: the personal meeting first, then the new one with its options.
    let list = h.get("/meetings", &alice).await;
    assert_eq!(list.body.matches("<tr").count(), 3, "{}", list.body);
    let personal_at = list.body.find("<tr class=\"personal\">").unwrap();
    let new_at = list.body.find(&format!("/meetings/{id}\"")).unwrap();
    assert!(personal_at < new_at, "{}", list.body);
    let row = &list.body[new_at..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("yes (this meeting)"), "{row}");
    assert!(row.contains("no (default)"), "{row}");
    let created_at = h
        .app
        .meeting_summaries()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.conference_id == id)
        .unwrap()
        .created_at_ms;
    assert!(
        row.contains(&pinbridge_domain::time::format_utc_millis(created_at)),
        "{row}"
    );
    let subject_at = list.body.find("Q3 review &#38; planning").unwrap();
    assert!(personal_at < subject_at, "{}", list.body);
}

#[tokio::test]
async fn the_personal_meeting_has_an_invitation_too() {
    let h = harness().await;
    let alice = h.sign_in(USER, USER_PASSWORD).await.ok().unwrap();
    let id = alice_conference_id(&h).await;
    let page = h.get(&format!("/meetings/{id}"), &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<h1>Personal meeting</h1>"),
        "{}",
        page.body
    );
    let text = invitation_text(&page);
    assert!(
        text.starts_with(&format!(
            "Join the meeting from your browser:\n{PUBLIC_URL}/meet/{id}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("+14255550100,,{id}# (toll)\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Phone conference ID: {id}#\n")),
        "{text}"
    );
}

#[tokio::test]
async fn bad_form_input_is_refused_with_the_reason_and_changes_nothing() {
    let h = harness().await;
    let alice = h.sign_in(USER, USER_PASSWORD).await.ok().unwrap();
    let before = h.snapshot().await;
    let too_long = "x".repeat(201);
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("subject", "two\nlines")],
            "meeting subject must not contain line breaks or control characters",
        ),
        (
            &[("subject", too_long.as_str())],
            "meeting subject is too long (at most 200 characters)",
        ),
        (
            &[("subject", "Q3"), ("allow_anonymous_start", "maybe")],
            "\"callers may start it\" must be default, on or off, not \"maybe\"",
        ),
        (
            &[("allow_pstn_users_to_bypass_lobby", "yes")],
            "\"dial-in callers bypass the lobby\" must be default, on or off",
        ),
    ];
    for (fields, message) in cases {
        let reply = schedule(&h, &alice, fields).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}: {}",
            reply.body
        );
        assert!(
            reply.body.contains("class=\"error\" role=\"alert\"")
                && unescape(&reply.body).contains(message),
            "{fields:?} does not say {message:?}: {}",
            reply.body
        );
        // The form is shown again, with what was typed.
        assert!(
            reply.body.contains("action=\"/meetings\""),
            "{}",
            reply.body
        );
    }
    let reply = schedule(
        &h,
        &alice,
        &[("subject", "Q3"), ("allow_anonymous_start", "x")],
    )
    .await;
    assert!(reply.body.contains("value=\"Q3\""), "{}", reply.body);
    assert_eq!(
        before,
        h.snapshot().await,
        "a refused form changed something"
    );
}

#[tokio::test]
async fn only_signed_in_organisers_see_and_create_their_own_meetings() {
    let h = harness().await;
    let alice = h.sign_in(USER, USER_PASSWORD).await.ok().unwrap();
    let admin = h.sign_in(ADMIN, ADMIN_PASSWORD).await.ok().unwrap();
    let reply = schedule(&h, &alice, &[("subject", "Alice's")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let meeting = reply.location().to_owned();
    let personal = format!("/meetings/{}", alice_conference_id(&h).await);

    // Not signed in: the sign-in page, then back.
    for path in ["/meetings", meeting.as_str()] {
        let reply = h.get(path, "").await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            reply.location().starts_with("/signin?next=/meetings"),
            "{path}: {}",
            reply.location()
        );
    }

    let before = h.snapshot().await;
    // Another user of the tenant (the admin, not enabled for audio conferencing) sees
    // neither of alice's meetings, and an ID that leads nowhere is not found either.
    for path in [
        meeting.as_str(),
        personal.as_str(),
        "/meetings/1234567",
        "/meetings/x",
    ] {
        let reply = h.get(path, &admin).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
        assert!(!reply.body.contains("Alice"), "{}", reply.body);
    }
    // The admin's own list has none of them, and no form: they cannot schedule, and
    // posting anyway is refused with the reason.
    let page = h.get("/meetings", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("You have no meetings."), "{}", page.body);
    assert!(!page.body.contains("action=\"/meetings\""), "{}", page.body);
    assert!(
        page.body
            .contains("Audio conferencing is not enabled for you"),
        "{}",
        page.body
    );
    let reply = schedule(&h, &admin, &[("subject", "Admin's")]).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply.body.contains(
            "Audio conferencing is not enabled for you, so you cannot schedule meetings."
        ),
        "{}",
        reply.body
    );
    // A form posted without a session creates nothing.
    let reply = h
        .post_form("/meetings", "", &[("csrf", "x"), ("subject", "Nobody's")])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(before, h.snapshot().await);

    // Once alice's audio conferencing is off, callers cannot reach her meetings: the
    // list says so and there is no invitation to send.
    h.app
        .disable_user(&Actor::system(), &Upn::parse(USER).unwrap())
        .await
        .unwrap();
    let reply = h.get(&meeting, &alice).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    let page = h.get("/meetings", &alice).await;
    assert!(
        page.body
            .contains("Audio conferencing is not enabled for you"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("class=\"personal\""), "{}", page.body);
    assert!(
        unescape(&page.body).contains("<td>Alice's</td>"),
        "{}",
        page.body
    );
}
