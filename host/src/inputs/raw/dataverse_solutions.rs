//! The Dataverse Web API `solutions` response:
//! `GET <org>/api/data/v9.2/solutions?$select=uniquename,friendlyname,version,ismanaged,installedon`
//! -> `{"@odata.context": ".../$metadata#solutions(...)", "value": [{"uniquename",
//! "friendlyname", "version", "ismanaged", "installedon"}]}`. Annotations such as
//! `version@OData.Community.Display.V1.FormattedValue` are ignored.

use super::{Problem, Solution, get_ci, is_dotted_version, odata_context, odata_value, str_ci};
use serde_json::Value;

/// The shape's name, for `snapshot.inputs`.
pub const SHAPE: &str = "Dataverse Web API solutions";

/// The shape, for the unknown-shape error.
pub const DESCRIPTION: &str = "the Dataverse Web API `solutions` response (`GET https://<org>/api/data/v9.2/solutions?$select=uniquename,friendlyname,version,ismanaged,installedon`): `{\"value\": [{\"uniquename\", \"version\", ...}]}`";

/// The solutions of a response, `Ok(None)` when it is not this shape.
pub fn read(value: &Value) -> Result<Option<Vec<Solution>>, Problem> {
    let Some(items) = odata_value(value) else {
        return Ok(None);
    };
    let is_solutions = match items.first() {
        Some(Value::Object(first)) => get_ci(first, "uniquename").is_some(),
        Some(_) => false,
        None => odata_context(value).is_some_and(|context| context.contains("#solutions")),
    };
    if !is_solutions {
        return Ok(None);
    }
    let mut solutions = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = |member: &str| format!("/value/{index}/{member}");
        let Some(members) = item.as_object() else {
            return Err(Problem::at(
                &format!("/value/{index}"),
                "not a solution (an object)",
            ));
        };
        let unique_name = str_ci(members, "uniquename")
            .ok_or_else(|| Problem::at(&at("uniquename"), "the solution has no unique name"))?;
        let version = str_ci(members, "version").ok_or_else(|| {
            Problem::at(
                &at("version"),
                format!("the solution `{unique_name}` has no version (add `version` to $select)"),
            )
        })?;
        if !is_dotted_version(version) {
            return Err(Problem::at(
                &at("version"),
                format!("`{version}` is not a version such as `1.0.24062.1`"),
            ));
        }
        let managed = match get_ci(members, "ismanaged") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(managed)) => Some(*managed),
            Some(other) => {
                return Err(Problem::at(
                    &at("ismanaged"),
                    format!("expected true or false, found {other}"),
                ));
            }
        };
        solutions.push(Solution {
            unique_name: unique_name.to_owned(),
            friendly_name: str_ci(members, "friendlyname").map(str::to_owned),
            version: version.to_owned(),
            managed,
            installed_on: str_ci(members, "installedon").map(str::to_owned),
        });
    }
    Ok(Some(solutions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_solutions_response_is_read_in_order() {
        let response = json!({
            "@odata.context": "https://contoso-uat.crm4.dynamics.com/api/data/v9.2/$metadata#solutions(uniquename,friendlyname,version,ismanaged,installedon)",
            "value": [
                {"@odata.etag": "W/\"1\"", "uniquename": "DualWriteCore",
                 "friendlyname": "Dual-write core solution", "version": "1.0.15.2",
                 "version@OData.Community.Display.V1.FormattedValue": "1.0.15.2",
                 "ismanaged": true, "installedon": "2024-03-11T08:12:40Z",
                 "solutionid": "1e0b6f7a-9a3f-4a8f-8f0c-2a1b3c4d5e6f"},
                {"uniquename": "Default", "version": "1.0", "ismanaged": false}
            ]
        });
        let solutions = read(&response).unwrap().unwrap();
        assert_eq!(
            solutions[0].to_json(),
            json!({"uniqueName": "DualWriteCore", "friendlyName": "Dual-write core solution",
                   "version": "1.0.15.2", "managed": true, "installedOn": "2024-03-11T08:12:40Z"})
        );
        assert_eq!(
            solutions[1].to_json(),
            json!({"uniqueName": "Default", "version": "1.0", "managed": false})
        );
    }

    #[test]
    fn an_empty_solutions_response_is_recognised_by_its_context() {
        let empty =
            json!({"@odata.context": "https://x/api/data/v9.2/$metadata#solutions", "value": []});
        assert_eq!(read(&empty).unwrap(), Some(Vec::new()));
        assert_eq!(read(&json!({"value": []})).unwrap(), None);
    }

    #[test]
    fn other_shapes_are_not_solutions() {
        assert_eq!(read(&json!([1, 2, 3])).unwrap(), None);
        assert_eq!(
            read(&json!({"value": [{"skuPartNumber": "X"}]})).unwrap(),
            None
        );
    }

    #[test]
    fn a_bad_version_is_a_problem_at_its_pointer() {
        let response = json!({"value": [
            {"uniquename": "A", "version": "1.0"},
            {"uniquename": "B", "version": "latest"}
        ]});
        let problem = read(&response).unwrap_err();
        assert_eq!(problem.place, "at `/value/1/version`");
        assert_eq!(
            problem.message,
            "`latest` is not a version such as `1.0.24062.1`"
        );
        let missing = read(&json!({"value": [{"uniquename": "A"}]})).unwrap_err();
        assert_eq!(missing.place, "at `/value/0/version`");
    }
}
