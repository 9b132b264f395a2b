//! OTP-style supervision on ractor.
//!
//! ractor reports a child's exit to its linked parent and leaves the policy to it. A
//! [`Supervisor`] is that parent: it owns an ordered list of [`ChildSpec`]s and applies
//! OTP semantics: strategies ([`Strategy`]), restart types ([`Restart`]), restart
//! intensity with escalation ([`Intensity`]), exponential backoff with jitter
//! ([`Backoff`]), ordered start and reverse-ordered shutdown with a per-child timeout
//! ([`Shutdown`]), dynamic children, stable addresses ([`Addr`]) and frozen-actor
//! detection. Trees are data: [`tree::TreeSpec`] builds one from config.

mod addr;
mod children;
mod instrumented;
mod spec;
mod supervisor;
mod task;
pub mod tree;

pub use addr::{Addr, NotDelivered};
pub use instrumented::{Supervised, SupervisedArgs, SupervisedState, HANDLE_TIME_SAMPLE};
pub use spec::{
    Backoff, ChildSpec, Intensity, Restart, Shutdown, StartCtx, Started, Strategy, SupervisorSpec,
};
pub use supervisor::{
    start_root, ChildInfo, ExitRecord, Supervisor, SupervisorArgs, SupervisorHandle, SupervisorMsg,
};
pub use task::{TaskMsg, TaskStop};

#[cfg(test)]
mod tests;
