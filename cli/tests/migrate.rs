//! `telepay migrate` as an operator runs it.

use std::process::Command;

fn telepay(envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_telepay"));
    command
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("run telepay")
}

#[test]
fn migrate_creates_a_sqlite_schema_and_running_it_again_is_harmless() {
    let path = std::env::temp_dir().join(format!("telepay-cli-{}.sqlite", std::process::id()));
    let path = path.to_str().unwrap();
    let envs = [
        ("TELEPAY_STORE_BACKEND", "sqlite"),
        ("TELEPAY_SQLITE_PATH", path),
    ];
    for _ in 0..2 {
        let output = telepay(&envs);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "migrate: the store schema is up to date"
        );
    }
    let schema = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&schema);
    assert!(text.contains("processed_payments") && text.contains("payment_reviews"));
}

#[test]
fn migrate_without_its_configuration_names_what_is_missing_and_fails() {
    let output = telepay(&[("TELEPAY_STORE_BACKEND", "postgres")]);
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "telepay: environment variable DATABASE_URL is missing or empty"
    );
    let output = telepay(&[("TELEPAY_STORE_BACKEND", "oracle")]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("TELEPAY_STORE_BACKEND"));
}
