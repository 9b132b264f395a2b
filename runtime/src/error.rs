//! Errors of the runtime crate.

/// What can go wrong in supervision, sharding and the runtime's HTTP endpoints.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A child's start function failed (its `pre_start` returned an error or panicked).
    #[error("child `{child}` failed to start: {reason}")]
    StartFailed {
        /// The child's id in its supervisor.
        child: String,
        /// Why it failed, as reported by the actor.
        reason: String,
    },
    /// A child with this id already exists under the supervisor.
    #[error("a child with id `{0}` already exists")]
    DuplicateChild(String),
    /// No child with this id exists under the supervisor.
    #[error("no child with id `{0}`")]
    NoSuchChild(String),
    /// The actor addressed is not running (stopped, or between restarts).
    #[error("actor `{0}` is not running")]
    NotRunning(String),
    /// A request to an actor got no answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// A supervision spec is inconsistent.
    #[error("invalid supervision spec: {0}")]
    InvalidSpec(String),
    /// An I/O error (binding a listener, for example).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result with [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
