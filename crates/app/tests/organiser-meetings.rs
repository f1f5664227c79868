//! An organiser's meetings through `App`, the one implementation every surface calls:
//! the list with the personal meeting and each meeting's options resolved, creation
//! audited with whoever did it, refused for an organiser who is not enabled (nothing
//! written), and the invitation only for the organiser's own meetings.

use pinbridge_app::report::DialInNumber;
use pinbridge_app::{AddUser, App, AppError, InheritedOptions, MeetingRequest, StoreConfig};
use pinbridge_domain::audit::AuditAction;
use pinbridge_domain::meeting::MeetingSettings;
use pinbridge_domain::ops::{EnableOptions, SetOptions};
use pinbridge_domain::settings::TenantSettingsChange;
use pinbridge_domain::user::Role;
use pinbridge_domain::{
    Actor, ConferenceId, DisplayName, E164, LanguageTag, MeetingSubject, NumberKind, PublicUrl,
    ServiceNumber, Upn,
};
use pinbridge_store::{AuditQuery, OpenOptions};

const ALICE: &str = "alice@contoso.example";
const BOB: &str = "bob@contoso.example";

async fn app(dir: &tempfile::TempDir) -> App {
    let app = App::open(&StoreConfig {
        data_dir: dir.path().to_path_buf(),
        database_url: None,
        server_key: None,
        open: OpenOptions::default(),
    })
    .await
    .expect("open the store");
    let actor = Actor::system();
    for (number, kind) in [
        ("+14255550100", NumberKind::Toll),
        ("+18005550100", NumberKind::TollFree),
    ] {
        let number = ServiceNumber::new(
            E164::parse(number).unwrap(),
            kind,
            LanguageTag::default(),
            vec![],
        )
        .unwrap();
        app.add_number(&actor, &number).await.unwrap();
    }
    for (who, name) in [(ALICE, "Alice"), (BOB, "Bob")] {
        app.add_user(
            &actor,
            AddUser {
                upn: upn(who),
                display_name: DisplayName::parse(name).unwrap(),
                primary_smtp_address: None,
                role: Role::User,
                password: None,
            },
        )
        .await
        .unwrap();
    }
    let options = EnableOptions {
        toll_free_service_number: Some(E164::parse("+18005550100").unwrap()),
        ..EnableOptions::default()
    };
    app.enable_user(&actor, &upn(ALICE), &options)
        .await
        .unwrap();
    app
}

fn upn(text: &str) -> Upn {
    Upn::parse(text).unwrap()
}

async fn meeting_audits(app: &App) -> Vec<pinbridge_store::AuditRecord> {
    app.audit(&AuditQuery {
        limit: 1000,
        target: None,
    })
    .await
    .unwrap()
    .into_iter()
    .filter(|r| r.action == AuditAction::MeetingCreated)
    .collect()
}

