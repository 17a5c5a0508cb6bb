//! Reading snapshots: files and directories of ARM JSON into a linked [`Snapshot`].
//!
//! Other inputs are recognised by content and translated into ARM resources first, with
//! errors still located in the original file ([`json::Origins`]): Terraform plan and state
//! JSON ([`tfplan`]), ARM templates with their parameters files ([`template`]), and
//! `az network nic list-effective-nsg` output ([`azcli`], live like ARM resources). Plans
//! and templates — what is about to be deployed — are read after every other input, and
//! their resource replaces the one another input gave under the same id (a resource a plan
//! deletes is removed): `--snapshot live/ --snapshot plan.json` is the network after the
//! plan.
//!
//! Reading happens in two passes. `arm` turns every resource, wherever it sits (a single
//! object, an array, `{"value": [...]}`, `{"data": [...]}`, a REST example's response body,
//! or nested inside its parent), into a flat record that names its parent by id. `link`
//! then joins children to parents and references to indices, and rejects dangling ones. So
//! nested and flat child resources are one code path, and order across files never matters.

mod arm;
pub(crate) use arm::NSG_RULE_KEYS;
pub mod azcli;
mod duplicates;
pub mod json;
mod link;
pub mod template;
pub mod tfplan;

use crate::error::{Error, Location, Result};
use crate::model::{ResourceId, Snapshot};
use json::{Node, Origins};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
pub use template::TemplateScope;
pub use tfplan::PlanSide;

/// How inputs other than ARM resources are read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Which state of a Terraform plan to read (`--plan-side`).
    pub plan_side: PlanSide,
    /// The resource group ARM templates deploy into (`--template-scope`).
    pub template_scope: TemplateScope,
}

/// An input translated into ARM resources.
pub struct Translation {
    /// The resources, in ARM's shape.
    pub resources: Vec<Value>,
    /// Where their parts came from in the original file.
    pub origins: Origins,
    /// Resources the input deletes (a plan's deletions).
    pub removed: Vec<ResourceId>,
    /// Attachments to subnets and NICs of other inputs (a plan's association resources).
    pub associations: Vec<Association>,
    /// What was read but not used.
    pub warnings: Vec<String>,
}

/// An NSG or ASG a plan attaches to, or detaches from, a subnet or NIC that another input
/// defines.
#[derive(Clone, Debug)]
pub struct Association {
    /// The subnet or NIC.
    pub target: ResourceId,
    /// The NSG or ASG.
    pub linked: ResourceId,
    /// True for an ASG (on every IP configuration of the NIC), false for an NSG.
    pub asg: bool,
    /// True when the plan deletes the association: the NSG or ASG comes off the target.
    pub detach: bool,
    /// Where the plan makes it.
    pub location: crate::error::Location,
}

/// Reads one or more snapshot files or directories (searched recursively for `*.json` and
/// `*.secpath`), with the default [`LoadOptions`].
pub fn load_snapshot(paths: &[PathBuf]) -> Result<Snapshot> {
    load_snapshot_with(paths, &LoadOptions::default())
}

/// Reads one or more snapshot files or directories with `options`.
pub fn load_snapshot_with(paths: &[PathBuf], options: &LoadOptions) -> Result<Snapshot> {
    let mut texts = Vec::new();
    for file in expand(paths)? {
        let text = read_text(&file)?;
        texts.push((file, text));
    }
    load_texts_with(&texts, options)
}

/// Reads snapshot texts already in memory, each named by the file it stands for (ARM JSON,
/// or the DSL by extension or content), with the default [`LoadOptions`].
pub fn load_texts(texts: &[(PathBuf, String)]) -> Result<Snapshot> {
    load_texts_with(texts, &LoadOptions::default())
}

/// Reads snapshot texts already in memory with `options`: plans last, replacing.
pub fn load_texts_with(texts: &[(PathBuf, String)], options: &LoadOptions) -> Result<Snapshot> {
    let inputs = Inputs::read(texts, options)?;
    let load = || {
        let mut records = arm::Records::default();
        for input in &inputs.live {
            match input {
                (file, Input::Resources(value)) => records.read_file(Node::root(value, file))?,
                (file, Input::Translated(t)) => read_translation(&mut records, file, t)?,
            }
        }
        records.replacing = true;
        for (file, t) in &inputs.planned {
            read_translation(&mut records, file, t)?;
        }
        link::link(records)
    };
    let mut snapshot = load().map_err(|e| inputs.at_dsl_statement(e))?;
    inputs.relocate(&mut snapshot);
    snapshot.warnings.splice(0..0, inputs.duplicates);
    Ok(snapshot)
}

