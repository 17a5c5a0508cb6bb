//! Terraform plan JSON (`terraform show -json plan.out`, format 0.x and 1.x) and state JSON
//! (`terraform show -json`), translated into the ARM resources `arm` reads.
//!
//! Which resources: `resource_changes[]` (each `change.before` or `change.after`, by
//! [`PlanSide`]), else `planned_values` / `prior_state` / `values` (`root_module` and its
//! `child_modules`, recursively); data sources read at plan time come from `prior_state`.
//! Each azurerm resource becomes the ARM resource it creates (docs/plans.md has the table),
//! with errors located at the plan's own JSON path
//! (`resource_changes[3].change.after.security_rule[0].priority`).
//!
//! Ids: a resource's `id` when the plan knows it; otherwise one built from its type, name,
//! resource group and parents as ARM would, in the subscription the plan's known ids name
//! (or [`PLACEHOLDER_SUBSCRIPTION`]). An id-valued attribute the plan does not know
//! (`subnet_id` of a subnet being created) is followed through the `configuration`
//! section's references to the resource it names; one that leads nowhere is an error, not
//! a guess. Standalone `azurerm_network_security_rule`s join their NSG by
//! `network_security_group_name` + `resource_group_name`, and replace inline copies of the
//! same name (the NSG's computed `security_rule` list repeats them, as of the last refresh).
//!
//! Unknowns: a rule attribute that `after_unknown` marks is not guessed: the rule is read
//! with "anything" in that field and its unknown attributes listed under
//! `arm::UNKNOWN_KEY`; an NSG whose whole `security_rule` list is unknown gets one
//! rule that matches everything, named `unknown-security-rules`. Evaluation then says
//! `unknown` wherever such a rule may decide.

use super::arm::UNKNOWN_KEY;
use super::json::Origins;
use super::{Association, Translation};
use crate::error::{Error, Location, Result};
use crate::model::ResourceId;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// The subscription of ids the plan does not know, when no known id names one.
pub const PLACEHOLDER_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";

/// Which state of a plan to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanSide {
    /// The resources as they are before the plan is applied.
    Before,
    /// The resources as the plan leaves them (the default).
    #[default]
    After,
}

/// True for Terraform plan or state JSON.
pub fn is_plan(value: &Value) -> bool {
    value.get("format_version").is_some()
        && [
            "planned_values",
            "resource_changes",
            "prior_state",
            "values",
        ]
        .iter()
        .any(|k| value.get(k).is_some())
}

/// One Terraform resource instance, on the chosen side.
struct Resource<'a> {
    address: String,
    kind: &'a str,
    /// The attribute values (`null` for a resource that does not exist on this side).
    values: &'a Value,
    /// `after_unknown` (or `null`).
    unknown: &'a Value,
    /// JSON path of `values`.
    path: String,
    /// Module path plus `type.name`, without instance keys: the key into `configuration`.
    config_key: String,
    /// `module.a.` (without instance keys): where its references are resolved.
    module: String,
}

/// A plan being translated.
struct Plan<'a> {
    /// How deep [`Plan::id`] is following references (a cycle of references ends in an
    /// error, not a stack overflow).
    depth: std::cell::Cell<usize>,
    file: &'a Path,
    resources: Vec<Resource<'a>>,
    /// The type and `before` values of each resource the plan deletes, or replaces under
    /// another name or parent: the computed lists of their parents (an NSG's
    /// `security_rule`; a VNet's inline `subnet`, for a subnet association) still repeat
    /// them as of the last refresh. Each with the path of its `before`.
    deleted: Vec<Deleted<'a>>,
    /// Configuration expressions by config key.
    config: HashMap<String, &'a Value>,
    subscription: String,
}

/// A resource the plan deletes: its type, its `before` values and their path.
type Deleted<'a> = (&'a str, &'a Value, String);

/// An association type's `(target field, linked field, ARM property it sets)`.
fn association_fields(kind: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match kind {
        "azurerm_subnet_network_security_group_association" => Some((
            "subnet_id",
            "network_security_group_id",
            "networkSecurityGroup",
        )),
        "azurerm_network_interface_security_group_association" => Some((
            "network_interface_id",
            "network_security_group_id",
            "networkSecurityGroup",
        )),
        "azurerm_network_interface_application_security_group_association" => Some((
            "network_interface_id",
            "application_security_group_id",
            "applicationSecurityGroups",
        )),
        _ => None,
    }
}

/// Translates a plan (or state) into ARM resources.
pub fn translate(value: &Value, file: &Path, side: PlanSide) -> Result<Translation> {
    let mut resources = Vec::new();
    let (mut removed, mut deleted) = (Vec::new(), Vec::new());
    collect(
        value,
        side,
        &mut resources,
        (&mut removed, &mut deleted),
        file,
    )?;
    let mut config = HashMap::new();
    if let Some(root) = value.pointer("/configuration/root_module") {
        config_module(root, "", &mut config);
    }
    let plan = Plan {
        depth: std::cell::Cell::new(0),
        file,
        subscription: subscription(value),
        resources,
        deleted,
        config,
    };
    let mut out = Emitter::default();
    let mut ignored: BTreeMap<String, usize> = BTreeMap::new();
    plan.emit(&mut out, &mut ignored)?;
    out.warnings.extend(super::ignored_types(file, &ignored));
    Ok(Translation {
        resources: out.resources,
        origins: out.origins,
        removed: removed.into_iter().map(|id| ResourceId::new(&id)).collect(),
        warnings: out.warnings,
        associations: out.associations,
    })
}

/// The resource instances of the chosen side, and the ids the plan deletes.
fn collect<'a>(
    root: &'a Value,
    side: PlanSide,
    out: &mut Vec<Resource<'a>>,
    (removed, deleted): (&mut Vec<String>, &mut Vec<Deleted<'a>>),
    file: &Path,
) -> Result<()> {
    let in_changes: HashSet<&str> = match root.get("resource_changes") {
        Some(changes) => {
            let list = changes.as_array().ok_or_else(|| {
                located(
                    file,
                    "resource_changes",
                    "expected an array of resource changes",
                )
            })?;
            let mut seen = HashSet::new();
            for (i, rc) in list.iter().enumerate() {
                let path = format!("resource_changes[{i}]");
                let address = str_of(rc, "address").unwrap_or_default();
                seen.insert(address);
                let Some(change) = rc.get("change") else {
                    return Err(located(file, &path, "missing required field `change`"));
                };
                let (key, unknown) = match side {
                    PlanSide::Before => ("before", &Value::Null),
                    PlanSide::After => {
                        ("after", change.get("after_unknown").unwrap_or(&Value::Null))
                    }
                };
                let values = change.get(key).unwrap_or(&Value::Null);
                // Deleted, or replaced under another name or parent (which forces a
                // replacement): the old one is gone, though its parent's computed list may
                // still name it.
                if let (PlanSide::After, Some(kind), Some(before)) =
                    (side, str_of(rc, "type"), change.get("before"))
                {
                    let moved = [
                        "name",
                        "network_security_group_name",
                        "resource_group_name",
                        "subnet_id",
                    ]
                    .iter()
                    .any(|k| before.get(k) != values.get(k));
                    if before.is_object() && (values.is_null() || moved) {
                        deleted.push((kind, before, format!("{path}.change.before")));
                    }
                }
                if values.is_null() {
                    // An association's id is its subnet's (or its NIC's): deleting it
                    // detaches an NSG or ASG (`Plan::detachments`), removing nothing.
                    let association =
                        str_of(rc, "type").is_some_and(|t| association_fields(t).is_some());
                    if side == PlanSide::After && !association {
                        if let Some(id) = change.pointer("/before/id").and_then(Value::as_str) {
                            removed.push(id.to_string());
                        }
                    }
                    continue;
                }
                out.push(resource(
                    rc,
                    values,
                    unknown,
                    format!("{path}.change.{key}"),
                ));
            }
            seen
        }
        None => HashSet::new(),
    };
    let modules: &[(&str, bool)] = match (in_changes.is_empty(), side) {
        (false, _) => &[("prior_state.values.root_module", true)],
        (true, PlanSide::After) => &[
            ("planned_values.root_module", false),
            ("values.root_module", false),
            ("prior_state.values.root_module", true),
        ],
        (true, PlanSide::Before) => &[
            ("prior_state.values.root_module", false),
            ("values.root_module", false),
        ],
    };
    for (dotted, data_only) in modules {
        let pointer = format!("/{}", dotted.replace('.', "/"));
        if let Some(module) = root.pointer(&pointer) {
            let before = out.len();
            state_module(module, dotted, *data_only, &in_changes, out);
            if out.len() > before && !data_only {
                break;
            }
        }
    }
    Ok(())
}