#[tokio::test]
async fn the_list_has_the_personal_meeting_and_resolves_each_meetings_options() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let alice = app.user(&upn(ALICE)).await.unwrap();
    let personal_id = alice.conferencing.conference_id.clone().unwrap();

    let mine = app.organiser_meetings(&upn(ALICE)).await.unwrap();
    assert!(mine.enabled);
    assert_eq!(
        mine.inherited,
        InheritedOptions {
            anonymous_start: false,
            bypass_lobby: false
        }
    );
    assert_eq!(mine.meetings.len(), 1);
    assert!(mine.meetings[0].personal);
    assert_eq!(mine.meetings[0].conference_id, personal_id);
    assert_eq!(mine.meetings[0].created_at_ms, None);

    let ops = Actor::cli("ops");
    let created = app
        .create_meeting(
            &ops,
            &MeetingRequest {
                organizer: upn(ALICE),
                subject: Some(MeetingSubject::parse("Q3 review").unwrap()),
                settings: MeetingSettings {
                    allow_anonymous_start: Some(false),
                    allow_pstn_users_to_bypass_lobby: None,
                },
            },
        )
        .await
        .unwrap();
    // Alice's own toll and toll-free numbers.
    assert_eq!(
        created.dial_in_numbers,
        [
            DialInNumber {
                number: "+14255550100".into(),
                kind: NumberKind::Toll
            },
            DialInNumber {
                number: "+18005550100".into(),
                kind: NumberKind::TollFree
            },
        ]
    );

    // Alice's "callers can start my meetings" and the tenant's lobby bypass go on: the
    // personal meeting follows both, the new meeting keeps its own "off".
    app.set_user(
        &Actor::system(),
        &upn(ALICE),
        &SetOptions {
            allow_pstn_only_meetings: Some(true),
            ..SetOptions::default()
        },
        false,
        None,
    )
    .await
    .unwrap();
    app.update_tenant_settings(
        &Actor::system(),
        &TenantSettingsChange {
            allow_pstn_users_to_bypass_lobby: Some(true),
            ..TenantSettingsChange::default()
        },
    )
    .await
    .unwrap();
    let mine = app.organiser_meetings(&upn(ALICE)).await.unwrap();
    assert_eq!(
        mine.inherited,
        InheritedOptions {
            anonymous_start: true,
            bypass_lobby: true
        }
    );
    let [personal, meeting] = &mine.meetings[..] else {
        panic!("{:?}", mine.meetings);
    };
    assert!(personal.personal && personal.anonymous_start && personal.bypass_lobby);
    assert!(!meeting.personal);
    assert_eq!(meeting.conference_id.as_str(), created.conference_id);
    assert_eq!(meeting.subject.as_deref(), Some("Q3 review"));
    assert!(!meeting.anonymous_start, "its own setting wins");
    assert!(meeting.bypass_lobby, "inherited from the tenant");
    assert!(meeting.created_at_ms.is_some());

    // Bob's list has none of alice's meetings.
    let bobs = app.organiser_meetings(&upn(BOB)).await.unwrap();
    assert!(!bobs.enabled);
    assert!(bobs.meetings.is_empty(), "{:?}", bobs.meetings);

    let audits = meeting_audits(&app).await;
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0].actor, ops);
    assert_eq!(audits[0].target, Some(upn(ALICE)));
    assert_eq!(
        audits[0].detail,
        format!("meeting {} created", created.conference_id)
    );
}

#[tokio::test]
async fn an_organiser_not_enabled_gets_no_meeting_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let request = MeetingRequest {
        organizer: upn(BOB),
        subject: None,
        settings: MeetingSettings::default(),
    };
    let refused = app.create_meeting(&Actor::system(), &request).await;
    assert!(
        matches!(refused, Err(AppError::OrganizerNotEnabled(ref u)) if u.as_str() == BOB),
        "{refused:?}"
    );
    assert!(app.meeting_summaries().await.unwrap().is_empty());
    assert!(meeting_audits(&app).await.is_empty());
}

#[tokio::test]
async fn the_invitation_is_only_for_the_organisers_own_meetings() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let url = PublicUrl::parse("https://pinbridge.contoso.example/").unwrap();
    let created = app
        .create_meeting(
            &Actor::system(),
            &MeetingRequest {
                organizer: upn(ALICE),
                subject: None,
                settings: MeetingSettings::default(),
            },
        )
        .await
        .unwrap();
    let id = ConferenceId::parse(&created.conference_id).unwrap();
    let invitation = app.invitation(&upn(ALICE), &id, &url).await.unwrap();
    assert_eq!(
        invitation.join_url,
        format!("https://pinbridge.contoso.example/meet/{id}")
    );
    assert_eq!(
        invitation.reset_pin_url,
        "https://pinbridge.contoso.example/usp"
    );
    assert!(!invitation.personal);
    assert_eq!(invitation.dial_in_numbers, created.dial_in_numbers);

    let personal = app
        .user(&upn(ALICE))
        .await
        .unwrap()
        .conferencing
        .conference_id
        .unwrap();
    assert!(
        app.invitation(&upn(ALICE), &personal, &url)
            .await
            .unwrap()
            .personal
    );
    let unknown = ConferenceId::parse("1234567").unwrap();
    for (who, id) in [(BOB, &id), (BOB, &personal), (ALICE, &unknown)] {
        let refused = app.invitation(&upn(who), id, &url).await;
        assert!(
            matches!(refused, Err(AppError::NoMeeting(_))),
            "{who} {id}: {refused:?}"
        );
    }

    app.disable_user(&Actor::system(), &upn(ALICE))
        .await
        .unwrap();
    let refused = app.invitation(&upn(ALICE), &id, &url).await;
    assert!(
        matches!(refused, Err(AppError::OrganizerNotEnabled(_))),
        "{refused:?}"
    );
}
