//! The `secpath` command: parses flags, calls the library, prints, and maps outcomes to exit
//! codes in one place (0 allow, 1 deny or no-path, 2 bad input).

use clap::builder::{OsStringValueParser, TypedValueParser as _};
use clap::{Args, Parser, Subcommand, ValueEnum};
use secpath::effective::{effective, Selection};
use secpath::engine::{Engine, EngineKind, TableEngine};
use secpath::eval::{explain, Pins, Verdict};
use secpath::evaluate::OutputFormat;
use secpath::flow::Flow;
use secpath::flowfile::{FlowReader, FlowRecord};
use secpath::load::{LoadOptions, PlanSide, TemplateScope};
use secpath::model::ResourceId;
use secpath::options::{
    AlwaysAllowScope, AnyProtocol, EmptyMatch, ManagerPrecedence, NoNsg, Options,
};
use secpath::render::{self, Style};
use secpath::resolve::tags::ServiceTags;
use secpath::resolve::Policy;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// The most worker threads `replay` and `bench` start: far beyond any core count that
/// helps, and short of the thousands that take a minute to start and tear down.
const MAX_THREADS: i64 = 1024;

/// Decide offline what Azure's security admin rules and NSGs do to a flow, and say why.
#[derive(Parser)]
#[command(name = "secpath", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Walk one flow through the source side, the path and the destination side.
    Explain(ExplainArgs),
    /// Print the ordered effective admin and NSG rules at every enforcement point.
    Effective(EffectiveArgs),
    /// Decide a stream of flows (CSV, JSONL, ClassBench trace or flow specs): one line each.
    Eval(EvalArgs),
    /// Time the classification of a trace: lookups/s, ns/lookup, and a checksum of decisions.
    Bench(BenchArgs),
    /// Compile a snapshot's rule tables and report their size and build time.
    Compile(CompileArgs),
    /// Run flow logs, captures or tuple files through the rules; compare with what was logged.
    Replay(ReplayArgs),
    /// Convert snapshots between ARM JSON and the secpath DSL (docs/dsl.md).
    Convert(ConvertArgs),
    /// Rewrite secpath DSL files in canonical form.
    Fmt(FmtArgs),
    /// Find shadowed, redundant and overridden rules, ties, Internet exposure, unused rules and
    /// connection problems, exactly, over the whole flow space.
    Audit(AuditArgs),
    /// Every region of flow space whose verdict changes between two rule sets.
    Diff(DiffArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum AuditFormat {
    Text,
    Json,
    /// SARIF 2.1.0, for CI code scanning.
    Sarif,
}

#[derive(Args)]
struct AuditArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Per-rule hit counts from `secpath replay --hits`: rules without hits are reported unused.
    #[arg(long, value_name = "FILE.json")]
    hits: Option<PathBuf>,
    /// Sources for the exposure findings instead of the Internet: prefixes, comma-separated.
    #[arg(long, value_name = "PREFIXES")]
    exposure_from: Option<String>,
    /// Exit 1 when a finding of this severity or worse is reported.
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<secpath::audit::Severity>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    format: AuditFormat,
}

#[derive(Args)]
struct DiffArgs {
    /// The rule set before the change (files or directories, ARM JSON or DSL).
    #[arg(long, required = true, num_args = 1..)]
    before: Vec<PathBuf>,
    /// The rule set after the change.
    #[arg(long, required = true, num_args = 1..)]
    after: Vec<PathBuf>,
    /// Only flows from here: `internet`, an ARM id of a NIC, subnet or VNet, or prefixes.
    #[arg(long, value_name = "WHERE")]
    from: Option<String>,
    /// Only flows to here.
    #[arg(long, value_name = "WHERE")]
    to: Option<String>,
    /// Exit 1 when any verdict changes (a CI gate for "this change changes nothing").
    #[arg(long)]
    fail_on_change: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    switches: Switches,
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    /// The secpath DSL.
    Dsl,
    /// ARM JSON (`{"value": [...]}`).
    Arm,
}

