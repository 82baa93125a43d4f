//! Configuration from the environment.

/// What a function needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table (`NSAUTH_TABLE`).
    pub table: String,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        let table = std::env::var("NSAUTH_TABLE")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or("NSAUTH_TABLE is not set: name the DynamoDB table")?;
        Ok(Config { table })
    }
}
