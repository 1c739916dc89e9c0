//! A `bando serve` process (the binary under test) on a loopback port, `SIGKILL`ed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `bando serve`.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub base: String,
}

impl ServerProcess {
    /// Starts `bando serve` over `database_url` with `args`; `failpoints` sets `FAILPOINTS`.
    /// Returns once it listens.
    pub fn start(database_url: &str, args: &[&str], failpoints: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bando"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .env_remove("FAILPOINTS")
            .stderr(Stdio::piped());
        if let Some(failpoints) = failpoints {
            command.env("FAILPOINTS", failpoints);
        }
        let mut child = command.spawn().expect("bando serve starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("its stderr"));
        let mut line = String::new();
        let base = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).expect("its log") > 0,
                "server exited before listening"
            );
            if let Some(rest) = line.trim().strip_prefix("bando listening on ") {
                break rest.to_owned();
            }
        };
        // Keep reading its log, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stderr.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        Self { child, base }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `SIGKILL`s it and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
