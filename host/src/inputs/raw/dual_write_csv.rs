//! The table maps of the finance and operations Dual-write workspace, exported as
//! CSV (Data management › Dual-write, the grid exported to Excel and saved as CSV):
//! a header such as `Name,Finance and Operations apps,Microsoft Dataverse,Status,Version`,
//! then one map a row.
//!
//! Columns are found by their header, in any order and case; unknown columns are
//! ignored. A map needs `Status` and either `Name` (`Customers V3 (accounts)`) or both
//! the finance and operations entity and the Dataverse table. The export does not say
//! which finance and operations environment the maps run in: give
//! `dualWrite.linkedFinanceAndOperationsUrl` in the overrides.

use super::csv::{Record, records};
use super::{DualWrite, DualWriteMap, Problem, is_dotted_version, map_state, unknown_state};

/// The shape's name, for `snapshot.inputs`.
pub const SHAPE: &str = "Dual-write workspace CSV";

/// The shape, for the unknown-shape error.
pub const DESCRIPTION: &str = "the Dual-write workspace's table maps saved as CSV, with a header such as `Name,Finance and Operations apps,Microsoft Dataverse,Status,Version` (any column order; `Status` and either `Name` or both the entity and table columns are needed)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Name,
    Entity,
    Table,
    Status,
    Version,
}

fn column(header: &str) -> Option<Column> {
    let squashed: String = header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match squashed.as_str() {
        "name" | "mapname" | "tablemap" | "tablemapname" => Column::Name,
        "financeandoperationsapps"
        | "financeandoperations"
        | "financeandoperationsentity"
        | "financeandoperationsappsentity"
        | "fo"
        | "foentity" => Column::Entity,
        "microsoftdataverse"
        | "dataverse"
        | "dataversetable"
        | "microsoftdataversetable"
        | "commondataservice"
        | "cds" => Column::Table,
        "status" | "state" | "mapstatus" => Column::Status,
        "version" | "mapversion" => Column::Version,
        _ => return None,
    })
}

/// The maps of a CSV, `Ok(None)` when its header is not this shape.
pub fn read(text: &str) -> Result<Option<DualWrite>, Problem> {
    let all = match records(text) {
        Ok(all) => all,
        // A quote left open: an error when the header is a map listing's, otherwise
        // the file is not this shape.
        Err((line, message)) => {
            return match header_of(text) {
                Some(_) => Err(Problem::line(line, message)),
                None => Ok(None),
            };
        }
    };
    let Some((header, rows)) = all.split_first() else {
        return Ok(None);
    };
    let columns: Vec<Option<Column>> = header.fields.iter().map(|h| column(h)).collect();
    let find = |wanted: Column| columns.iter().position(|c| *c == Some(wanted));
    let (name, entity, table) = (
        find(Column::Name),
        find(Column::Entity),
        find(Column::Table),
    );
    let Some(status) = find(Column::Status) else {
        return Ok(None);
    };
    if name.is_none() && (entity.is_none() || table.is_none()) {
        return Ok(None);
    }
    let version = find(Column::Version);
    let mut dual_write = DualWrite::default();
    for row in rows {
        let cell = |at: Option<usize>| {
            at.and_then(|at| row.fields.get(at))
                .map(|text| text.trim())
                .filter(|text| !text.is_empty())
        };
        let map = read_row(
            row,
            cell(name),
            cell(entity),
            cell(table),
            cell(Some(status)),
            cell(version),
        )?;
        dual_write.maps.push(map);
    }
    Ok(Some(dual_write))
}

fn read_row(
    row: &Record,
    name: Option<&str>,
    entity: Option<&str>,
    table: Option<&str>,
    status: Option<&str>,
    version: Option<&str>,
) -> Result<DualWriteMap, Problem> {
    let line = row.line;
    let Some(status) = status else {
        return Err(Problem::line(line, "the map has no status"));
    };
    let state = map_state(status).ok_or_else(|| Problem::line(line, unknown_state(status)))?;
    // The map's name as dual-write writes it; from the two columns when `Name` is
    // missing or is not of the form `entity (table)`.
    let name = match (name, entity, table) {
        (Some(name), _, _) if name.ends_with(')') && name.contains(" (") => name.to_owned(),
        (_, Some(entity), Some(table)) => DualWriteMap::name_of(entity, table),
        (Some(name), _, _) => name.to_owned(),
        (None, _, _) => {
            return Err(Problem::line(
                line,
                "the map has no name and no finance and operations entity and Dataverse table",
            ));
        }
    };
    if let Some(version) = version
        && !is_dotted_version(version)
    {
        return Err(Problem::line(
            line,
            format!("`{version}` is not a version such as `1.0.2.1`"),
        ));
    }
    let (entity, table) = match (entity, table) {
        (Some(entity), Some(table)) => (Some(entity.to_owned()), Some(table.to_owned())),
        _ => split_name(&name),
    };
    Ok(DualWriteMap {
        name,
        entity,
        table,
        state,
        version: version.map(str::to_owned),
    })
}

