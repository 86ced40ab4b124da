//! The command line: one file per verb. `main.rs` calls [`main`]. What the
//! verbs print goes through `output`, which scrubs secrets from it.

mod copy;
mod output;
mod plan;
mod replay;
mod rollback;
mod run;
mod schema;
mod status;
mod validate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{parse_memory_limit, LoadOptions, Pipeline};
use crate::error::Error;
use crate::model::WriteMode;
use crate::run::StepStatus;

/// Move tables between databases as streaming SQL pipelines.
#[derive(Debug, Parser)]
#[command(name = "barge", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v: info, -vv: debug). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline: every step's SQL streamed into its target table.
    Run(RunArgs),
    /// Show a pipeline's plan: step order, SQL, what each source runs, target DDL.
    Plan(PlanArgs),
    /// Copy tables between two connections without a pipeline file.
    Copy(CopyArgs),
    /// Copy or compare database schemas (tables, keys, foreign keys, indexes).
    Schema(SchemaArgs),
    /// Load a target from a staged run (DIR/<run_id>) without touching the source.
    Replay(ReplayArgs),
    /// Compare each step's source, stage and target: row counts and content checksums.
    ///
    /// The checksums run inside PostgreSQL, MySQL/MariaDB and DuckDB when a
    /// side reads one such connection and its column types allow (one row
    /// crosses the wire), else barge sums the streamed rows. Rows a run set
    /// aside (max_rejects) are expected to be missing from the target.
    /// Exits 1 naming every table that differs.
    Validate(ValidateArgs),
    /// Show the state of a pipeline's last run: each step's status, rows and chunks.
    Status(StatusArgs),
    /// Delete exactly the rows one run inserted (from its journal), children first.
    Rollback(RollbackArgs),
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Create the source's tables in the target: pass one makes the tables
    /// with their primary keys, pass two the unique constraints, indexes and
    /// foreign keys.
    Copy(SchemaCopyArgs),
    /// Compare two schemas: tables and columns added, removed and renamed,
    /// type changes classified safe, transformable or breaking.
    Diff(SchemaDiffArgs),
}

#[derive(Debug, Args)]
pub struct SchemaCopyArgs {
    /// Source URL (postgres://, mysql://, sqlite://, duckdb://, or files).
    pub from: String,
    /// Target URL (postgres://, mysql://, sqlite://, duckdb://).
    pub to: String,
    /// Tables to copy: names or globs, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_name = "PATTERN,...")]
    pub tables: Option<Vec<String>>,
    /// How target tables, columns, keys and foreign keys are named.
    #[arg(long, value_enum, default_value = "keep")]
    pub naming: crate::schema::naming::Naming,
    /// Write the DDL of both passes to FILE instead of running it.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Print the type plan and the DDL; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse the copy when a column's type plan is lossy.
    #[arg(long)]
    pub fail_on_lossy: bool,
    /// Also copy stored functions and procedures (PostgreSQL to PostgreSQL,
    /// MySQL/MariaDB to MySQL/MariaDB), after the tables.
    #[arg(long)]
    pub routines: bool,
}

#[derive(Debug, Args)]
pub struct SchemaDiffArgs {
    /// The current schema (URL).
    pub from: String,
    /// The new schema (URL).
    pub to: String,
    /// Also write the changes as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a pipeline skeleton moving the data from FROM into TO: renames
    /// as aliases, casts as CASTs, breaking changes as TODOs to resolve.
    #[arg(long, value_name = "FILE")]
    pub write_pipeline: Option<PathBuf>,
}

/// Overrides shared by the verbs that read a pipeline file.
#[derive(Debug, Args)]
pub struct ParamArgs {
    /// Override a pipeline param (repeatable): --set customer_ids=4,5
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
}

impl ParamArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            sets: self.sets.clone(),
            env: None,
        }
    }
}

/// The memory limit, for the verbs that plan or run steps.
#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// Memory for joins, sorts and aggregates, past which they spill to the
    /// temp directory: 512MiB, 2GiB, 512MB or bytes (overrides
    /// [defaults].memory_limit; default 1GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
    pub memory_limit: Option<u64>,
}

impl MemoryArgs {
    /// Sets the pipeline's memory limit when the flag is given.
    pub fn apply(&self, pipeline: &mut Pipeline) {
        if let Some(limit) = self.memory_limit {
            pipeline.memory_limit = limit;
        }
    }
}

/// Options of a pipeline's `[subset]`.
#[derive(Debug, Args)]
pub struct SubsetArgs {
    /// Copy reference tables above the subset's confirm_rows whole without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Tables the subset copies whole, over its `skip` (names, DB.TABLE or globs; comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "TABLE,...")]
    pub force_tables: Vec<String>,
}

