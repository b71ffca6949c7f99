//! The spec pipeline: slicing, the overlay, diff, and the repository's own files.

use build_tools::{
    Selection, apply_overlay, derive_spec, diff, parse_yaml, paths, render, slice, workspace_root,
};
use serde_json::{Value, json};

fn read(relative: &str) -> String {
    std::fs::read_to_string(workspace_root().join(relative)).unwrap()
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default()
}

/// A spec with a selected operation whose schema references another (transitively), an
/// unselected operation, and schemas only it uses.
fn sample_spec() -> Value {
    json!({
        "openapi": "3.0.2",
        "info": {"title": "t", "version": "1"},
        "tags": [{"name": "Wanted"}, {"name": "Other"}],
        "security": [{"bearer": []}],
        "paths": {
            "/a": {
                "parameters": [{"$ref": "#/components/parameters/Realm"}],
                "get": {
                    "tags": ["Wanted"],
                    "operationId": "getA",
                    "responses": {"200": {"description": "ok", "content": {"application/json":
                        {"schema": {"$ref": "#/components/schemas/A"}}}}}
                },
                "post": {
                    "tags": ["Other"],
                    "operationId": "postA",
                    "responses": {"200": {"description": "ok", "content": {"application/json":
                        {"schema": {"$ref": "#/components/schemas/Unrelated"}}}}}
                }
            },
            "/b": {
                "get": {
                    "tags": ["Other"],
                    "operationId": "byId",
                    "responses": {"204": {"description": "ok"}}
                }
            },
            "/c": {
                "get": {
                    "tags": ["Other"],
                    "responses": {"204": {"description": "no operation id"}}
                }
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "unused": {"type": "apiKey"}},
            "parameters": {"Realm": {"in": "path", "name": "realm", "required": true, "schema": {"type": "string"}}},
            "schemas": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
                "B": {"type": "array", "items": {"$ref": "#/components/schemas/C"}},
                "C": {"type": "string"},
                "Unrelated": {"type": "object", "properties": {"d": {"$ref": "#/components/schemas/D"}}},
                "D": {"type": "string"}
            }
        }
    })
}

#[test]
fn slice_keeps_selected_operations_and_transitive_references_only() {
    let selection = Selection { tags: &["Wanted"], operation_ids: &["byId"] };
    let sliced = slice(&sample_spec(), &selection).unwrap();

    assert_eq!(keys(&sliced["paths"]), ["/a", "/b"]);
    assert_eq!(keys(&sliced["paths"]["/a"]), ["parameters", "get"]);
    assert_eq!(keys(&sliced["components"]["schemas"]), ["A", "B", "C"]);
    assert_eq!(keys(&sliced["components"]["parameters"]), ["Realm"]);
    assert_eq!(keys(&sliced["components"]["securitySchemes"]), ["bearer"]);
    assert_eq!(sliced["tags"], json!([{"name": "Wanted"}, {"name": "Other"}]));
    assert_eq!(sliced["info"], sample_spec()["info"]);
}

#[test]
fn slice_fails_when_a_selected_operation_is_gone() {
    let selection = Selection { tags: &["Wanted"], operation_ids: &["renamedUpstream"] };
    let err = slice(&sample_spec(), &selection).unwrap_err().to_string();
    assert!(err.contains("renamedUpstream"), "{err}");
}

#[test]
fn slice_fails_on_a_dangling_reference() {
    let mut spec = sample_spec();
    spec["components"]["schemas"].as_object_mut().unwrap().remove("C");
    let selection = Selection { tags: &["Wanted"], operation_ids: &[] };
    let err = slice(&spec, &selection).unwrap_err().to_string();
    assert!(err.contains("#/components/schemas/C"), "{err}");
}

const OVERLAY_HEAD: &str = "overlay: 1.0.0\ninfo: {title: t, version: '1'}\nactions:\n";

#[test]
fn overlay_update_merges_objects_and_appends_to_arrays() {
    let doc = json!({"info": {"title": "t", "x": {"keep": 1}}, "tags": [{"name": "a"}]});
    let overlay = format!(
        "{OVERLAY_HEAD}  - target: $.info\n    update: {{x: {{add: 2}}, title: new}}\n  - target: $.tags\n    update: {{name: b}}\n"
    );
    let out = apply_overlay(doc, &overlay).unwrap();
    assert_eq!(
        out,
        json!({"info": {"title": "new", "x": {"keep": 1, "add": 2}}, "tags": [{"name": "a"}, {"name": "b"}]})
    );
}

#[test]
fn overlay_remove_deletes_every_match() {
    let doc = json!({"paths": {"/a": {"get": {"x": 1}, "put": {"x": 2}}, "/b": {"get": {"x": 3}}}});
    let overlay = format!("{OVERLAY_HEAD}  - target: $.paths.*.get\n    remove: true\n");
    let out = apply_overlay(doc, &overlay).unwrap();
    assert_eq!(out, json!({"paths": {"/a": {"put": {"x": 2}}, "/b": {}}}));
}

