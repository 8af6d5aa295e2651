//! Tests' files: a directory of a test's own, removed afterwards.

use uuid::Uuid;

pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(std::env::temp_dir().join(format!("sb-test-{}", Uuid::now_v7())))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// A SQLite database in the directory (created with it), as `Store::connect` takes it.
    pub fn sqlite_url(&self) -> String {
        std::fs::create_dir_all(&self.0).unwrap();
        format!("sqlite://{}?mode=rwc", self.0.join("t.db").display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
