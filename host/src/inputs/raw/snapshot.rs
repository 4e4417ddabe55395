//! Assembling an environment snapshot (`schemas/environment.schema.json`) from the
//! parts the raw readers gave, merging overrides, and putting members in the
//! schema's order so that a snapshot reads like a hand-written one.

use super::subscribed_skus::Licences;
use super::{DualWrite, Solution};
use serde_json::{Map, Value, json};

/// A file the snapshot was built from, for `snapshot.inputs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The option with its dashes: `--solutions`.
    pub option: String,
    /// The path as given.
    pub path: String,
    pub shape: String,
    pub sha256: String,
}

/// What the readers gave, before the overrides.
#[derive(Clone, Debug, Default)]
pub struct Parts {
    pub environment: Value,
    pub finance_and_operations: Option<Value>,
    pub solutions: Option<Vec<Solution>>,
    pub dual_write: Option<DualWrite>,
    pub licensing: Option<Value>,
    /// `snapshot.takenAt`, RFC 3339.
    pub taken_at: String,
    pub inputs: Vec<Recorded>,
}

/// The snapshot of `parts` (not yet validated).
pub fn assemble(parts: &Parts) -> Value {
    let mut snapshot = Map::new();
    snapshot.insert("schemaVersion".into(), "1.0".into());
    let inputs: Vec<Value> = parts
        .inputs
        .iter()
        .map(|input| {
            json!({
                "option": input.option,
                "path": input.path,
                "shape": input.shape,
                "sha256": input.sha256,
            })
        })
        .collect();
    snapshot.insert(
        "snapshot".into(),
        json!({"takenAt": parts.taken_at, "source": "preflight import", "inputs": inputs}),
    );
    snapshot.insert("environment".into(), parts.environment.clone());
    if let Some(fno) = &parts.finance_and_operations {
        snapshot.insert("financeAndOperations".into(), fno.clone());
    }
    if let Some(solutions) = &parts.solutions {
        snapshot.insert(
            "solutions".into(),
            solutions.iter().map(Solution::to_json).collect(),
        );
    }
    if let Some(dual_write) = &parts.dual_write {
        let mut members = Map::new();
        if let Some(url) = &dual_write.linked_finance_and_operations_url {
            members.insert("linkedFinanceAndOperationsUrl".into(), url.clone().into());
        }
        members.insert(
            "maps".into(),
            dual_write.maps.iter().map(|map| map.to_json()).collect(),
        );
        snapshot.insert("dualWrite".into(), Value::Object(members));
    }
    if let Some(licensing) = &parts.licensing {
        snapshot.insert("licensing".into(), licensing.clone());
    }
    Value::Object(snapshot)
}

/// The snapshot's `licensing` from the tenant's licences and, when the listing has
/// them, the add-ons allocated to the environment.
///
/// Exact for this environment: the add-ons (`AppPass` = Power Apps per app,
/// `PortalLogins`, `PortalViews`) and `payAsYouGo` (a billing policy). Tenant-wide,
/// assumed to be this environment's [inference]: Power Pages capacity packs, per user
/// licences, Dynamics 365 enterprise use rights, and per app or legacy portal
/// capacity when the listing has no add-ons.
pub fn licensing(
    licences: &Licences,
    addons: Option<&[(String, u64)]>,
    pay_as_you_go: Option<bool>,
) -> Value {
    let allocated = |kind: &str, tenant_wide: u64| match addons {
        Some(addons) => addons
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(kind))
            .map(|(_, allocated)| *allocated)
            .sum(),
        None => tenant_wide,
    };
    let mut pages = Map::new();
    pages.insert(
        "authenticatedUsersPerMonth".into(),
        licences.authenticated_users.into(),
    );
    pages.insert(
        "anonymousUsersPerMonth".into(),
        licences.anonymous_users.into(),
    );
    if let Some(pay_as_you_go) = pay_as_you_go {
        pages.insert("payAsYouGo".into(), pay_as_you_go.into());
    }
    pages.insert(
        "perAppLicences".into(),
        allocated("AppPass", licences.per_app).into(),
    );
    pages.insert("perUserLicences".into(), licences.per_user.into());
    pages.insert(
        "legacyPortalAddOns".into(),
        json!({
            "portalLogins": allocated("PortalLogins", licences.portal_logins),
            "portalViews": allocated("PortalViews", licences.portal_views),
        }),
    );
    json!({
        "powerPages": pages,
        "dynamics365EnterpriseUseRights": !licences.dynamics365_enterprise.is_empty(),
    })
}