#[derive(Args)]
struct ConvertArgs {
    /// ARM JSON or DSL files, or directories of them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// What to write.
    #[arg(long, value_enum)]
    to: Target,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Args)]
struct FmtArgs {
    /// DSL files to rewrite in place.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Change nothing; list the files that are not canonical and exit 1 if there are any.
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Input format: auto, nsg, vnet, pcap, pcapng or flows.
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    input_format: String,
    /// Judge every packet on its own instead of tracking connections.
    #[arg(long)]
    stateless: bool,
    /// Seconds after which an idle connection (UDP, ICMP, idle TCP) ends.
    #[arg(long, default_value_t = 240, value_name = "SECONDS")]
    idle_timeout: u64,
    /// Write one JSON line per record (flow logs, tuples) or connection (captures); a
    /// connection whose replies admin rules denied (--admin-stateless) adds
    /// replies_denied, reply_rule and reply_rule_id.
    #[arg(long, value_name = "FILE.jsonl")]
    out: Option<PathBuf>,
    /// Write per-rule hit counts for `secpath audit --hits`.
    #[arg(long, value_name = "FILE.json")]
    hits: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Evaluation strategy (the reference engine is the oracle).
    #[arg(long, value_enum, default_value_t = EngineKind::Compiled)]
    engine: EngineKind,
    /// Worker threads for several inputs (0: one per core; at most 1024). With --out, inputs
    /// are replayed in order on one thread.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=MAX_THREADS))]
    threads: u16,
    /// Flow logs, captures, tuple files or directories; `-` for standard input.
    inputs: Vec<PathBuf>,
}

/// Where rules come from for `eval` and `bench`: a snapshot, or a ClassBench filter set.
#[derive(Args)]
struct RuleSourceArgs {
    /// Snapshot files or directories (repeatable): ARM / Resource Graph JSON, az CLI output,
    /// secpath DSL, Terraform plans, ARM templates with their parameters.
    #[arg(long, num_args = 1.., required_unless_present = "classbench", conflicts_with = "classbench")]
    snapshot: Vec<PathBuf>,
    /// A ClassBench filter set: one NSG table, file order = priority, rules named by line number.
    #[arg(long, value_name = "FILE")]
    classbench: Option<PathBuf>,
    #[command(flatten)]
    switches: Switches,
}

