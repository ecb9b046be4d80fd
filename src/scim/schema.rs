//! Schema definitions (RFC 7643 §2 and §7) for the resources Hub serves.
//!
//! The same definitions drive input validation, PATCH, filtering, attribute projection and the
//! `/Schemas` endpoint, so what Hub declares is what it enforces.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const HUB_USER: &str = "urn:hub:params:scim:schemas:extension:hub:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const HUB_GROUP: &str = "urn:hub:params:scim:schemas:extension:hub:2.0:Group";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
    Binary,
}

impl AttrType {
    fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
            AttrType::Binary => "binary",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
}

/// One attribute of a schema with its RFC 7643 §7 characteristics.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    pub name: &'static str,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    /// Suggested values (RFC 7643 §7); a closed set when `canonical_only` is set. Empty means
    /// any value.
    pub canonical_values: Vec<&'static str>,
    /// Whether a value outside `canonical_values` is rejected. RFC 7643 leaves the `type`
    /// sub-attributes open ("work", "home" are suggestions), while Hub roles are closed.
    pub canonical_only: bool,
    pub reference_types: &'static [&'static str],
    pub sub_attributes: Vec<AttributeDef>,
    pub description: &'static str,
}

impl AttributeDef {
    fn new(name: &'static str, kind: AttrType, description: &'static str) -> Self {
        AttributeDef {
            name,
            kind,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            canonical_only: false,
            reference_types: &[],
            sub_attributes: Vec::new(),
            description,
        }
    }

    fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }

    fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }

    fn canonical(mut self, values: &[&'static str]) -> Self {
        self.canonical_values = values.to_vec();
        self
    }

    fn canonical_only(mut self, values: &[&'static str]) -> Self {
        self.canonical_values = values.to_vec();
        self.canonical_only = true;
        self
    }

    fn references(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    fn sub(mut self, sub_attributes: Vec<AttributeDef>) -> Self {
        self.sub_attributes = sub_attributes;
        self
    }

    /// Finds a sub-attribute by name, ignoring case as RFC 7643 §2.1 requires.
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|sub| sub.name.eq_ignore_ascii_case(name))
    }

    /// Renders the attribute as RFC 7643 §7 describes it in a Schema resource.
    fn to_json(&self) -> Value {
        let mut attribute = Map::new();
        attribute.insert("name".into(), json!(self.name));
        attribute.insert("type".into(), json!(self.kind.as_str()));
        attribute.insert("multiValued".into(), json!(self.multi_valued));
        attribute.insert("description".into(), json!(self.description));
        attribute.insert("required".into(), json!(self.required));
        if self.kind == AttrType::String || self.kind == AttrType::Reference {
            attribute.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            attribute.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            attribute.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if !self.sub_attributes.is_empty() {
            let subs: Vec<Value> = self.sub_attributes.iter().map(Self::to_json).collect();
            attribute.insert("subAttributes".into(), Value::Array(subs));
        }
        attribute.insert("mutability".into(), json!(self.mutability.as_str()));
        attribute.insert("returned".into(), json!(self.returned.as_str()));
        let uniqueness = match self.uniqueness {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
        };
        attribute.insert("uniqueness".into(), json!(uniqueness));
        Value::Object(attribute)
    }
}

/// A schema: the core schema of a resource type or one of its extensions.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    /// Finds a top-level attribute by name, ignoring case.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
    }

    /// Renders the schema as a Schema resource (RFC 7643 §7).
    pub fn to_json(&self, base_url: &str) -> Value {
        let attributes: Vec<Value> = self.attributes.iter().map(AttributeDef::to_json).collect();
        json!({
            "schemas": [SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": attributes,
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/Schemas/{}", self.id),
            }
        })
    }
}

/// A resource type: its core schema and the extensions it accepts.
#[derive(Debug)]
pub struct ResourceTypeDef {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub core: &'static SchemaDef,
    pub extensions: Vec<(&'static SchemaDef, bool)>,
}

impl ResourceTypeDef {
    /// Finds an extension schema by URN, ignoring case.
    pub fn extension(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions
            .iter()
            .map(|(schema, _)| *schema)
            .find(|schema| schema.id.eq_ignore_ascii_case(urn))
    }

