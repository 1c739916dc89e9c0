//! Helpers shared by the importer test files.

use bando_core::testing::TestDatabase;

/// Staging tables (and their prepared-names tables), in schema `bando_staging` (and, by mistake,
/// anywhere else): an import that ended, however it ended, leaves none once the next one has
/// started.
pub async fn staging_tables(db: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_stg%'")
        .fetch_one(&db.pool)
        .await
        .expect("pg_tables answers")
}
