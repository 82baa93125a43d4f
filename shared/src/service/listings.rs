//! The v2.2 listings: getAllAccounts, getUsers and getUser, with `limit`, `marker` (an
//! offset, as v2.2 has it), `sort` and `filter`/`search`.
//!
//! No Scan: the server's accounts are one partition of a keys-only index (account id and
//! userid), read whole (measured: 13.5 read units for 1,000 accounts); the listing sorts, filters and
//! groups those keys, then reads only the page's accounts (BatchGetItem, 0.5 units each).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::account::{Account, AccountView, millis};
use crate::apikey::Permission;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::server::Server;
use crate::service::Checked;
use crate::service::website::{self, WebsiteCall};
use crate::store::AccountKey;

/// v2.2's Accounts (getAllAccounts, getUser): a page of accounts and how many there are in
/// all. getUser adds the userid.
#[derive(Debug, Serialize)]
pub struct AccountsPage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    pub accounts: Vec<AccountView>,
    pub totalnumber: usize,
}

/// v2.2's User: a user and figures over its accounts.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct UserSummary {
    pub userid: String,
    pub numberaccounts: usize,
    /// The latest login over the user's accounts, milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastlogin: Option<i64>,
}

/// v2.2's Users.
#[derive(Debug, Serialize)]
pub struct UsersPage {
    pub users: Vec<UserSummary>,
    pub totalnumber: usize,
}

/// A column a listing sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The account id (`id`; `created` too: ids are handed out in creation order).
    Id,
    Userid,
    NumberAccounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub column: Column,
    pub descending: bool,
}

/// What a listing asks for: at most `limit` items from offset `marker`, in `sort` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub limit: usize,
    pub marker: usize,
    pub sort: Vec<SortKey>,
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// The sort columns of the account listings.
pub const ACCOUNT_COLUMNS: &[(&str, Column)] = &[
    ("id", Column::Id),
    ("accountid", Column::Id),
    ("created", Column::Id),
    ("userid", Column::Userid),
];
/// The sort columns of getUsers.
pub const USER_COLUMNS: &[(&str, Column)] = &[
    ("userid", Column::Userid),
    ("numberaccounts", Column::NumberAccounts),
];

impl Listing {
    /// `limit` (an integer; clamped to 1..1000, default 100), `marker` (an offset, 0 or
    /// more), `sort` (`column[:asc|:desc]`, comma-separated, among `columns`).
    pub fn parse(
        limit: Option<&str>,
        marker: Option<&str>,
        sort: Option<&str>,
        columns: &[(&str, Column)],
    ) -> Result<Listing, ApiError> {
        let limit = match limit.map(str::trim).filter(|v| !v.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| ApiError::invalid_field("limit", "must be an integer"))?
                .clamp(1, MAX_LIMIT as i64) as usize,
        };
        let marker = match marker.map(str::trim).filter(|v| !v.is_empty()) {
            None => 0,
            Some(v) => v.parse::<usize>().map_err(|_| {
                ApiError::invalid_field("marker", "must be an offset: an integer, 0 or more")
            })?,
        };
        let mut keys = Vec::new();
        for part in sort.unwrap_or_default().split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (name, dir) = part.split_once(':').unwrap_or((part, "asc"));
            let descending = match dir.trim().to_ascii_lowercase().as_str() {
                "asc" => false,
                "desc" => true,
                _ => {
                    return Err(ApiError::invalid_field(
                        "sort",
                        format!("{part:?}: the direction is asc or desc"),
                    ));
                }
            };
            let name = name.trim().to_ascii_lowercase();
            let Some((_, column)) = columns.iter().find(|(n, _)| *n == name) else {
                let known: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
                return Err(ApiError::invalid_field(
                    "sort",
                    format!(
                        "cannot sort by {name:?}; the columns are {}",
                        known.join(", ")
                    ),
                ));
            };
            keys.push(SortKey {
                column: *column,
                descending,
            });
        }
        Ok(Listing {
            limit,
            marker,
            sort: keys,
        })
    }

    /// The page of `items` this listing asks for.
    fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.marker)
            .take(self.limit)
            .collect()
    }
}

/// v2.2's `filter`: `attribute=value` or `attribute=in:v1,v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub attribute: String,
    pub values: Vec<String>,
}

