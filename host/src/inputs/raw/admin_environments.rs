//! The Power Platform admin API's environments (api-version 2020-10-01): the list
//! (`GET https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments`,
//! `{"value": [...]}`) or one environment (`.../environments/{name}`).
//!
//! Each environment is `{"name": "<guid>", "location": "europe", "properties":
//! {"displayName", "environmentSku", "azureRegion", "tenantId", "databaseType",
//! "linkedEnvironmentMetadata": {"instanceUrl", "baseLanguage", ...},
//! "linkedAppMetadata": {"id", "type", "url"}, "addons": [...], ...}}`. Only the
//! environment chosen is checked in detail: another environment of the list with an
//! odd value does not stop the import.

use super::{Problem, clean_url, get_ci, is_guid, str_ci};
use serde_json::{Map, Value};

/// The shape's name, for `snapshot.inputs`.
pub const SHAPE: &str = "Power Platform admin API environments";

/// The shapes `--environments` accepts, for the unknown-shape error.
pub const SHAPES: &[&str] = &[
    "the Power Platform admin API list of environments (`GET https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2020-10-01`): `{\"value\": [{\"name\", \"location\", \"properties\": {\"displayName\", \"environmentSku\", ...}}]}`",
    "one environment of the same API (`GET .../scopes/admin/environments/{name}?api-version=2020-10-01`): `{\"name\", \"location\", \"properties\": {...}}`",
];

/// The environment types the snapshot schema knows (`environment.type`).
const TYPES: &[&str] = &["Production", "Sandbox", "Developer", "Trial", "Default"];

/// One environment of the listing, read leniently: only the chosen one is checked.
#[derive(Clone, Debug)]
pub struct Environment {
    /// JSON pointer of the environment in the file (`/value/1`, or `` for one).
    pub pointer: String,
    /// `name`: the environment id (a GUID; `Default-<tenant>` for the default one).
    pub name: String,
    pub display_name: Option<String>,
    pub properties: Map<String, Value>,
    pub location: Option<String>,
}

/// A finance and operations environment linked through the Power Platform
/// integration (`linkedAppMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedApp {
    pub id: Option<String>,
    pub url: String,
}

/// The environments of a file, or `None` when it is not this shape.
pub fn read(value: &Value) -> Option<Vec<Environment>> {
    let Value::Object(members) = value else {
        return None;
    };
    if let Some(Value::Array(items)) = get_ci(members, "value") {
        let mut environments = Vec::new();
        for (index, item) in items.iter().enumerate() {
            environments.push(one(item, format!("/value/{index}"))?);
        }
        return Some(environments);
    }
    one(value, String::new()).map(|environment| vec![environment])
}

fn one(item: &Value, pointer: String) -> Option<Environment> {
    let members = item.as_object()?;
    let properties = get_ci(members, "properties")?.as_object()?;
    // An environment has a display name or a type; another ARM-like object does not.
    if str_ci(properties, "displayName").is_none() && str_ci(properties, "environmentSku").is_none()
    {
        return None;
    }
    Some(Environment {
        pointer,
        name: str_ci(members, "name").unwrap_or_default().to_owned(),
        display_name: str_ci(properties, "displayName").map(str::to_owned),
        properties: properties.clone(),
        location: str_ci(members, "location").map(str::to_owned),
    })
}

/// Picks the environment to import: by `name` (its id) or display name, without
/// regard to case; without `wanted`, the only one. The error lists the environments.
pub fn select<'e>(
    environments: &'e [Environment],
    wanted: Option<&str>,
) -> Result<&'e Environment, String> {
    let Some(wanted) = wanted.map(str::trim) else {
        return match environments {
            [] => Err("lists no environments".into()),
            [only] => Ok(only),
            all => Err(format!(
                "lists {} environments: choose one with --environment ID_OR_NAME:{}",
                all.len(),
                listing(all.iter())
            )),
        };
    };
    if let Some(found) = environments
        .iter()
        .find(|env| env.name.eq_ignore_ascii_case(wanted))
    {
        return Ok(found);
    }
    let named: Vec<&Environment> = environments
        .iter()
        .filter(|env| {
            env.display_name
                .as_deref()
                .is_some_and(|name| name.trim().eq_ignore_ascii_case(wanted))
        })
        .collect();
    match named.as_slice() {
        [only] => Ok(only),
        [] => Err(format!(
            "has no environment `{wanted}` (by id or display name); it lists:{}",
            listing(environments.iter())
        )),
        many => Err(format!(
            "has {} environments named `{wanted}`: choose one by id:{}",
            many.len(),
            listing(many.iter().copied())
        )),
    }
}