    /// Finds the core schema or an extension by URN, ignoring case.
    pub fn schema(&self, urn: &str) -> Option<&'static SchemaDef> {
        if self.core.id.eq_ignore_ascii_case(urn) {
            return Some(self.core);
        }
        self.extension(urn)
    }

    /// Renders the ResourceType resource (RFC 7643 §6).
    pub fn to_json(&self, base_url: &str) -> Value {
        let extensions: Vec<Value> = self
            .extensions
            .iter()
            .map(|(schema, required)| json!({"schema": schema.id, "required": required}))
            .collect();
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.core.id,
            "schemaExtensions": extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/{}", self.name),
            }
        })
    }
}

const TYPES_EMAIL: &[&str] = &["work", "home", "other"];
const TYPES_PHONE: &[&str] = &["work", "home", "mobile", "fax", "pager", "other"];
const TYPES_IM: &[&str] = &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"];
const TYPES_PHOTO: &[&str] = &["photo", "thumbnail"];
const TYPES_ADDRESS: &[&str] = &["work", "home", "other"];

/// Platform roles, highest first.
pub const PLATFORM_ROLES: &[&str] = &["Owner", "Admin", "Member", "Viewer"];
pub const USER_STATUSES: &[&str] = &["Invited", "Active", "Suspended", "Deactivated"];
pub const MFA_METHODS: &[&str] = &["totp", "sms", "email"];

/// Returns every time zone name of the IANA database that chrono-tz ships.
fn iana_time_zones() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name()).collect()
}

fn string(name: &'static str, description: &'static str) -> AttributeDef {
    AttributeDef::new(name, AttrType::String, description)
}

fn boolean(name: &'static str, description: &'static str) -> AttributeDef {
    AttributeDef::new(name, AttrType::Boolean, description)
}

fn reference(
    name: &'static str,
    types: &'static [&'static str],
    description: &'static str,
) -> AttributeDef {
    AttributeDef::new(name, AttrType::Reference, description).references(types)
}

fn complex(name: &'static str, description: &'static str) -> AttributeDef {
    AttributeDef::new(name, AttrType::Complex, description)
}

/// Returns the sub-attributes shared by multi-valued attributes such as emails (RFC 7643 §2.4).
fn plural_sub_attributes(types: &'static [&'static str], value_kind: AttrType) -> Vec<AttributeDef> {
    vec![
        AttributeDef::new("value", value_kind, "The attribute's significant value."),
        string("display", "A human-readable name, primarily used for display purposes."),
        string("type", "A label indicating the attribute's function.").canonical(types),
        boolean("primary", "Whether this value is the preferred one of the attribute."),
    ]
}