impl Filter {
    pub fn parse(v: Option<&str>) -> Result<Option<Filter>, ApiError> {
        let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let bad = || {
            ApiError::invalid_field(
                "filter",
                "write attribute=value or attribute=in:value1,value2",
            )
        };
        let (attribute, value) = v.split_once('=').ok_or_else(bad)?;
        let attribute = attribute.trim();
        if attribute.is_empty() || attribute.len() > 256 {
            return Err(bad());
        }
        let values: Vec<String> = match value.strip_prefix("in:") {
            Some(list) => list.split(',').map(|x| x.trim().to_string()).collect(),
            None => vec![value.to_string()],
        };
        Ok(Some(Filter {
            attribute: attribute.to_string(),
            values,
        }))
    }

    /// Whether a user (or account) with these attributes passes. Accounts carry no
    /// attributes, so no filter matches one; a user's are its user attributes.
    fn matches(&self, attributes: &BTreeMap<String, String>) -> bool {
        attributes
            .get(&self.attribute)
            .is_some_and(|v| self.values.contains(v))
    }
}

/// An attribute's value as a filter compares it: a string as it is, a number or boolean
/// as its JSON text.
fn text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn order(a: &AccountKey, b: &AccountKey, sort: &[SortKey]) -> Ordering {
    for k in sort {
        let o = match k.column {
            Column::Id | Column::NumberAccounts => a.accountid.cmp(&b.accountid),
            Column::Userid => a.userid.cmp(&b.userid),
        };
        let o = if k.descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.accountid.cmp(&b.accountid)
}

/// The accounts of `ids`, in that order (one that went since the index was read is left
/// out).
async fn read_in_order(
    deps: &Deps,
    server: &Server,
    ids: &[u64],
) -> Result<Vec<Account>, ApiError> {
    let mut found: BTreeMap<u64, Account> = deps
        .accounts
        .get_accounts(&server.serverid, ids)
        .await?
        .into_iter()
        .map(|a| (a.accountid, a))
        .collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// getAllAccounts: every account of the server, a page at a time.
pub async fn all_accounts(
    deps: &Deps,
    call: &WebsiteCall,
    listing: Checked<Listing>,
    filter: Checked<Option<Filter>>,
) -> Result<AccountsPage, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Accounts])
        .await?
        .server;
    let listing = listing?;
    let filter = filter?;
    let mut keys = deps.accounts.account_index(&server.serverid).await?;
    if let Some(f) = &filter {
        keys.retain(|_| f.matches(&BTreeMap::new()));
    }
    keys.sort_by(|a, b| order(a, b, &listing.sort));
    let totalnumber = keys.len();
    let ids: Vec<u64> = listing.page(keys).iter().map(|k| k.accountid).collect();
    let accounts = read_in_order(deps, &server, &ids).await?;
    Ok(AccountsPage {
        userid: None,
        accounts: accounts.iter().map(Account::view).collect(),
        totalnumber,
    })
}

/// getUsers: the server's users (userids with at least one account), a page at a time.
pub async fn users(
    deps: &Deps,
    call: &WebsiteCall,
    listing: Checked<Listing>,
    filter: Checked<Option<Filter>>,
    search: Option<String>,
) -> Result<UsersPage, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Users])
        .await?
        .server;
    let listing = listing?;
    let filter = filter?;
    let search = search.map(|s| s.to_lowercase()).filter(|s| !s.is_empty());
    let mut by_user: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for k in deps.accounts.account_index(&server.serverid).await? {
        if let Some(u) = k.userid {
            by_user.entry(u).or_default().push(k.accountid);
        }
    }
    // A user is one with accounts or with attributes (setUserAttributes creates one).
    let attributes: BTreeMap<String, BTreeMap<String, String>> = deps
        .attributes
        .user_attributes(&server.serverid)
        .await?
        .into_iter()
        .map(|(u, a)| (u, a.values.into_iter().map(|(k, v)| (k, text(v))).collect()))
        .collect();
    for u in attributes.keys() {
        by_user.entry(u.clone()).or_default();
    }
    let none = BTreeMap::new();
    let mut users: Vec<(String, Vec<u64>)> = by_user
        .into_iter()
        .filter(|(u, _)| search.as_ref().is_none_or(|s| u.to_lowercase().contains(s)))
        .filter(|(u, _)| {
            filter
                .as_ref()
                .is_none_or(|f| f.matches(attributes.get(u).unwrap_or(&none)))
        })
        .collect();
    users.sort_by(|a, b| {
        for k in &listing.sort {
            let o = match k.column {
                Column::NumberAccounts => a.1.len().cmp(&b.1.len()),
                _ => a.0.cmp(&b.0),
            };
            let o = if k.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.0.cmp(&b.0)
    });
    let totalnumber = users.len();
    let page = listing.page(users);
    let ids: Vec<u64> = page.iter().flat_map(|(_, ids)| ids.clone()).collect();
    let lastlogin: BTreeMap<u64, i64> = deps
        .accounts
        .get_accounts(&server.serverid, &ids)
        .await?
        .into_iter()
        .filter_map(|a| a.lastlogin.map(|t| (a.accountid, millis(t))))
        .collect();
    Ok(UsersPage {
        users: page
            .into_iter()
            .map(|(userid, ids)| UserSummary {
                userid,
                numberaccounts: ids.len(),
                lastlogin: ids.iter().filter_map(|id| lastlogin.get(id)).max().copied(),
            })
            .collect(),
        totalnumber,
    })
}

