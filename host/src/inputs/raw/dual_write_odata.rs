//! The finance and operations `DualWriteProjectConfigurationEntity`, exported with
//! OData: `GET <finance and operations URL>/data/DualWriteProjectConfigurations`
//! -> `{"@odata.context": "https://<fno>/data/$metadata#DualWriteProjectConfigurations",
//! "value": [{"ProjectName", "InternalEntityName", "ExternalEntityName",
//! "ExternalEnvironmentURL", "Status", "IsDebugMode", ...}]}`.
//!
//! Each map has two records (Microsoft's dual-write troubleshooting guide); they are
//! folded into one map per finance and operations entity and Dataverse table, in the
//! order the maps first appear. When the two records disagree on the state, the map
//! takes the one furthest from running (a stopped half is a stopped map).
//!
//! `ExternalEnvironmentURL` is the Dataverse environment the map writes to: records
//! of another Dataverse environment are left out (and counted), and an export with
//! none of the imported environment is refused. The finance and operations
//! environment the maps run in is the export's own: the origin of `@odata.context`.

use super::{
    DualWrite, DualWriteMap, Problem, get_ci, is_dotted_version, map_state, odata_context,
    odata_value, state_rank, str_ci, unknown_state, url_host,
};
use serde_json::Value;

/// The shape's name, for `snapshot.inputs`.
pub const SHAPE: &str = "DualWriteProjectConfigurationEntity (OData)";

/// The shape, for the unknown-shape error.
pub const DESCRIPTION: &str = "the finance and operations `DualWriteProjectConfigurationEntity` exported with OData (`GET https://<fno>/data/DualWriteProjectConfigurations`): `{\"@odata.context\", \"value\": [{\"InternalEntityName\", \"ExternalEntityName\", \"ExternalEnvironmentURL\", \"Status\", ...}]}`";

/// The maps of an export, `Ok(None)` when it is not this shape. `dataverse_url` is
/// the imported environment's organization URL.
pub fn read(value: &Value, dataverse_url: Option<&str>) -> Result<Option<DualWrite>, Problem> {
    let Some(items) = odata_value(value) else {
        return Ok(None);
    };
    let is_export = match items.first() {
        Some(Value::Object(first)) => {
            get_ci(first, "InternalEntityName").is_some()
                && get_ci(first, "ExternalEntityName").is_some()
        }
        Some(_) => false,
        None => odata_context(value)
            .is_some_and(|context| context.contains("#DualWriteProjectConfiguration")),
    };
    if !is_export {
        return Ok(None);
    }
    let ours = dataverse_url.and_then(url_host);
    let mut dual_write = DualWrite {
        linked_finance_and_operations_url: odata_context(value).and_then(origin),
        ..DualWrite::default()
    };
    for (index, item) in items.iter().enumerate() {
        let at = |member: &str| format!("/value/{index}/{member}");
        let Some(record) = item.as_object() else {
            return Err(Problem::at(
                &format!("/value/{index}"),
                "not a record (an object)",
            ));
        };
        let entity = str_ci(record, "InternalEntityName").ok_or_else(|| {
            Problem::at(
                &at("InternalEntityName"),
                "the record names no finance and operations entity",
            )
        })?;
        let table = str_ci(record, "ExternalEntityName").ok_or_else(|| {
            Problem::at(
                &at("ExternalEntityName"),
                "the record names no Dataverse table",
            )
        })?;
        let state = match get_ci(record, "Status") {
            Some(Value::String(text)) => {
                map_state(text).ok_or_else(|| Problem::at(&at("Status"), unknown_state(text)))?
            }
            Some(other) => {
                return Err(Problem::at(
                    &at("Status"),
                    unknown_state(&other.to_string()),
                ));
            }
            None => {
                return Err(Problem::at(
                    &format!("/value/{index}"),
                    format!("the record of `{entity} ({table})` has no `Status`"),
                ));
            }
        };
        let version = match str_ci(record, "Version") {
            Some(version) if !is_dotted_version(version) => {
                return Err(Problem::at(
                    &at("Version"),
                    format!("`{version}` is not a version such as `1.0.2.1`"),
                ));
            }
            version => version.map(str::to_owned),
        };
        if let (Some(ours), Some(url)) = (&ours, str_ci(record, "ExternalEnvironmentURL"))
            && url_host(url).is_some_and(|theirs| &theirs != ours)
        {
            let url = url.trim_end_matches('/').to_owned();
            match dual_write
                .ignored
                .iter_mut()
                .find(|(other, _)| *other == url)
            {
                Some((_, count)) => *count += 1,
                None => dual_write.ignored.push((url, 1)),
            }
            continue;
        }
        let existing = dual_write.maps.iter_mut().find(|map| {
            map.entity
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(entity))
                && map
                    .table
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(table))
        });
        match existing {
            Some(map) => {
                if state_rank(state) > state_rank(map.state) {
                    map.state = state;
                }
                if map.version.is_none() {
                    map.version = version;
                }
            }
            None => dual_write.maps.push(DualWriteMap {
                name: DualWriteMap::name_of(entity, table),
                entity: Some(entity.to_owned()),
                table: Some(table.to_owned()),
                state,
                version,
            }),
        }
    }
    if dual_write.maps.is_empty() && !dual_write.ignored.is_empty() {
        let theirs: Vec<String> = dual_write
            .ignored
            .iter()
            .map(|(url, _)| format!("`{url}`"))
            .collect();
        return Err(Problem::at(
            "/value",
            format!(
                "every record links the Dataverse environment {}, not the one imported (`{}`): \
                 export the dual-write configuration of the finance and operations environment \
                 linked to it",
                theirs.join(", "),
                dataverse_url.unwrap_or_default()
            ),
        ));
    }
    Ok(Some(dual_write))
}