impl SubsetArgs {
    /// The options of `crate::subset::expand_subset`: a prompt on stderr
    /// when stdin is a terminal, none otherwise (a large table then fails
    /// the run unless --yes or skip_large).
    pub fn options(&self, plan_only: bool) -> crate::subset::SubsetOptions {
        use std::io::IsTerminal;
        let ask: Option<Box<crate::subset::AskFn>> = (!plan_only && std::io::stdin().is_terminal())
            .then(|| {
                Box::new(|table: &str, rows: u64| {
                    output::stderr_text(&format!(
                        "copy reference table {table} whole ({rows} rows)? [y/N] "
                    ));
                    let mut answer = String::new();
                    std::io::stdin().read_line(&mut answer).is_ok()
                        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
                }) as Box<crate::subset::AskFn>
            });
        crate::subset::SubsetOptions {
            yes: self.yes,
            force_tables: self.force_tables.clone(),
            plan_only,
            ask,
        }
    }
}

/// Options shared by the verbs that move data.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Plan and count the source rows of every step; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Move at most N rows per step (a test run).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Steps that may run at once (independent steps only).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 2)]
    pub jobs: usize,
    /// No progress bars and no summary table.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Write the run report (per step: rows read and written, seconds, rows/s) as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Stage every step's rows to Parquet with a manifest under DIR/<run_id>/
    /// (for audit, `barge replay` and `barge validate`); overrides [defaults].stage.
    #[arg(long, value_name = "DIR")]
    pub stage: Option<PathBuf>,
    /// Start afresh: ignore what an unfinished earlier run completed (by
    /// default a rerun of the same command resumes it).
    #[arg(long)]
    pub force: bool,
    /// Rerun these steps from the start even when an earlier run completed them.
    #[arg(long, value_delimiter = ',', value_name = "STEP,...")]
    pub force_steps: Vec<String>,
    #[command(flatten)]
    pub memory: MemoryArgs,
}

impl ExecArgs {
    /// The run options these flags set.
    pub fn run_options(&self, steps: Option<Vec<String>>) -> crate::run::RunOptions {
        crate::run::RunOptions {
            dry_run: self.dry_run,
            limit: self.limit,
            steps,
            jobs: self.jobs,
            quiet: self.quiet,
            stage: self.stage.clone(),
            force: self.force,
            force_steps: self.force_steps.clone(),
            listen_for_signals: true,
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Run only these steps (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "STEP,...")]
    pub steps: Option<Vec<String>>,
    /// After the load, validate every step: source, stage and target row counts
    /// and content checksums (as `barge validate`); a mismatch fails the run.
    #[arg(long)]
    pub validate: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub params: ParamArgs,
    #[command(flatten)]
    pub subset: SubsetArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The staged run: DIR/<run_id>, holding manifest.json.
    pub run_dir: PathBuf,
    /// Target URL to load (any engine barge writes).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Replay only these steps (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "STEP,...")]
    pub steps: Option<Vec<String>>,
    /// Write mode for every step (default: each step's mode in the run).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Steps that may run at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 2)]
    pub jobs: usize,
    /// No progress bars and no summary table.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Write the run report as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Compare with this staged run too (its directory is STAGE_DIR/RUN_ID);
    /// default: the pipeline's newest staged run, when it has a stage directory.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// The stage directory runs were staged under (default: [defaults].stage).
    #[arg(long, value_name = "DIR")]
    pub stage: Option<PathBuf>,
    /// List up to N differing rows per step, by key.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sample: usize,
    /// Write the validation report as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub json: Option<PathBuf>,
    /// Validate only these steps (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "STEP,...")]
    pub steps: Option<Vec<String>>,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub memory: MemoryArgs,
    #[command(flatten)]
    pub params: ParamArgs,
    #[command(flatten)]
    pub subset: SubsetArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Print the state file as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub params: ParamArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// The run to roll back (its id is in the run's summary and in `barge status`).
    #[arg(long, value_name = "RUN_ID")]
    pub run: String,
    /// Count the rows that would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub params: ParamArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    #[command(flatten)]
    pub memory: MemoryArgs,
    #[command(flatten)]
    pub params: ParamArgs,
    #[command(flatten)]
    pub subset: SubsetArgs,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source URL: sqlite://PATH, duckdb://PATH, parquet://DIR, a .parquet or .csv path.
    pub from: String,
    /// Target URL; a .parquet or .csv path is one file (one table), parquet://DIR or csv://DIR a directory.
    pub to: String,
    /// Tables to copy: names or globs, comma-separated; all tables when omitted.
    #[arg(long, value_delimiter = ',', value_name = "PATTERN,...")]
    pub tables: Option<Vec<String>>,
    /// Write mode for every table.
    #[arg(long, value_enum, default_value = "error-if-exists")]
    pub mode: ModeArg,
    /// Key columns for --mode insert-ignore or upsert (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMN,...")]
    pub key: Option<Vec<String>>,
    /// Load with the target's foreign-key checks off (MySQL FOREIGN_KEY_CHECKS=0;
    /// PostgreSQL session_replication_role=replica, which needs a superuser)
    #[arg(long)]
    pub disable_fk_checks: bool,
    /// How target tables, columns, keys and foreign keys are named
    /// (database targets).
    #[arg(long, value_enum, default_value = "keep")]
    pub naming: crate::schema::naming::Naming,
    /// Refuse the copy, before any data moves, when a column's type plan is lossy.
    #[arg(long)]
    pub fail_on_lossy: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Write modes on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    /// Create the table when missing, then insert.
    Append,
    /// Drop and recreate the table.
    Replace,
    /// Create when missing, else delete its rows; then insert.
    Truncate,
    /// Fail when the table exists.
    ErrorIfExists,
    /// Skip rows whose key exists (needs --key).
    InsertIgnore,
    /// Update rows whose key exists (needs --key).
    Upsert,
}

impl From<ModeArg> for WriteMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Append => WriteMode::Append,
            ModeArg::Replace => WriteMode::Replace,
            ModeArg::Truncate => WriteMode::Truncate,
            ModeArg::ErrorIfExists => WriteMode::ErrorIfExists,
            ModeArg::InsertIgnore => WriteMode::InsertIgnore,
            ModeArg::Upsert => WriteMode::Upsert,
        }
    }
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not NAME=VALUE")),
    }
}