fn resource<'a>(
    item: &'a Value,
    values: &'a Value,
    unknown: &'a Value,
    path: String,
) -> Resource<'a> {
    let address = str_of(item, "address").unwrap_or_default().to_string();
    let kind = str_of(item, "type").unwrap_or_default();
    let data = str_of(item, "mode") == Some("data");
    let module = module_prefix(&address);
    let config_key = format!(
        "{module}{}{kind}.{}",
        if data { "data." } else { "" },
        str_of(item, "name").unwrap_or_default()
    );
    Resource {
        address,
        kind,
        values,
        unknown,
        path,
        config_key,
        module,
    }
}

/// `module.a["x"].module.b[0].azurerm_x.y[1]` → `module.a.module.b.`.
fn module_prefix(address: &str) -> String {
    let mut out = String::new();
    let mut parts = address.split('.').peekable();
    while let Some(part) = parts.next() {
        if part == "module" {
            if let Some(name) = parts.next() {
                let name = name.split('[').next().unwrap_or(name);
                out.push_str(&format!("module.{name}."));
            }
        } else {
            break;
        }
    }
    out
}

/// Resources of a state module (`values.root_module`) and its children.
fn state_module<'a>(
    module: &'a Value,
    path: &str,
    data_only: bool,
    skip: &HashSet<&str>,
    out: &mut Vec<Resource<'a>>,
) {
    for (i, r) in array_of(module, "resources").iter().enumerate() {
        let address = str_of(r, "address").unwrap_or_default();
        let is_data = str_of(r, "mode") == Some("data");
        if skip.contains(address) || (data_only && !is_data) {
            continue;
        }
        let values = r.get("values").unwrap_or(&Value::Null);
        out.push(resource(
            r,
            values,
            &Value::Null,
            format!("{path}.resources[{i}].values"),
        ));
    }
    for (i, child) in array_of(module, "child_modules").iter().enumerate() {
        state_module(
            child,
            &format!("{path}.child_modules[{i}]"),
            data_only,
            skip,
            out,
        );
    }
}

/// Configuration expressions of a module and its module calls, by config key.
fn config_module<'a>(module: &'a Value, prefix: &str, out: &mut HashMap<String, &'a Value>) {
    for r in array_of(module, "resources") {
        if let (Some(address), Some(expressions)) = (str_of(r, "address"), r.get("expressions")) {
            out.insert(format!("{prefix}{address}"), expressions);
        }
    }
    if let Some(calls) = module.get("module_calls").and_then(Value::as_object) {
        for (name, call) in calls {
            if let Some(child) = call.get("module") {
                config_module(child, &format!("{prefix}module.{name}."), out);
            }
        }
    }
}

/// The subscription of the first known `/subscriptions/{id}` in the plan.
fn subscription(value: &Value) -> String {
    fn find(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => {
                let rest = s.strip_prefix("/subscriptions/")?;
                let sub = rest.split('/').next()?;
                (!sub.is_empty()).then(|| sub.to_string())
            }
            Value::Array(items) => items.iter().find_map(find),
            Value::Object(map) => map.values().find_map(find),
            _ => None,
        }
    }
    [
        "resource_changes",
        "prior_state",
        "planned_values",
        "values",
    ]
    .iter()
    .find_map(|k| value.get(k).and_then(find))
    .unwrap_or_else(|| PLACEHOLDER_SUBSCRIPTION.to_string())
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn array_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn located(file: &Path, path: &str, message: impl Into<String>) -> Error {
    Error::invalid(
        Location {
            file: file.to_path_buf(),
            path: path.to_string(),
        },
        message,
    )
}

/// True when `after_unknown` marks anything at or under `path`.
fn unknown_at(unknown: &Value, path: &[Step]) -> bool {
    let mut at = unknown;
    for step in path {
        let next = match (step, at) {
            (_, Value::Bool(b)) => return *b,
            (Step::Key(k), Value::Object(m)) => m.get(*k),
            (Step::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    any_true(at)
}

fn any_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Array(items) => items.iter().any(any_true),
        Value::Object(map) => map.values().any(any_true),
        _ => false,
    }
}

/// One step of an attribute path.
type Step<'s> = super::json::Step<&'s str>;

fn step_text(path: &[Step]) -> String {
    super::json::path_text(path)
}

fn value_at<'v>(v: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter()
        .try_fold(v, |at, step| match step {
            Step::Key(k) => at.get(*k),
            Step::Index(i) => at.get(*i),
        })
        .filter(|v| !v.is_null())
}

/// Translated resources and where their parts came from.
#[derive(Default)]
struct Emitter {
    resources: Vec<Value>,
    origins: Origins,
    warnings: Vec<String>,
    /// Associations to subnets and NICs outside the plan.
    associations: Vec<Association>,
}

impl Emitter {
    /// Where the resource with id `id` is among those emitted, if it is.
    fn emitted(&self, id: &ResourceId) -> Option<usize> {
        self.resources.iter().position(|r| {
            r.get("id")
                .and_then(Value::as_str)
                .map(ResourceId::new)
                .as_ref()
                == Some(id)
        })
    }

    /// Adds a resource; `origins` are (path inside the resource, original path) pairs.
    fn push(&mut self, value: Value, origins: Vec<(String, String)>) {
        let at = format!("[{}]", self.resources.len());
        for (inner, original) in origins {
            self.origins.add(join(&at, &inner), original);
        }
        self.resources.push(value);
    }
}

/// The NSG rule fields: (ARM name, Terraform name).
const NSG_RULE_FIELDS: [(&str, &str); 12] = [
    ("protocol", "protocol"),
    ("access", "access"),
    ("direction", "direction"),
    ("priority", "priority"),
    ("sourcePortRange", "source_port_range"),
    ("sourcePortRanges", "source_port_ranges"),
    ("destinationPortRange", "destination_port_range"),
    ("destinationPortRanges", "destination_port_ranges"),
    ("sourceAddressPrefix", "source_address_prefix"),
    ("sourceAddressPrefixes", "source_address_prefixes"),
    ("destinationAddressPrefix", "destination_address_prefix"),
    ("destinationAddressPrefixes", "destination_address_prefixes"),
];

/// A rule being translated: its values, unknowns and paths.
struct RuleSource<'v> {
    values: &'v Value,
    unknown: &'v Value,
    /// Path of `values` in the file.
    path: String,
    /// Attribute path of the rule inside its resource (for configuration references).
    steps: Vec<Step<'static>>,
    /// Name to use when the plan does not know the rule's.
    fallback_name: String,
}