fn core_user_schema() -> SchemaDef {
    let name = complex("name", "The components of the user's real name.").sub(vec![
        string("formatted", "The full name, formatted for display."),
        string("familyName", "The family name of the user."),
        string("givenName", "The given name of the user."),
        string("middleName", "The middle name(s) of the user."),
        string("honorificPrefix", "The honorific prefix(es) of the user."),
        string("honorificSuffix", "The honorific suffix(es) of the user."),
    ]);
    let address = complex("addresses", "Physical mailing addresses of the user.")
        .multi()
        .sub(vec![
            string("formatted", "The full mailing address, formatted for display."),
            string("streetAddress", "The full street address component."),
            string("locality", "The city or locality component."),
            string("region", "The state or region component."),
            string("postalCode", "The zip code or postal code component."),
            string("country", "The country name component."),
            string("type", "A label indicating the address's function.").canonical(TYPES_ADDRESS),
            boolean("primary", "Whether this is the preferred mailing address."),
        ]);
    let group_sub = vec![
        string("value", "The identifier of the user's group.").mutability(Mutability::ReadOnly),
        reference("$ref", &["User", "Group"], "The URI of the group.")
            .mutability(Mutability::ReadOnly),
        string("display", "The display name of the group.").mutability(Mutability::ReadOnly),
        string("type", "Whether the membership is direct or indirect.")
            .canonical(&["direct", "indirect"])
            .mutability(Mutability::ReadOnly),
    ];
    let mut role_sub_attributes = plural_sub_attributes(&[], AttrType::String);
    role_sub_attributes[0] = string("value", "A Hub platform role: Owner, Admin, Member or Viewer.")
        .canonical_only(PLATFORM_ROLES);
    let roles = complex(
        "roles",
        "The user's Hub platform role (Owner, Admin, Member or Viewer); the primary value counts.",
    )
    .multi()
    .sub(role_sub_attributes);

    SchemaDef {
        id: CORE_USER,
        name: "User",
        description: "User Account",
        attributes: vec![
            string("userName", "Unique identifier of the user, typically the sign-in name.")
                .required()
                .unique(),
            name,
            string("displayName", "The name of the user, suitable for display."),
            string("nickName", "The casual way to address the user."),
            reference("profileUrl", &["external"], "A URI of the user's online profile."),
            string("title", "The user's title, such as \"Vice President\"."),
            string("userType", "The relationship between the organization and the user."),
            string("preferredLanguage", "The user's preferred written or spoken language."),
            string("locale", "The user's default location for localization."),
            string("timezone", "The user's time zone as an IANA name, such as \"Europe/Paris\".")
                .canonical(&iana_time_zones()),
            boolean("active", "Whether the user may sign in. false deactivates the user in Hub."),
            string("password", "Accepted and discarded: Hub users sign in through their identity provider.")
                .mutability(Mutability::WriteOnly)
                .returned(Returned::Never),
            complex("emails", "Email addresses of the user.")
                .multi()
                .sub(plural_sub_attributes(TYPES_EMAIL, AttrType::String)),
            complex("phoneNumbers", "Phone numbers of the user.")
                .multi()
                .sub(plural_sub_attributes(TYPES_PHONE, AttrType::String)),
            complex("ims", "Instant messaging addresses of the user.")
                .multi()
                .sub(plural_sub_attributes(TYPES_IM, AttrType::String)),
            complex("photos", "URLs of photos of the user; the first photo is the avatar.")
                .multi()
                .sub(plural_sub_attributes(TYPES_PHOTO, AttrType::Reference)),
            address,
            complex("groups", "The groups the user belongs to.")
                .multi()
                .mutability(Mutability::ReadOnly)
                .sub(group_sub),
            complex("entitlements", "Entitlements of the user.")
                .multi()
                .sub(plural_sub_attributes(&[], AttrType::String)),
            roles,
            complex("x509Certificates", "X.509 certificates of the user.")
                .multi()
                .sub(plural_sub_attributes(&[], AttrType::Binary)),
        ],
    }
}

fn enterprise_user_schema() -> SchemaDef {
    let manager = complex("manager", "The user's manager, by Hub user id.").sub(vec![
        string("value", "The id of the manager's User resource."),
        reference("$ref", &["User"], "The URI of the manager's User resource."),
        string("displayName", "The display name of the manager.")
            .mutability(Mutability::ReadOnly),
    ]);
    SchemaDef {
        id: ENTERPRISE_USER,
        name: "EnterpriseUser",
        description: "Enterprise User",
        attributes: vec![
            string("employeeNumber", "Numeric or alphanumeric identifier assigned to the user."),
            string("costCenter", "Identifies the name of a cost center."),
            string("organization", "Identifies the name of an organization."),
            string("division", "Identifies the name of a division."),
            string("department", "Identifies the name of a department."),
            manager,
        ],
    }
}