/// `Customers V3 (accounts)` -> (`Customers V3`, `accounts`).
fn split_name(name: &str) -> (Option<String>, Option<String>) {
    match name
        .strip_suffix(')')
        .and_then(|rest| rest.rsplit_once(" ("))
    {
        Some((entity, table)) if !entity.trim().is_empty() && !table.trim().is_empty() => (
            Some(entity.trim().to_owned()),
            Some(table.trim().to_owned()),
        ),
        _ => (None, None),
    }
}

/// The first line, when it names a status column: enough to call the file a map
/// listing whose body is broken.
fn header_of(text: &str) -> Option<&str> {
    let first = text
        .strip_prefix('\u{FEFF}')
        .unwrap_or(text)
        .lines()
        .find(|line| !line.trim().is_empty())?;
    first
        .split([',', ';'])
        .any(|cell| column(cell.trim().trim_matches('"')) == Some(Column::Status))
        .then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_workspace_csv_is_read() {
        let text = "\u{FEFF}Name,Finance and Operations apps,Microsoft Dataverse,Status,Version\r\n\
                    Customers V3 (accounts),Customers V3,accounts,Running,1.0.0.11\r\n\
                    CDS Contacts V2 (contacts),CDS Contacts V2,contacts,Paused,1.0.0.4\r\n";
        let dual_write = read(text).unwrap().unwrap();
        assert_eq!(dual_write.linked_finance_and_operations_url, None);
        assert_eq!(
            dual_write.maps[1].to_json(),
            json!({"name": "CDS Contacts V2 (contacts)", "financeAndOperationsEntity": "CDS Contacts V2",
                   "dataverseTable": "contacts", "state": "Paused", "version": "1.0.0.4"})
        );
    }

    #[test]
    fn columns_are_found_in_any_order_and_case_with_quoted_commas() {
        let text = "status,VERSION,microsoft dataverse,\"Finance and Operations apps\",Notes\n\
                    Not running,1.0.0.5,salesorderdetails,CDS sales order lines,\"stopped, see ticket 42\"\n\
                    \"Running\",,accounts,Customers V3,\n";
        let dual_write = read(text).unwrap().unwrap();
        assert_eq!(
            dual_write.maps[0].name,
            "CDS sales order lines (salesorderdetails)"
        );
        assert_eq!(dual_write.maps[0].state, "Not running");
        assert_eq!(dual_write.maps[1].name, "Customers V3 (accounts)");
        assert_eq!(dual_write.maps[1].version, None);
    }

    #[test]
    fn a_name_alone_is_split_into_entity_and_table() {
        let dual_write = read("Name,State\nUnits (uoms),Stopped\n").unwrap().unwrap();
        assert_eq!(dual_write.maps[0].entity.as_deref(), Some("Units"));
        assert_eq!(dual_write.maps[0].table.as_deref(), Some("uoms"));
        assert_eq!(dual_write.maps[0].state, "Not running");
    }

    #[test]
    fn a_header_without_maps_is_not_this_shape() {
        assert_eq!(read("a,b,c\n1,2,3\n").unwrap(), None);
        assert_eq!(read("Name,Version\nUnits (uoms),1.0\n").unwrap(), None);
        assert_eq!(read("").unwrap(), None);
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let text = "Name,Status\nUnits (uoms),Running\nSites (msdyn_operationalsites),Sleeping\n";
        let problem = read(text).unwrap_err();
        assert_eq!(problem.place, "line 3");
        assert!(
            problem
                .message
                .starts_with("`Sleeping` is not a dual-write map state")
        );
        let open = read("Name,Status\n\"Units (uoms),Running\n").unwrap_err();
        assert_eq!(open.place, "line 2");
    }
}