#[test]
fn overlay_filter_targets_select_by_value() {
    let doc = json!({"params": [{"name": "first"}, {"name": "search"}, {"name": "max"}]});
    let overlay = format!(
        "{OVERLAY_HEAD}  - target: \"$.params[?@.name == 'first' || @.name == 'max']\"\n    update: {{minimum: 0}}\n"
    );
    let out = apply_overlay(doc, &overlay).unwrap();
    assert_eq!(
        out,
        json!({"params": [{"name": "first", "minimum": 0}, {"name": "search"}, {"name": "max", "minimum": 0}]})
    );
}

#[test]
fn overlay_target_matching_nothing_is_an_error() {
    let overlay = format!("{OVERLAY_HEAD}  - target: $.nowhere\n    update: {{a: 1}}\n");
    let err = apply_overlay(json!({"a": 1}), &overlay).unwrap_err().to_string();
    assert!(err.contains("$.nowhere"), "{err}");
}

#[test]
fn overlay_that_is_not_an_overlay_is_an_error() {
    let err = apply_overlay(json!({}), "actions: []\n").unwrap_err().to_string();
    assert!(err.starts_with("overlay:"), "{err}");
}

fn fixture(name: &str) -> Value {
    parse_yaml(&read(&format!("build-tools/tests/fixtures/{name}"))).unwrap()
}

#[test]
fn diff_lists_added_removed_and_changed_parts() {
    let changes = diff::diff(&fixture("diff-old.yaml"), &fixture("diff-new.yaml"));
    let text: String = changes.iter().map(|c| format!("{c}\n")).collect();
    assert_eq!(text, read("build-tools/tests/fixtures/diff-expected.txt"));
}

#[test]
fn diff_of_a_spec_with_itself_is_empty() {
    let spec = fixture("diff-new.yaml");
    assert!(diff::diff(&spec, &spec).is_empty());
    let derived = parse_yaml(&read(paths::DERIVED)).unwrap();
    assert!(diff::diff(&derived, &derived).is_empty());
}

#[test]
fn committed_spec_is_current() {
    let want = derive_spec(&read(paths::UPSTREAM), &read(paths::OVERLAY)).unwrap();
    assert!(
        read(paths::DERIVED) == want,
        "{} is stale: run `cargo xtask spec` and commit the result",
        paths::DERIVED
    );
}

#[test]
fn committed_spec_holds_the_nine_operations_and_their_schemas() {
    let spec = parse_yaml(&read(paths::DERIVED)).unwrap();
    let mut ids: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op.get("operationId").and_then(Value::as_str))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "acceptInvitation",
            "addOrganizationInvitation",
            "getOrganizationInvitationById",
            "getOrganizationInvitationCount",
            "getOrganizationInvitations",
            "invitations",
            "rejectInvitation",
            "removeOrganizationInvitation",
            "resendOrganizationInvitation",
        ]
    );
    assert_eq!(
        keys(&spec["components"]["schemas"]),
        ["InvitationRequestRepresentation", "InvitationRepresentation", "ErrorRepresentation"]
    );
    // Every selected operation declares the same error bodies.
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values().filter(|v| v.get("responses").is_some()) {
            for status in ["400", "401", "403", "404", "409", "429", "500", "503"] {
                assert_eq!(
                    op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorRepresentation",
                    "{} {status}",
                    op["operationId"]
                );
            }
        }
    }
}

/// A new upstream field and operation reach the generated client through `derive_spec` and
/// `render` alone.
#[test]
fn new_upstream_field_and_operation_appear_in_generated_code() {
    let mut upstream = parse_yaml(&read(paths::UPSTREAM)).unwrap();
    upstream["components"]["schemas"]["InvitationRepresentation"]["properties"]["expiresAt"] =
        json!({"type": "string"});
    upstream["paths"]["/{realm}/orgs/{orgId}/invitations/{invitationId}/revoke"] = json!({
        "parameters": upstream["paths"]["/{realm}/orgs/{orgId}/invitations/{invitationId}"]["parameters"].clone(),
        "post": {
            "tags": ["Organization Invitation"],
            "operationId": "revokeOrganizationInvitation",
            "responses": {"204": {"description": "revoked"}}
        }
    });
    let upstream_text = serde_yaml_ng::to_string(&upstream).unwrap();
    let derived = derive_spec(&upstream_text, &read(paths::OVERLAY)).unwrap();
    let code = render(&derived).unwrap();

    syn::parse_file(&code).expect("generated code parses");
    assert!(
        code.contains("pub expires_at: ::std::option::Option<::std::string::String>"),
        "new field missing"
    );
    assert!(code.contains("pub fn revoke_organization_invitation("), "new operation missing");
    // And it carries the overlay's error responses like every other operation.
    let revoke = &parse_yaml(&derived).unwrap()["paths"]["/{realm}/orgs/{orgId}/invitations/{invitationId}/revoke"]
        ["post"]["responses"];
    assert!(revoke.get("409").is_some());
}