impl<'a> Plan<'a> {
    /// Emits every resource, parents before children: a plan replaces live resources by
    /// id with their children, so a child read before its parent would be replaced too.
    fn emit(&self, out: &mut Emitter, ignored: &mut BTreeMap<String, usize>) -> Result<()> {
        let standalone = self.standalone_rules()?;
        let mut joined = HashSet::new();
        let mut order: Vec<usize> = (0..self.resources.len()).collect();
        order.sort_by_key(|&i| depth(self.res(i).kind));
        for i in order {
            let r = self.res(i);
            match r.kind {
                "azurerm_resource_group" => self.resource_group(i, out)?,
                "azurerm_virtual_network" => self.vnet(i, out)?,
                "azurerm_subnet" => self.subnet(i, out)?,
                "azurerm_virtual_network_peering" => self.peering(i, out)?,
                "azurerm_network_interface" => self.nic(i, out)?,
                "azurerm_public_ip" => self.public_ip(i, out)?,
                "azurerm_application_security_group" => {
                    let id = self.id(i)?;
                    out.push(
                        json!({"id": id, "type": "Microsoft.Network/applicationSecurityGroups"}),
                        vec![(String::new(), r.path.clone())],
                    );
                }
                "azurerm_network_security_group" => {
                    let mine = standalone.get(&self.nsg_key_of_nsg(i)?);
                    if let Some(list) = mine {
                        joined.extend(list.iter().copied());
                    }
                    self.nsg(i, mine.map_or(&[][..], Vec::as_slice), out)?;
                }
                "azurerm_network_security_rule" => {}
                "azurerm_subnet_network_security_group_association"
                | "azurerm_network_interface_security_group_association"
                | "azurerm_network_interface_application_security_group_association" => {}
                "azurerm_network_manager" => self.manager(i, out)?,
                "azurerm_network_manager_network_group" => self.network_group(i, out)?,
                "azurerm_network_manager_static_member" => self.static_member(i, out)?,
                "azurerm_network_manager_security_admin_configuration" => {
                    self.admin_config(i, out)?
                }
                "azurerm_network_manager_admin_rule_collection" => self.collection(i, out)?,
                "azurerm_network_manager_admin_rule" => self.admin_rule(i, out)?,
                "azurerm_network_manager_scope_connection" => self.scope_connection(i, out)?,
                "azurerm_network_manager_subscription_connection"
                | "azurerm_network_manager_management_group_connection" => {
                    self.manager_connection(i, out)?
                }
                "azurerm_network_manager_deployment" => self.deployment(i, out)?,
                "azurerm_network_manager_connectivity_configuration" => {
                    self.connectivity(i, out)?
                }
                other => *ignored.entry(other.to_string()).or_default() += 1,
            }
        }
        for list in standalone.values() {
            for &i in list.iter().filter(|i| !joined.contains(*i)) {
                self.flat_nsg_rule(i, out)?;
            }
        }
        self.associations(out)
    }

