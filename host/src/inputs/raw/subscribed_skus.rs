//! Microsoft Graph `GET https://graph.microsoft.com/v1.0/subscribedSkus`:
//! `{"@odata.context": ".../$metadata#subscribedSkus", "value": [{"skuId",
//! "skuPartNumber", "capabilityStatus", "consumedUnits", "prepaidUnits": {"enabled",
//! "suspended", "warning", "lockedOut"}, "servicePlans": [...], "accountId"}]}`.
//!
//! The SKUs are the tenant's: they cannot say which capacity is allocated to which
//! environment. [`Licences`] counts what the tenant holds; `snapshot` documents how it
//! becomes this environment's `licensing` (docs/import.md, the inferences).

use super::{Problem, get_ci, is_guid, odata_context, odata_value, str_ci};
use serde_json::Value;

/// The shape's name, for `snapshot.inputs`.
pub const SHAPE: &str = "Microsoft Graph subscribedSkus";

/// The shapes `--skus` accepts, for the unknown-shape error.
pub const SHAPES: &[&str] = &[
    "the Microsoft Graph subscribed SKUs (`GET https://graph.microsoft.com/v1.0/subscribedSkus`): `{\"value\": [{\"skuPartNumber\", \"capabilityStatus\", \"consumedUnits\", \"prepaidUnits\": {\"enabled\"}, ...}]}`",
];

/// One SKU the tenant subscribes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sku {
    pub part_number: String,
    pub capability_status: Option<String>,
    pub consumed_units: u64,
    pub enabled_units: u64,
}

impl Sku {
    /// Whether the SKU gives rights now: `capabilityStatus` `Enabled`, or `Warning`
    /// (the grace period after it lapses). `Suspended`, `Deleted` and `LockedOut` do not.
    pub fn active(&self) -> bool {
        self.capability_status.as_deref().is_none_or(|status| {
            status.eq_ignore_ascii_case("enabled") || status.eq_ignore_ascii_case("warning")
        })
    }
}

/// What a SKU is to Power Pages licensing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Power Pages authenticated users, packs of 100 per website per month.
    AuthenticatedPack,
    /// Power Pages anonymous users, packs of 500 per website per month.
    AnonymousPack,
    /// Legacy Power Apps portals login capacity, 100 logins per month a unit.
    PortalLogins,
    /// Legacy Power Apps portals page view capacity, 100,000 page views per month a unit.
    PortalViews,
    /// Power Apps per app: one website each.
    PerApp,
    /// Power Apps per user (Premium): any number of websites.
    PerUser,
    /// A Dynamics 365 enterprise licence: use rights in the same environment.
    Dynamics365Enterprise,
}

/// Dynamics 365 enterprise SKUs (`skuPartNumber`, without a `_GOV`/`_GCC` suffix).
/// Professional, Team Members, Business Central and trial SKUs give no Power Pages
/// use rights and are not listed.
const DYNAMICS_365_ENTERPRISE: &[&str] = &[
    "dyn365_enterprise_plan1",
    "dyn365_enterprise_sales",
    "dyn365_enterprise_customer_service",
    "dyn365_enterprise_sales_customerservice",
    "dyn365_enterprise_field_service",
    "dyn365_enterprise_project_service_automation",
    "dyn365_sales_premium",
    "dyn365_finance",
    "dyn365_scm",
    "dynamics_365_for_operations",
    "d365_enterprise_sales",
];

/// What `part_number` is to Power Pages licensing, by its `skuPartNumber`.
pub fn kind(part_number: &str) -> Option<Kind> {
    let name = part_number.trim().to_ascii_lowercase().replace(' ', "_");
    if name.contains("trial") || name.ends_with("_iw") {
        return None;
    }
    if name.starts_with("power_pages") && name.contains("authenticated") {
        return Some(Kind::AuthenticatedPack);
    }
    if name.starts_with("power_pages") && name.contains("anonymous") {
        return Some(Kind::AnonymousPack);
    }
    if name.starts_with("powerapps_portals_login") {
        return Some(Kind::PortalLogins);
    }
    if name.starts_with("powerapps_portals_pageview") {
        return Some(Kind::PortalViews);
    }
    let base = name
        .strip_suffix("_gov")
        .or_else(|| name.strip_suffix("_gcc"))
        .unwrap_or(&name);
    if matches!(
        base,
        "powerapps_per_app" | "powerapps_per_app_new" | "powerapps_per_app_gcc_new"
    ) {
        return Some(Kind::PerApp);
    }
    if base == "powerapps_per_user" {
        return Some(Kind::PerUser);
    }
    DYNAMICS_365_ENTERPRISE
        .contains(&base)
        .then_some(Kind::Dynamics365Enterprise)
}