/// Merges `patch` into `target` as a JSON merge patch (RFC 7396): objects merge
/// member by member, `null` removes a member, anything else (arrays included)
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(members) = target else {
        unreachable!("made an object above")
    };
    for (key, value) in patch {
        if value.is_null() {
            members.shift_remove(key);
        } else {
            merge_patch(members.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Puts the members of every object in the order the schema lists them (members
/// the schema does not know last, in their order), so an imported snapshot reads
/// like the examples whatever order the overrides gave.
pub fn order_like_schema(value: &mut Value) {
    let schema = crate::inputs::schema::environment_schema();
    order(value, schema, schema);
}

fn resolve<'s>(node: &'s Value, root: &'s Value) -> &'s Value {
    match node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| reference.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        Some(target) => resolve(target, root),
        None => node,
    }
}

fn order(value: &mut Value, node: &Value, root: &Value) {
    let node = resolve(node, root);
    match value {
        Value::Object(members) => {
            let Some(properties) = node.get("properties").and_then(Value::as_object) else {
                return;
            };
            let mut rest = std::mem::take(members);
            for (key, schema) in properties {
                if let Some(mut member) = rest.shift_remove(key) {
                    order(&mut member, schema, root);
                    members.insert(key.clone(), member);
                }
            }
            members.append(&mut rest);
        }
        Value::Array(items) => {
            if let Some(schema) = node.get("items") {
                for item in items {
                    order(item, schema, root);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::raw::DualWriteMap;

    #[test]
    fn merge_patch_merges_objects_replaces_arrays_and_removes_nulls() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": true});
        merge_patch(
            &mut target,
            &json!({"a": {"c": 3, "d": {"e": null, "f": 4}}, "list": [9], "gone": null, "new": "x"}),
        );
        assert_eq!(
            target,
            json!({"a": {"b": 1, "c": 3, "d": {"f": 4}}, "list": [9], "new": "x"})
        );
    }

    #[test]
    fn members_follow_the_schema_order() {
        let mut snapshot = json!({
            "licensing": {"dynamics365EnterpriseUseRights": true, "powerPages": {"payAsYouGo": true, "authenticatedUsersPerMonth": 100}},
            "environment": {"type": "Sandbox", "id": "x"},
            "schemaVersion": "1.0",
            "unknown": 1
        });
        order_like_schema(&mut snapshot);
        assert_eq!(
            serde_json::to_string(&snapshot).unwrap(),
            r#"{"schemaVersion":"1.0","environment":{"id":"x","type":"Sandbox"},"licensing":{"powerPages":{"authenticatedUsersPerMonth":100,"payAsYouGo":true},"dynamics365EnterpriseUseRights":true},"unknown":1}"#
        );
    }

    #[test]
    fn licensing_takes_the_environment_add_ons_over_the_tenant_counts() {
        let licences = Licences {
            authenticated_users: 100,
            anonymous_users: 500,
            portal_logins: 1000,
            portal_views: 100_000,
            per_app: 5,
            per_user: 0,
            dynamics365_enterprise: vec!["DYN365_SCM".into()],
        };
        let addons = vec![("AppPass".to_owned(), 1), ("PortalViews".to_owned(), 0)];
        assert_eq!(
            licensing(&licences, Some(&addons), Some(true)),
            json!({"powerPages": {"authenticatedUsersPerMonth": 100, "anonymousUsersPerMonth": 500,
                                  "payAsYouGo": true, "perAppLicences": 1, "perUserLicences": 0,
                                  "legacyPortalAddOns": {"portalLogins": 0, "portalViews": 0}},
                   "dynamics365EnterpriseUseRights": true})
        );
        let tenant_wide = licensing(&licences, None, None);
        assert_eq!(tenant_wide["powerPages"]["perAppLicences"], json!(5));
        assert_eq!(
            tenant_wide["powerPages"]["legacyPortalAddOns"],
            json!({"portalLogins": 1000, "portalViews": 100_000})
        );
        assert!(tenant_wide["powerPages"].get("payAsYouGo").is_none());
    }

    #[test]
    fn the_parts_are_assembled_into_a_valid_snapshot() {
        let parts = Parts {
            environment: json!({"id": "0a7d5e21-3c44-4b9e-8f12-6e5d4c3b2a19", "type": "Sandbox",
                                "geography": "Europe", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                                "dataverse": true, "dynamics365AppsEnabled": true}),
            solutions: Some(vec![Solution {
                unique_name: "DualWriteCore".into(),
                friendly_name: None,
                version: "1.0.15.2".into(),
                managed: Some(true),
                installed_on: None,
            }]),
            dual_write: Some(DualWrite {
                linked_finance_and_operations_url: Some(
                    "https://contoso-prod.operations.dynamics.com".into(),
                ),
                maps: vec![DualWriteMap {
                    name: "Units (uoms)".into(),
                    entity: Some("Units".into()),
                    table: Some("uoms".into()),
                    state: "Running",
                    version: None,
                }],
                ignored: Vec::new(),
            }),
            taken_at: "2026-11-18T09:42:00Z".into(),
            inputs: vec![Recorded {
                option: "--solutions".into(),
                path: "solutions.json".into(),
                shape: "Dataverse Web API solutions".into(),
                sha256: "0".repeat(64),
            }],
            ..Parts::default()
        };
        let snapshot = assemble(&parts);
        assert_eq!(
            crate::inputs::schema::environment_violations(&snapshot),
            Vec::new()
        );
        assert_eq!(snapshot["snapshot"]["source"], json!("preflight import"));
        assert_eq!(snapshot["dualWrite"]["maps"][0]["state"], json!("Running"));
    }
}