    fn res(&self, i: usize) -> &Resource<'a> {
        &self.resources[i]
    }

    fn error(&self, i: usize, path: &[Step], message: impl Into<String>) -> Error {
        let r = self.res(i);
        let at = step_text(path);
        let full = if at.is_empty() {
            r.path.clone()
        } else {
            format!("{}.{at}", r.path)
        };
        located(self.file, &full, message)
    }

    fn known(&self, i: usize, path: &[Step]) -> Option<&'a Value> {
        let r = self.res(i);
        if unknown_at(r.unknown, path) {
            return None;
        }
        value_at(r.values, path)
    }

    fn is_unknown(&self, i: usize, path: &[Step]) -> bool {
        unknown_at(self.res(i).unknown, path)
    }

    /// A string attribute; `None` when absent; an error when unknown and `required`.
    fn text(&self, i: usize, key: &str) -> Option<&'a str> {
        self.known(i, &[Step::Key(key)]).and_then(Value::as_str)
    }

    /// A string attribute the translation cannot do without.
    fn required(&self, i: usize, key: &str) -> Result<&'a str> {
        self.text(i, key).ok_or_else(|| {
            let what = if self.is_unknown(i, &[Step::Key(key)]) {
                "is unknown at plan time"
            } else {
                "is missing"
            };
            self.error(
                i,
                &[Step::Key(key)],
                format!(
                    "`{key}` {what}: secpath needs it to place `{}`",
                    self.res(i).address
                ),
            )
        })
    }

    /// The resource's name (its address when the plan does not know it).
    fn name(&self, i: usize) -> String {
        self.text(i, "name")
            .map_or_else(|| self.res(i).address.clone(), str::to_string)
    }

    /// The resource group's ARM id prefix.
    fn group_prefix(&self, i: usize) -> Result<String> {
        let rg = self.required(i, "resource_group_name")?;
        Ok(format!(
            "/subscriptions/{}/resourceGroups/{rg}",
            self.subscription
        ))
    }

    /// The ARM id of resource `i`: its `id`, or built the way ARM builds it.
    fn id(&self, i: usize) -> Result<String> {
        if let Some(id) = self.text(i, "id") {
            return Ok(id.to_string());
        }
        if self.depth.get() > 16 {
            return Err(self.error(i, &[], "the configuration's references go round in a cycle"));
        }
        self.depth.set(self.depth.get() + 1);
        let id = self.built_id(i);
        self.depth.set(self.depth.get() - 1);
        id
    }

    fn built_id(&self, i: usize) -> Result<String> {
        let name = self.name(i);
        let network = |i: usize, kind: &str| -> Result<String> {
            Ok(format!(
                "{}/providers/Microsoft.Network/{kind}/{name}",
                self.group_prefix(i)?
            ))
        };
        let child = |parent_attr: &str, segment: &str| -> Result<String> {
            let parent = self
                .reference(i, &[Step::Key(parent_attr)])?
                .ok_or_else(|| {
                    self.error(
                        i,
                        &[Step::Key(parent_attr)],
                        format!("missing required field `{parent_attr}`"),
                    )
                })?;
            Ok(format!("{parent}/{segment}/{name}"))
        };
        match self.res(i).kind {
            "azurerm_resource_group" => Ok(format!(
                "/subscriptions/{}/resourceGroups/{name}",
                self.subscription
            )),
            "azurerm_virtual_network" => network(i, "virtualNetworks"),
            "azurerm_subnet" => Ok(format!(
                "{}/providers/Microsoft.Network/virtualNetworks/{}/subnets/{name}",
                self.group_prefix(i)?,
                self.name_ref(i, "virtual_network_name")?
            )),
            "azurerm_virtual_network_peering" => Ok(format!(
                "{}/providers/Microsoft.Network/virtualNetworks/{}/virtualNetworkPeerings/{name}",
                self.group_prefix(i)?,
                self.name_ref(i, "virtual_network_name")?
            )),
            "azurerm_network_interface" => network(i, "networkInterfaces"),
            "azurerm_public_ip" => network(i, "publicIPAddresses"),
            "azurerm_application_security_group" => network(i, "applicationSecurityGroups"),
            "azurerm_network_security_group" => network(i, "networkSecurityGroups"),
            "azurerm_network_manager" => network(i, "networkManagers"),
            "azurerm_network_manager_network_group" => child("network_manager_id", "networkGroups"),
            "azurerm_network_manager_security_admin_configuration" => {
                child("network_manager_id", "securityAdminConfigurations")
            }
            "azurerm_network_manager_admin_rule_collection" => {
                child("security_admin_configuration_id", "ruleCollections")
            }
            "azurerm_network_manager_connectivity_configuration" => {
                child("network_manager_id", "connectivityConfigurations")
            }
            "azurerm_network_manager_scope_connection" => {
                child("network_manager_id", "scopeConnections")
            }
            _ => Err(self.error(
                i,
                &[Step::Key("id")],
                "the plan does not know this resource's `id`, and secpath cannot build it",
            )),
        }
    }

    /// A name-valued attribute (`virtual_network_name`): its value, or the name of the
    /// resource the configuration references.
    fn name_ref(&self, i: usize, key: &str) -> Result<String> {
        if let Some(name) = self.text(i, key) {
            return Ok(name.to_string());
        }
        match self.target(i, &[Step::Key(key)]) {
            Some(j) => Ok(self.name(j)),
            None => Err(self.unresolved(i, &[Step::Key(key)])),
        }
    }

    fn unresolved(&self, i: usize, path: &[Step]) -> Error {
        self.error(
            i,
            path,
            format!(
                "`{}` of `{}` is unknown at plan time and its configuration references no resource of this plan: secpath does not guess it",
                step_text(path),
                self.res(i).address
            ),
        )
    }

    /// An id-valued attribute: its value, or the id of the resource the configuration
    /// references; `None` when absent (and not unknown).
    fn reference(&self, i: usize, path: &[Step]) -> Result<Option<String>> {
        if let Some(v) = self.known(i, path) {
            // azurerm writes an optional id that is not set as "".
            return v
                .as_str()
                .map(|s| (!s.trim().is_empty()).then(|| s.to_string()))
                .ok_or_else(|| self.error(i, path, "expected a resource id string"));
        }
        if !self.is_unknown(i, path) {
            return Ok(None);
        }
        match self.target(i, path) {
            Some(j) => self.id(j).map(Some),
            None => Err(self.unresolved(i, path)),
        }
    }

    /// Every id an id-list attribute names (`network_group_ids`), following references
    /// when the plan does not know the list.
    fn references(&self, i: usize, key: &str) -> Result<Vec<String>> {
        self.references_at(i, &[Step::Key(key)])
    }

    /// [`references`](Self::references) of the id-list attribute at `path`.
    fn references_at(&self, i: usize, path: &[Step]) -> Result<Vec<String>> {
        if let Some(list) = self.known(i, path) {
            return list
                .as_array()
                .ok_or_else(|| self.error(i, path, "expected a list of ids"))?
                .iter()
                .enumerate()
                .map(|(n, v)| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        let at: Vec<Step> = path.iter().copied().chain([Step::Index(n)]).collect();
                        self.error(i, &at, "expected a resource id string")
                    })
                })
                .collect();
        }
        if !self.is_unknown(i, path) {
            return Ok(Vec::new());
        }
        let targets = self.targets(i, path);
        if targets.is_empty() {
            return Err(self.unresolved(i, path));
        }
        targets.into_iter().map(|j| self.id(j)).collect()
    }

    /// The one resource of this plan the configuration's expression at `path` references.
    fn target(&self, i: usize, path: &[Step]) -> Option<usize> {
        let found = self.targets(i, path);
        (found.len() == 1).then(|| found[0])
    }

    /// Every resource of this plan the expression at `path` references.
    fn targets(&self, i: usize, path: &[Step]) -> Vec<usize> {
        let r = self.res(i);
        let Some(expr) = self
            .config
            .get(&r.config_key)
            .and_then(|e| value_at(e, path))
        else {
            return Vec::new();
        };
        let references: Vec<&str> = array_of(expr, "references")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        // `x[each.key].id` is written `["x", "each.key"]`: this instance's own key, when
        // nothing but resources is referenced besides (`x[local.map[each.key]]` also lists
        // `local.map`, and stays ambiguous).
        let own = |x: &str| matches!(x, "each.key" | "count.index");
        let own_key = references.iter().any(|x| own(x))
            && references
                .iter()
                .all(|x| own(x) || reference_key(x).is_some());
        let (module_instance, own_index) = instance_parts(&r.address, r.kind);
        let keyed: Vec<(String, Option<&str>)> =
            references.iter().filter_map(|x| reference_key(x)).collect();
        let mut out: Vec<usize> = Vec::new();
        for (key, index) in &keyed {
            // Terraform lists `x["a"].id`, `x["a"]` and the bare `x`: the bare one names
            // every instance, so it counts only where no instance is named.
            let named = keyed.iter().any(|(k, ix)| k == key && ix.is_some());
            if index.is_none() && named {
                continue;
            }
            let index = index.or(own_key.then_some(own_index).flatten());
            let key = format!("{}{key}", r.module);
            let matches = (0..self.resources.len()).filter(|&j| {
                let other = &self.resources[j];
                other.config_key == key
                    && other.address.starts_with(module_instance)
                    && index.is_none_or(|ix| other.address.ends_with(ix))
            });
            for j in matches {
                if !out.contains(&j) {
                    out.push(j);
                }
            }
        }
        out
    }

    /// NSG key of a standalone rule or an NSG: (resource group, NSG name), lower case.
    fn nsg_key_of_nsg(&self, i: usize) -> Result<(String, String)> {
        Ok((
            self.required(i, "resource_group_name")?
                .to_ascii_lowercase(),
            self.name(i).to_ascii_lowercase(),
        ))
    }

    /// Standalone NSG rules by the NSG they join.
    fn standalone_rules(&self) -> Result<HashMap<(String, String), Vec<usize>>> {
        let mut out: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for i in (0..self.resources.len())
            .filter(|&i| self.res(i).kind == "azurerm_network_security_rule")
        {
            let key = (
                self.required(i, "resource_group_name")?
                    .to_ascii_lowercase(),
                self.name_ref(i, "network_security_group_name")?
                    .to_ascii_lowercase(),
            );
            out.entry(key).or_default().push(i);
        }
        Ok(out)
    }

    fn resource_group(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let r = self.res(i);
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Resources/resourceGroups",
                "name": self.name(i),
                "tags": self.known(i, &[Step::Key("tags")]).cloned().unwrap_or(Value::Null),
            }),
            vec![(String::new(), r.path.clone())],
        );
        Ok(())
    }

    fn vnet(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let r = self.res(i);
        let id = self.id(i)?;
        let mut subnets = Vec::new();
        let mut origins = vec![
            (String::new(), r.path.clone()),
            (
                "properties.addressSpace.addressPrefixes".to_string(),
                format!("{}.address_space", r.path),
            ),
        ];
        if self.inline_subnets_unknown(i) {
            out.warnings.push(format!(
                "{}: {}: the inline `subnet` list is unknown at plan time (the list, or a subnet's name, prefixes or NSG); subnets come from azurerm_subnet resources only",
                self.file.display(),
                r.path
            ));
        } else {
            let standalone = self.standalone_subnets(i);
            let dissociated: HashSet<String> = self
                .deleted_field(
                    "azurerm_subnet_network_security_group_association",
                    "subnet_id",
                    |_| true,
                )
                .into_iter()
                .collect();
            for (n, s) in array_of(r.values, "subnet").iter().enumerate() {
                let name = str_of(s, "name").unwrap_or_default();
                if standalone.contains(&name.to_ascii_lowercase()) {
                    continue;
                }
                let prefixes = match s.get("address_prefixes") {
                    Some(Value::Array(list)) => Value::Array(list.clone()),
                    _ => json!(s.get("address_prefix").into_iter().collect::<Vec<_>>()),
                };
                let subnet_id = format!("{id}/subnets/{name}").to_ascii_lowercase();
                let nsg = str_of(s, "security_group")
                    .filter(|x| !x.is_empty())
                    .filter(|_| !dissociated.contains(&subnet_id));
                subnets.push(json!({
                    "name": str_of(s, "name").unwrap_or_default(),
                    "properties": {
                        "addressPrefixes": prefixes,
                        "networkSecurityGroup": nsg.map(|x| json!({"id": x})),
                    }
                }));
                let base = format!("{}.subnet[{n}]", r.path);
                origins.push((format!("properties.subnets[{n}]"), base.clone()));
                origins.push((
                    format!("properties.subnets[{n}].properties.addressPrefixes"),
                    format!("{base}.address_prefixes"),
                ));
            }
        }
        out.push(
            json!({
                "id": id,
                "type": "Microsoft.Network/virtualNetworks",
                "name": self.name(i),
                "location": self.text(i, "location").unwrap_or_default(),
                "tags": self.known(i, &[Step::Key("tags")]).cloned().unwrap_or(Value::Null),
                "properties": {
                    "addressSpace": {"addressPrefixes": self.list(i, "address_space")?},
                    "subnets": subnets,
                }
            }),
            origins,
        );
        Ok(())
    }

    /// True when VNet `i`'s inline `subnet` list, or what secpath reads of one of its
    /// subnets, is unknown at plan time. A subnet whose other attributes are unknown, such
    /// as the `id` of one being created, is read: its id is the VNet's and its name.
    fn inline_subnets_unknown(&self, i: usize) -> bool {
        let unknown = self.res(i).unknown;
        if matches!(unknown.get("subnet"), Some(Value::Bool(true))) {
            return true;
        }
        let read = [
            "name",
            "address_prefix",
            "address_prefixes",
            "security_group",
        ];
        (0..array_of(self.res(i).values, "subnet").len()).any(|n| {
            read.iter().any(|&key| {
                let path = [Step::Key("subnet"), Step::Index(n), Step::Key(key)];
                unknown_at(unknown, &path)
            })
        })
    }

    /// The attribute `field`, lower case, of the deleted resources of `kind` that `wanted`
    /// says.
    fn deleted_field(
        &self,
        kind: &str,
        field: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Vec<String> {
        self.deleted
            .iter()
            .filter(|(k, before, _)| *k == kind && wanted(before))
            .filter_map(|(_, before, _)| str_of(before, field))
            .map(str::to_ascii_lowercase)
            .collect()
    }

    /// Names of the `azurerm_subnet`s of this plan in VNet `i`: they win over the VNet's
    /// inline `subnet` list, which repeats them as of the last refresh.
    fn standalone_subnets(&self, i: usize) -> HashSet<String> {
        let (rg, vnet) = (self.text(i, "resource_group_name"), self.name(i));
        (0..self.resources.len())
            .filter(|&j| self.res(j).kind == "azurerm_subnet")
            .filter(|&j| {
                self.text(j, "resource_group_name")
                    .is_some_and(|g| rg.is_some_and(|r| r.eq_ignore_ascii_case(g)))
                    && self
                        .name_ref(j, "virtual_network_name")
                        .is_ok_and(|v| v.eq_ignore_ascii_case(&vnet))
            })
            .map(|j| self.name(j).to_ascii_lowercase())
            .collect()
    }

    /// A list attribute the translation needs known.
    fn list(&self, i: usize, key: &str) -> Result<Value> {
        if self.is_unknown(i, &[Step::Key(key)]) {
            return Err(self.error(
                i,
                &[Step::Key(key)],
                format!(
                    "`{key}` is unknown at plan time: secpath cannot place `{}` without it",
                    self.res(i).address
                ),
            ));
        }
        Ok(self
            .known(i, &[Step::Key(key)])
            .cloned()
            .unwrap_or_else(|| json!([])))
    }

    fn subnet(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let r = self.res(i);
        let mut prefixes = self.list(i, "address_prefixes")?;
        if prefixes.as_array().is_some_and(Vec::is_empty) {
            if let Some(one) = self.text(i, "address_prefix") {
                prefixes = json!([one]);
            }
        }
        let delegations: Vec<Value> = array_of(r.values, "delegation")
            .iter()
            .flat_map(|d| array_of(d, "service_delegation"))
            .filter_map(|s| str_of(s, "name"))
            .map(|name| json!({"properties": {"serviceName": name}}))
            .collect();
        let mut properties = json!({"addressPrefixes": prefixes, "delegations": delegations});
        if let Some(nsg) = self.legacy_nsg(i)? {
            properties["networkSecurityGroup"] = nsg;
        }
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "name": self.name(i),
                "properties": properties
            }),
            vec![
                (String::new(), r.path.clone()),
                (
                    "properties.addressPrefixes".to_string(),
                    format!("{}.address_prefixes", r.path),
                ),
            ],
        );
        Ok(())
    }

    fn peering(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let remote = self.reference(i, &[Step::Key("remote_virtual_network_id")])?;
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
                "properties": {
                    "remoteVirtualNetwork": {"id": remote},
                    // Terraform creates peerings Connected once both sides exist.
                    "peeringState": "Connected",
                }
            }),
            vec![(String::new(), self.res(i).path.clone())],
        );
        Ok(())
    }

    fn public_ip(&self, i: usize, out: &mut Emitter) -> Result<()> {
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/publicIPAddresses",
                "sku": {"name": self.text(i, "sku").unwrap_or("Standard")},
            }),
            vec![(String::new(), self.res(i).path.clone())],
        );
        Ok(())
    }

    fn nic(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let r = self.res(i);
        let mut configs = Vec::new();
        let mut origins = vec![(String::new(), r.path.clone())];
        for (n, c) in array_of(r.values, "ip_configuration").iter().enumerate() {
            let at = |key: &'static str| {
                [
                    Step::Key("ip_configuration"),
                    Step::Index(n),
                    Step::Key(key),
                ]
            };
            let base = format!("{}.ip_configuration[{n}]", r.path);
            origins.push((format!("properties.ipConfigurations[{n}]"), base.clone()));
            origins.push((
                format!("properties.ipConfigurations[{n}].properties.privateIPAddress"),
                format!("{base}.private_ip_address"),
            ));
            origins.push((
                format!("properties.ipConfigurations[{n}].properties.subnet"),
                format!("{base}.subnet_id"),
            ));
            let address = self
                .known(i, &at("private_ip_address"))
                .and_then(Value::as_str);
            if address.is_none() {
                out.warnings.push(format!(
                    "{}: {base}: `private_ip_address` is unknown at plan time (dynamic allocation): this IP configuration cannot be placed and was ignored",
                    self.file.display()
                ));
                continue;
            }
            configs.push(json!({
                "name": str_of(c, "name").unwrap_or_default(),
                "properties": {
                    "privateIPAddress": address,
                    "subnet": {"id": self.reference(i, &at("subnet_id"))?},
                    "publicIPAddress": self.reference(i, &at("public_ip_address_id"))?.map(|id| json!({"id": id})),
                    "applicationSecurityGroups": self.legacy_asgs(i, &at("application_security_group_ids"))?,
                }
            }));
        }
        let mut properties = json!({"ipConfigurations": configs});
        if let Some(nsg) = self.legacy_nsg(i)? {
            properties["networkSecurityGroup"] = nsg;
        }
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/networkInterfaces",
                "name": self.name(i),
                "properties": properties
            }),
            origins,
        );
        Ok(())
    }

    /// azurerm 1.x attached an NSG to a subnet or NIC by its own `network_security_group_id`
    /// (2.x has association resources, applied after this): the NSG, where one is named.
    fn legacy_nsg(&self, i: usize) -> Result<Option<Value>> {
        let id = self.reference(i, &[Step::Key("network_security_group_id")])?;
        Ok(id.filter(|id| !id.is_empty()).map(|id| json!({"id": id})))
    }

    /// azurerm 1.x put a NIC in ASGs by its IP configuration's
    /// `application_security_group_ids` (2.x has association resources), followed through
    /// the configuration where the plan does not know them.
    fn legacy_asgs(&self, i: usize, path: &[Step]) -> Result<Vec<Value>> {
        let ids = self.references_at(i, path)?;
        Ok(ids
            .into_iter()
            .filter(|id| !id.is_empty())
            .map(|id| json!({"id": id}))
            .collect())
    }

    /// Applies each association resource to its subnet or NIC when this plan has it (so
    /// the translation carries it, for `convert` too); otherwise hands it on as an
    /// [`Association`], applied to another input's subnet or NIC once all are read.
    fn associations(&self, out: &mut Emitter) -> Result<()> {
        for i in 0..self.resources.len() {
            let Some((target_key, member, value_key)) = association_fields(self.res(i).kind) else {
                continue;
            };
            let target = self
                .reference(i, &[Step::Key(target_key)])?
                .ok_or_else(|| {
                    self.error(
                        i,
                        &[Step::Key(target_key)],
                        format!("missing required field `{target_key}`"),
                    )
                })?;
            let linked = self.reference(i, &[Step::Key(member)])?.ok_or_else(|| {
                self.error(
                    i,
                    &[Step::Key(member)],
                    format!("missing required field `{member}`"),
                )
            })?;
            let key = ResourceId::new(&target);
            match out.emitted(&key) {
                Some(at) => associate(&mut out.resources[at], value_key, &linked),
                None => out.associations.push(Association {
                    target: key,
                    linked: ResourceId::new(&linked),
                    asg: value_key == "applicationSecurityGroups",
                    location: Location {
                        file: self.file.to_path_buf(),
                        path: format!("{}.{target_key}", self.res(i).path),
                    },
                    detach: false,
                }),
            }
        }
        self.detachments(out);
        Ok(())
    }

    /// Hands on each association the plan deletes whose subnet or NIC another input
    /// defines, to be taken off there (one in this plan was translated without it).
    fn detachments(&self, out: &mut Emitter) {
        for (kind, before, path) in &self.deleted {
            let Some((target_key, member, value_key)) = association_fields(kind) else {
                continue;
            };
            let (Some(target), Some(linked)) = (str_of(before, target_key), str_of(before, member))
            else {
                continue;
            };
            let target = ResourceId::new(target);
            if out.emitted(&target).is_none() {
                out.associations.push(Association {
                    target,
                    linked: ResourceId::new(linked),
                    asg: value_key == "applicationSecurityGroups",
                    location: Location {
                        file: self.file.to_path_buf(),
                        path: format!("{path}.{target_key}"),
                    },
                    detach: true,
                });
            }
        }
    }

    fn nsg(&self, i: usize, standalone: &[usize], out: &mut Emitter) -> Result<()> {
        let r = self.res(i);
        let id = self.id(i)?;
        let mut rules = Vec::new();
        let mut origins = vec![(String::new(), r.path.clone())];
        let mut add = |(rule, mine): (Value, Vec<(String, String)>)| {
            let at = format!("properties.securityRules[{}]", rules.len());
            origins.extend(mine.into_iter().map(|(t, o)| (join(&at, &t), o)));
            rules.push(rule);
        };
        let nsg_key = self.nsg_key_of_nsg(i)?;
        let standalone_names: HashSet<String> = standalone
            .iter()
            .map(|&j| self.name(j).to_ascii_lowercase())
            .chain(
                self.deleted_field("azurerm_network_security_rule", "name", |before| {
                    let lower = |f| str_of(before, f).unwrap_or_default().to_ascii_lowercase();
                    (
                        lower("resource_group_name"),
                        lower("network_security_group_name"),
                    ) == nsg_key
                }),
            )
            .collect();
        if value_at(r.unknown, &[Step::Key("security_rule")]) == Some(&Value::Bool(true)) {
            add((
                everything_unknown(),
                vec![(String::new(), format!("{}.security_rule", r.path))],
            ));
        } else {
            for (n, rule) in array_of(r.values, "security_rule").iter().enumerate() {
                let name = str_of(rule, "name").unwrap_or_default();
                if standalone_names.contains(&name.to_ascii_lowercase()) {
                    continue;
                }
                let source = RuleSource {
                    values: rule,
                    unknown: value_at(r.unknown, &[Step::Key("security_rule"), Step::Index(n)])
                        .unwrap_or(&Value::Null),
                    path: format!("{}.security_rule[{n}]", r.path),
                    steps: vec![Step::Key("security_rule"), Step::Index(n)],
                    fallback_name: format!("security_rule[{n}]"),
                };
                add(self.nsg_rule(i, &source)?);
            }
        }
        for &j in standalone {
            add(self.nsg_rule(j, &self.standalone_source(j))?);
        }
        out.push(
            json!({
                "id": id,
                "type": "Microsoft.Network/networkSecurityGroups",
                "name": self.name(i),
                "properties": {"securityRules": rules}
            }),
            origins,
        );
        Ok(())
    }

    fn standalone_source(&self, j: usize) -> RuleSource<'a> {
        let r = self.res(j);
        RuleSource {
            values: r.values,
            unknown: r.unknown,
            path: r.path.clone(),
            steps: Vec::new(),
            fallback_name: r.address.clone(),
        }
    }

    /// A standalone rule whose NSG is not in this plan: flat, joined by id (to an NSG of
    /// another input).
    fn flat_nsg_rule(&self, j: usize, out: &mut Emitter) -> Result<()> {
        let nsg = self.name_ref(j, "network_security_group_name")?;
        let nsg_id = format!(
            "{}/providers/Microsoft.Network/networkSecurityGroups/{nsg}",
            self.group_prefix(j)?
        );
        let (mut rule, origins) = self.nsg_rule(j, &self.standalone_source(j))?;
        let name = rule["name"].as_str().unwrap_or_default().to_string();
        rule["id"] = json!(format!("{nsg_id}/securityRules/{name}"));
        rule["type"] = json!("Microsoft.Network/networkSecurityGroups/securityRules");
        out.push(rule, origins);
        Ok(())
    }

    /// Translates one NSG rule, with origins relative to it.
    fn nsg_rule(&self, i: usize, source: &RuleSource) -> Result<(Value, Vec<(String, String)>)> {
        let is_unknown = |key: &str| unknown_at(source.unknown, &[Step::Key(key)]);
        let mut unknown: Vec<String> = Vec::new();
        let mut props = Map::new();
        let mut origins = vec![(String::new(), source.path.clone())];
        for (arm, tf) in NSG_RULE_FIELDS {
            origins.push((format!("properties.{arm}"), format!("{}.{tf}", source.path)));
            if is_unknown(tf) {
                unknown.push(tf.to_string());
            } else if let Some(v) = source.values.get(tf).filter(|v| !v.is_null()) {
                props.insert(arm.to_string(), v.clone());
            }
        }
        for side in ["source", "destination"] {
            let key = format!("{side}_application_security_group_ids");
            let ids: Vec<String> = if is_unknown(&key) {
                let steps: Vec<Step> = source
                    .steps
                    .iter()
                    .copied()
                    .chain([Step::Key(&key)])
                    .collect();
                let targets = self.targets(i, &steps);
                if targets.is_empty() {
                    unknown.push(key.clone());
                }
                targets
                    .into_iter()
                    .map(|j| self.id(j))
                    .collect::<Result<_>>()?
            } else {
                array_of(source.values, &key)
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            };
            if !ids.is_empty() {
                let asgs: Vec<Value> = ids.into_iter().map(|id| json!({"id": id})).collect();
                props.insert(
                    format!("{side}ApplicationSecurityGroups"),
                    Value::Array(asgs),
                );
            }
        }
        wildcard_unknowns(&mut props, &unknown);
        let name = str_of(source.values, "name")
            .filter(|_| !is_unknown("name"))
            .map_or_else(|| source.fallback_name.clone(), str::to_string);
        let mut rule = json!({"name": name, "properties": props});
        if !unknown.is_empty() {
            rule[UNKNOWN_KEY] = json!(unknown);
        }
        Ok((rule, origins))
    }

    fn manager(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let r = self.res(i);
        let scope =
            value_at(r.values, &[Step::Key("scope"), Step::Index(0)]).unwrap_or(&Value::Null);
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/networkManagers",
                "properties": {
                    "networkManagerScopes": {
                        "subscriptions": scope.get("subscription_ids").cloned().unwrap_or(json!([])),
                        "managementGroups": scope.get("management_group_ids").cloned().unwrap_or(json!([])),
                    },
                    "networkManagerScopeAccesses": self.list(i, "scope_accesses")?,
                }
            }),
            vec![
                (String::new(), r.path.clone()),
                ("properties.networkManagerScopes.subscriptions".to_string(), format!("{}.scope[0].subscription_ids", r.path)),
                ("properties.networkManagerScopes.managementGroups".to_string(), format!("{}.scope[0].management_group_ids", r.path)),
            ],
        );
        Ok(())
    }

    fn network_group(&self, i: usize, out: &mut Emitter) -> Result<()> {
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/networkManagers/networkGroups",
                "properties": {"memberType": self.text(i, "member_type").unwrap_or("VirtualNetwork")}
            }),
            vec![(String::new(), self.res(i).path.clone())],
        );
        Ok(())
    }

    fn static_member(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let group = self
            .reference(i, &[Step::Key("network_group_id")])?
            .ok_or_else(|| {
                self.error(
                    i,
                    &[Step::Key("network_group_id")],
                    "missing required field `network_group_id`",
                )
            })?;
        let target = self.reference(i, &[Step::Key("target_virtual_network_id")])?;
        out.push(
            json!({
                "id": format!("{group}/staticMembers/{}", self.name(i)),
                "type": "Microsoft.Network/networkManagers/networkGroups/staticMembers",
                "properties": {"resourceId": target}
            }),
            vec![
                (String::new(), self.res(i).path.clone()),
                (
                    "properties.resourceId".to_string(),
                    format!("{}.target_virtual_network_id", self.res(i).path),
                ),
            ],
        );
        Ok(())
    }

    fn admin_config(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let setting = self
            .known(
                i,
                &[Step::Key("apply_on_network_intent_policy_based_services")],
            )
            .and_then(|v| v.get(0))
            .and_then(Value::as_str)
            .unwrap_or("None");
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/networkManagers/securityAdminConfigurations",
                "properties": {"applyOnNetworkIntentPolicyBasedServices": [setting]}
            }),
            vec![(String::new(), self.res(i).path.clone())],
        );
        Ok(())
    }

    fn collection(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let groups: Vec<Value> = self
            .references(i, "network_group_ids")?
            .into_iter()
            .map(|g| json!({"networkGroupId": g}))
            .collect();
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections",
                "properties": {"appliesToGroups": groups}
            }),
            vec![
                (String::new(), self.res(i).path.clone()),
                ("properties.appliesToGroups".to_string(), format!("{}.network_group_ids", self.res(i).path)),
            ],
        );
        Ok(())
    }

    fn admin_rule(&self, i: usize, out: &mut Emitter) -> Result<()> {
        const FIELDS: [(&str, &str); 8] = [
            ("protocol", "protocol"),
            ("access", "action"),
            ("direction", "direction"),
            ("priority", "priority"),
            ("sourcePortRanges", "source_port_ranges"),
            ("destinationPortRanges", "destination_port_ranges"),
            ("sources", "source"),
            ("destinations", "destination"),
        ];
        let r = self.res(i);
        let collection = self
            .reference(i, &[Step::Key("admin_rule_collection_id")])?
            .ok_or_else(|| {
                self.error(
                    i,
                    &[Step::Key("admin_rule_collection_id")],
                    "missing required field `admin_rule_collection_id`",
                )
            })?;
        let mut unknown = Vec::new();
        let mut props = Map::new();
        let mut origins = vec![(String::new(), r.path.clone())];
        for (arm, tf) in FIELDS {
            origins.push((format!("properties.{arm}"), format!("{}.{tf}", r.path)));
            if self.is_unknown(i, &[Step::Key(tf)]) {
                unknown.push(tf.to_string());
            } else if let Some(v) = self.known(i, &[Step::Key(tf)]) {
                props.insert(arm.to_string(), admin_field(tf, v));
            }
        }
        wildcard_unknowns(&mut props, &unknown);
        let mut rule = json!({
            "id": format!("{collection}/rules/{}", self.name(i)),
            "type": "Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections/rules",
            "kind": "Custom",
            "properties": props,
        });
        if !unknown.is_empty() {
            rule[UNKNOWN_KEY] = json!(unknown);
        }
        out.push(rule, origins);
        Ok(())
    }

    fn scope_connection(&self, i: usize, out: &mut Emitter) -> Result<()> {
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/networkManagers/scopeConnections",
                "properties": {
                    "resourceId": self.reference(i, &[Step::Key("target_scope_id")])?,
                    "tenantId": self.text(i, "tenant_id"),
                    "connectionState": self.text(i, "connection_state"),
                }
            }),
            vec![(String::new(), self.res(i).path.clone())],
        );
        Ok(())
    }

    fn manager_connection(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let scope_key = if self.res(i).kind.ends_with("subscription_connection") {
            "subscription_id"
        } else {
            "management_group_id"
        };
        let scope = self.reference(i, &[Step::Key(scope_key)])?.ok_or_else(|| {
            self.error(
                i,
                &[Step::Key(scope_key)],
                format!("missing required field `{scope_key}`"),
            )
        })?;
        let id = self.text(i, "id").map_or_else(
            || {
                format!(
                    "{scope}/providers/Microsoft.Network/networkManagerConnections/{}",
                    self.name(i)
                )
            },
            str::to_string,
        );
        out.push(
            json!({
                "id": id,
                "type": "Microsoft.Network/networkManagerConnections",
                "properties": {
                    "networkManagerId": self.reference(i, &[Step::Key("network_manager_id")])?,
                    "connectionState": self.text(i, "connection_state"),
                }
            }),
            vec![(String::new(), self.res(i).path.clone())],
        );
        Ok(())
    }

    /// A deployment resource is the goal state once applied: a `Deployed` status.
    fn deployment(&self, i: usize, out: &mut Emitter) -> Result<()> {
        out.push(
            json!({
                "region": self.required(i, "location")?,
                "deploymentType": self.text(i, "scope_access").unwrap_or("SecurityAdmin"),
                "deploymentStatus": "Deployed",
                "configurationIds": self.references(i, "configuration_ids")?,
            }),
            vec![(String::new(), self.res(i).path.clone())],
        );
        Ok(())
    }

    fn connectivity(&self, i: usize, out: &mut Emitter) -> Result<()> {
        let r = self.res(i);
        let hubs: Vec<Value> = array_of(r.values, "hub")
            .iter()
            .map(|h| json!({"resourceId": h.get("resource_id")}))
            .collect();
        let groups: Vec<Value> = array_of(r.values, "applies_to_group")
            .iter()
            .map(|g| {
                json!({
                    "networkGroupId": g.get("network_group_id"),
                    "groupConnectivity": g.get("group_connectivity"),
                    "isGlobal": g.get("global_mesh_enabled").cloned().unwrap_or(json!(false)),
                })
            })
            .collect();
        out.push(
            json!({
                "id": self.id(i)?,
                "type": "Microsoft.Network/networkManagers/connectivityConfigurations",
                "properties": {
                    "connectivityTopology": self.text(i, "connectivity_topology"),
                    "hubs": hubs,
                    "isGlobal": self.known(i, &[Step::Key("global_mesh_enabled")]).cloned().unwrap_or(json!(false)),
                    "appliesToGroups": groups,
                }
            }),
            vec![(String::new(), r.path.clone())],
        );
        Ok(())
    }
}

