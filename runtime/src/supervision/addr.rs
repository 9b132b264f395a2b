//! Stable addresses: a handle to a supervised child that stays valid across its restarts.
//!
//! ractor binds an `ActorRef` to one incarnation of an actor. An [`Addr`] is re-pointed by
//! the supervisor each time the child starts, so holders never see a stale reference: a
//! send while the child is between incarnations fails with [`NotDelivered`], giving the
//! message back, instead of vanishing into a dead mailbox.

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

struct Slot<M> {
    actor: ActorRef<M>,
    probe: Option<Arc<Probe>>,
}

struct AddrInner<M> {
    id: Arc<str>,
    slot: ArcSwapOption<Slot<M>>,
}

impl<M: Message> AddrInner<M> {
    /// Clears the address if it still points at incarnation `id`.
    fn clear_if(&self, id: ActorId) {
        let current = self.slot.load();
        if let Some(slot) = current.as_ref() {
            if slot.actor.get_id() == id {
                self.slot.compare_and_swap(&current, None::<Arc<Slot<M>>>);
            }
        }
    }
}

/// A restart-stable handle to a supervised child. Cheap to clone.
pub struct Addr<M> {
    inner: Arc<AddrInner<M>>,
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
    pub(crate) fn new(id: impl Into<Arc<str>>) -> Self {
        Self {
            inner: Arc::new(AddrInner {
                id: id.into(),
                slot: ArcSwapOption::empty(),
            }),
        }
    }

    pub(crate) fn point_to(&self, actor: ActorRef<M>, probe: Arc<Probe>) {
        self.inner.slot.store(Some(Arc::new(Slot {
            actor,
            probe: Some(probe),
        })));
    }

    pub(crate) fn point_to_unprobed(&self, actor: ActorRef<M>) {
        self.inner
            .slot
            .store(Some(Arc::new(Slot { actor, probe: None })));
    }

    /// Clears the address if it still points at incarnation `id` (the supervisor calls
    /// this when that incarnation is gone).
    pub(crate) fn clear_if(&self, id: ActorId) {
        self.inner.clear_if(id);
    }

    /// The child's id in its supervisor.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The current incarnation, if running.
    pub fn current(&self) -> Option<ActorRef<M>> {
        self.inner.slot.load().as_ref().map(|s| s.actor.clone())
    }

    /// True while an incarnation is running.
    pub fn is_running(&self) -> bool {
        self.inner.slot.load().is_some()
    }

    /// Sends a message to the current incarnation.
    #[inline]
    pub fn send(&self, msg: M) -> Result<(), NotDelivered<M>> {
        let guard = self.inner.slot.load();
        let Some(slot) = guard.as_ref() else {
            return Err(NotDelivered(msg));
        };
        if let Some(p) = &slot.probe {
            p.enqueued();
        }
        match slot.actor.cast(msg) {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Some(p) = &slot.probe {
                    p.unqueued();
                }
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
        let slot = self
            .inner
            .slot
            .load_full()
            .ok_or_else(|| RuntimeError::NotRunning(self.inner.id.to_string()))?;
        if let Some(p) = &slot.probe {
            p.enqueued();
        }
        match slot.actor.call(build, Some(timeout)).await {
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