/// The ARM resources the texts stand for, for `secpath convert`: plans, templates and az
/// outputs translated, everything else as it is. The DSL and ARM JSON cannot say "unknown",
/// so a plan that leaves a rule unknown is an error naming it; nor can they say "this
/// replaces that", so plans and templates are converted on their own. Also returns what the
/// translations left out and why (a NIC address the plan does not know, types secpath does
/// not read), for the caller to show.
pub fn resources_of(
    texts: &[(PathBuf, String)],
    options: &LoadOptions,
) -> Result<(Vec<Value>, Vec<String>)> {
    let inputs = Inputs::read(texts, options)?;
    if !inputs.planned.is_empty() && !inputs.live.is_empty() {
        return Err(Error::Usage(
            "convert plans and templates on their own: a plan's resources replace live ones, which one converted file cannot say".to_string(),
        ));
    }
    let translated = inputs
        .live
        .iter()
        .filter_map(|(f, i)| match i {
            Input::Translated(t) => Some((f, t)),
            Input::Resources(_) => None,
        })
        .chain(inputs.planned.iter().map(|(f, t)| (f, t)));
    let mut out = Vec::new();
    for (file, t) in translated {
        if let Some(a) = t.associations.first() {
            return Err(Error::invalid(
                a.location.clone(),
                format!("the plan attaches `{}` to `{}`, which another input defines: ARM JSON and the DSL write that attachment only on the subnet or NIC itself, so convert it from the merged snapshot after apply", a.linked, a.target),
            ));
        }
        let mut resources = t.resources.iter().enumerate();
        let unknown = resources.find_map(|(at, r)| Some(format!("[{at}]{}", unknown_path(r)?)));
        if let Some(path) = unknown {
            return Err(Error::invalid(
                crate::error::Location {
                    file: file.clone(),
                    path: t.origins.map(&path),
                },
                "the plan leaves rule attributes unknown, which ARM JSON and the DSL cannot say: convert the plan after it is applied, or with --plan-side before",
            ));
        }
    }
    let mut warnings = Vec::new();
    for (file, input) in inputs.live {
        match input {
            Input::Resources(value) => {
                arm::check_items(Node::root(&value, &file))?;
                out.push(value);
            }
            Input::Translated(t) => {
                warnings.extend(t.warnings);
                out.extend(t.resources);
            }
        }
    }
    for (_, t) in inputs.planned {
        warnings.extend(t.warnings);
        out.extend(t.resources);
    }
    Ok((out, warnings))
}

/// The path below `value` of the first object a plan marks as holding unknown attributes
/// (`.properties.securityRules[2]`; empty for `value` itself), so that the error names the
/// rule, which may be a resource of its own in the plan.
fn unknown_path(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) if map.contains_key(arm::UNKNOWN_KEY) => Some(String::new()),
        Value::Object(map) => map
            .iter()
            .find_map(|(key, v)| Some(format!(".{key}{}", unknown_path(v)?))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| Some(format!("[{i}]{}", unknown_path(v)?))),
        _ => None,
    }
}

/// One input file, read.
enum Input {
    /// ARM resources (or the DSL's, as ARM JSON).
    Resources(Value),
    /// Translated into ARM resources.
    Translated(Translation),
}

/// Every input, in the order it is read: live ones, then plans and templates.
struct Inputs {
    live: Vec<(PathBuf, Input)>,
    planned: Vec<(PathBuf, Translation)>,
    /// Keys written twice in a JSON object, of which serde_json kept the last.
    duplicates: Vec<String>,
    /// Per DSL file, where each of its resources was written.
    origins: HashMap<PathBuf, Vec<crate::dsl::Origin>>,
}

impl Inputs {
    /// `e`, when it is about a resource a DSL file wrote (its JSON path starts at the
    /// resource's index, `[5].properties...`), as a DSL error at the statement that wrote
    /// it: the user never saw that JSON.
    fn at_dsl_statement(&self, e: Error) -> Error {
        let Error::Invalid { location, message } = e else {
            return e;
        };
        match self.origin(&location) {
            Some(o) => crate::dsl::DslErrors(vec![o.error(message)]).into(),
            None => Error::Invalid { location, message },
        }
    }