impl RuleSourceArgs {
    /// A ClassBench filter set is matched as written (a protocol value/mask, no tags, no
    /// managers), so SEMANTICS.md's switches mean nothing beside it: one given is refused
    /// rather than silently ignored.
    fn check_classbench_switches(&self) -> secpath::Result<()> {
        let s = &self.switches;
        if s.options() == Options::new() && s.service_tags.is_none() {
            return Ok(());
        }
        Err(secpath::Error::Usage(
            "SEMANTICS.md's switches (--any-protocol, --service-tags, --lenient, ...) do not apply to a ClassBench filter set, which is matched as written: leave them out".to_string(),
        ))
    }
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    rules: RuleSourceArgs,
    /// The flows: a file, or `-` for standard input.
    #[arg(long, value_name = "FILE")]
    flows: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
    format: OutputFormat,
    /// Evaluation strategy (the reference engine is the oracle).
    #[arg(long, value_enum, default_value_t = EngineKind::Compiled)]
    engine: EngineKind,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    rules: RuleSourceArgs,
    /// The trace: CSV, JSONL, ClassBench trace or flow specs.
    #[arg(long, value_name = "FILE")]
    flows: PathBuf,
    /// Passes over the trace.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    iter: u32,
    /// Worker threads (at most 1024).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS))]
    threads: u16,
    /// Evaluation strategy.
    #[arg(long, value_enum, default_value_t = EngineKind::Compiled)]
    engine: EngineKind,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
struct CompileArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print table statistics (the only output today).
    #[arg(long)]
    stats: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// The snapshot and the semantic switches, shared by every command that evaluates.
#[derive(Args)]
struct PolicyArgs {
    /// Snapshot files or directories (repeatable): ARM / Resource Graph JSON, az CLI output,
    /// secpath DSL, Terraform plans, ARM templates with their parameters.
    // Empty values are taken too: `explain --snapshot S ""` hands its flow to this list
    // (see `split_flow`), and clap's own path parser would blame the snapshot for it.
    #[arg(long, required = true, num_args = 1.., value_parser = OsStringValueParser::new().map(PathBuf::from))]
    snapshot: Vec<PathBuf>,
    #[command(flatten)]
    switches: Switches,
}

/// SEMANTICS.md's switches D1–D7 and input leniency.
#[derive(Args)]
struct Switches {
    /// Azure's published service-tag JSON, for tags beyond VirtualNetwork, AzureLoadBalancer and Internet.
    #[arg(long, value_name = "FILE")]
    service_tags: Option<PathBuf>,
    /// D1: order managers' rules in scope tiers, or by priority alone.
    #[arg(long, value_enum, default_value_t = ManagerPrecedence::Tiered)]
    manager_precedence: ManagerPrecedence,
    /// D2: with no deployment status in the snapshot, treat everything as deployed.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    assume_deployed: bool,
    /// D3: what the Any / * protocol matches.
    #[arg(long, value_enum, default_value_t = AnyProtocol::All)]
    any_protocol: AnyProtocol,
    /// D4: what an absent or empty port or address list matches.
    #[arg(long, value_enum, default_value_t = EmptyMatch::Any)]
    empty_match: EmptyMatch,
    /// D5: whether a source-side AlwaysAllow also skips the destination NSGs.
    #[arg(long, value_enum, default_value_t = AlwaysAllowScope::Side)]
    always_allow_scope: AlwaysAllowScope,
    /// D6: evaluate admin rules on every packet in both directions (affects replay; a single explained flow is the same).
    #[arg(long)]
    admin_stateless: bool,
    /// D7: what a level with no NSG does to traffic from outside Azure (Internet or on-premises) towards a Standard public IP.
    #[arg(long, value_enum, default_value_t = NoNsg::Pass)]
    no_nsg: NoNsg,
    /// An unknown service tag matches nothing (with a warning) instead of being an error.
    #[arg(long)]
    lenient: bool,
    #[command(flatten)]
    load: LoadArgs,
}

/// How Terraform plans and ARM templates are read.
#[derive(Args)]
struct LoadArgs {
    /// Which state of a Terraform plan to read: before or after it is applied.
    #[arg(long, value_enum, default_value_t = PlanSide::After)]
    plan_side: PlanSide,
    /// The resource group ARM templates deploy into: /subscriptions/S/resourceGroups/RG, optionally followed by @REGION (resourceGroup().location).
    #[arg(long, value_name = "SCOPE", value_parser = parse_template_scope)]
    template_scope: Option<TemplateScope>,
}

impl LoadArgs {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            plan_side: self.plan_side,
            template_scope: self.template_scope.clone().unwrap_or_default(),
        }
    }
}

fn parse_template_scope(text: &str) -> Result<TemplateScope, String> {
    TemplateScope::parse(text)
        .ok_or_else(|| "expected /subscriptions/S/resourceGroups/RG[@region]".to_string())
}

impl Switches {
    fn options(&self) -> Options {
        Options {
            manager_precedence: self.manager_precedence,
            assume_deployed: self.assume_deployed,
            any_protocol: self.any_protocol,
            empty_match: self.empty_match,
            always_allow_scope: self.always_allow_scope,
            admin_stateless: self.admin_stateless,
            no_nsg: self.no_nsg,
            lenient: self.lenient,
        }
    }

    fn load(&self, paths: &[PathBuf]) -> secpath::Result<Policy> {
        let snapshot = secpath::load::load_snapshot_with(paths, &self.load.options())?;
        let tags = match &self.service_tags {
            Some(path) => ServiceTags::load(path)?,
            None => ServiceTags::none(),
        };
        Policy::build(snapshot, self.options(), &tags)
    }
}

