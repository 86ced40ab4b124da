//! `barge schema copy FROM TO` and `barge schema diff FROM TO`.

use super::output::{stdout_line, stdout_text};
use super::{SchemaCopyArgs, SchemaDiffArgs};
use crate::copy::{kind_of_url, open};
use crate::error::Error;
use crate::redact::{redact_url, register_url, scrub};
use crate::schema::copy::{select_tables, SchemaCopy};

pub async fn copy(args: SchemaCopyArgs) -> Result<(), Error> {
    register_url(&args.from);
    register_url(&args.to);
    let source = open("src", &args.from, false).await?;
    let catalog = source.introspect().await?;
    let tables = select_tables(&catalog, args.tables.as_deref(), &redact_url(&args.from))?;
    if tables.is_empty() {
        return Err(Error::Usage(format!(
            "{} has no tables to copy",
            redact_url(&args.from)
        )));
    }
    let target_kind = kind_of_url(&args.to)?;
    if !target_kind.is_database() {
        return Err(Error::Usage(format!(
            "schema copy needs a database target, and {} is {target_kind}\n  hint: use barge copy to write files",
            redact_url(&args.to)
        )));
    }
    let routines = if args.routines {
        if catalog.engine != target_kind {
            return Err(Error::Usage(format!(
                "--routines copies stored functions and procedures between databases of one engine, and this copy is {} -> {target_kind}\n  hint: drop --routines, and port the routines by hand",
                catalog.engine
            )));
        }
        source.routines().await?
    } else {
        Vec::new()
    };
    let routines_sql: String = routines
        .iter()
        .map(|r| {
            format!(
                "-- {} {}\n{};\n",
                r.kind.to_lowercase(),
                r.name,
                r.definition.trim_end().trim_end_matches(';')
            )
        })
        .collect();
    let plan = SchemaCopy::plan(catalog.engine, tables, target_kind, args.naming);
    stdout_line(&format!("type plan ({} -> {target_kind}):", catalog.engine));
    stdout_text(&plan.type_plan_text());
    if args.fail_on_lossy {
        plan.check_lossless()?;
    }
    if let Some(path) = &args.script {
        std::fs::write(path, scrub(&(plan.script() + &routines_sql))).map_err(|source| {
            Error::Io {
                context: format!("cannot write the script {}", path.display()),
                source,
            }
        })?;
        stdout_line(&format!("wrote both passes to {}", path.display()));
        return Ok(());
    }
    if args.dry_run {
        stdout_text(&format!("\n{}{routines_sql}", plan.script()));
        return Ok(());
    }
    let target = open("dst", &args.to, true).await?;
    let existing = plan.existing(target.as_ref()).await?;
    if !existing.is_empty() {
        let names: Vec<String> = existing
            .iter()
            .map(|&i| plan.ddl[i].target.to_string())
            .collect();
        return Err(Error::Usage(format!(
            "{} already has the table(s) {}; nothing was created\n  hint: drop them, pick others with --tables, or use barge copy --mode replace",
            redact_url(&args.to),
            names.join(", ")
        )));
    }
    let all: Vec<usize> = (0..plan.tables.len()).collect();
    plan.create_tables(target.as_ref(), &all).await?;
    plan.finish_tables(target.as_ref(), &all).await?;
    for routine in &routines {
        target.execute_statement(&routine.definition).await?;
    }
    for note in &plan.notes {
        stdout_line(&format!("note: {note}"));
    }
    stdout_line(&format!(
        "created {} table(s) in {}",
        all.len(),
        redact_url(&args.to)
    ));
    if args.routines {
        stdout_line(&format!("copied {} routine(s)", routines.len()));
    }
    Ok(())
}

pub async fn diff(args: SchemaDiffArgs) -> Result<(), Error> {
    register_url(&args.from);
    register_url(&args.to);
    let from = open("from", &args.from, false).await?;
    let to = open("to", &args.to, false).await?;
    let old = from.introspect().await?;
    let new = to.introspect().await?;
    let diff = crate::schema::diff::diff(&old, &new);
    stdout_text(&diff.text());
    if let Some(path) = &args.json {
        crate::records::write_atomically(path, &diff)?;
    }
    if let Some(path) = &args.write_pipeline {
        let text = diff.pipeline(&args.from, &args.to);
        std::fs::write(path, scrub(&text)).map_err(|source| Error::Io {
            context: format!("cannot write {}", path.display()),
            source,
        })?;
        stdout_line(&format!(
            "wrote the pipeline skeleton to {}",
            path.display()
        ));
    }
    Ok(())
}
