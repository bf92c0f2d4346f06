//! Which database we talk to, and which version of it: the facts every other module branches on.

use serde::{Deserialize, Serialize};
use std::fmt;

mod conn;
pub use conn::{
    AnyConnectOptions, ConnectConfig, ConnectError, Db, DbConn, Driver, ServerInfo,
    DEFAULT_DATABASE_URL,
};

/// The database engine behind a connection; MySQL and MariaDB are told apart because their
/// capabilities and error numbers differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// Oracle MySQL.
    #[serde(rename = "mysql")]
    MySql,
    /// MariaDB (speaks the MySQL protocol, differs in features and codes).
    #[serde(rename = "mariadb")]
    MariaDb,
    /// SQLite, the embedded default.
    Sqlite,
}

impl Backend {
    /// All backends, for tables and loops over the matrix.
    pub const ALL: [Backend; 4] = [
        Backend::Postgres,
        Backend::MySql,
        Backend::MariaDb,
        Backend::Sqlite,
    ];

    /// The stable lower-case name used in history rows, JSON and CLI flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
            Backend::MariaDb => "mariadb",
            Backend::Sqlite => "sqlite",
        }
    }

    /// The driver that speaks to this backend (MySQL and MariaDB share one).
    pub fn driver(self) -> Driver {
        match self {
            Backend::Postgres => Driver::Postgres,
            Backend::MySql | Backend::MariaDb => Driver::MySql,
            Backend::Sqlite => Driver::Sqlite,
        }
    }

    /// True for MySQL and MariaDB, which share the wire protocol and implicit DDL commits.
    pub fn is_mysql_family(self) -> bool {
        matches!(self, Backend::MySql | Backend::MariaDb)
    }

    /// Parse a user-supplied backend name (`postgres`, `postgresql`, `pg`, `mysql`, `mariadb`, `sqlite`).
    pub fn parse(name: &str) -> Option<Backend> {
        match name.trim().to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Some(Backend::Postgres),
            "mysql" => Some(Backend::MySql),
            "mariadb" | "maria" => Some(Backend::MariaDb),
            "sqlite" | "sqlite3" => Some(Backend::Sqlite),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server version, compared numerically so capability predicates can say "10.5 or later".
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Version {
    /// Major version (15 for PostgreSQL 15.4, 10 for MariaDB 10.11.6).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level.
    pub patch: u32,
}

impl Version {
    /// Build a version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parse the leading `X.Y[.Z]` of a server's version string (`10.11.19-MariaDB-0+deb12u1`,
    /// `15.20 (Debian 15.20-0+deb12u1)`, `3.46.0`); None when it does not start with a number.
    pub fn parse(text: &str) -> Option<Version> {
        let head: String = text
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = head.split('.').filter(|p| !p.is_empty());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(Version::new(major, minor, patch))
    }

    /// Decode PostgreSQL's `server_version_num` (150020 → 15.20; 90624 → 9.6.24).
    pub fn from_pg_num(num: u32) -> Version {
        if num >= 100_000 {
            Version::new(num / 10_000, num % 10_000, 0)
        } else {
            Version::new(num / 10_000, (num / 100) % 100, num % 100)
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vendor_version_strings() {
        assert_eq!(
            Version::parse("10.11.19-MariaDB-0+deb12u1"),
            Some(Version::new(10, 11, 19))
        );
        assert_eq!(
            Version::parse("15.20 (Debian 15.20-0+deb12u1)"),
            Some(Version::new(15, 20, 0))
        );
        assert_eq!(Version::parse("8.0.36"), Some(Version::new(8, 0, 36)));
        assert_eq!(Version::parse("garbage"), None);
        assert_eq!(Version::from_pg_num(150020), Version::new(15, 20, 0));
        assert_eq!(Version::from_pg_num(90624), Version::new(9, 6, 24));
    }

    #[test]
    fn backend_names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(Backend::parse(b.as_str()), Some(b));
        }
        assert_eq!(Backend::parse("postgresql"), Some(Backend::Postgres));
        assert_eq!(Backend::parse("oracle"), None);
    }
}