fn hub_user_schema() -> SchemaDef {
    let mfa = complex("mfa", "Multi-factor authentication state, recorded at sign-in.")
        .mutability(Mutability::ReadOnly)
        .sub(vec![
            boolean("enabled", "Whether the user signs in with a second factor.")
                .mutability(Mutability::ReadOnly),
            string("methods", "The second factors the user has: totp, sms or email.")
                .multi()
                .canonical(MFA_METHODS)
                .mutability(Mutability::ReadOnly),
        ]);
    SchemaDef {
        id: HUB_USER,
        name: "HubUser",
        description: "Hub platform role, product access and account state of a user",
        attributes: vec![
            string("status", "The Hub account state: Invited, Active, Suspended or Deactivated.")
                .canonical_only(USER_STATUSES)
                .mutability(Mutability::ReadOnly),
            string("platformRole", "The role assigned to the user itself.")
                .canonical_only(PLATFORM_ROLES),
            string("productAccess", "Product keys assigned to the user itself.")
                .multi()
                .case_exact(),
            string(
                "effectiveRole",
                "The highest of the user's own role and the roles its groups grant.",
            )
            .canonical_only(PLATFORM_ROLES)
            .mutability(Mutability::ReadOnly),
            string(
                "effectiveProductAccess",
                "The union of the user's own product access and what its groups grant.",
            )
            .multi()
            .case_exact()
            .mutability(Mutability::ReadOnly),
            mfa,
            AttributeDef::new("lastLogin", AttrType::DateTime, "The time of the last sign-in.")
                .mutability(Mutability::ReadOnly),
        ],
    }
}

fn core_group_schema() -> SchemaDef {
    let members = complex("members", "The users in the group. Hub groups contain users only.")
        .multi()
        .sub(vec![
            string("value", "The id of a member User resource.").mutability(Mutability::Immutable),
            reference("$ref", &["User", "Group"], "The URI of the member resource.")
                .mutability(Mutability::Immutable),
            string("display", "Accepted in requests and not stored; Hub shows members by id.")
                .mutability(Mutability::ReadOnly)
                .returned(Returned::Never),
            string("type", "The type of the member resource; Hub accepts User.")
                .canonical(&["User", "Group"])
                .mutability(Mutability::Immutable),
        ]);
    SchemaDef {
        id: CORE_GROUP,
        name: "Group",
        description: "Group",
        attributes: vec![
            string("displayName", "The name of the group, unique in the organization regardless of case.")
                .required()
                .unique(),
            members,
        ],
    }
}

fn hub_group_schema() -> SchemaDef {
    SchemaDef {
        id: HUB_GROUP,
        name: "HubGroup",
        description: "Access that a Hub group grants its members",
        attributes: vec![
            string("platformRole", "The platform role every member gets at least.")
                .canonical_only(PLATFORM_ROLES),
            string("productAccess", "Product keys every member gets.")
                .multi()
                .case_exact(),
        ],
    }
}

/// Attributes every resource has (RFC 7643 §3.1), outside any schema's attribute list.
fn common_attributes() -> Vec<AttributeDef> {
    let meta = complex("meta", "Resource metadata.")
        .mutability(Mutability::ReadOnly)
        .sub(vec![
            string("resourceType", "The name of the resource type.")
                .case_exact()
                .mutability(Mutability::ReadOnly),
            AttributeDef::new("created", AttrType::DateTime, "When the resource was created.")
                .mutability(Mutability::ReadOnly),
            AttributeDef::new(
                "lastModified",
                AttrType::DateTime,
                "When the resource was last changed.",
            )
            .mutability(Mutability::ReadOnly),
            reference("location", &["uri"], "The URI of the resource.")
                .mutability(Mutability::ReadOnly),
            string("version", "The entity tag of the resource.")
                .case_exact()
                .mutability(Mutability::ReadOnly),
        ]);
    vec![
        string("id", "The server-assigned identifier of the resource.")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .unique(),
        string("externalId", "The identifier of the resource at the provisioning client.")
            .case_exact(),
        meta,
    ]
}

pub static USER_SCHEMA: LazyLock<SchemaDef> = LazyLock::new(core_user_schema);
pub static ENTERPRISE_USER_SCHEMA: LazyLock<SchemaDef> = LazyLock::new(enterprise_user_schema);
pub static HUB_USER_SCHEMA: LazyLock<SchemaDef> = LazyLock::new(hub_user_schema);
pub static COMMON_ATTRIBUTES: LazyLock<SchemaDef> = LazyLock::new(|| SchemaDef {
    id: "common",
    name: "Common",
    description: "Attributes of every resource",
    attributes: common_attributes(),
});

