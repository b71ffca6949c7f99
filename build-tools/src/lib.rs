//! Every decision about how the published Phase Two spec becomes Rust code lives here, one
//! function each:
//!
//! - [`slice`] keeps the operations we generate (see [`SELECTION`]) and the components they
//!   reference; the upstream file as a whole does not pass through progenitor.
//! - [`apply_overlay`] applies `spec/overlay.yaml`, an OpenAPI Overlay 1.0 document holding our
//!   corrections.
//! - [`derive_spec`] chains the two and renders `invitations-client/invitations.yaml`, the spec
//!   the client crate generates from (and ships in its package).
//! - [`render`] (from the `phasetwo-invitations-codegen` crate, the client's only build
//!   dependency) turns it into Rust source: the only place where
//!   progenitor's settings are chosen.
//! - [`diff::diff`] summarises the API difference between two specs.

pub mod diff;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Errors of the spec pipeline: each message says which input was wrong.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which operations of the upstream spec are generated.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// Every operation carrying one of these tags is kept.
    pub tags: &'static [&'static str],
    /// Further operations kept by `operationId`.
    pub operation_ids: &'static [&'static str],
}

/// The one place that says what the client covers: the organization's invitation operations,
/// and the invitee's own list / accept / reject, which upstream files under `Organizations`.
pub const SELECTION: Selection = Selection {
    tags: &["Organization Invitation"],
    operation_ids: &["invitations", "acceptInvitation", "rejectInvitation"],
};

/// Paths of the pipeline's files, relative to the workspace root.
pub mod paths {
    pub const UPSTREAM: &str = "spec/upstream/openapi.yaml";
    pub const OVERLAY: &str = "spec/overlay.yaml";
    pub const DERIVED: &str = "invitations-client/invitations.yaml";
    pub const SNAPSHOT: &str = "invitations-client/tests/snapshots/codegen.rs";
}

/// The workspace root, for the `cargo xtask` binary and tests.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("build-tools lives inside the workspace")
        .to_path_buf()
}

const HTTP_METHODS: [&str; 8] =
    ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Parses a YAML (or JSON) OpenAPI or Overlay document into a JSON value, keeping key order.
pub fn parse_yaml(text: &str) -> Result<Value> {
    Ok(serde_yaml_ng::from_str(text)?)
}

