//! The capability matrix, type matrix and lint rules rendered as Markdown from the code, so
//! docs/DATABASE_COMPATIBILITY.md cannot drift from what plinth believes.

use super::capabilities::{
    capabilities_for, display_name, minimum_version, Capability, JsonKind, LengthUnit,
    OverlongIdentifier, Support,
};
use super::lint::{Severity, RULES};
use super::types::{documented_types, equivalent_type, native_type};
use crate::backend::Backend;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The capability matrix: one row per capability, one column per backend, "since" versions shown.
pub fn capability_matrix() -> String {
    let mut out = String::from("| Capability |");
    for b in Backend::ALL {
        out.push_str(&format!(
            " {} {}+ |",
            display_name(b),
            short(minimum_version(b))
        ));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(Backend::ALL.len()));
    out.push('\n');
    for c in Capability::ALL {
        out.push_str(&format!("| `{}` |", c.name()));
        for b in Backend::ALL {
            let s = match c.support(b) {
                Support::Yes => "yes".to_string(),
                Support::No => "**no**".to_string(),
                Support::Since(v) if v <= minimum_version(b) => "yes".to_string(),
                Support::Since(v) => format!("{}+", short(v)),
            };
            match c.note(b) {
                Some(n) => out.push_str(&format!(" {s} ({}) |", cell(n))),
                None => out.push_str(&format!(" {s} |")),
            }
        }
        out.push('\n');
    }
    type Row = (&'static str, fn(Backend) -> String);
    let typed: [Row; 5] = [
        ("JSON storage", |b| {
            let c = capabilities_for(b, minimum_version(b));
            let kind = match c.json.kind {
                JsonKind::NativeBinary => "native binary",
                JsonKind::TextAlias => "text alias",
                JsonKind::None => "none",
            };
            match c.json.type_name {
                Some(t) => format!("{kind} (`{t}`)"),
                None => kind.to_string(),
            }
        }),
        ("max `VARCHAR(n)`", |b| {
            let m = capabilities_for(b, minimum_version(b)).max_varchar;
            let n = match m.max_length {
                Some(n) => format!("{n} {}", unit(m.unit)),
                None => "not enforced".into(),
            };
            format!("{n}: {}", cell(&m.note))
        }),
        ("max identifier", |b| {
            let m = capabilities_for(b, minimum_version(b)).max_identifier;
            match (m.max_length, m.overlong) {
                (Some(n), OverlongIdentifier::Truncated) => {
                    format!("{n} {}, longer names silently truncated", unit(m.unit))
                }
                (Some(n), _) => format!("{n} {}, longer names rejected", unit(m.unit)),
                (None, _) => "no fixed limit".into(),
            }
        }),
        ("default isolation", |b| {
            capabilities_for(b, minimum_version(b))
                .default_isolation
                .as_sql()
                .to_string()
        }),
        ("auto id", |b| {
            format!(
                "`{}`",
                capabilities_for(b, minimum_version(b)).auto_id.declaration
            )
        }),
    ];
    for (name, f) in typed {
        out.push_str(&format!("| {name} |"));
        for b in Backend::ALL {
            out.push_str(&format!(" {} |", f(b)));
        }
        out.push('\n');
    }
    out
}

fn unit(u: LengthUnit) -> &'static str {
    match u {
        LengthUnit::Bytes => "bytes",
        LengthUnit::Characters => "characters",
    }
}

fn short(v: crate::backend::Version) -> String {
    if v.patch == 0 {
        format!("{}.{}", v.major, v.minor)
    } else {
        v.to_string()
    }
}

/// The type matrix: each logical type on each backend, and what moving from PostgreSQL loses.
pub fn type_matrix() -> String {
    let mut out = String::from("| Logical |");
    for b in Backend::ALL {
        out.push_str(&format!(" {} |", display_name(b)));
    }
    out.push_str(" Lost when moving from PostgreSQL |\n|---|");
    out.push_str(&"---|".repeat(Backend::ALL.len() + 1));
    out.push('\n');
    for ty in documented_types() {
        out.push_str(&format!("| {ty} |"));
        for b in Backend::ALL {
            let caps = capabilities_for(b, super::capabilities::default_version(b));
            out.push_str(&format!(" `{}` |", cell(&native_type(&ty, &caps))));
        }
        let losses: Vec<String> = Backend::ALL
            .into_iter()
            .filter(|b| *b != Backend::Postgres)
            .filter_map(|b| {
                equivalent_type(&ty, Backend::Postgres, b)
                    .loss
                    .map(|l| format!("{}: {}", b.as_str(), cell(&l)))
            })
            .collect();
        out.push_str(&format!(
            " {} |\n",
            if losses.is_empty() {
                "—".to_string()
            } else {
                losses.join("<br>")
            }
        ));
    }
    out
}

/// The lint rules, with severity and an example each.
pub fn lint_rules() -> String {
    let mut out = String::new();
    for r in RULES {
        let sev = match r.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "### `{}` ({sev}; {})\n\n{}\n\n```sql\n{}\n```\n\n",
            r.name, r.applies_to, r.summary, r.example
        ));
    }
    out
}