    /// The DSL statement that wrote the resource `location` is in, if a DSL file did.
    fn origin(&self, location: &Location) -> Option<&crate::dsl::Origin> {
        let index = location
            .path
            .strip_prefix('[')
            .and_then(|p| p.split(']').next())
            .and_then(|i| i.parse::<usize>().ok())?;
        self.origins.get(&location.file)?.get(index)
    }

    /// Points the rule locations the snapshot keeps for later errors (an unknown service
    /// tag is found when rules are resolved) at the DSL statements that wrote them, as
    /// [`at_dsl_statement`](Self::at_dsl_statement) does for the loader's own errors.
    fn relocate(&self, snapshot: &mut Snapshot) {
        if self.origins.is_empty() {
            return;
        }
        let nsg_rules = snapshot.nsgs.iter_mut().flat_map(|n| &mut n.rules);
        let admin_rules = snapshot
            .managers
            .iter_mut()
            .flat_map(|m| &mut m.security_configs)
            .flat_map(|c| &mut c.collections)
            .flat_map(|c| &mut c.rules);
        let assignments = snapshot
            .policy_assignments
            .iter_mut()
            .map(|a| &mut a.location);
        for location in nsg_rules
            .chain(admin_rules)
            .map(|r| &mut r.1)
            .chain(assignments)
        {
            if let Some(o) = self.origin(location) {
                *location = Location {
                    file: o.file.clone(),
                    path: format!("line {}, the `{}` statement", o.line, o.keyword()),
                };
            }
        }
    }

    /// Parses and classifies every text; templates get their parameters files.
    fn read(texts: &[(PathBuf, String)], options: &LoadOptions) -> Result<Inputs> {
        let mut inputs = Inputs {
            live: Vec::new(),
            planned: Vec::new(),
            duplicates: Vec::new(),
            origins: HashMap::new(),
        };
        let mut templates = Vec::new();
        let mut parameters = Vec::new();
        for (file, text) in texts {
            if crate::dsl::is_dsl(file, text) {
                let (values, origins) = crate::dsl::parse_located(text, file)?;
                inputs.origins.insert(file.clone(), origins);
                inputs
                    .live
                    .push((file.clone(), Input::Resources(Value::Array(values))));
                continue;
            }
            let (value, repeated) = duplicates::parse_noting_duplicates(without_bom(text))
                .map_err(|e| json_error(file, &e))?;
            inputs.duplicates.extend(repeated.into_iter().map(|path| {
                format!(
                    "{}: {path}: the key is written twice in its object; the last value is used",
                    file.display()
                )
            }));
            if is_case_file(&value) {
                continue;
            }
            if tfplan::is_plan(&value) {
                let t = tfplan::translate(&value, file, options.plan_side)?;
                inputs.planned.push((file.clone(), t));
            } else if template::is_template(&value) {
                templates.push((file, value));
            } else if template::is_parameters(&value) {
                parameters.push((file, value));
            } else if azcli::is_effective_nsg(&value) {
                let t = azcli::translate(&value, file)?;
                inputs.live.push((file.clone(), Input::Translated(t)));
            } else {
                inputs.live.push((file.clone(), Input::Resources(value)));
            }
        }
        let mut used = vec![false; parameters.len()];
        for (file, value) in &templates {
            let params = parameters_for(file, templates.len(), &parameters);
            if let Some(at) = params {
                used[at] = true;
                check_parameters(value, &parameters[at])?;
            }
            let params = params.map(|at| &parameters[at].1);
            let t = template::translate(value, file, params, &options.template_scope)?;
            inputs.planned.push(((*file).clone(), t));
        }
        // A parameters file nothing reads would leave the defaults in force without a word.
        if let Some(((file, _), _)) = parameters.iter().zip(&used).find(|(_, used)| !**used) {
            return Err(Error::invalid(
                Location {
                    file: (*file).clone(),
                    path: "parameters".to_string(),
                },
                "this parameters file applies to no template: name it NAME.parameters.json beside the template NAME.json, or give it with a single template and no other parameters file",
            ));
        }
        Ok(inputs)
    }
}

