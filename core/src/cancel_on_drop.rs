//! A pooled connection for one statement that must not outlive its caller: when the future
//! holding it is dropped mid-statement (the HTTP client went away), the connection is closed
//! instead of returned to the pool, and PostgreSQL — which checks idle-looking clients every
//! [`CLIENT_CHECK_INTERVAL`] (`client_connection_check_interval`, set on every connection by
//! [`crate::db::pool_lazy`]) — stops the statement rather than finishing work nobody reads.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

/// How often PostgreSQL looks for a vanished client while a statement runs.
pub const CLIENT_CHECK_INTERVAL: &str = "250ms";

/// See the module documentation.
#[derive(Debug)]
pub struct CancelOnDrop {
    connection: PoolConnection<Postgres>,
    finished: bool,
}

impl CancelOnDrop {
    /// A connection from `pool`.
    pub async fn acquire(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            connection: pool.acquire().await?,
            finished: false,
        })
    }

    /// The connection, to run the statement on.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.connection
    }

    /// The statement ended (with rows or an error): the connection may serve others again.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.finished {
            self.connection.close_on_drop();
        }
    }
}
