//! `serve --demo`: a demo tenant on a fresh store — an admin with a generated password,
//! two users with mailboxes and one without, a toll and a toll-free number.

use std::net::SocketAddr;

use pinbridge_app::{AddUser, App};
use pinbridge_domain::audit::Actor;
use pinbridge_domain::ops::EnableOptions;
use pinbridge_domain::settings::TenantSettingsChange;
use pinbridge_domain::user::Role;
use pinbridge_domain::{
    DisplayName, E164, EmailAddress, LanguageTag, NumberKind, ServiceNumber, Upn,
};
use pinbridge_store::UserQuery;
use rand_core::RngCore;

use crate::admin::parsed;

/// A password of 20 characters from an alphabet without look-alikes.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::new();
    while out.len() < 20 {
        let b = (rand_core::OsRng.next_u32() & 0xff) as usize;
        if b < ALPHABET.len() * (256 / ALPHABET.len()) {
            out.push(char::from(ALPHABET[b % ALPHABET.len()]));
        }
    }
    out
}

pub async fn seed(app: &App, http: SocketAddr) -> Result<(), String> {
    let existing = parsed(
        app.search_users(&UserQuery {
            search: None,
            limit: 1,
            offset: 0,
        })
        .await,
    )?;
    if existing.total > 0 {
        println!("--demo: the store already has users; nothing seeded");
        return Ok(());
    }
    let actor = Actor::system();
    parsed(
        app.update_tenant_settings(
            &actor,
            &TenantSettingsChange {
                display_name: Some(parsed(DisplayName::parse("Contoso (demo)"))?),
                ..Default::default()
            },
        )
        .await,
    )?;
    let toll = parsed(E164::parse("+14255550100"))?;
    let toll_free = parsed(E164::parse("+18005550100"))?;
    for (number, kind) in [
        (&toll, NumberKind::Toll),
        (&toll_free, NumberKind::TollFree),
    ] {
        let n = parsed(ServiceNumber::new(
            number.clone(),
            kind,
            LanguageTag::default(),
            vec![],
        ))?;
        parsed(app.add_number(&actor, &n).await)?;
    }
    let password = generate_password();
    let admin = parsed(Upn::parse("admin@contoso.example"))?;
    parsed(
        app.add_user(
            &actor,
            AddUser {
                upn: admin.clone(),
                display_name: parsed(DisplayName::parse("Demo Admin"))?,
                primary_smtp_address: Some(parsed(EmailAddress::parse("admin@contoso.example"))?),
                role: Role::Admin,
                password: Some(password.clone()),
            },
        )
        .await,
    )?;
    println!("pinbridge demo tenant \"Contoso (demo)\"");
    println!("  admin:     {admin}  password: {password}  (shown only now)");
    println!("  numbers:   {toll} (toll), {toll_free} (toll-free)");
    let people = [
        ("alice@contoso.example", "Alice Example", true),
        ("bob@contoso.example", "Bob Example", true),
        ("carol@contoso.example", "Carol Example (no mailbox)", false),
    ];
    for (upn, name, mailbox) in people {
        let upn = parsed(Upn::parse(upn))?;
        parsed(
            app.add_user(
                &actor,
                AddUser {
                    upn: upn.clone(),
                    display_name: parsed(DisplayName::parse(name))?,
                    primary_smtp_address: if mailbox {
                        Some(parsed(EmailAddress::parse(upn.as_str()))?)
                    } else {
                        None
                    },
                    role: Role::User,
                    password: None,
                },
            )
            .await,
        )?;
        let options = EnableOptions {
            toll_free_service_number: Some(toll_free.clone()),
            ..Default::default()
        };
        let outcome = parsed(app.enable_user(&actor, &upn, &options).await)?;
        let c = &outcome.user.conferencing;
        let pin = outcome.new_pin.as_ref().map_or("-", |p| p.pin.reveal());
        println!(
            "  organiser: {upn}  conference ID {}  PIN {pin}",
            c.conference_id.as_ref().map_or("-", |id| id.as_str())
        );
    }
    println!("  health:    http://{http}/healthz");
    println!(
        "  try:       pinbridge user list; pinbridge user show alice@contoso.example; pinbridge audit"
    );
    Ok(())
}