fn listing<'e>(environments: impl Iterator<Item = &'e Environment>) -> String {
    environments
        .map(|env| {
            let sku = str_ci(&env.properties, "environmentSku").unwrap_or("no type");
            format!(
                "\n  - `{}` (id `{}`, {sku})",
                env.display_name.as_deref().unwrap_or("(no display name)"),
                env.name
            )
        })
        .collect()
}

/// The geography a location id names, as the snapshot writes it (`europe` ->
/// `Europe`, `unitedstates` -> `US`). An id not in the table is kept with its first
/// letter capitalised.
pub fn geography(location: &str) -> String {
    let known = [
        ("unitedstates", "US"),
        ("unitedkingdom", "UK"),
        ("unitedarabemirates", "UAE"),
        ("southamerica", "South America"),
        ("southafrica", "South Africa"),
        ("europe", "Europe"),
        ("asia", "Asia"),
        ("australia", "Australia"),
        ("brazil", "Brazil"),
        ("canada", "Canada"),
        ("france", "France"),
        ("germany", "Germany"),
        ("india", "India"),
        ("japan", "Japan"),
        ("korea", "Korea"),
        ("norway", "Norway"),
        ("singapore", "Singapore"),
        ("switzerland", "Switzerland"),
        ("sweden", "Sweden"),
        ("italy", "Italy"),
        ("poland", "Poland"),
        ("spain", "Spain"),
    ];
    let squashed: String = location
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    match known.iter().find(|(id, _)| *id == squashed) {
        Some((_, name)) => (*name).to_owned(),
        None => {
            let mut chars = location.trim().chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

impl Environment {
    fn linked_environment(&self) -> Option<&Map<String, Value>> {
        get_ci(&self.properties, "linkedEnvironmentMetadata").and_then(Value::as_object)
    }

    fn at(&self, member: &str) -> String {
        format!("{}/properties/{member}", self.pointer)
    }

    /// The tenant: `properties.tenantId`.
    pub fn tenant_id(&self) -> Option<&str> {
        str_ci(&self.properties, "tenantId")
    }

    /// The Dataverse organization URL (`linkedEnvironmentMetadata.instanceUrl`),
    /// without its trailing slash.
    pub fn dataverse_url(&self) -> Option<String> {
        self.linked_environment()
            .and_then(|linked| str_ci(linked, "instanceUrl"))
            .and_then(clean_url)
    }

    /// Whether it has a Dataverse database: `databaseType` is not `None`; without
    /// `databaseType`, whether it has an organization URL.
    pub fn has_dataverse(&self) -> bool {
        match str_ci(&self.properties, "databaseType") {
            Some(kind) => !kind.eq_ignore_ascii_case("none"),
            None => self.dataverse_url().is_some(),
        }
    }

    /// The finance and operations environment linked by the Power Platform
    /// integration: `linkedAppMetadata` whose URL is a finance and operations one
    /// (`*.operations.dynamics.com`, `*.cloudax.dynamics.com`).
    pub fn linked_app(&self) -> Option<LinkedApp> {
        let linked = get_ci(&self.properties, "linkedAppMetadata")?.as_object()?;
        let url = clean_url(str_ci(linked, "url")?)?;
        let host = super::url_host(&url)?;
        if !(host.contains(".operations.") || host.ends_with(".cloudax.dynamics.com")) {
            return None;
        }
        Some(LinkedApp {
            id: str_ci(linked, "id")
                .filter(|id| is_guid(id))
                .map(str::to_owned),
            url,
        })
    }

    /// The provisioning templates the database was created from
    /// (`linkedEnvironmentMetadata.template` or `templates`).
    pub fn templates(&self) -> Vec<String> {
        let Some(linked) = self.linked_environment() else {
            return Vec::new();
        };
        ["template", "templates"]
            .iter()
            .filter_map(|name| get_ci(linked, name))
            .flat_map(|value| match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            })
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect()
    }

    /// Whether the database has Dynamics 365 apps enabled, when the listing says:
    /// no database, no apps; a `D365_*` provisioning template [inference: only a
    /// database with Dynamics 365 apps is created from one]; a finance and
    /// operations link (Lifecycle Services refuses to link a database without
    /// Dynamics 365 apps). Otherwise unknown.
    pub fn dynamics365_apps(&self) -> Option<bool> {
        if !self.has_dataverse() {
            return Some(false);
        }
        if self
            .templates()
            .iter()
            .any(|template| template.to_ascii_uppercase().starts_with("D365_"))
            || self.linked_app().is_some()
        {
            return Some(true);
        }
        None
    }

    /// Capacity add-ons allocated to this environment (`properties.addons`, listed
    /// with `$expand=properties.addons`): `addonType` and `allocated`. `None` when the
    /// listing does not have them.
    pub fn addons(&self) -> Option<Vec<(String, u64)>> {
        let addons = get_ci(&self.properties, "addons")?.as_array()?;
        Some(
            addons
                .iter()
                .filter_map(Value::as_object)
                .filter_map(|addon| {
                    let kind = str_ci(addon, "addonType")?.to_owned();
                    let allocated = get_ci(addon, "allocated")
                        .and_then(Value::as_f64)
                        .filter(|n| *n >= 0.0)
                        .map_or(0, |n| n as u64);
                    Some((kind, allocated))
                })
                .collect(),
        )
    }

    /// Whether the environment is billed pay-as-you-go: it names a billing policy
    /// (`properties.billingPolicy.id`). `None` when the listing does not say.
    pub fn pay_as_you_go(&self) -> Option<bool> {
        let policy = get_ci(&self.properties, "billingPolicy")?;
        Some(
            policy
                .as_object()
                .is_some_and(|policy| str_ci(policy, "id").is_some()),
        )
    }

    /// The snapshot's `environment`, with `fallback_tenant` when the listing has no
    /// `tenantId`. A value the schema cannot take is a problem at its place.
    pub fn to_environment(&self, fallback_tenant: Option<&str>) -> Result<Value, Problem> {
        let mut env = Map::new();
        if !self.name.is_empty() {
            if !is_guid(&self.name) {
                return Err(Problem::at(
                    &format!("{}/name", self.pointer),
                    format!(
                        "the environment id `{}` is not a GUID, which the snapshot needs (the \
                         tenant's default environment has no GUID id: the Customer portal \
                         belongs in a production or sandbox environment)",
                        self.name
                    ),
                ));
            }
            env.insert("id".into(), self.name.clone().into());
        }
        if let Some(name) = &self.display_name {
            env.insert("displayName".into(), name.clone().into());
        }
        let sku = str_ci(&self.properties, "environmentSku");
        let default = get_ci(&self.properties, "isDefault").and_then(Value::as_bool) == Some(true);
        match (sku, default) {
            (Some(sku), _) => {
                let Some(known) = TYPES.iter().find(|t| t.eq_ignore_ascii_case(sku)) else {
                    return Err(Problem::at(
                        &self.at("environmentSku"),
                        format!(
                            "the environment type `{sku}` is not one the snapshot knows ({})",
                            TYPES.join(", ")
                        ),
                    ));
                };
                env.insert("type".into(), (*known).into());
            }
            (None, true) => {
                env.insert("type".into(), "Default".into());
            }
            (None, false) => {}
        }
        if let Some(location) = &self.location {
            env.insert("geography".into(), geography(location).into());
        }
        if let Some(region) = str_ci(&self.properties, "azureRegion") {
            env.insert("region".into(), region.into());
        }
        if let Some(tenant) = self.tenant_id().or(fallback_tenant) {
            env.insert("tenantId".into(), tenant.into());
        }
        if let Some(url) = self.dataverse_url() {
            env.insert("url".into(), url.into());
        }
        env.insert("dataverse".into(), self.has_dataverse().into());
        if let Some(apps) = self.dynamics365_apps() {
            env.insert("dynamics365AppsEnabled".into(), apps.into());
        }
        if let Some(language) = self
            .linked_environment()
            .and_then(|linked| get_ci(linked, "baseLanguage"))
            .and_then(Value::as_u64)
            .filter(|lcid| *lcid > 0)
        {
            env.insert("baseLanguage".into(), language.into());
        }
        Ok(Value::Object(env))
    }

    /// The snapshot's `financeAndOperations`, when the environment is linked to one.
    /// What the listing cannot say is inferred from the link: the tenant is this
    /// environment's [inference: the link is made within one tenant], the geography
    /// is this environment's (Lifecycle Services refuses to link environments of two
    /// geographies). `isTrial`, `version`, `platformUpdate` and `region` are not in
    /// any export: they come from the overrides.
    pub fn to_finance_and_operations(&self, tenant: Option<&str>) -> Option<Value> {
        let app = self.linked_app()?;
        let mut fno = Map::new();
        if let Some(id) = app.id {
            fno.insert("id".into(), id.into());
        }
        fno.insert("url".into(), app.url.into());
        if let Some(tenant) = self.tenant_id().or(tenant) {
            fno.insert("tenantId".into(), tenant.into());
        }
        if let Some(location) = &self.location {
            fno.insert("geography".into(), geography(location).into());
        }
        Some(Value::Object(fno))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing() -> Value {
        json!({"value": [
            {
                "name": "6f1c2a3e-8d4b-4c61-9a57-0b2e3f4d5c6a",
                "location": "europe",
                "properties": {
                    "displayName": "Contoso Sales (Production)",
                    "environmentSku": "Production",
                    "azureRegion": "westeurope",
                    "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "databaseType": "CommonDataService",
                    "linkedEnvironmentMetadata": {
                        "instanceUrl": "https://contoso-sales.crm4.dynamics.com/",
                        "baseLanguage": 1033
                    },
                    "linkedAppMetadata": {
                        "type": "Internal",
                        "id": "c3a9e1d2-5b7f-4e08-a6c4-1d2e3f405162",
                        "url": "https://contoso-prod.operations.dynamics.com/"
                    },
                    "addons": [
                        {"addonType": "PortalLogins", "allocated": 0, "addonUnit": "Unit"},
                        {"addonType": "AppPass", "allocated": 2, "addonUnit": "Unit"}
                    ]
                }
            },
            {
                "name": "Default-72f988bf-86f1-41af-91ab-2d7cd011db47",
                "location": "unitedstates",
                "properties": {
                    "displayName": "Contoso (default)",
                    "environmentSku": "Default",
                    "isDefault": true,
                    "databaseType": "None"
                }
            },
            {
                "name": "0a7d5e21-3c44-4b9e-8f12-6e5d4c3b2a19",
                "location": "europe",
                "properties": {"displayName": "Contoso Sales (UAT)", "environmentSku": "Sandbox"}
            }
        ]})
    }

    #[test]
    fn a_listing_and_a_single_environment_are_read() {
        let all = read(&listing()).expect("a listing");
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].pointer, "/value/2");
        let single = json!({"name": "x", "properties": {"displayName": "X"}});
        let one = read(&single).expect("one environment");
        assert_eq!(one[0].display_name.as_deref(), Some("X"));
        assert!(read(&json!({"value": [1, 2]})).is_none());
        assert!(read(&json!({"skuPartNumber": "X"})).is_none());
        assert!(read(&json!([1, 2])).is_none());
    }

    #[test]
    fn environments_are_picked_by_id_or_display_name() {
        let all = read(&listing()).unwrap();
        let by_name = select(&all, Some("contoso sales (uat)")).unwrap();
        assert_eq!(by_name.name, "0a7d5e21-3c44-4b9e-8f12-6e5d4c3b2a19");
        let by_id = select(&all, Some("6F1C2A3E-8D4B-4C61-9A57-0B2E3F4D5C6A")).unwrap();
        assert_eq!(
            by_id.display_name.as_deref(),
            Some("Contoso Sales (Production)")
        );
        let missing = select(&all, Some("Nope")).unwrap_err();
        assert!(
            missing.starts_with("has no environment `Nope`"),
            "{missing}"
        );
        assert!(
            missing.contains("`Contoso Sales (UAT)` (id `0a7d5e21"),
            "{missing}"
        );
    }

    #[test]
    fn a_listing_of_several_needs_a_choice() {
        let all = read(&listing()).unwrap();
        let err = select(&all, None).unwrap_err();
        assert!(
            err.starts_with("lists 3 environments: choose one with --environment ID_OR_NAME:"),
            "{err}"
        );
        assert_eq!(err.matches("\n  - ").count(), 3, "{err}");
        let one = read(&json!({"name": "a", "properties": {"displayName": "A"}})).unwrap();
        assert_eq!(select(&one, None).unwrap().name, "a");
    }

    #[test]
    fn two_environments_with_one_display_name_are_ambiguous() {
        let twins = json!({"value": [
            {"name": "a", "properties": {"displayName": "Twin"}},
            {"name": "b", "properties": {"displayName": "twin"}}
        ]});
        let all = read(&twins).unwrap();
        let err = select(&all, Some("Twin")).unwrap_err();
        assert!(err.starts_with("has 2 environments named `Twin`"), "{err}");
    }

    #[test]
    fn the_environment_and_its_linked_finance_and_operations() {
        let all = read(&listing()).unwrap();
        let prod = &all[0];
        assert_eq!(
            prod.to_environment(None).unwrap(),
            json!({
                "id": "6f1c2a3e-8d4b-4c61-9a57-0b2e3f4d5c6a",
                "displayName": "Contoso Sales (Production)",
                "type": "Production",
                "geography": "Europe",
                "region": "westeurope",
                "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "url": "https://contoso-sales.crm4.dynamics.com",
                "dataverse": true,
                "dynamics365AppsEnabled": true,
                "baseLanguage": 1033
            })
        );
        assert_eq!(
            prod.to_finance_and_operations(None).unwrap(),
            json!({
                "id": "c3a9e1d2-5b7f-4e08-a6c4-1d2e3f405162",
                "url": "https://contoso-prod.operations.dynamics.com",
                "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "geography": "Europe"
            })
        );
        assert_eq!(
            prod.addons().unwrap(),
            vec![("PortalLogins".into(), 0), ("AppPass".into(), 2)]
        );
        assert_eq!(prod.pay_as_you_go(), None);
    }

    #[test]
    fn what_the_listing_does_not_say_is_left_out() {
        let all = read(&listing()).unwrap();
        let uat = &all[2];
        // No database type, no URL: no Dataverse, hence no Dynamics 365 apps.
        let env = uat
            .to_environment(Some("11111111-2222-3333-4444-555555555555"))
            .unwrap();
        assert_eq!(env["dataverse"], json!(false));
        assert_eq!(env["dynamics365AppsEnabled"], json!(false));
        assert_eq!(
            env["tenantId"],
            json!("11111111-2222-3333-4444-555555555555")
        );
        assert!(uat.to_finance_and_operations(None).is_none());
        assert!(uat.addons().is_none());
    }

    #[test]
    fn a_database_without_evidence_of_dynamics_365_apps_is_unknown() {
        let env = json!({"name": "a", "properties": {
            "displayName": "A", "databaseType": "CommonDataService",
            "linkedEnvironmentMetadata": {"instanceUrl": "https://a.crm.dynamics.com"}
        }});
        let all = read(&env).unwrap();
        assert_eq!(all[0].dynamics365_apps(), None);
        let templated = json!({"name": "a", "properties": {
            "displayName": "A", "databaseType": "CommonDataService",
            "linkedEnvironmentMetadata": {"instanceUrl": "https://a.crm.dynamics.com",
                                          "template": ["D365_Sales"]}
        }});
        assert_eq!(read(&templated).unwrap()[0].dynamics365_apps(), Some(true));
    }

    #[test]
    fn a_model_driven_app_link_is_not_finance_and_operations() {
        let env = json!({"name": "a", "properties": {"displayName": "A",
            "linkedAppMetadata": {"type": "ModelDriven", "id": "x",
                                  "url": "https://a.crm.dynamics.com/apps/x"}}});
        assert!(read(&env).unwrap()[0].linked_app().is_none());
    }

    #[test]
    fn an_unknown_type_or_a_default_id_is_a_problem_at_its_place() {
        let env = json!({"value": [{"name": "6f1c2a3e-8d4b-4c61-9a57-0b2e3f4d5c6a",
            "properties": {"displayName": "T", "environmentSku": "Teams"}}]});
        let problem = read(&env).unwrap()[0].to_environment(None).unwrap_err();
        assert_eq!(problem.place, "at `/value/0/properties/environmentSku`");
        assert!(problem.message.contains("`Teams`"), "{}", problem.message);
        let all = read(&listing()).unwrap();
        let problem = all[1].to_environment(None).unwrap_err();
        assert_eq!(problem.place, "at `/value/1/name`");
    }

    #[test]
    fn billing_policies_make_an_environment_pay_as_you_go() {
        let env = json!({"name": "a", "properties": {"displayName": "A",
            "billingPolicy": {"id": "f1d1e1c1-0000-4000-8000-000000000001"}}});
        assert_eq!(read(&env).unwrap()[0].pay_as_you_go(), Some(true));
    }

    #[test]
    fn locations_are_named_as_geographies() {
        assert_eq!(geography("europe"), "Europe");
        assert_eq!(geography("unitedstates"), "US");
        assert_eq!(geography("UnitedKingdom"), "UK");
        assert_eq!(geography("unitedarabemirates"), "UAE");
        assert_eq!(geography("southamerica"), "South America");
        assert_eq!(geography("atlantis"), "Atlantis");
    }
}