pub static GROUP_SCHEMA: LazyLock<SchemaDef> = LazyLock::new(core_group_schema);
pub static HUB_GROUP_SCHEMA: LazyLock<SchemaDef> = LazyLock::new(hub_group_schema);

pub static GROUP_RESOURCE: LazyLock<ResourceTypeDef> = LazyLock::new(|| ResourceTypeDef {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    core: &GROUP_SCHEMA,
    extensions: vec![(&HUB_GROUP_SCHEMA, false)],
});

pub static USER_RESOURCE: LazyLock<ResourceTypeDef> = LazyLock::new(|| ResourceTypeDef {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    core: &USER_SCHEMA,
    extensions: vec![(&ENTERPRISE_USER_SCHEMA, false), (&HUB_USER_SCHEMA, false)],
});

/// Returns every schema served at `/Schemas`.
pub fn all_schemas() -> Vec<&'static SchemaDef> {
    vec![&USER_SCHEMA, &ENTERPRISE_USER_SCHEMA, &HUB_USER_SCHEMA, &GROUP_SCHEMA, &HUB_GROUP_SCHEMA]
}

/// Returns every resource type served at `/ResourceTypes`.
pub fn all_resource_types() -> Vec<&'static ResourceTypeDef> {
    vec![&USER_RESOURCE, &GROUP_RESOURCE]
}

/// The place of an attribute in a resource document: at the top level (core and common
/// attributes) or inside an extension object keyed by its schema URN.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttribute {
    /// `None` for core and common attributes, the extension URN otherwise.
    pub extension: Option<&'static str>,
    pub def: &'static AttributeDef,
}

impl ResourceTypeDef {
    /// Resolves an attribute name with an optional schema URN, ignoring case.
    ///
    /// Without a URN, core and common attributes are searched first, then the extensions, so
    /// `department` finds the enterprise attribute as clients commonly expect.
    pub fn resolve(&'static self, urn: Option<&str>, name: &str) -> Option<ResolvedAttribute> {
        if let Some(urn) = urn {
            let schema = self.schema(urn)?;
            let def = schema.attribute(name).or_else(|| {
                // The core schema URN may also prefix a common attribute such as `id`.
                (schema.id == self.core.id)
                    .then(|| COMMON_ATTRIBUTES.attribute(name))
                    .flatten()
            })?;
            let extension = (schema.id != self.core.id).then_some(schema.id);
            return Some(ResolvedAttribute { extension, def });
        }
        if let Some(def) = COMMON_ATTRIBUTES
            .attribute(name)
            .or_else(|| self.core.attribute(name))
        {
            return Some(ResolvedAttribute {
                extension: None,
                def,
            });
        }
        self.extensions.iter().find_map(|(schema, _)| {
            schema.attribute(name).map(|def| ResolvedAttribute {
                extension: Some(schema.id),
                def,
            })
        })
    }
}

/// Splits `urn:...:User:attr.sub` into the schema URN and the rest, when the text starts with a
/// schema URN of the resource type. Matching is case-insensitive.
pub fn split_schema_prefix<'a>(
    resource: &ResourceTypeDef,
    text: &'a str,
) -> Option<(&'static str, &'a str)> {
    let mut schemas: Vec<&'static SchemaDef> = vec![resource.core];
    schemas.extend(resource.extensions.iter().map(|(schema, _)| *schema));
    for schema in schemas {
        let prefix_len = schema.id.len();
        if text.len() > prefix_len
            && text.is_char_boundary(prefix_len)
            && text[..prefix_len].eq_ignore_ascii_case(schema.id)
            && text.as_bytes()[prefix_len] == b':'
        {
            return Some((schema.id, &text[prefix_len + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_finds_enterprise_attribute_without_urn() {
        let resolved = USER_RESOURCE.resolve(None, "Department").unwrap();

        assert_eq!(resolved.extension, Some(ENTERPRISE_USER));
        assert_eq!(resolved.def.name, "department");
    }

    #[test]
    fn split_schema_prefix_separates_attribute() {
        let text = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

        let (urn, rest) = split_schema_prefix(&USER_RESOURCE, text).unwrap();

        assert_eq!(urn, ENTERPRISE_USER);
        assert_eq!(rest, "manager");
    }
}