/// `https://host` of `https://host/data/$metadata#...`.
fn origin(context: &str) -> Option<String> {
    let rest = context.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("https://{}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UAT: &str = "https://contoso-uat.crm4.dynamics.com";

    fn record(entity: &str, table: &str, status: &str, url: &str) -> Value {
        json!({"@odata.etag": "W/\"JzEsNTYzNzE0NDU3Nic=\"", "ProjectName": format!("{entity}_{table}"),
               "InternalEntityName": entity, "ExternalEntityName": table,
               "ExternalEnvironmentURL": url, "Status": status, "IsDebugMode": "No"})
    }

    fn export(records: Vec<Value>) -> Value {
        json!({"@odata.context": "https://contoso-prod.operations.dynamics.com/data/$metadata#DualWriteProjectConfigurations",
               "value": records})
    }

    #[test]
    fn two_records_fold_into_one_map_in_first_seen_order() {
        let value = export(vec![
            record(
                "Customers V3",
                "accounts",
                "Running",
                "https://contoso-uat.crm4.dynamics.com/",
            ),
            record(
                "Customers V3",
                "accounts",
                "Running",
                "https://contoso-uat.crm4.dynamics.com/",
            ),
            record("CDS Contacts V2", "contacts", "Running", UAT),
            record("CDS Contacts V2", "contacts", "Paused", UAT),
            record(
                "CDS sales order lines",
                "salesorderdetails",
                "NotRunning",
                UAT,
            ),
        ]);
        let dual_write = read(&value, Some(UAT)).unwrap().unwrap();
        assert_eq!(
            dual_write.linked_finance_and_operations_url.as_deref(),
            Some("https://contoso-prod.operations.dynamics.com")
        );
        let maps: Vec<Value> = dual_write.maps.iter().map(DualWriteMap::to_json).collect();
        assert_eq!(
            maps,
            vec![
                json!({"name": "Customers V3 (accounts)", "financeAndOperationsEntity": "Customers V3",
                       "dataverseTable": "accounts", "state": "Running"}),
                json!({"name": "CDS Contacts V2 (contacts)", "financeAndOperationsEntity": "CDS Contacts V2",
                       "dataverseTable": "contacts", "state": "Paused"}),
                json!({"name": "CDS sales order lines (salesorderdetails)",
                       "financeAndOperationsEntity": "CDS sales order lines",
                       "dataverseTable": "salesorderdetails", "state": "Not running"}),
            ]
        );
        assert!(dual_write.ignored.is_empty());
    }

    #[test]
    fn records_of_another_dataverse_environment_are_left_out() {
        let value = export(vec![
            record("Customers V3", "accounts", "Running", UAT),
            record(
                "Customers V3",
                "accounts",
                "Running",
                "https://contoso-sales.crm4.dynamics.com",
            ),
        ]);
        let dual_write = read(&value, Some(UAT)).unwrap().unwrap();
        assert_eq!(dual_write.maps.len(), 1);
        assert_eq!(
            dual_write.ignored,
            vec![("https://contoso-sales.crm4.dynamics.com".to_owned(), 1)]
        );
        let elsewhere = export(vec![record(
            "Units",
            "uoms",
            "Running",
            "https://other.crm.dynamics.com",
        )]);
        let problem = read(&elsewhere, Some(UAT)).unwrap_err();
        assert_eq!(problem.place, "at `/value`");
        assert!(
            problem.message.contains("`https://other.crm.dynamics.com`"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn an_unknown_state_is_a_problem_at_its_pointer() {
        let value = export(vec![record("Units", "uoms", "Broken", UAT)]);
        let problem = read(&value, Some(UAT)).unwrap_err();
        assert_eq!(problem.place, "at `/value/0/Status`");
        assert!(
            problem
                .message
                .starts_with("`Broken` is not a dual-write map state")
        );
        let numeric = export(vec![
            json!({"InternalEntityName": "Units", "ExternalEntityName": "uoms", "Status": 3}),
        ]);
        assert_eq!(
            read(&numeric, None).unwrap_err().place,
            "at `/value/0/Status`"
        );
    }

    #[test]
    fn without_a_context_the_finance_and_operations_environment_is_unknown() {
        let value = json!({"value": [record("Units", "uoms", "Running", UAT)]});
        let dual_write = read(&value, None).unwrap().unwrap();
        assert_eq!(dual_write.linked_finance_and_operations_url, None);
        assert_eq!(dual_write.maps[0].state, "Running");
    }

    #[test]
    fn other_shapes_are_not_this_export() {
        assert_eq!(
            read(&json!({"value": [{"uniquename": "A"}]}), None).unwrap(),
            None
        );
        assert_eq!(read(&json!([1, 2, 3]), None).unwrap(), None);
    }
}
