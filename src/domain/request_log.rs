//! The SCIM request log: what an organization's identity provider requested of Hub and how Hub
//! responded, in terms an administrator reads (create user, deactivate, add members).
//!
//! An entry is built from fixed fields only. None of them can hold a request body, a header or
//! a credential, so nothing secret can reach the log by accident.

use chrono::{DateTime, Utc};

/// The action a SCIM request performed, as an administrator would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A read of one resource, or a filter that names one (`userName eq "…"`).
    Lookup,
    /// A list or search that is not a lookup.
    List,
    CreateUser,
    UpdateUser,
    Deactivate,
    Reactivate,
    DeleteUser,
    RoleChange,
    ProductAccessChange,
    CreateGroup,
    UpdateGroup,
    AddMembers,
    RemoveMembers,
    DeleteGroup,
    Bulk,
    /// ServiceProviderConfig, ResourceTypes and Schemas.
    Discovery,
    /// `/Me`, or a path Hub does not serve.
    Other,
}

const ACTIONS: [Action; 17] = [
    Action::Lookup,
    Action::List,
    Action::CreateUser,
    Action::UpdateUser,
    Action::Deactivate,
    Action::Reactivate,
    Action::DeleteUser,
    Action::RoleChange,
    Action::ProductAccessChange,
    Action::CreateGroup,
    Action::UpdateGroup,
    Action::AddMembers,
    Action::RemoveMembers,
    Action::DeleteGroup,
    Action::Bulk,
    Action::Discovery,
    Action::Other,
];

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Lookup => "lookup",
            Action::List => "list",
            Action::CreateUser => "createUser",
            Action::UpdateUser => "updateUser",
            Action::Deactivate => "deactivate",
            Action::Reactivate => "reactivate",
            Action::DeleteUser => "deleteUser",
            Action::RoleChange => "roleChange",
            Action::ProductAccessChange => "productAccessChange",
            Action::CreateGroup => "createGroup",
            Action::UpdateGroup => "updateGroup",
            Action::AddMembers => "addMembers",
            Action::RemoveMembers => "removeMembers",
            Action::DeleteGroup => "deleteGroup",
            Action::Bulk => "bulk",
            Action::Discovery => "discovery",
            Action::Other => "other",
        }
    }

    /// Parses an action name exactly as [`Action::as_str`] writes it.
    pub fn parse(text: &str) -> Option<Action> {
        ACTIONS.into_iter().find(|action| action.as_str() == text)
    }

    /// Lists every action name, for error messages.
    pub fn names() -> Vec<&'static str> {
        ACTIONS.iter().map(|action| action.as_str()).collect()
    }
}

/// The kind of provisioning client, recognised from its `User-Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Entra,
    Okta,
    Generic,
}

impl Client {
    /// Recognises Microsoft Entra ID by "microsoft", "azure", "aad" or "entra" in the agent,
    /// and Okta by "okta", ignoring case. Anything else, a missing agent included, is a generic
    /// client. NOTE: the marks were not checked against live Entra or Okta traffic; the raw
    /// agent is stored beside the class for that reason.
    pub fn from_user_agent(user_agent: Option<&str>) -> Client {
        let Some(agent) = user_agent else { return Client::Generic };
        let entra_marks = ["microsoft", "azure", "aad", "entra"];
        if entra_marks.iter().any(|mark| contains_ignoring_case(agent, mark)) {
            return Client::Entra;
        }
        if contains_ignoring_case(agent, "okta") {
            return Client::Okta;
        }
        Client::Generic
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Client::Entra => "entra",
            Client::Okta => "okta",
            Client::Generic => "generic",
        }
    }
}

/// Tells whether `text` contains the lower-case ASCII `mark`, ignoring ASCII case.
fn contains_ignoring_case(text: &str, mark: &str) -> bool {
    text.as_bytes().windows(mark.len()).any(|window| window.eq_ignore_ascii_case(mark.as_bytes()))
}

/// The class of a response status, for filtering the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 1xx to 3xx, 304 Not Modified included.
    Success,
    ClientError,
    ServerError,
}