/// The binary: parses the command line, logs (`-v`), runs the verb, prints
/// the error of a failed one; every word of it scrubbed of secrets. Exits
/// with 0 on success, 1 for a failed run, 2 for bad input, 130 when
/// interrupted.
pub fn main() {
    output::scrub_panics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => std::process::exit(output::clap_error(e)),
    };
    output::init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::stderr_line(&format!("error: cannot start the runtime: {e}"));
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(execute(cli)) {
        output::stderr_line(&format!("error: {e}"));
        std::process::exit(e.exit_code());
    }
}

/// Runs the parsed command line.
pub async fn execute(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Plan(args) => plan::plan(args).await,
        Command::Copy(args) => copy::copy(args).await,
        Command::Schema(args) => match args.command {
            SchemaCommand::Copy(args) => schema::copy(args).await,
            SchemaCommand::Diff(args) => schema::diff(args).await,
        },
        Command::Replay(args) => replay::replay(args).await,
        Command::Validate(args) => validate::validate(args).await,
        Command::Status(args) => status::status(args),
        Command::Rollback(args) => rollback::rollback(args).await,
    }
}

/// Prints the summary, writes the report, and fails when a step failed.
fn finish_run(report: &crate::run::RunReport, exec: &ExecArgs) -> Result<(), Error> {
    finish_report(report, exec.report.as_deref(), exec.quiet)
}

fn finish_report(
    report: &crate::run::RunReport,
    json: Option<&std::path::Path>,
    quiet: bool,
) -> Result<(), Error> {
    if let Some(path) = json {
        report.write_json(path)?;
    }
    if !quiet {
        output::stdout_line(&report.summary_table());
        let verb = if report.dry_run {
            "planned"
        } else {
            "finished"
        };
        output::stdout_line(&format!(
            "{} {verb} in {:.2} s (run {})",
            report.pipeline, report.seconds, report.run_id
        ));
        if let Some(dir) = &report.staged_in {
            output::stdout_line(&format!("staged in {dir}"));
        }
    }
    if report.interrupted {
        let done = report
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Succeeded | StepStatus::DoneBefore))
            .count();
        return Err(Error::Interrupted(format!(
            "interrupted: {done} of {} step(s) done, state saved in {}\n  hint: rerun the same command to resume (completed steps and committed chunks are kept); --force starts afresh",
            report.steps.len(),
            report.state_file.as_deref().unwrap_or("(no state: dry run or --limit)")
        )));
    }
    let failed = report.failed_steps();
    if failed.is_empty() {
        return Ok(());
    }
    let details = failed
        .iter()
        .map(|s| format!("\n  {}", s.error.as_deref().unwrap_or("failed")))
        .collect::<String>();
    Err(Error::StepsFailed(failed.len(), details))
}
