//! [`Builder`]: a [`Fairway`] with the embedding program's own balance
//! algorithms, ACL fetches and hooks.

use crate::balance::{SelectorFactory, Selectors};
use crate::hook::Hook;
use crate::runtime::Extensions;
use crate::{Config, ConfigError, Fairway};
use fairway_acl::{FetchFactory, Fetches, SampleFetch};
use fairway_config::{Balance, LoadOptions};
use std::path::PathBuf;
use std::sync::Arc;

/// Builds a [`Fairway`] with registered extensions; made by
/// [`Fairway::builder`].
///
/// ```no_run
/// # use fairway::balance::Selector;
/// # use fairway::hook::Hook;
/// # use fairway::acl::{Request, SampleFetch};
/// # struct P99;
/// # impl Selector for P99 {
/// #     fn select(&self, _: &[std::sync::Arc<fairway::upstream::Server>], _: Option<u64>, _: &dyn Fn(usize) -> bool) -> Option<usize> { None }
/// # }
/// # struct Country;
/// # impl SampleFetch for Country {
/// #     fn sample(&self, _: &dyn Request, _: Option<&str>, _: &mut dyn FnMut(&[u8]) -> bool) -> bool { false }
/// # }
/// # struct Audit;
/// # impl Hook for Audit {}
/// let fairway = fairway::Fairway::builder()
///     .selector("p99", |_weights: &[u32]| P99)
///     .fetch("country", Country)
///     .hook(Audit)
///     .config_file("/etc/fairway/fairway.yaml")
///     .build()?;
/// # Ok::<(), fairway::BuildError>(())
/// ```
///
/// The config is loaded once everything is registered, so it may name the
/// registered algorithms (`balance: p99`) and fetches (`country -i de`);
/// a name that is not registered is a load error listing those that are.
/// Reloads (SIGHUP, the admin API) load with the same registrations.
#[must_use]
pub struct Builder {
    selectors: Selectors,
    fetches: Fetches,
    hooks: Vec<Arc<dyn Hook>>,
    source: Source,
    errors: Vec<String>,
}

enum Source {
    None,
    File(PathBuf),
    Yaml { text: String, name: String },
    Config(Box<Config>),
}

/// Why [`Builder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The config did not load; every problem is listed.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// No config was given (`config`, `config_file` or `config_yaml`).
    #[error("no config given to the builder")]
    NoConfig,
    /// A registration was refused (an invalid name).
    #[error("{0}")]
    Register(String),
    /// A config given as a [`Config`] names an algorithm that is not
    /// registered (load it with [`Builder::load_options`]).
    #[error("backend `{backend}`: unknown balance algorithm `{name}` (registered: {registered})")]
    UnknownAlgorithm {
        /// The backend.
        backend: String,
        /// The algorithm's name.
        name: String,
        /// The registered algorithms.
        registered: String,
    },
}

impl Builder {
    pub(crate) fn new() -> Self {
        Builder {
            selectors: Selectors::builtin(),
            fetches: Fetches::builtin(),
            hooks: Vec::new(),
            source: Source::None,
            errors: Vec::new(),
        }
    }

    /// Registers a balance algorithm: backends may say `balance: NAME`
    /// (or `NAME(ARG)`, see [`SelectorFactory::arg`]). A built-in name
    /// replaces the built-in algorithm.
    pub fn selector(mut self, name: &str, factory: impl SelectorFactory) -> Self {
        if let Err(e) = self.selectors.register(name, factory) {
            self.errors.push(e.to_string());
        }
        self
    }

    /// Registers an ACL fetch: ACL lines may start with `NAME` (or
    /// `NAME(ARG)`, see [`SampleFetch::arg`]) and use every flag and
    /// matcher of string fetches.
    pub fn fetch(mut self, name: &str, fetch: impl SampleFetch) -> Self {
        if let Err(e) = self.fetches.add(name, fetch) {
            self.errors.push(e.message);
        }
        self
    }

    /// Registers a fetch by its [`FetchFactory`], which compiles
    /// `NAME(ARG)` to any [`Fetch`](fairway_acl::Fetch), built-in variants
    /// included (e.g. an alias `country` for `hdr(cf-ipcountry)`).
    pub fn fetch_factory(mut self, name: &str, factory: Arc<dyn FetchFactory>) -> Self {
        if let Err(e) = self.fetches.register(name, factory) {
            self.errors.push(e.message);
        }
        self
    }

    /// Adds a hook; hooks run in the order they are added.
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Loads the config from `path` at [`Builder::build`] (and reloads
    /// re-read it).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Source::File(path.into());
        self
    }

    /// Loads the config from YAML `text` at [`Builder::build`];
    /// `source_name` names it in errors.
    pub fn config_yaml(mut self, text: impl Into<String>, source_name: impl Into<String>) -> Self {
        self.source = Source::Yaml {
            text: text.into(),
            name: source_name.into(),
        };
        self
    }

    /// Uses a config already loaded (with [`Builder::load_options`] if it
    /// names registered algorithms or fetches).
    pub fn config(mut self, config: Config) -> Self {
        self.source = Source::Config(Box::new(config));
        self
    }

    /// The options that load a config naming what is registered so far.
    pub fn load_options(&self) -> LoadOptions {
        self.extensions().load_options()
    }

    fn extensions(&self) -> Extensions {
        Extensions {
            selectors: Arc::new(self.selectors.clone()),
            fetches: Arc::new(self.fetches.clone()),
            hooks: self.hooks.iter().cloned().collect(),
        }
    }

    /// Loads the config and builds the [`Fairway`].
    pub fn build(self) -> Result<Fairway, BuildError> {
        if let Some(e) = self.errors.first() {
            return Err(BuildError::Register(e.clone()));
        }
        let extensions = self.extensions();
        let options = extensions.load_options();
        let config = match self.source {
            Source::None => return Err(BuildError::NoConfig),
            Source::File(path) => Config::from_file_with(path, &options)?,
            Source::Yaml { text, name } => Config::from_yaml_str_with(&text, &name, &options)?,
            Source::Config(config) => *config,
        };
        for b in &config.backends {
            if let Balance::Custom { name, .. } = &b.balance {
                if extensions.selectors.get(name).is_none() {
                    return Err(BuildError::UnknownAlgorithm {
                        backend: b.name.clone(),
                        name: name.clone(),
                        registered: extensions.selectors.listing(),
                    });
                }
            }
        }
        Ok(Fairway::with_extensions(config, extensions))
    }
}