impl StatusClass {
    pub fn parse(text: &str) -> Option<StatusClass> {
        match text {
            "success" => Some(StatusClass::Success),
            "clientError" => Some(StatusClass::ClientError),
            "serverError" => Some(StatusClass::ServerError),
            _ => None,
        }
    }

    /// Returns the statuses of the class as a half-open range.
    pub fn range(self) -> (u16, u16) {
        match self {
            StatusClass::Success => (100, 400),
            StatusClass::ClientError => (400, 500),
            StatusClass::ServerError => (500, 600),
        }
    }
}

/// One operation of a PATCH request (`op` and `path`, never the value), or one operation of a
/// `/Bulk` request (method, path, the status it got and, when it failed, the error).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OperationSummary {
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The Hub rule that rejected a `/Bulk` operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// One logged SCIM request. These fields are the whole stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEntry {
    pub org_id: String,
    /// When the request arrived.
    pub at: DateTime<Utc>,
    pub token_id: String,
    pub token_name: String,
    pub client: Client,
    pub user_agent: Option<String>,
    pub method: String,
    /// The request path, without the query string.
    pub path: String,
    pub action: Action,
    /// `User` or `Group`, when the request is about one resource type.
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<String>,
    /// The userName or group displayName the request was about.
    pub target: Option<String>,
    /// The filter expression of a list or search.
    pub filter: Option<String>,
    pub operations: Vec<OperationSummary>,
    pub status: u16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    /// The Hub rule that rejected the request, such as `owner_limit`.
    pub rule: Option<String>,
    pub duration_us: i64,
    pub request_id: String,
}

/// Longest stored text of each free-text field, in characters.
pub const MAX_TEXT: usize = 256;
pub const MAX_PATH: usize = 512;
pub const MAX_FILTER: usize = 1024;
pub const MAX_DETAIL: usize = 2048;
/// Most operations kept from one PATCH or `/Bulk` request.
pub const MAX_OPERATIONS: usize = 50;

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// Replaces a filter that compares `password` by a placeholder. Hub never stores passwords,
/// and a filter on one would carry a candidate password into the log.
pub fn redact_filter(filter: &str) -> String {
    if mentions_password(filter) {
        return "(a filter on password, not recorded)".to_string();
    }
    clip(filter, MAX_FILTER)
}

/// Tells whether a filter mentions `password`, ignoring case.
pub fn mentions_password(filter: &str) -> bool {
    contains_ignoring_case(filter, "password")
}

/// Decides whether a list or search is a lookup: an `eq` on one attribute, which is how Entra
/// and Okta look up a user or group before creating it.
pub fn is_lookup_filter(filter: &str) -> bool {
    let lowered = filter.to_ascii_lowercase();
    let has_eq = lowered.contains(" eq ");
    let combined = [" and ", " or ", "not(", "not ("].iter().any(|word| lowered.contains(word));
    has_eq && !combined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_recognised() {
        assert_eq!(Client::from_user_agent(Some("Microsoft.AAD.Provisioning")), Client::Entra);
        assert_eq!(Client::from_user_agent(Some("Okta SCIM Client 1.0.0")), Client::Okta);
        assert_eq!(Client::from_user_agent(Some("curl/8.5.0")), Client::Generic);
        assert_eq!(Client::from_user_agent(None), Client::Generic);
    }

    #[test]
    fn action_names_round_trip() {
        for action in ACTIONS {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        assert_eq!(Action::parse("CreateUser"), None);
    }

    #[test]
    fn lookups_told_from_lists() {
        assert!(is_lookup_filter("userName eq \"ada@example.com\""));
        assert!(is_lookup_filter("externalId EQ \"42\""));
        assert!(!is_lookup_filter("userName sw \"a\""));
        assert!(!is_lookup_filter("userName eq \"a\" or userName eq \"b\""));
    }

    #[test]
    fn long_text_clipped() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("ééé", 2), "éé…");
    }

    #[test]
    fn password_filters_withheld() {
        assert!(!redact_filter("password eq \"hunter2\"").contains("hunter2"));
        assert_eq!(redact_filter("userName eq \"x\""), "userName eq \"x\"");
    }
}
