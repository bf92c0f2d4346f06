//! `plinth new NAME`: create the next migration file(s) in the source directory.

use crate::cli::{CliError, Context, NewArgs};
use crate::output;

/// Run `new`.
pub fn run(ctx: &Context, args: &NewArgs) -> Result<i32, CliError> {
    let name = args.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(CliError::new(
            2,
            format!("invalid migration name `{name}`: use letters, digits, `_` or `-`"),
        ));
    }
    std::fs::create_dir_all(&ctx.source_dir).map_err(|e| {
        CliError::new(
            1,
            format!("cannot create {}: {e}", ctx.source_dir.display()),
        )
    })?;
    let mut next = 1;
    let entries = std::fs::read_dir(&ctx.source_dir)
        .map_err(|e| CliError::new(1, format!("cannot read {}: {e}", ctx.source_dir.display())))?;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some((num, _)) = file.split_once('_') {
            if let Ok(v) = num.parse::<i64>() {
                next = next.max(v + 1);
            }
        }
    }
    let base = format!("{next:04}_{name}");
    let files: Vec<(String, &str)> = if args.no_down {
        vec![(format!("{base}.sql"), "-- Write the migration here.\n")]
    } else {
        vec![
            (format!("{base}.up.sql"), "-- Write the migration here.\n"),
            (
                format!("{base}.down.sql"),
                "-- Write the statements that undo the up migration here.\n",
            ),
        ]
    };
    let mut created = Vec::new();
    for (file, body) in &files {
        let path = ctx.source_dir.join(file);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, body.as_bytes()))
            .map_err(|e| CliError::new(1, format!("cannot create {}: {e}", path.display())))?;
        created.push(path.display().to_string());
    }
    if ctx.json() {
        output::json(
            ctx,
            &serde_json::json!({ "version": next, "files": created }),
        );
    } else {
        for c in &created {
            output::out(ctx, &format!("created {c}"));
        }
    }
    Ok(0)
}