/// How deep a resource type's ARM resource sits under its ancestors (VNet 1, subnet 2...).
fn depth(kind: &str) -> u8 {
    match kind {
        "azurerm_resource_group" => 0,
        "azurerm_subnet"
        | "azurerm_virtual_network_peering"
        | "azurerm_network_manager_network_group"
        | "azurerm_network_manager_security_admin_configuration"
        | "azurerm_network_manager_scope_connection"
        | "azurerm_network_manager_connectivity_configuration" => 2,
        "azurerm_network_manager_static_member"
        | "azurerm_network_manager_admin_rule_collection" => 3,
        "azurerm_network_manager_admin_rule" => 4,
        _ => 1,
    }
}

/// `azurerm_subnet.web[0].id` → (`azurerm_subnet.web`, `Some("[0]")`); `data.` kept;
/// variables, locals and module outputs → `None`.
/// A resource address cut into the module instance it is in and its own instance key:
/// `module.spoke["a"].azurerm_subnet.this[0]` → (`module.spoke["a"].`, `Some("[0]")`).
fn instance_parts<'s>(address: &'s str, kind: &str) -> (&'s str, Option<&'s str>) {
    let Some(at) = address.rfind(&format!("{kind}.")) else {
        return ("", None);
    };
    let own = &address[at..];
    let index = own
        .find('[')
        .map(|i| &own[i..])
        .filter(|ix| ix.ends_with(']'));
    let module = &address[..at];
    (module.strip_suffix("data.").unwrap_or(module), index)
}