impl PolicyArgs {
    fn load(&self) -> secpath::Result<Policy> {
        self.switches.load(&self.snapshot)
    }
}

#[derive(Args)]
struct ExplainArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Pin the source to a NIC, subnet or VNet (ARM id) when its address is ambiguous.
    #[arg(long, value_name = "ID")]
    from: Option<String>,
    /// Pin the destination to a NIC, subnet or VNet (ARM id).
    #[arg(long, value_name = "ID")]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The flow: `PROTO SRC[:PORT] -> DST[:PORT]` (one argument, or several words).
    #[arg(num_args = 0.., allow_hyphen_values = true)]
    flow: Vec<String>,
}

#[derive(Args)]
struct EffectiveArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Only this VNet (ARM id) and its NICs.
    #[arg(long, value_name = "ID", conflicts_with = "nic")]
    vnet: Option<String>,
    /// Only this NIC (ARM id).
    #[arg(long, value_name = "ID")]
    nic: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(options_before_flow(std::env::args_os().collect()));
    let result = match cli.command {
        Command::Explain(args) => run_explain(args),
        Command::Effective(args) => run_effective(args),
        Command::Eval(args) => run_eval(args),
        Command::Bench(args) => run_bench(args),
        Command::Compile(args) => run_compile(args),
        Command::Replay(args) => run_replay(args),
        Command::Convert(args) => run_convert(args),
        Command::Fmt(args) => run_fmt(args),
        Command::Audit(args) => run_audit(args),
        Command::Diff(args) => run_diff(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `explain`'s flow takes words that start with a hyphen (`->`), so clap would read options
/// written after it (`explain --snapshot S tcp a:1 -> b:2 --format json`) as more of the
/// flow: the words after the flow's destination are moved to just after `explain`. The
/// destination is the word after a lone `->`, else the word holding the arrow.
fn options_before_flow(mut argv: Vec<OsString>) -> Vec<OsString> {
    if argv.get(1).is_none_or(|c| c != "explain") {
        return argv;
    }
    let text = |w: &OsString| w.to_str().unwrap_or_default().to_string();
    let Some(arrow) = argv.iter().skip(2).position(|w| text(w).contains("->")) else {
        return argv;
    };
    let arrow = arrow + 2;
    let end = if argv.get(arrow).is_some_and(|w| text(w).ends_with("->")) {
        arrow + 2
    } else {
        arrow + 1
    };
    if end >= argv.len() {
        return argv;
    }
    let options = argv.split_off(end);
    argv.splice(2..2, options);
    argv
}

fn style() -> Style {
    Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// `--snapshot PATH...` is greedy, so `--snapshot dir "tcp ..."` hands the flow to it: the
/// trailing values that are not existing paths are the flow (the first value is always a
/// snapshot, so a mistyped path is reported as unreadable).
fn split_flow(args: &mut ExplainArgs) -> secpath::Result<String> {
    if args.flow.is_empty() {
        let keep = args
            .policy
            .snapshot
            .iter()
            .rposition(|p| p.exists())
            .map_or(1, |i| i + 1);
        let words = args.policy.snapshot.split_off(keep);
        args.flow = words
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
    }
    if args.flow.is_empty() {
        return Err(secpath::Error::Usage(
            "no flow given: expected `PROTO SRC[:PORT] -> DST[:PORT]`".to_string(),
        ));
    }
    // The flow takes words beginning with `-` (its arrow), so clap hands over a misspelt
    // option too: name it rather than fail to read it as part of the flow.
    if let Some(option) = args
        .flow
        .iter()
        .find(|w| w.starts_with("--") && w.len() > 2)
    {
        return Err(secpath::Error::Usage(format!(
            "unknown option `{option}` (`secpath explain --help` lists them)"
        )));
    }
    Ok(args.flow.join(" "))
}

/// Writes what was read but not used, and why, to stderr, for the commands whose output has
/// no place for it; `which` tells two snapshots apart.
fn warn(warnings: &[String], which: &str) {
    for w in warnings {
        eprintln!("warning{which}: {w}");
    }
}

fn run_explain(mut args: ExplainArgs) -> secpath::Result<ExitCode> {
    let flow = Flow::parse(&split_flow(&mut args)?)?;
    let policy = args.policy.load()?;
    let pins = Pins {
        from: args.from.as_deref().map(ResourceId::new),
        to: args.to.as_deref().map(ResourceId::new),
    };
    let explanation = explain(&policy, &flow, &pins)?;
    match args.format {
        Format::Json => emit(&format!("{}\n", to_json(&explanation))),
        Format::Text => {
            warn(&explanation.warnings, "");
            emit(&render::explanation(&explanation, style()))
        }
    }
    Ok(match explanation.verdict {
        Verdict::Allow => ExitCode::SUCCESS,
        Verdict::Deny | Verdict::NoPath => ExitCode::from(1),
        Verdict::Unknown => ExitCode::from(3),
    })
}

fn run_effective(args: EffectiveArgs) -> secpath::Result<ExitCode> {
    let policy = args.policy.load()?;
    let selection = Selection {
        vnet: args.vnet.as_deref().map(ResourceId::new),
        nic: args.nic.as_deref().map(ResourceId::new),
    };
    let report = effective(&policy, &selection).ok_or_else(|| {
        secpath::Error::Usage("--vnet / --nic names nothing in the snapshot".to_string())
    })?;
    match args.format {
        Format::Json => emit(&format!("{}\n", to_json(&report))),
        Format::Text => {
            warn(&report.warnings, "");
            emit(&render::effective(&report))
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens `--flows` (`-` is standard input) as a flow reader.
fn flows(path: &std::path::Path) -> secpath::Result<FlowReader<Box<dyn std::io::BufRead>>> {
    let input: Box<dyn std::io::BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let io = |source| secpath::Error::Io {
            file: path.to_path_buf(),
            source,
        };
        if std::fs::metadata(path).map_err(io)?.is_dir() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "a directory, where a flow file (CSV, JSONL, ClassBench trace) was expected",
            )));
        }
        let file = std::fs::File::open(path).map_err(io)?;
        Box::new(std::io::BufReader::with_capacity(1 << 16, file))
    };
    Ok(FlowReader::new(input))
}

fn run_eval(args: EvalArgs) -> secpath::Result<ExitCode> {
    let reader = flows(&args.flows)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let summary = if let Some(path) = &args.rules.classbench {
        args.rules.check_classbench_switches()?;
        let rules = secpath::classbench::load_filters(path)?;
        let table = TableEngine::new(&rules, args.engine);
        let decide = |r: &FlowRecord| {
            Ok(secpath::classbench::decided(
                &rules,
                table.first_match(&r.flow),
            ))
        };
        secpath::evaluate::run(reader, decide, &mut out, args.format)
    } else {
        let policy = args.rules.switches.load(&args.rules.snapshot)?;
        warn(&policy.warnings, "");
        let engine = Engine::new(&policy, args.engine);
        let decide = |r: &FlowRecord| engine.decide(&r.flow, &r.pins);
        secpath::evaluate::run(reader, decide, &mut out, args.format)
    };
    let summary = match summary {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.map_err(|source| secpath::Error::Io {
            file: "(stdout)".into(),
            source,
        })?,
    };
    eprintln!(
        "read {}, evaluated {} (allow {}, deny {}, no-path {}{}), skipped {}",
        summary.read,
        summary.evaluated,
        summary.allow,
        summary.deny,
        summary.no_path,
        if summary.unknown > 0 {
            format!(", unknown {}", summary.unknown)
        } else {
            String::new()
        },
        summary.skipped_total()
    );
    for (reason, n) in &summary.skipped {
        eprintln!("  skipped {n}: {reason}");
    }
    Ok(ExitCode::SUCCESS)
}

fn run_bench(args: BenchArgs) -> secpath::Result<ExitCode> {
    let (mut skipped, mut first_skip) = (0usize, None);
    let records: Vec<FlowRecord> = flows(&args.flows)?
        .filter_map(|r| {
            r.map_err(|s| {
                skipped += 1;
                first_skip.get_or_insert(s);
            })
            .ok()
        })
        .collect();
    if let Some(first) = first_skip {
        eprintln!(
            "{skipped} trace line(s) skipped; the first, line {}: {}",
            first.line, first.reason
        );
    }
    if records.is_empty() {
        return Err(secpath::Error::Usage(format!(
            "{}: no flow to time in the trace",
            args.flows.display()
        )));
    }
    let (iter, threads) = (args.iter as usize, usize::from(args.threads));
    let report = if let Some(path) = &args.rules.classbench {
        args.rules.check_classbench_switches()?;
        let rules = secpath::classbench::load_filters(path)?;
        let trace: Vec<Flow> = records.iter().map(|r| r.flow).collect();
        secpath::bench::bench_table(&rules, &trace, args.engine, iter, threads)
    } else {
        let policy = args.rules.switches.load(&args.rules.snapshot)?;
        warn(&policy.warnings, "");
        let engine = Engine::new(&policy, args.engine);
        let trace: Vec<(Flow, Pins)> = records.into_iter().map(|r| (r.flow, r.pins)).collect();
        secpath::bench::bench_policy(&engine, &trace, iter, threads)
    };
    match args.format {
        Format::Json => emit(&format!("{}\n", to_json(&report))),
        Format::Text => emit(&format!(
            "engine          {:?}\nrules           {}\ncompile         {:.1} ms\ntable bytes     {}\nlookups         {}\nlookups/s       {:.0}\nns/lookup       {:.1}\nthreads         {}\nchecksum        {}\n",
            report.engine, report.rules, report.compile_ms, report.table_bytes, report.lookups,
            report.lookups_per_sec, report.ns_per_lookup, report.threads, report.checksum
        ).to_lowercase()),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_compile(args: CompileArgs) -> secpath::Result<ExitCode> {
    let policy = args.policy.load()?;
    warn(&policy.warnings, "");
    let compiled = secpath::compile::CompiledPolicy::new(&policy);
    let s = compiled.stats();
    match args.format {
        Format::Json => emit(&format!(
            "{}\n",
            serde_json::json!({
                "schema": "secpath.compile/v1",
                "rules": s.rules,
                "tables": s.tables,
                "distinct_tables": s.distinct_tables,
                "vectors": s.vectors,
                "bytes": s.bytes,
                "compile_ms": s.compile_time.as_secs_f64() * 1e3,
            })
        )),
        Format::Text => emit(&format!(
            "rules      {}\ntables     {} ({} distinct)\nvectors    {}\nbytes      {}\ncompile    {:.1} ms\n",
            s.rules,
            s.tables,
            s.distinct_tables,
            s.vectors,
            s.bytes,
            s.compile_time.as_secs_f64() * 1e3
        )),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--snapshot PATH...` is greedy, so `--snapshot S LOG...` hands the logs to it: the first
/// value that reads like replay input (not ARM resources) starts the inputs.
fn split_inputs(args: &mut ReplayArgs) -> secpath::Result<()> {
    if args.inputs.is_empty() {
        let at = args
            .policy
            .snapshot
            .iter()
            .skip(1)
            .position(|p| looks_like_replay_input(p));
        if let Some(i) = at {
            args.inputs = args.policy.snapshot.split_off(i + 1);
        }
    }
    if args.inputs.is_empty() {
        let taken = match args.policy.snapshot.as_slice() {
            [_, .., last] => format!(
                "; every path after --snapshot was read as a snapshot, `{}` too: if it is an input, put it before --snapshot or after `--`",
                last.display()
            ),
            _ => String::new(),
        };
        return Err(secpath::Error::Usage(format!(
            "no input given: name flow logs, captures or tuple files after the snapshot (or `-` for standard input){taken}"
        )));
    }
    Ok(())
}

/// A capture, a compressed file, a flow log, a tuple file, or a directory of them; not a
/// snapshot's ARM JSON, plan or `.secpath` file, nor a directory of those.
fn looks_like_replay_input(path: &std::path::Path) -> bool {
    use std::io::Read;
    if path.as_os_str() == "-" {
        return true;
    }
    let extension = path.extension().map(|e| e.to_ascii_lowercase());
    match extension.as_ref().and_then(|e| e.to_str()) {
        Some("secpath") => return false,
        Some("jsonl" | "csv" | "pcap" | "pcapng" | "cap" | "gz") => return true,
        _ => {}
    }
    if path.is_dir() {
        let name = path.to_string_lossy();
        return name.contains("insights-logs-")
            || name.contains("resourceId=")
            || name.contains("macAddress=")
            || first_data_file(path, &mut 1000).is_some_and(|f| looks_like_replay_input(&f));
    }
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    let json = trimmed.starts_with('{') || trimmed.starts_with('[');
    !json
        || text.contains("\"records\"")
        || text.contains("\"flowRecords\"")
        || secpath::replay::input::is_jsonl_flow(trimmed.as_bytes())
}

/// The first file under `dir`, in name order, depth first, whose extension a snapshot or an
/// input has (a README beside a snapshot's JSON says nothing about it); `budget` bounds the
/// directory entries looked at, since a storage container's blobs sit fifteen levels down.
fn first_data_file(dir: &std::path::Path, budget: &mut usize) -> Option<PathBuf> {
    const DATA: [&str; 8] = [
        "json", "jsonl", "csv", "gz", "pcap", "pcapng", "cap", "secpath",
    ];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        *budget = budget.checked_sub(1)?;
        if entry.is_dir() {
            if let Some(found) = first_data_file(&entry, budget) {
                return Some(found);
            }
        } else if entry
            .extension()
            .is_some_and(|e| DATA.iter().any(|d| e.eq_ignore_ascii_case(d)))
        {
            return Some(entry);
        }
    }
    None
}

fn run_replay(mut args: ReplayArgs) -> secpath::Result<ExitCode> {
    use secpath::replay::{input, run};
    split_inputs(&mut args)?;
    let format: input::InputFormat = args.input_format.parse()?;
    let policy = args.policy.load()?;
    let units = input::units(&args.inputs, format)?;
    let create = |path: &PathBuf| {
        std::fs::File::create(path).map_err(|source| secpath::Error::Io {
            file: path.clone(),
            source,
        })
    };
    let mut out_file = args
        .out
        .as_ref()
        .map(create)
        .transpose()?
        .map(std::io::BufWriter::new);
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} records ({per_sec}) {elapsed}")
            .expect("a valid template"),
    );
    let options = run::ReplayOptions {
        stateless: args.stateless,
        idle_timeout_ms: args.idle_timeout.saturating_mul(1000),
        engine: args.engine,
        threads: usize::from(args.threads),
    };
    let out: Option<&mut dyn std::io::Write> =
        out_file.as_mut().map(|w| w as &mut dyn std::io::Write);
    warn(&policy.warnings, "");
    let report = run::replay_units(&policy, &units, format, options, out, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    if let Some(path) = &args.hits {
        let hits: serde_json::Map<String, serde_json::Value> = report
            .hits
            .iter()
            .map(|h| (h.id.clone(), h.hits.into()))
            .collect();
        let body = serde_json::json!({"schema": "secpath.hits/v1", "records": report.evaluated, "rules": hits});
        write_file(path, format!("{body:#}\n"))?;
    }
    match args.format {
        Format::Json => emit(&format!("{}\n", to_json(&report))),
        Format::Text => emit(&render::replay(&report)),
    }
    // Input of which nothing could be used is bad input, as a file that cannot be read is.
    if report.evaluated == 0 && report.skipped > 0 {
        eprintln!(
            "error: no record could be evaluated: all {} read were skipped, for the reasons in the report",
            report.skipped
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_audit(args: AuditArgs) -> secpath::Result<ExitCode> {
    use secpath::audit::{audit, AuditOptions, Hits, Selector};
    let policy = args.policy.load()?;
    let exposure_sources = match args
        .exposure_from
        .as_deref()
        .map(Selector::parse)
        .transpose()?
    {
        None | Some(Selector::Internet) => None,
        Some(Selector::Addresses(set)) => Some(set),
        Some(Selector::Resource(id)) => {
            return Err(secpath::Error::Usage(format!(
                "--exposure-from takes prefixes, not an id: {id}"
            )))
        }
    };
    let options = AuditOptions {
        hits: args.hits.as_deref().map(Hits::load).transpose()?,
        exposure_sources,
        ..AuditOptions::default()
    };
    let report = audit(&policy, &options);
    if !matches!(args.format, AuditFormat::Json) {
        warn(&report.warnings, "");
    }
    match args.format {
        AuditFormat::Text => emit(&secpath::audit::text::audit_text(&report)),
        AuditFormat::Json => emit(&format!("{}\n", to_json(&report))),
        AuditFormat::Sarif => emit(&format!(
            "{}\n",
            to_json(&secpath::audit::sarif::sarif(&report))
        )),
    }
    let failed = args.fail_on.is_some_and(|level| report.fails_at(level));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_diff(args: DiffArgs) -> secpath::Result<ExitCode> {
    use secpath::audit::{diff, DiffOptions, Selector};
    let before = args.switches.load(&args.before)?;
    let after = args.switches.load(&args.after)?;
    warn(&before.warnings, " (before)");
    warn(&after.warnings, " (after)");
    let options = DiffOptions {
        from: args.from.as_deref().map(Selector::parse).transpose()?,
        to: args.to.as_deref().map(Selector::parse).transpose()?,
        ..DiffOptions::default()
    };
    for (flag, selector) in [("--from", &options.from), ("--to", &options.to)] {
        if let Some(selector) = selector {
            selector.check(flag, &before, &after)?;
        }
    }
    let report = diff(&before, &after, &options);
    match args.format {
        Format::Text => emit(&secpath::audit::text::diff_text(&report)),
        Format::Json => emit(&format!("{}\n", to_json(&report))),
    }
    let changed = !report.changes.is_empty();
    Ok(if args.fail_on_change && changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes `contents` to `path`; the error names the file.
fn write_file(path: &std::path::Path, contents: impl AsRef<[u8]>) -> secpath::Result<()> {
    std::fs::write(path, contents).map_err(|source| secpath::Error::Io {
        file: path.to_path_buf(),
        source,
    })
}

fn run_convert(args: ConvertArgs) -> secpath::Result<ExitCode> {
    let mut texts = Vec::new();
    for file in secpath::load::expand(&args.files)? {
        let text = secpath::load::read_text(&file)?;
        texts.push((file, text));
    }
    let (resources, warnings) = secpath::load::resources_of(&texts, &args.load.options())?;
    warn(&warnings, "");
    let dsl = secpath::dsl::to_dsl(&resources);
    // Read back either way: what the DSL's reader refuses (two rules at one priority) is
    // refused now, not written for the next reader to fail on; and ARM output comes through
    // it, containers flattened, one resource per entry.
    let flat = secpath::dsl::parse(&dsl, std::path::Path::new("(converted)"))?;
    let output = match args.to {
        Target::Dsl => dsl,
        Target::Arm => format!("{}\n", to_json(&serde_json::json!({ "value": flat }))),
    };
    match &args.out {
        Some(path) => write_file(path, output)?,
        None => emit(&output),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_fmt(args: FmtArgs) -> secpath::Result<ExitCode> {
    let mut unformatted = 0;
    for file in &args.files {
        let text = secpath::load::read_text(file)?;
        let canonical = secpath::dsl::format(&text, file)?;
        if canonical == text {
            continue;
        }
        unformatted += 1;
        if args.check {
            println!("{}", file.display());
        } else {
            write_file(file, canonical)?;
        }
    }
    Ok(if args.check && unformatted > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes to stdout; a reader that went away (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("report types serialise to JSON")
}
