//! YAML -> Config, collecting every error.

use crate::{Config, ConfigError};
use std::path::Path;

pub(crate) fn from_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let _ = (path, env);
    todo!()
}

pub(crate) fn from_str(text: &str, source: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let _ = (text, source, env);
    todo!()
}
