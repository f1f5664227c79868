//! The throttle behind sign-in locks and phone PIN locks, in the store's own time (`now`
//! is an argument): the window, the lock, the back-off that doubles lock after lock up to
//! its longest, forgiveness after a long quiet time, success and admin clearing, and the
//! two throttles kept apart. On SQLite, and on PostgreSQL when `DATABASE_URL` is set (a
//! schema of its own, dropped at the end).

use pinbridge_domain::ServerKey;
use pinbridge_domain::audit::{Actor, AuditAction, AuditEntry};
use pinbridge_store::throttle::{Throttle, ThrottlePolicy};
use pinbridge_store::{AuditQuery, Location, OpenOptions, Store};

const MIN: i64 = 60_000;
const POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 3,
    window_ms: 15 * MIN,
    lock_ms: 15 * MIN,
    longest_lock_ms: 60 * MIN,
};
const T0: i64 = 1_800_000_000_000;

/// A store on SQLite, and one on PostgreSQL when `DATABASE_URL` is set.
struct Backends {
    stores: Vec<Store>,
    postgres: Option<(sqlx::AnyPool, String)>,
    _dir: tempfile::TempDir,
}

async fn backends(name: &str) -> Backends {
    sqlx::any::install_default_drivers();
    let key = ServerKey::generate(&mut rand_core::OsRng);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(
        &Location::DataDir(dir.path().to_path_buf()),
        &key,
        &OpenOptions::default(),
    )
    .await
    .unwrap();
    let mut stores = vec![sqlite];
    let mut postgres = None;
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let schema = format!("throttle_{name}_{}", std::process::id());
        let admin = sqlx::AnyPool::connect(&url)
            .await
            .expect("DATABASE_URL reachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let location = Location::Url(format!("{url}{sep}options=-c%20search_path%3D{schema}"));
        stores.push(
            Store::open(&location, &key, &OpenOptions::default())
                .await
                .unwrap(),
        );
        postgres = Some((admin, schema));
    }
    Backends {
        stores,
        postgres,
        _dir: dir,
    }
}

impl Backends {
    async fn finish(self) {
        for store in self.stores {
            store.close().await;
        }
        if let Some((admin, schema)) = self.postgres {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
        }
    }
}

async fn fail(store: &Store, subject: &str, now: i64) -> Option<i64> {
    let failures = store
        .record_failure(Throttle::PhonePin, &[subject], POLICY, now)
        .await
        .unwrap();
    failures[0].locked_until_ms
}

async fn locked(store: &Store, subject: &str, now: i64) -> Option<i64> {
    store
        .locked_until(Throttle::PhonePin, &[subject], now)
        .await
        .unwrap()
}

/// Two failures that do not lock, then the third that does: until when.
async fn three_failures(store: &Store, subject: &str, now: i64) -> Option<i64> {
    assert_eq!(fail(store, subject, now).await, None);
    assert_eq!(fail(store, subject, now + 1).await, None);
    fail(store, subject, now + 2).await
}

#[tokio::test]
async fn locks_grow_lock_after_lock_and_are_forgiven_after_a_quiet_time() {
    let backends = backends("grow").await;
    for store in &backends.stores {
        let s = "organiser:alice@contoso.example";
        // Two failures: not locked; the third, within the window, locks for 15 minutes.
        assert_eq!(fail(store, s, T0).await, None);
        assert_eq!(fail(store, s, T0 + MIN).await, None);
        assert_eq!(locked(store, s, T0 + MIN).await, None);
        assert_eq!(fail(store, s, T0 + 2 * MIN).await, Some(T0 + 17 * MIN));
        assert_eq!(locked(store, s, T0 + 16 * MIN).await, Some(T0 + 17 * MIN));
        assert_eq!(
            locked(store, s, T0 + 17 * MIN).await,
            None,
            "the lock ended"
        );

        // Failures outside the window start a new one; the next lock lasts 30 minutes.
        let t1 = T0 + 40 * MIN;
        assert_eq!(three_failures(store, s, t1).await, Some(t1 + 2 + 30 * MIN));
        let locks = store.locks(Throttle::PhonePin, t1 + 3).await.unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!((locks[0].failures, locks[0].locks), (3, 2));

        // Then 60, and 60 again: the longest.
        let t2 = t1 + 60 * MIN;
        assert_eq!(three_failures(store, s, t2).await, Some(t2 + 2 + 60 * MIN));
        let t3 = t2 + 90 * MIN;
        assert_eq!(three_failures(store, s, t3).await, Some(t3 + 2 + 60 * MIN));

        // Longer than the longest lock without one: back to 15 minutes.
        let t4 = t3 + 2 + 60 * MIN + 61 * MIN;
        assert_eq!(three_failures(store, s, t4).await, Some(t4 + 2 + 15 * MIN));

        // A success forgets everything, the back-off included.
        assert!(store.clear_failures(Throttle::PhonePin, s).await.unwrap());
        assert_eq!(locked(store, s, t4 + 3).await, None);
        assert!(!store.clear_failures(Throttle::PhonePin, s).await.unwrap());
        let t5 = t4 + 4;
        assert_eq!(three_failures(store, s, t5).await, Some(t5 + 2 + 15 * MIN));
    }
    backends.finish().await;
}

#[tokio::test]
async fn the_two_throttles_are_kept_apart_and_clearing_a_lock_is_audited() {
    let backends = backends("apart").await;
    for store in &backends.stores {
        let s = "caller:+14255550123";
        assert!(three_failures(store, s, T0).await.is_some());
        assert!(locked(store, s, T0 + 5).await.is_some());
        assert_eq!(
            store
                .locked_until(Throttle::SignIn, &[s], T0 + 5)
                .await
                .unwrap(),
            None
        );
        assert!(
            store
                .locks(Throttle::SignIn, T0 + 5)
                .await
                .unwrap()
                .is_empty()
        );

        let admin = Actor::cli("root");
        let cleared = store
            .clear_lock(
                Throttle::PhonePin,
                &admin,
                s,
                T0 + 5,
                |failures, was_locked| {
                    assert_eq!((failures, was_locked), (3, true));
                    AuditEntry::new(AuditAction::PhonePinLockCleared, None, "cleared")
                },
            )
            .await
            .unwrap();
        assert!(cleared);
        assert_eq!(locked(store, s, T0 + 5).await, None);
        let nothing = store
            .clear_lock(Throttle::PhonePin, &admin, s, T0 + 6, |_, _| {
                panic!("nothing to clear is not audited")
            })
            .await
            .unwrap();
        assert!(!nothing);
        let audit = store
            .audit(&AuditQuery {
                limit: 10,
                target: None,
            })
            .await
            .unwrap();
        let cleared: Vec<_> = audit
            .iter()
            .filter(|r| r.action == AuditAction::PhonePinLockCleared)
            .collect();
        assert_eq!(cleared.len(), 1, "{audit:?}");
        assert_eq!(cleared[0].actor, admin);
    }
    backends.finish().await;
}