/// Keeps the operations of `spec` chosen by `selection`, the components they reference
/// (transitively), the security schemes in use and the document's own metadata.
///
/// Fails when an operation id of the selection is missing upstream, so that an upstream rename
/// is noticed instead of silently dropping an operation.
pub fn slice(spec: &Value, selection: &Selection) -> Result<Value> {
    let root = spec.as_object().ok_or("the spec is not a mapping")?;
    let upstream_paths =
        root.get("paths").and_then(Value::as_object).ok_or("the spec has no `paths`")?;

    let mut paths = Map::new();
    let mut found_ids = BTreeSet::new();
    let mut used_tags = BTreeSet::new();
    for (path, item) in upstream_paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        let mut kept = Map::new();
        for (key, value) in item {
            if !HTTP_METHODS.contains(&key.as_str()) {
                continue;
            }
            let id = value.get("operationId").and_then(Value::as_str);
            let tags: Vec<&str> = value
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let selected = tags.iter().any(|t| selection.tags.contains(t))
                || id.is_some_and(|id| selection.operation_ids.contains(&id));
            if selected {
                if let Some(id) = id {
                    found_ids.insert(id.to_owned());
                }
                used_tags.extend(tags.iter().map(|t| t.to_string()));
                kept.insert(key.clone(), value.clone());
            }
        }
        if kept.is_empty() {
            continue;
        }
        // Path-level fields (shared parameters, summary) come first, as upstream writes them.
        let mut out = Map::new();
        for (key, value) in item {
            if !HTTP_METHODS.contains(&key.as_str()) {
                out.insert(key.clone(), value.clone());
            }
        }
        out.extend(kept);
        paths.insert(path.clone(), Value::Object(out));
    }

    let missing: Vec<_> =
        selection.operation_ids.iter().filter(|id| !found_ids.contains(**id)).collect();
    if !missing.is_empty() {
        return Err(format!("selected operations missing from the spec: {missing:?}").into());
    }
    if paths.is_empty() {
        return Err(format!("no operation has the tags {:?}", selection.tags).into());
    }

    let mut out = Map::new();
    for (key, value) in root {
        match key.as_str() {
            "paths" => {
                out.insert(key.clone(), Value::Object(paths.clone()));
            }
            "components" => {
                let components = keep_referenced_components(value, &paths, root)?;
                out.insert(key.clone(), components);
            }
            "tags" => {
                let tags: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| {
                        t.get("name").and_then(Value::as_str).is_some_and(|n| used_tags.contains(n))
                    })
                    .cloned()
                    .collect();
                if !tags.is_empty() {
                    out.insert(key.clone(), Value::Array(tags));
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

/// The components referenced from `paths` (and from what they reference), plus the security
/// schemes named by the document's or an operation's `security`. Upstream order is kept.
fn keep_referenced_components(
    components: &Value,
    paths: &Map<String, Value>,
    root: &Map<String, Value>,
) -> Result<Value> {
    let components = components.as_object().ok_or("`components` is not a mapping")?;

    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    let mut queue: VecDeque<(String, String)> = VecDeque::new();
    for path_item in paths.values() {
        collect_refs(path_item, &mut queue);
    }
    while let Some(reference) = queue.pop_front() {
        if !wanted.insert(reference.clone()) {
            continue;
        }
        let (section, name) = &reference;
        let target = components
            .get(section)
            .and_then(|s| s.get(name))
            .ok_or_else(|| format!("dangling reference #/components/{section}/{name}"))?;
        collect_refs(target, &mut queue);
    }

    let mut schemes = BTreeSet::new();
    let mut security_lists: Vec<&Value> = root.get("security").into_iter().collect();
    for item in paths.values().filter_map(Value::as_object) {
        security_lists.extend(item.values().filter_map(|op| op.get("security")));
    }
    for list in security_lists {
        for requirement in list.as_array().into_iter().flatten() {
            if let Some(requirement) = requirement.as_object() {
                schemes.extend(requirement.keys().cloned());
            }
        }
    }

    let mut out = Map::new();
    for (section, entries) in components {
        let Some(entries) = entries.as_object() else {
            continue;
        };
        let kept: Map<String, Value> = entries
            .iter()
            .filter(|(name, _)| {
                if section == "securitySchemes" {
                    schemes.contains(*name)
                } else {
                    wanted.contains(&(section.clone(), (*name).clone()))
                }
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            out.insert(section.clone(), Value::Object(kept));
        }
    }
    Ok(Value::Object(out))
}

/// Pushes every local `#/components/<section>/<name>` reference found in `value`.
fn collect_refs(value: &Value, out: &mut VecDeque<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str)
                && let Some(parsed) = parse_component_ref(reference)
            {
                out.push_back(parsed);
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `#/components/schemas/Foo` -> `("schemas", "Foo")`, undoing JSON Pointer escapes.
fn parse_component_ref(reference: &str) -> Option<(String, String)> {
    let rest = reference.strip_prefix("#/components/")?;
    let (section, name) = rest.split_once('/')?;
    let unescape = |s: &str| s.replace("~1", "/").replace("~0", "~");
    Some((unescape(section), unescape(name)))
}

/// Applies an OpenAPI Overlay 1.0 document (YAML or JSON) to `spec`.
///
/// An action whose target matches nothing is an error: after an upstream change, a correction
/// that no longer applies must be noticed, not silently skipped.
pub fn apply_overlay(mut spec: Value, overlay_text: &str) -> Result<Value> {
    use roas_overlay::apply::{Apply, ApplyOptions};

    let overlay: roas_overlay::v1_0::Overlay =
        serde_yaml_ng::from_str(overlay_text).map_err(|e| format!("overlay: {e}"))?;
    overlay
        .apply(&mut spec, ApplyOptions::ErrorOnZeroMatch.into())
        .map_err(|e| format!("overlay: {e}"))?;
    Ok(spec)
}

/// The first lines of the derived spec.
pub const DERIVED_HEADER: &str = "\
# GENERATED by `cargo xtask spec` from spec/upstream/openapi.yaml and spec/overlay.yaml.
# Do not edit: change the overlay (or the upstream copy) and run `cargo xtask spec`.
";

/// Upstream spec + overlay -> the text of the derived spec, `invitations-client/invitations.yaml`.
pub fn derive_spec(upstream_text: &str, overlay_text: &str) -> Result<String> {
    let upstream = parse_yaml(upstream_text).map_err(|e| format!("upstream spec: {e}"))?;
    let sliced = slice(&upstream, &SELECTION)?;
    let corrected = apply_overlay(sliced, overlay_text)?;
    Ok(format!("{DERIVED_HEADER}{}", serde_yaml_ng::to_string(&corrected)?))
}

pub use phasetwo_invitations_codegen::{CODE_HEADER, render};