/// The one warning that counts, by type, the resources of `file` that secpath does not use
/// (an estate export holds thousands of VMs and disks; a plan, storage accounts and DNS).
fn ignored_types(file: &Path, ignored: &BTreeMap<String, usize>) -> Option<String> {
    (!ignored.is_empty()).then(|| {
        let list: Vec<String> = ignored.iter().map(|(t, n)| format!("{t} ({n})")).collect();
        format!(
            "{}: resource types not used by secpath were ignored: {}",
            file.display(),
            list.join(", ")
        )
    })
}

/// A scenario file of docs/case-format.md (`{"snapshot": [...], "cases": [...]}`), which
/// rule-set directories carry beside their resources: it describes flows, not resources, so
/// reading it would only warn about objects without a `type`.
fn is_case_file(value: &Value) -> bool {
    value.get("cases").is_some_and(Value::is_array)
        && value.get("snapshot").is_some_and(Value::is_array)
        && value.get("type").is_none()
}

/// The parameters file of a template (its index in `parameters`): `NAME.parameters.json`
/// beside `NAME.json`, or the only parameters file when there is only one template.
fn parameters_for(
    template: &Path,
    templates: usize,
    parameters: &[(&PathBuf, Value)],
) -> Option<usize> {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().to_ascii_lowercase())
    };
    let wanted = stem(template).map(|s| format!("{s}.parameters"));
    parameters
        .iter()
        .position(|(f, _)| stem(f) == wanted)
        .or_else(|| (templates == 1 && parameters.len() == 1).then_some(0))
}

/// Azure refuses a parameters file naming a parameter the template does not declare ("not
/// present in the original template"); a misspelt name would leave the default in force.
fn check_parameters(template: &Value, (file, parameters): &(&PathBuf, Value)) -> Result<()> {
    let declared = template.get("parameters").and_then(Value::as_object);
    let given = parameters.get("parameters").and_then(Value::as_object);
    for name in given.into_iter().flat_map(|g| g.keys()) {
        let known = declared.is_some_and(|d| d.keys().any(|k| k.eq_ignore_ascii_case(name)));
        if !known {
            return Err(Error::invalid(
                Location {
                    file: (*file).clone(),
                    path: format!("parameters.{name}"),
                },
                format!("the template does not declare parameter `{name}`"),
            ));
        }
    }
    Ok(())
}

/// Reads a translated input; its deletions first.
fn read_translation(records: &mut arm::Records, file: &Path, t: &Translation) -> Result<()> {
    for id in &t.removed {
        records.forget(id);
    }
    records.warnings.extend(t.warnings.iter().cloned());
    let value = Value::Array(t.resources.clone());
    records.read_file(Node::translated(&value, file, &t.origins))?;
    t.associations.iter().try_for_each(|a| records.associate(a))
}

/// The largest text input read whole (a snapshot, a DSL file, a hits file): 512 MiB, several
/// times a Resource Graph export of a large estate. A larger file is refused before it is
/// read, so a hostile or mistaken input cannot exhaust memory.
pub const MAX_TEXT_BYTES: u64 = 512 << 20;

/// Reads a whole text file of at most [`MAX_TEXT_BYTES`]; the error names the file.
pub fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let io = |source| Error::Io {
        file: path.to_path_buf(),
        source,
    };
    let too_large = || {
        io(std::io::Error::other(format!(
            "larger than the {} MiB a text input may be",
            MAX_TEXT_BYTES >> 20
        )))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    // The size can change after the check (a pipe, a growing file): cap the read itself.
    file.take(MAX_TEXT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

/// Parses JSON text, reporting line and column on failure. A UTF-8 byte-order mark (as
/// some Windows tools write) is skipped.
pub fn parse_json(file: &Path, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(without_bom(text)).map_err(|e| json_error(file, &e))
}

/// `text` without the UTF-8 byte-order mark some Windows tools write.
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// A JSON syntax error of `file`, located.
fn json_error(file: &Path, e: &serde_json::Error) -> Error {
    Error::Json {
        file: file.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

/// The files named by `paths`: files as given, directories searched recursively for
/// `*.json` and `*.secpath` in name order (so results don't depend on the file system's
/// order).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            file: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            out.extend(without_included(found));
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::Io {
        file: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, out)?;
        } else if entry
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("secpath"))
        {
            out.push(entry);
        }
    }
    Ok(())
}

