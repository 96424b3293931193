//! `telepay catalog` as an owner runs it, on the SQLite backend (the local run's file):
//! a file is checked, applied as the next version with what changed, shown, listed and
//! rolled back; a bad file is refused, every problem named, and nothing is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use telepay_core::fixtures::SAMPLE_DIRECTORY;
use telepay_core::store::CatalogStore;
use telepay_shared::sql::SqliteStore;

struct Owner {
    dir: PathBuf,
    db: PathBuf,
}

impl Owner {
    async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "telepay-catalog-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("store.sqlite");
        SqliteStore::open(&db)
            .await
            .unwrap()
            .migrate()
            .await
            .unwrap();
        Self { dir, db }
    }

    fn file(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    fn telepay(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_telepay"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TELEPAY_STORE_BACKEND", "sqlite")
            .env("TELEPAY_SQLITE_PATH", &self.db)
            .output()
            .expect("run telepay")
    }

    fn lines(&self, args: &[&str]) -> Vec<Value> {
        let output = self.telepay(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines"))
            .collect()
    }

    fn refused(&self, args: &[&str]) -> String {
        let output = self.telepay(args);
        assert_eq!(output.status.code(), Some(1), "{args:?} must fail");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    async fn versions(&self) -> usize {
        let store = SqliteStore::open(&self.db).await.unwrap();
        store.catalog_history(100).await.unwrap().len()
    }
}

fn catalog(price: f64, duration: &str) -> String {
    let mut document: Value = serde_json::from_str(SAMPLE_DIRECTORY).unwrap();
    document["channels"][0]["tiers"] =
        json!([{"price_amount": price, "price_currency": "usd", "duration": duration}]);
    document["texts"] = json!({"help": "Pick a plan with /start."});
    document.to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn a_catalog_is_checked_applied_shown_listed_and_rolled_back() {
    let owner = Owner::new().await;
    let first = owner.file("first.json", &catalog(3.21, "30 days"));

    let offer = owner.lines(&["catalog", "check", path(&first)]);
    assert_eq!(offer.len(), 1, "{offer:?}");
    assert_eq!(offer[0]["tier"], "30 days");
    assert_eq!(offer[0]["price"], "3.21 USD");
    assert_eq!(owner.versions().await, 0, "check writes nothing");

    let applied = owner.lines(&["catalog", "apply", path(&first), "--note", "opening"]);
    assert_eq!(applied[0]["version"], 1);
    let again = owner.lines(&["catalog", "apply", path(&first)]);
    assert_eq!(again[0]["change"], "none: this is the catalog in force");
    assert_eq!(owner.versions().await, 1);

    let second = owner.file("second.json", &catalog(4.5, "30 days"));
    let changed = owner.lines(&["catalog", "apply", path(&second)]);
    assert_eq!(
        changed,
        vec![json!({"version": 2, "change": "Demo channel: 30 days from 3.21 to 4.5 USD"})]
    );

    let shown = owner.telepay(&["catalog", "show"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("the catalog's JSON");
    assert_eq!(shown["channels"][0]["tiers"][0]["price_amount"], 4.5);
    let old = owner.telepay(&["catalog", "show", "--version", "1"]);
    let old: Value = serde_json::from_slice(&old.stdout).unwrap();
    assert_eq!(old["channels"][0]["tiers"][0]["price_amount"], 3.21);

    let back = owner.lines(&["catalog", "rollback", "1"]);
    assert_eq!(back[0]["version"], 3);
    let history = owner.lines(&["catalog", "history"]);
    let listed: Vec<(i64, &str)> = history
        .iter()
        .map(|h| (h["version"].as_i64().unwrap(), h["note"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![(3, "back to version 1"), (2, ""), (1, "opening")]
    );
}

#[tokio::test]
async fn a_bad_catalog_is_refused_with_every_problem_and_nothing_is_written() {
    let owner = Owner::new().await;
    let mut bad: Value = serde_json::from_str(&catalog(1.0, "3m")).unwrap();
    bad["texts"] = json!({"hepl": "typo"});
    let bad = owner.file("bad.json", &bad.to_string());
    for command in ["check", "apply"] {
        let why = owner.refused(&["catalog", command, path(&bad)]);
        assert!(why.contains("2 problems"), "{why}");
        assert!(
            why.contains("duration \"3m\" must be spelled out") && why.contains("3 minutes"),
            "{why}"
        );
        assert!(why.contains("hepl"), "{why}");
    }
    assert_eq!(owner.versions().await, 0, "nothing applied");
    let missing = owner.refused(&["catalog", "apply", "/nonexistent/catalog.json"]);
    assert!(
        missing.contains("reading /nonexistent/catalog.json"),
        "{missing}"
    );
    let none = owner.refused(&["catalog", "rollback", "7"]);
    assert!(none.contains("version 7 does not exist"), "{none}");
}