/// What the tenant holds, summed over its active SKUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Licences {
    /// Authenticated users per website per month (packs x 100).
    pub authenticated_users: u64,
    /// Anonymous users per website per month (packs x 500).
    pub anonymous_users: u64,
    /// Legacy portal logins per month (units x 100).
    pub portal_logins: u64,
    /// Legacy portal page views per month (units x 100,000).
    pub portal_views: u64,
    /// Power Apps per app licences bought (`prepaidUnits.enabled`).
    pub per_app: u64,
    /// Power Apps per user licences assigned (`consumedUnits`).
    pub per_user: u64,
    /// Dynamics 365 enterprise SKUs assigned to at least one user.
    pub dynamics365_enterprise: Vec<String>,
}

/// The SKUs of a response, `Ok(None)` when it is not this shape.
pub fn read(value: &Value) -> Result<Option<Vec<Sku>>, Problem> {
    let Some(items) = odata_value(value) else {
        return Ok(None);
    };
    let is_skus = match items.first() {
        Some(Value::Object(first)) => get_ci(first, "skuPartNumber").is_some(),
        Some(_) => false,
        None => odata_context(value).is_some_and(|context| context.contains("#subscribedSkus")),
    };
    if !is_skus {
        return Ok(None);
    }
    let count = |members: &serde_json::Map<String, Value>, name: &str, at: String| match get_ci(
        members, name,
    ) {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value
            .as_u64()
            .ok_or_else(|| Problem::at(&at, format!("expected a count, found {value}"))),
    };
    let mut skus = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(members) = item.as_object() else {
            return Err(Problem::at(
                &format!("/value/{index}"),
                "not a SKU (an object)",
            ));
        };
        let part_number = str_ci(members, "skuPartNumber").ok_or_else(|| {
            Problem::at(
                &format!("/value/{index}/skuPartNumber"),
                "the SKU has no part number",
            )
        })?;
        let enabled = match get_ci(members, "prepaidUnits").and_then(Value::as_object) {
            Some(prepaid) => count(
                prepaid,
                "enabled",
                format!("/value/{index}/prepaidUnits/enabled"),
            )?,
            None => 0,
        };
        skus.push(Sku {
            part_number: part_number.to_owned(),
            capability_status: str_ci(members, "capabilityStatus").map(str::to_owned),
            consumed_units: count(
                members,
                "consumedUnits",
                format!("/value/{index}/consumedUnits"),
            )?,
            enabled_units: enabled,
        });
    }
    Ok(Some(skus))
}

/// The tenant of a response: the first `accountId` that is a GUID.
pub fn tenant_of(value: &Value) -> Option<String> {
    odata_value(value)?
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|sku| str_ci(sku, "accountId"))
        .find(|id| is_guid(id))
        .map(str::to_owned)
}