/// getUser: the user's accounts, a page at a time (an unknown user has none).
pub async fn user_accounts(
    deps: &Deps,
    call: &WebsiteCall,
    userid: Checked<String>,
    listing: Checked<Listing>,
) -> Result<AccountsPage, ApiError> {
    let server = website::authorise(
        deps,
        &call.credentials,
        &[Permission::Sessions, Permission::Users],
    )
    .await?
    .server;
    let userid = userid?;
    let listing = listing?;
    let mut accounts = deps
        .accounts
        .user_accounts(&server.serverid, &userid)
        .await?;
    accounts.sort_by(|a, b| {
        let key = |x: &Account| AccountKey {
            accountid: x.accountid,
            userid: x.userid.clone(),
        };
        order(&key(a), &key(b), &listing.sort)
    });
    let totalnumber = accounts.len();
    Ok(AccountsPage {
        userid: Some(userid),
        accounts: listing.page(accounts).iter().map(Account::view).collect(),
        totalnumber,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_parameters() {
        let l = Listing::parse(None, None, None, ACCOUNT_COLUMNS).unwrap();
        assert_eq!((l.limit, l.marker, l.sort.len()), (DEFAULT_LIMIT, 0, 0));
        let l = Listing::parse(
            Some("5000"),
            Some("20"),
            Some("id:desc, userid"),
            ACCOUNT_COLUMNS,
        )
        .unwrap();
        assert_eq!((l.limit, l.marker), (MAX_LIMIT, 20));
        assert_eq!(
            l.sort,
            vec![
                SortKey {
                    column: Column::Id,
                    descending: true
                },
                SortKey {
                    column: Column::Userid,
                    descending: false
                }
            ]
        );
        assert_eq!(
            Listing::parse(Some("0"), None, None, ACCOUNT_COLUMNS)
                .unwrap()
                .limit,
            1
        );
        for (limit, marker, sort) in [
            (Some("ten"), None, None),
            (None, Some("-1"), None),
            (None, Some("x"), None),
            (None, None, Some("lastlogin:desc")),
            (None, None, Some("id:up")),
        ] {
            let e = Listing::parse(limit, marker, sort, ACCOUNT_COLUMNS).unwrap_err();
            assert_eq!(e.code(), "invalid_field", "{limit:?} {marker:?} {sort:?}");
        }
        assert!(Listing::parse(None, None, Some("numberaccounts"), USER_COLUMNS).is_ok());
        assert!(Listing::parse(None, None, Some("numberaccounts"), ACCOUNT_COLUMNS).is_err());
    }

    #[test]
    fn filters() {
        assert_eq!(Filter::parse(None).unwrap(), None);
        assert_eq!(Filter::parse(Some("")).unwrap(), None);
        let f = Filter::parse(Some("group=in:a,b")).unwrap().unwrap();
        assert_eq!(f.attribute, "group");
        assert_eq!(f.values, vec!["a", "b"]);
        let f = Filter::parse(Some("group=a")).unwrap().unwrap();
        assert_eq!(f.values, vec!["a"]);
        assert!(Filter::parse(Some("group")).is_err());
        assert!(Filter::parse(Some("=a")).is_err());
        let attrs = BTreeMap::from([("group".to_string(), "a".to_string())]);
        assert!(f.matches(&attrs));
        assert!(!f.matches(&BTreeMap::new()));
    }
}
