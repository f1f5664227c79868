//! The users list with 100,000 users: one page of 50, with and without a search.
//! SQLite by default; PostgreSQL when `DATABASE_URL` is set (a schema of its own).
//! Run: `cargo bench -p pinbridge-store --bench user-search`.

use std::time::{Duration, Instant};

use pinbridge_domain::{DisplayName, ServerKey, Upn, search_terms};
use pinbridge_store::{Backend, Location, OpenOptions, Store, UserQuery};

const USERS: usize = 100_000;
const RUNS: usize = 60;

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p95 = samples[(samples.len() * 95).div_ceil(100) - 1];
    format!(
        "median {:6.2} ms  p95 {:6.2} ms  max {:6.2} ms",
        ms(samples[samples.len() / 2]),
        ms(p95),
        ms(samples[samples.len() - 1])
    )
}

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jonas",
];
const LAST: &[&str] = &[
    "Lovelace", "Okafor", "Nakamura", "Schmidt", "Rossi", "Haddad", "Kowalski", "Silva", "Berg",
    "Dubois",
];

async fn seed(store: &Store) {
    let mut tx = store.pool().begin().await.expect("begin");
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(500) {
        let mut sql = String::from(
            "INSERT INTO users (upn, display_name, primary_smtp_address, role, created_at_ms) VALUES ",
        );
        for (i, n) in chunk.iter().enumerate() {
            let name = format!("{} {} {n}", FIRST[n % 10], LAST[(n / 10) % 10]);
            let upn = format!("user{n:06}@contoso.example");
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("('{upn}', '{name}', '{upn}', 'user', 0)"));
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .expect("insert users");
    }
    // The search terms, as `add_user` writes them.
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, upn, display_name FROM users")
            .fetch_all(&mut *tx)
            .await
            .expect("users");
    let mut terms = Vec::new();
    for (id, upn, name) in rows {
        let upn = Upn::parse(&upn).expect("upn");
        let name = DisplayName::parse(&name).expect("name");
        terms.extend(search_terms(&upn, &name).into_iter().map(|t| (t, id)));
    }
    for chunk in terms.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(t, id)| format!("('{}', {id})", t.replace('\'', "''")))
            .collect();
        let sql = format!(
            "INSERT INTO user_search_terms (term, user_id) VALUES {}",
            values.join(",")
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .expect("insert terms");
    }
    tx.commit().await.expect("commit");
    // What autovacuum does shortly after a bulk load: statistics for the planner and, on
    // PostgreSQL, the visibility map that lets counts read only the index.
    let maintenance = match store.backend() {
        Backend::Sqlite => "ANALYZE",
        Backend::Postgres => "VACUUM ANALYZE",
    };
    sqlx::raw_sql(maintenance)
        .execute(store.pool())
        .await
        .expect("analyze");
}

async fn measure(store: &Store, label: &str, query: UserQuery) {
    let mut total = 0;
    let samples: Vec<Duration> = {
        let mut v = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let start = Instant::now();
            let page = store.list_users(&query).await.expect("list");
            v.push(start.elapsed());
            total = page.total;
        }
        v
    };
    println!("{label:<42} {}  ({} match)", summary(samples), total);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ServerKey::generate(&mut rand_core::OsRng);
    sqlx::any::install_default_drivers();
    // On PostgreSQL the bench works in a schema of its own, dropped at the end.
    let mut cleanup = None;
    let (location, backend) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let schema = format!("bench_{}", std::process::id());
            let admin = sqlx::AnyPool::connect(&url).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .expect("schema");
            let sep = if url.contains('?') { '&' } else { '?' };
            let location = Location::Url(format!("{url}{sep}options=-c%20search_path%3D{schema}"));
            cleanup = Some((admin, schema));
            (location, "PostgreSQL")
        }
        Err(_) => (Location::DataDir(dir.path().to_path_buf()), "SQLite"),
    };
    let store = Store::open(&location, &key, &OpenOptions::default())
        .await
        .expect("open");
    let start = Instant::now();
    seed(&store).await;
    println!(
        "{backend}: seeded {USERS} users in {:.1} s; {RUNS} runs each, page of 50",
        start.elapsed().as_secs_f64()
    );
    let page = |search: Option<&str>, offset| UserQuery {
        search: search.map(str::to_owned),
        limit: 50,
        offset,
    };
    measure(&store, "no search, first page", page(None, 0)).await;
    measure(
        &store,
        "no search, page at offset 50,000",
        page(None, 50_000),
    )
    .await;
    measure(
        &store,
        "search \"lovelace\" (10 % match)",
        page(Some("lovelace"), 0),
    )
    .await;
    measure(
        &store,
        "search \"user04711\" (prefix of ten)",
        page(Some("user04711"), 0),
    )
    .await;
    measure(
        &store,
        "search \"user047113\" (exact)",
        page(Some("user047113"), 0),
    )
    .await;
    measure(
        &store,
        "search \"ada lovelace\" (two words)",
        page(Some("ada lovelace"), 0),
    )
    .await;
    measure(
        &store,
        "search \"nobody\" (no match)",
        page(Some("nobody"), 0),
    )
    .await;
    store.close().await;
    if let Some((admin, schema)) = cleanup {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await
            .expect("drop the bench schema");
    }
}
