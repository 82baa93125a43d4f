//! The coarse location of an address, from a GeoIP database the operator provides (MaxMind
//! DB format: GeoLite2 or GeoIP2 Country or City, DB-IP's lite databases, or one of the
//! operator's own). Looked up in the file, never over the network. Optional: with no
//! database, the phone is shown the proximity verdict alone.
//!
//! The file is memory-mapped, so a 60 MB city database costs the pages that lookups touch,
//! not a read of the whole file at a cold start. A mapped file must not be rewritten in
//! place while a process has it open: a Lambda layer is read-only, and a local operator
//! replaces the file by renaming a new one over it (the open mapping keeps the old one).

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::proximity::Location;

/// `NSAUTH_GEOIP_DATABASE`: the database's path (the template puts it in the GeoIP layer).
pub const ENV: &str = "NSAUTH_GEOIP_DATABASE";

pub struct GeoIp {
    reader: maxminddb::Reader<maxminddb::Mmap>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.reader.metadata();
        f.debug_struct("GeoIp")
            .field("database_type", &m.database_type)
            .field("build_epoch", &m.build_epoch)
            .finish()
    }
}

/// The part of a GeoIP2/GeoLite2 City or Country record this server reads.
#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    country: Option<Place>,
    /// Where the address block is registered: the country of a record without `country`
    /// (an anycast or satellite block, say).
    #[serde(default)]
    registered_country: Option<Place>,
    #[serde(default)]
    subdivisions: Vec<Place>,
    #[serde(default)]
    city: Option<Place>,
}

#[derive(Deserialize)]
struct Place {
    #[serde(default)]
    iso_code: Option<String>,
    #[serde(default)]
    names: Option<Names>,
}

#[derive(Deserialize)]
struct Names {
    #[serde(default)]
    en: Option<String>,
}

impl Place {
    fn name(&self) -> Option<String> {
        self.names.as_ref()?.en.clone()
    }
}

impl GeoIp {
    /// Opens the database at `path`, with its metadata checked.
    pub fn open(path: &Path) -> Result<GeoIp, String> {
        // SAFETY: the mapping is read only, and the file is not rewritten in place while
        // it is mapped (the module's comment: a read-only layer, or replaced by a rename).
        let reader = unsafe { maxminddb::Reader::open_mmap(path) }
            .map_err(|e| format!("{ENV} {}: not a MaxMind DB file: {e}", path.display()))?;
        Ok(GeoIp { reader })
    }

    /// The database `NSAUTH_GEOIP_DATABASE` names, or `None` when it names none. A path
    /// that does not open is an error, as any other bad configuration is: the function
    /// does not start, rather than run without the locations the operator asked for.
    pub fn from_env() -> Result<Option<GeoIp>, String> {
        match std::env::var(ENV) {
            Ok(p) if !p.trim().is_empty() => GeoIp::open(Path::new(p.trim())).map(Some),
            _ => Ok(None),
        }
    }

    /// The location of a textual address; `None` for an address that is no public one
    /// (those are not in any GeoIP database), or that the database does not know.
    pub fn locate(&self, ip: &str) -> Option<Location> {
        let ip = ip.trim().parse::<IpAddr>().ok()?.to_canonical();
        if crate::proximity::is_local(ip) {
            return None;
        }
        let record = match self.reader.lookup(ip).and_then(|r| r.decode::<Record>()) {
            Ok(r) => r?,
            Err(e) => {
                // An IPv6 address in an IPv4-only database lands here too.
                tracing::debug!(error = %e, "no GeoIP record");
                return None;
            }
        };
        let country = record.country.or(record.registered_country);
        let location = Location {
            country: country.as_ref().and_then(|c| c.iso_code.clone()),
            country_name: country.as_ref().and_then(Place::name),
            region: record.subdivisions.first().and_then(Place::name),
            city: record.city.as_ref().and_then(Place::name),
        };
        (location != Location::default()).then_some(location)
    }
}
