//! What a config may name besides the built-in keywords: the ACL fetches
//! and balance algorithms an embedding program registered.

use fairway_acl::Fetches;
use std::sync::Arc;

/// The built-in balance algorithms as errors list them.
pub const BUILTIN_ALGORITHMS: &str =
    "roundrobin, leastconn, source, random, first, uri, url_param(NAME), hdr(NAME), latency, ewma";

/// The balance algorithms a config may name: what fairway's selector
/// registry tells the loader (this crate knows nothing of selectors).
///
/// The built-in names (`roundrobin`, `url_param(NAME)`, ...) always parse to
/// their own [`Balance`](crate::Balance) variants; any other name is asked
/// here and becomes [`Balance::Custom`](crate::Balance::Custom).
pub trait Algorithms: Send + Sync {
    /// Every registered algorithm, built-in ones included, as an error
    /// lists them: `roundrobin, leastconn, ..., p99`.
    fn listing(&self) -> String;

    /// `None` when `name` is not registered; otherwise whether `arg` (of
    /// `name(arg)`) suits it, with a message when not.
    fn check(&self, name: &str, arg: Option<&str>) -> Option<Result<(), String>>;
}

/// How `${VAR}` is looked up.
type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Options of [`Config::from_yaml_str_with`](crate::Config::from_yaml_str_with)
/// and [`Config::from_file_with`](crate::Config::from_file_with).
///
/// The default: the built-in fetches and algorithms, `${VAR}` from the
/// process environment.
#[derive(Clone, Default)]
pub struct LoadOptions {
    fetches: Option<Arc<Fetches>>,
    algorithms: Option<Arc<dyn Algorithms>>,
    env: Option<Env>,
}

impl LoadOptions {
    /// The default options.
    pub fn new() -> Self {
        LoadOptions::default()
    }

    /// ACL lines may use the fetches of `fetches`.
    pub fn fetches(mut self, fetches: Arc<Fetches>) -> Self {
        self.fetches = Some(fetches);
        self
    }

    /// `balance:` may name the algorithms of `algorithms`.
    pub fn algorithms(mut self, algorithms: Arc<dyn Algorithms>) -> Self {
        self.algorithms = Some(algorithms);
        self
    }

    /// `${VAR}` is looked up through `env`.
    pub fn env(mut self, env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Some(Arc::new(env));
        self
    }

    /// The fetches ACL lines may use.
    pub fn fetch_registry(&self) -> Arc<Fetches> {
        match &self.fetches {
            Some(f) => Arc::clone(f),
            None => Fetches::shared_builtin(),
        }
    }

    /// The registered algorithms as errors list them.
    pub fn algorithm_listing(&self) -> String {
        match &self.algorithms {
            Some(a) => a.listing(),
            None => BUILTIN_ALGORITHMS.to_string(),
        }
    }

    /// Checks a non-built-in algorithm name (see [`Algorithms::check`]).
    pub fn check_algorithm(&self, name: &str, arg: Option<&str>) -> Option<Result<(), String>> {
        self.algorithms.as_ref()?.check(name, arg)
    }

    /// The value of `${name}`.
    pub(crate) fn var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(env) => env(name),
            None => std::env::var(name).ok(),
        }
    }
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("fetches", &self.fetch_registry())
            .field("algorithms", &self.algorithm_listing())
            .finish_non_exhaustive()
    }
}