fn reference_key(reference: &str) -> Option<(String, Option<&str>)> {
    let (data, rest) = match reference.strip_prefix("data.") {
        Some(rest) => ("data.", rest),
        None => ("", reference),
    };
    if !rest.starts_with("azurerm_") {
        return None;
    }
    let (kind, rest) = rest.split_once('.')?;
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    let name = &rest[..end];
    let index = rest[end..]
        .strip_prefix('[')
        .and_then(|r| r.find(']').map(|e| &rest[end..end + e + 2]));
    Some((format!("{data}{kind}.{name}"), index))
}

/// Terraform's admin rule address blocks (`source { address_prefix_type, address_prefix }`)
/// in ARM's shape; other fields as they are.
fn admin_field(tf: &str, v: &Value) -> Value {
    match tf {
        "source" | "destination" => Value::Array(
            v.as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|a| {
                    json!({
                        "addressPrefixType": a.get("address_prefix_type"),
                        "addressPrefix": a.get("address_prefix"),
                    })
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// Writes "anything" into the fields of `unknown` attributes (NSG and admin rules alike).
/// An unknown priority or direction is left out: [`super::arm`] reads a left-out field of
/// a rule with unknowns as unknown. An unknown access is written `Deny`, which nothing
/// reads: the rule decides nothing.
fn wildcard_unknowns(props: &mut Map<String, Value>, unknown: &[String]) {
    let any_address = json!([{"addressPrefixType": "IPPrefix", "addressPrefix": "*"}]);
    for attribute in unknown {
        let (drop, key, any): (&[&str], &str, Value) = match attribute.as_str() {
            "protocol" => (&[], "protocol", json!("*")),
            "access" | "action" => (&[], "access", json!("Deny")),
            "source_port_range" | "source_port_ranges" => {
                (&["sourcePortRange"], "sourcePortRanges", json!(["*"]))
            }
            "destination_port_range" | "destination_port_ranges" => (
                &["destinationPortRange"],
                "destinationPortRanges",
                json!(["*"]),
            ),
            "source_address_prefix"
            | "source_address_prefixes"
            | "source_application_security_group_ids" => (
                &["sourceAddressPrefix", "sourceApplicationSecurityGroups"],
                "sourceAddressPrefixes",
                json!(["*"]),
            ),
            "destination_address_prefix"
            | "destination_address_prefixes"
            | "destination_application_security_group_ids" => (
                &[
                    "destinationAddressPrefix",
                    "destinationApplicationSecurityGroups",
                ],
                "destinationAddressPrefixes",
                json!(["*"]),
            ),
            "source" => (&[], "sources", any_address.clone()),
            "destination" => (&[], "destinations", any_address.clone()),
            _ => continue,
        };
        for k in drop {
            props.remove(*k);
        }
        props.insert(key.to_string(), any);
    }
}

/// `a.b` + `c` → `a.b.c`; `a` + `` → `a`.
fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty() || b.starts_with('[')) {
        (true, _) => b.to_string(),
        (false, true) => format!("{a}{b}"),
        (false, false) => format!("{a}.{b}"),
    }
}

/// An NSG rule standing for a `security_rule` list the plan does not know.
fn everything_unknown() -> Value {
    json!({
        "name": "unknown-security-rules",
        UNKNOWN_KEY: ["security_rule"],
        "properties": {
            "protocol": "*",
            "access": "Deny",
            "sourceAddressPrefix": "*",
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": "*",
        }
    })
}

/// Sets an association on a translated subnet or NIC (every IP configuration, for ASGs).
fn associate(resource: &mut Value, key: &str, linked: &str) {
    let link = json!({"id": linked});
    if key == "applicationSecurityGroups" {
        if let Some(configs) = resource
            .pointer_mut("/properties/ipConfigurations")
            .and_then(Value::as_array_mut)
        {
            for c in configs {
                if let Some(list) = c
                    .pointer_mut("/properties/applicationSecurityGroups")
                    .and_then(Value::as_array_mut)
                {
                    list.push(link.clone());
                }
            }
        }
    } else if let Some(props) = resource
        .get_mut("properties")
        .and_then(Value::as_object_mut)
    {
        props.insert(key.to_string(), link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_prefixes_drop_instance_keys() {
        assert_eq!(
            module_prefix("module.a[\"x\"].module.b[0].azurerm_x.y[1]"),
            "module.a.module.b."
        );
        assert_eq!(module_prefix("azurerm_x.y"), "");
    }

    #[test]
    fn references_name_resources() {
        assert_eq!(
            reference_key("azurerm_subnet.web[0].id"),
            Some(("azurerm_subnet.web".to_string(), Some("[0]")))
        );
        assert_eq!(
            reference_key("data.azurerm_subnet.web.id"),
            Some(("data.azurerm_subnet.web".to_string(), None))
        );
        assert_eq!(reference_key("var.subnet_id"), None);
    }

    #[test]
    fn a_cycle_of_references_is_an_error_not_an_overflow() {
        let plan = json!({
            "format_version": "1.2",
            "resource_changes": [{
                "address": "azurerm_network_manager_admin_rule_collection.c",
                "type": "azurerm_network_manager_admin_rule_collection", "name": "c", "mode": "managed",
                "change": {"actions": ["create"], "after": {"name": "c"},
                           "after_unknown": {"id": true, "security_admin_configuration_id": true}}
            }],
            "configuration": {"root_module": {"resources": [{
                "address": "azurerm_network_manager_admin_rule_collection.c",
                "expressions": {"security_admin_configuration_id": {
                    "references": ["azurerm_network_manager_admin_rule_collection.c.id"]}}
            }]}}
        });
        let e = translate(&plan, Path::new("p.json"), PlanSide::After)
            .err()
            .expect("a cycle cannot be resolved")
            .to_string();
        assert!(
            e.contains("p.json: resource_changes[0].change.after") && e.contains("cycle"),
            "{e}"
        );
    }

    #[test]
    fn unknown_marks_reach_down() {
        let u = json!({"security_rule": [{"priority": true}, {}], "tags": {}});
        assert!(unknown_at(&u, &[Step::Key("security_rule")]));
        assert!(unknown_at(
            &u,
            &[
                Step::Key("security_rule"),
                Step::Index(0),
                Step::Key("priority")
            ]
        ));
        assert!(!unknown_at(
            &u,
            &[Step::Key("security_rule"), Step::Index(1)]
        ));
        assert!(unknown_at(&json!(true), &[Step::Key("anything")]));
        assert!(!unknown_at(&Value::Null, &[Step::Key("x")]));
    }
}