/// Drops the DSL files that another file of the set `include`s: the including file reads
/// them, so loading them again would declare everything twice.
fn without_included(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut included = std::collections::HashSet::new();
    for file in files.iter().filter(|f| {
        f.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("secpath"))
    }) {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix("include") else {
                continue;
            };
            if let Some(name) = rest
                .trim()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
            {
                let target = file.parent().unwrap_or(Path::new(".")).join(name);
                included.insert(target.canonicalize().unwrap_or(target));
            }
        }
    }
    files
        .into_iter()
        .filter(|f| !included.contains(&f.canonicalize().unwrap_or_else(|_| f.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VNET: &str = r#"{"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v",
        "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
        "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}"#;

    fn warnings(text: String) -> Vec<String> {
        load_texts(&[(PathBuf::from("page.json"), text)])
            .expect("loads")
            .warnings
    }

    /// A rule-set directory's scenario file is passed over without a word; an object
    /// without `type` that is not one still gets the warning.
    #[test]
    fn a_scenario_file_is_not_read_as_resources() {
        let cases = r#"{"snapshot": ["x"], "cases": [{"flow": "tcp 1.2.3.4:1 -> 5.6.7.8:2"}]}"#;
        let loaded = load_texts(&[
            (PathBuf::from("cases.json"), cases.to_string()),
            (PathBuf::from("vnet.json"), VNET.to_string()),
        ])
        .expect("loads");
        assert_eq!(loaded.vnets.len(), 1);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let other = warnings(r#"{"cases": [], "name": "x"}"#.to_string());
        assert!(
            other.iter().any(|w| w.contains("without `type`")),
            "{other:?}"
        );
    }

    /// A parent id written with a trailing `/` names the same resource, and so do its
    /// nested children's ids built from it: a NIC finds its subnet either way.
    #[test]
    fn a_trailing_slash_on_a_parent_id_reaches_its_nested_children() {
        let vnet = VNET
            .replace("virtualNetworks/v\"", "virtualNetworks/v/\"")
            .replace(
                r#""properties": {"addressSpace""#,
                r#""properties": {"subnets": [{"name": "s", "properties": {"addressPrefix": "10.0.1.0/24"}}], "addressSpace""#,
            );
        assert!(vnet.contains("virtualNetworks/v/\""), "{vnet}");
        let nic = r#"{"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/n",
            "type": "Microsoft.Network/networkInterfaces", "location": "westeurope",
            "properties": {"ipConfigurations": [{"name": "c", "properties": {"privateIPAddress": "10.0.1.4",
            "subnet": {"id": "/SUBSCRIPTIONS/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/s"}}}]}}"#;
        let loaded =
            load_texts(&[(PathBuf::from("net.json"), format!("[{vnet}, {nic}]"))]).expect("loads");
        assert_eq!(loaded.subnets.len(), 1);
        assert_eq!(
            loaded.subnets[0].id.as_str(),
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
        );
        assert_eq!(loaded.nics.len(), 1);
    }

    /// Resources of types secpath does not use are counted by type in one warning per file.
    #[test]
    fn unused_types_are_counted_in_one_warning() {
        let vm = |n: u8| {
            format!(
                r#"{{"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm{n}", "type": "Microsoft.Compute/virtualMachines"}}"#
            )
        };
        let disk = r#"{"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d", "type": "Microsoft.Compute/disks"}"#;
        let got = warnings(format!("[{}, {}, {disk}, {VNET}]", vm(1), vm(2)));
        assert_eq!(
            got,
            ["page.json: resource types not used by secpath were ignored: Microsoft.Compute/disks (1), Microsoft.Compute/virtualMachines (2)"]
        );
    }

    /// A list that continues on another page (ARM's `nextLink`, Resource Graph's
    /// `skip_token`/`$skipToken`) is only part of the estate: say so, naming the file.
    #[test]
    fn a_list_with_more_pages_is_reported_incomplete() {
        for (key, more) in [
            (
                "nextLink",
                r#""https://management.azure.com/x?$skiptoken=abc""#,
            ),
            ("skip_token", r#""ew0KICAiJGlkIjogIjEiLA0K""#),
            ("$skipToken", r#""ew0KICAiJGlkIjogIjEiLA0K""#),
            ("skipToken", r#""abc""#),
        ] {
            let container = if key == "nextLink" { "value" } else { "data" };
            let got = warnings(format!(r#"{{"{container}": [{VNET}], "{key}": {more}}}"#));
            assert!(
                got.iter().any(|w| w.starts_with("page.json: ")
                    && w.contains(key)
                    && w.contains("more pages")),
                "{key}: {got:?}"
            );
        }
        // The last page: no token (null, or empty as `list-deploy-status` writes it).
        for last in [
            r#""nextLink": null"#,
            r#""skipToken": """#,
            r#""skip_token": null"#,
        ] {
            assert_eq!(
                warnings(format!(r#"{{"value": [{VNET}], {last}}}"#)),
                Vec::<String>::new()
            );
        }
    }

    /// A connection secpath cannot use (ExpressRoute, VNet-to-VNet: no local network gateway
    /// declares the prefixes behind it) is read but not used: a warning says so.
    #[test]
    fn a_connection_without_a_local_gateway_is_reported() {
        let er = r#"{"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/connections/er",
            "type": "Microsoft.Network/connections",
            "properties": {"connectionType": "ExpressRoute",
                "virtualNetworkGateway1": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworkGateways/gw"},
                "peer": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.ExpressRoute/circuits/c"}}}"#;
        let got = warnings(format!("[{VNET}, {er}]"));
        assert!(
            got.iter().any(|w| w.starts_with("page.json: [1]: ")
                && w.contains("`er`")
                && w.contains("local network gateway")),
            "{got:?}"
        );
    }

    fn load_error(text: String) -> String {
        match load_texts(&[(PathBuf::from("avnm.json"), text)]) {
            Ok(_) => "loaded".to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// A value outside the few Azure defines is an error naming the expected ones, never
    /// read as the default (a misspelt `Subnet` group would apply to whole VNets).
    #[test]
    fn avnm_enumerations_outside_azures_values_are_errors() {
        const M: &str =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkManagers/m";
        let group = |t: &str| {
            format!(
                r#"[{{"id": "{M}/networkGroups/ng", "type": "Microsoft.Network/networkManagers/networkGroups", "properties": {{"memberType": "{t}"}}}}]"#
            )
        };
        assert_eq!(load_error(group("subnet")), "loaded");
        let got = load_error(group("Subnets"));
        assert!(
            got.contains("avnm.json: [0].properties.memberType")
                && got.contains("`Subnets`")
                && got.contains("VirtualNetwork or Subnet"),
            "{got}"
        );
        let config = |v: &str| {
            format!(
                r#"[{{"id": "{M}/securityAdminConfigurations/c", "type": "Microsoft.Network/networkManagers/securityAdminConfigurations", "properties": {{"applyOnNetworkIntentPolicyBasedServices": ["{v}"]}}}}]"#
            )
        };
        assert_eq!(load_error(config("AllowRulesOnly")), "loaded");
        let got = load_error(config("Everything"));
        assert!(
            got.contains("applyOnNetworkIntentPolicyBasedServices[0]")
                && got.contains("`Everything`")
                && got.contains("None, All or AllowRulesOnly"),
            "{got}"
        );
        let rule = |kind: &str| {
            format!(
                r#"[{{"id": "{M}/securityAdminConfigurations/c/ruleCollections/rc/rules/r", "type": "Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections/rules", "kind": "{kind}",
                "properties": {{"protocol": "Tcp", "access": "Deny", "priority": 1, "direction": "Inbound"}}}}]"#
            )
        };
        assert_eq!(load_error(rule("Custom")), "loaded");
        let connectivity = |t: &str| {
            format!(
                r#"[{{"id": "{M}/connectivityConfigurations/cc", "type": "Microsoft.Network/networkManagers/connectivityConfigurations", "properties": {{"connectivityTopology": "{t}"}}}}]"#
            )
        };
        assert_eq!(load_error(connectivity("Mesh")), "loaded");
        let got = load_error(connectivity("HubAndSpokes"));
        assert!(
            got.contains("[0].properties.connectivityTopology")
                && got.contains("HubAndSpoke or Mesh"),
            "{got}"
        );
        let got = load_error(rule("Custon"));
        assert!(
            got.contains("[0].kind")
                && got.contains("`Custon`")
                && got.contains("Custom or Default"),
            "{got}"
        );
    }
}
