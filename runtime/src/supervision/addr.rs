//! Stable addresses: a handle to a supervised child that stays valid across its restarts.
//!
//! ractor binds an `ActorRef` to one incarnation of an actor. An [`Addr`] is re-pointed by
//! the supervisor each time the child starts, so holders never see a stale reference: a
//! send while the child is between incarnations fails with [`NotDelivered`], giving the
//! message back, instead of vanishing into a dead mailbox.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use ractor::rpc::CallResult;
use ractor::{ActorId, ActorRef, Message, MessagingErr, RpcReplyPort};

use crate::error::RuntimeError;
use crate::metrics::Probe;

/// A message that could not be delivered because the actor was not running.
#[derive(Debug)]
pub struct NotDelivered<M>(pub M);

impl<M> std::fmt::Display for NotDelivered<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("actor not running; message not delivered")
    }
}

impl<M: std::fmt::Debug> std::error::Error for NotDelivered<M> {}

/// What a stable address and its child's start object share: one allocation per child
/// holds the child's id, the current incarnation (its probe, which carries the cell) and,
/// as its tail, whatever else the child's start needs (an actor child's factory).
pub(crate) struct AddrInner<M, T: ?Sized = ()> {
    id: Arc<str>,
    slot: ArcSwapOption<Probe>,
    _msg: PhantomData<fn(M)>,
    /// The rest of the child's start object (`()` when there is none).
    pub(crate) tail: T,
}

/// Anything that may sit in an address's tail.
pub(crate) trait Tail: Send + Sync {}

impl<T: Send + Sync> Tail for T {}

impl<M: Message, T: ?Sized> AddrInner<M, T> {
    /// Clears the address if it still points at incarnation `id`.
    pub(crate) fn clear_if(&self, id: ActorId) {
        let current = self.slot.load();
        if let Some(probe) = current.as_ref() {
            if probe.cell().map(|c| c.get_id()) == Some(id) {
                self.slot.compare_and_swap(&current, None::<Arc<Probe>>);
            }
        }
    }

    /// Points the address at a started incarnation, through its probe (which has its cell).
    pub(crate) fn point_to(&self, probe: Arc<Probe>) {
        debug_assert!(probe.cell().is_some(), "a probe pointed to has its cell");
        self.slot.store(Some(probe));
    }
}

/// A restart-stable handle to a supervised child. Cheap to clone.
pub struct Addr<M> {
    inner: Arc<AddrInner<M, dyn Tail>>,
}

impl<M> Clone for Addr<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M> std::fmt::Debug for Addr<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Addr")
            .field("id", &self.inner.id)
            .field("running", &self.inner.slot.load().is_some())
            .finish()
    }
}

impl<M: Message> Addr<M> {
    /// A child's shared allocation with `tail` in it, and the address over it.
    pub(crate) fn with_tail<T: Tail + 'static>(
        id: Arc<str>,
        tail: T,
    ) -> (Arc<AddrInner<M, T>>, Self) {
        let inner = Arc::new(AddrInner {
            id,
            slot: ArcSwapOption::empty(),
            _msg: PhantomData,
            tail,
        });
        let addr = Self {
            inner: inner.clone(),
        };
        (inner, addr)
    }

    /// The child's id in its supervisor.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The current incarnation, if running.
    pub fn current(&self) -> Option<ActorRef<M>> {
        let guard = self.inner.slot.load();
        guard.as_ref()?.cell().map(|c| ActorRef::from(c.clone()))
    }

    /// True while an incarnation is running.
    pub fn is_running(&self) -> bool {
        self.inner.slot.load().is_some()
    }

    /// Sends a message to the current incarnation.
    #[inline]
    pub fn send(&self, msg: M) -> Result<(), NotDelivered<M>> {
        let guard = self.inner.slot.load();
        let Some((probe, cell)) = guard.as_ref().and_then(|p| Some((p, p.cell()?))) else {
            return Err(NotDelivered(msg));
        };
        probe.enqueued();
        match cell.send_message(msg) {
            Ok(()) => Ok(()),
            Err(e) => {
                probe.unqueued();
                match e {
                    MessagingErr::SendErr(m) => Err(NotDelivered(m)),
                    _ => Err(NotDelivered(unreachable_msg())),
                }
            }
        }
    }

    /// Sends a request built by `build` and waits up to `timeout` for the reply.
    pub async fn call<R, F>(&self, build: F, timeout: Duration) -> Result<R, RuntimeError>
    where
        R: Send + 'static,
        F: FnOnce(RpcReplyPort<R>) -> M,
    {
        let not_running = || RuntimeError::NotRunning(self.inner.id.to_string());
        let probe = self.inner.slot.load_full().ok_or_else(not_running)?;
        let actor: ActorRef<M> = probe.cell().cloned().ok_or_else(not_running)?.into();
        probe.enqueued();
        match actor.call(build, Some(timeout)).await {
            Ok(CallResult::Success(r)) => Ok(r),
            Ok(CallResult::Timeout) => Err(RuntimeError::Timeout(format!(
                "reply from `{}`",
                self.inner.id
            ))),
            Ok(CallResult::SenderError) | Err(_) => {
                Err(RuntimeError::NotRunning(self.inner.id.to_string()))
            }
        }
    }
}

#[cold]
fn unreachable_msg<M>() -> M {
    // `cast` on a local actor only fails with SendErr, which returns the message; the other
    // variants exist for remote actors, which seawatch does not use.
    panic!("ractor returned a non-SendErr error from a local cast")
}