/// Sums what the active SKUs give.
pub fn licences(skus: &[Sku]) -> Licences {
    let mut licences = Licences::default();
    for sku in skus.iter().filter(|sku| sku.active()) {
        match kind(&sku.part_number) {
            Some(Kind::AuthenticatedPack) => {
                licences.authenticated_users += sku.enabled_units * 100
            }
            Some(Kind::AnonymousPack) => licences.anonymous_users += sku.enabled_units * 500,
            Some(Kind::PortalLogins) => licences.portal_logins += sku.enabled_units * 100,
            Some(Kind::PortalViews) => licences.portal_views += sku.enabled_units * 100_000,
            Some(Kind::PerApp) => licences.per_app += sku.enabled_units,
            Some(Kind::PerUser) => licences.per_user += sku.consumed_units,
            Some(Kind::Dynamics365Enterprise) if sku.consumed_units > 0 => {
                licences
                    .dynamics365_enterprise
                    .push(sku.part_number.clone());
            }
            Some(Kind::Dynamics365Enterprise) | None => {}
        }
    }
    licences
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sku(part: &str, status: &str, consumed: u64, enabled: u64) -> Value {
        json!({"skuId": "00000000-0000-0000-0000-000000000000", "skuPartNumber": part,
               "capabilityStatus": status, "consumedUnits": consumed,
               "prepaidUnits": {"enabled": enabled, "suspended": 0, "warning": 0},
               "accountId": "72f988bf-86f1-41af-91ab-2d7cd011db47"})
    }

    #[test]
    fn part_numbers_are_classified() {
        assert_eq!(
            kind("Power_Pages_authenticated_users_T1_100_users/per_site/month_capacity_pack"),
            Some(Kind::AuthenticatedPack)
        );
        assert_eq!(
            kind("Power Pages authenticated users T2_CN_CN"),
            Some(Kind::AuthenticatedPack)
        );
        assert_eq!(
            kind("Power_Pages_anonymous_users_T1_500_users/per_site/month_capacity_pack"),
            Some(Kind::AnonymousPack)
        );
        assert_eq!(kind("Power_Pages_vTrial_for_Makers"), None);
        assert_eq!(kind("POWERAPPS_PORTALS_LOGIN_T2"), Some(Kind::PortalLogins));
        assert_eq!(
            kind("POWERAPPS_PORTALS_PAGEVIEW_GCC"),
            Some(Kind::PortalViews)
        );
        assert_eq!(kind("POWERAPPS_PER_APP_NEW"), Some(Kind::PerApp));
        assert_eq!(kind("POWERAPPS_PER_APP_IW"), None);
        assert_eq!(kind("POWERAPPS_PER_USER"), Some(Kind::PerUser));
        assert_eq!(kind("DYN365_SCM"), Some(Kind::Dynamics365Enterprise));
        assert_eq!(
            kind("DYN365_ENTERPRISE_SALES_GOV"),
            Some(Kind::Dynamics365Enterprise)
        );
        assert_eq!(kind("D365_SALES_PRO"), None);
        assert_eq!(kind("DYN365_ENTERPRISE_TEAM_MEMBERS"), None);
        assert_eq!(kind("DYN365_ENTERPRISE_P1_IW"), None);
        assert_eq!(kind("ENTERPRISEPACK"), None);
    }

    #[test]
    fn active_skus_are_summed() {
        let response = json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscribedSkus",
            "value": [
                sku("Power_Pages_authenticated_users_T1_100_users/per_site/month_capacity_pack", "Enabled", 0, 2),
                sku("Power_Pages_anonymous_users_T1_500_users/per_site/month_capacity_pack", "Warning", 0, 1),
                sku("POWERAPPS_PORTALS_LOGIN_T2", "Suspended", 0, 10),
                sku("POWERAPPS_PORTALS_PAGEVIEW", "Enabled", 0, 3),
                sku("POWERAPPS_PER_APP_NEW", "Enabled", 4, 5),
                sku("POWERAPPS_PER_USER", "Enabled", 7, 20),
                sku("DYN365_SCM", "Enabled", 12, 15),
                sku("DYN365_ENTERPRISE_SALES", "Enabled", 0, 5)
            ]
        });
        let skus = read(&response).unwrap().unwrap();
        assert_eq!(
            licences(&skus),
            Licences {
                authenticated_users: 200,
                anonymous_users: 500,
                portal_logins: 0,
                portal_views: 300_000,
                per_app: 5,
                per_user: 7,
                dynamics365_enterprise: vec!["DYN365_SCM".into()],
            }
        );
        assert_eq!(
            tenant_of(&response).as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
    }

    #[test]
    fn other_shapes_are_not_skus() {
        assert_eq!(
            read(&json!({"value": [{"uniquename": "A"}]})).unwrap(),
            None
        );
        assert_eq!(read(&json!([1, 2])).unwrap(), None);
        let empty = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscribedSkus", "value": []});
        assert_eq!(read(&empty).unwrap(), Some(Vec::new()));
    }

    #[test]
    fn a_count_that_is_not_a_count_is_a_problem_at_its_pointer() {
        let response = json!({"value": [{"skuPartNumber": "X", "consumedUnits": "many"}]});
        let problem = read(&response).unwrap_err();
        assert_eq!(problem.place, "at `/value/0/consumedUnits`");
    }
}
