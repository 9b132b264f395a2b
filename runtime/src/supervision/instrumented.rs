//! The wrapper that every supervised actor runs inside.
//!
//! [`Supervised`] wraps an actor `A` with the same message type. Around each handler it
//! updates the actor's [`Probe`] (progress for frozen-actor detection, messages handled,
//! handle latency), opens a tracing span, and turns a panic into a counted failure.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::Instrument;

use crate::metrics::ProbeGuard;

/// One message in this many has its handle time measured (`seawatch_actor_handle_seconds`
/// is a sampled histogram; `seawatch_actor_messages_total` counts every message). Reading
/// the clock twice costs about a tenth of a bare ractor message, so it is done rarely: a
/// power of two, so the test is a mask.
pub const HANDLE_TIME_SAMPLE: u64 = 64;

pin_project_lite::pin_project! {
    /// A supervised handler's future: the inner handler's, whose end (or panic) it marks
    /// on the probe.
    pub struct Handled<'p, F> {
        #[pin]
        inner: F,
        probe: &'p ProbeGuard,
    }
}

impl<F> Future for Handled<'_, F>
where
    F: Future<Output = Result<(), ActorProcessingErr>>,
{
    type Output = Result<(), ActorProcessingErr>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let result = match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(r)) => r,
            Err(payload) => {
                this.probe.stats().record_panic();
                Err(format!("panicked: {}", panic_message(&*payload)).into())
            }
        };
        let p = this.probe.probe();
        // Still busy (odd): half of it is the messages handled before this one, which
        // decided whether this one is timed.
        let timed = (p.progress() / 2) & (HANDLE_TIME_SAMPLE - 1) == 0;
        this.probe.end(timed.then(|| p.sample_elapsed()));
        Poll::Ready(result)
    }
}

/// Runs actor `A` with instrumentation; see the module docs.
#[derive(Debug)]
pub struct Supervised<A> {
    inner: A,
}

impl<A> Supervised<A> {
    /// Wraps `inner`.
    pub fn new(inner: A) -> Self {
        Self { inner }
    }
}

/// Start arguments of a [`Supervised`] actor.
pub struct SupervisedArgs<Args> {
    args: Args,
    probe: ProbeGuard,
}

impl<Args> SupervisedArgs<Args> {
    /// The inner actor's arguments and the probe of this incarnation.
    pub fn new(args: Args, probe: ProbeGuard) -> Self {
        Self { args, probe }
    }
}

/// State of a [`Supervised`] actor: the inner state and the probe.
pub struct SupervisedState<S> {
    /// The wrapped actor's state.
    pub inner: S,
    probe: ProbeGuard,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl<A: Actor> Actor for Supervised<A> {
    type Msg = A::Msg;
    type State = SupervisedState<A::State>;
    type Arguments = SupervisedArgs<A::Arguments>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let inner = self.inner.pre_start(myself, args.args).await?;
        Ok(SupervisedState {
            inner,
            probe: args.probe,
        })
    }

    // The forwarding methods return the inner actor's future itself (no async wrapper):
    // a wrapper would hold the arguments as well as the inner future, and every one of
    // these futures is part of the actor's processing loop, which lives as long as the
    // actor. `SupervisionEvent` is large, so `handle_supervisor_evt` mattered most.

    fn post_start<'s, 'st>(
        &'s self,
        myself: ActorRef<Self::Msg>,
        state: &'st mut Self::State,
    ) -> impl std::future::Future<Output = Result<(), ActorProcessingErr>> + Send + use<'s, 'st, A>
    {
        self.inner.post_start(myself, &mut state.inner)
    }

    fn post_stop<'s, 'st>(
        &'s self,
        myself: ActorRef<Self::Msg>,
        state: &'st mut Self::State,
    ) -> impl std::future::Future<Output = Result<(), ActorProcessingErr>> + Send + use<'s, 'st, A>
    {
        self.inner.post_stop(myself, &mut state.inner)
    }

    fn handle<'s, 'st>(
        &'s self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &'st mut Self::State,
    ) -> impl std::future::Future<Output = Result<(), ActorProcessingErr>> + Send + use<'s, 'st, A>
    {
        // The bookkeeping before the handler runs is done here, synchronously, and the
        // future returned is the inner handler's with only the probe beside it (not an
        // `async` block holding the arguments, the sample's start and its own state): its
        // size is the inner future's plus a pointer, so ractor moves it per message as it
        // would the bare actor's.
        let SupervisedState { inner, probe } = state;
        // Borrow the probe through the guard's Arc (no clone: that would be two locked
        // atomic operations per message). Reading the clock twice costs about as much as a
        // bare ractor message here, so handle time is sampled: one message in
        // HANDLE_TIME_SAMPLE is timed.
        let p = probe.probe();
        if p.handled() & (HANDLE_TIME_SAMPLE - 1) == 0 {
            p.mark_sample_start();
        }
        p.begin();
        let handled = self.inner.handle(myself, message, inner);
        let handled = if tracing::enabled!(tracing::Level::TRACE) {
            // Boxed: the span and its wrapper then take a pointer in every actor's task,
            // not their full size, and only when TRACE is on is anything allocated.
            let span = tracing::trace_span!("handle", kind = probe.stats().kind());
            futures::future::Either::Left(Box::pin(handled.instrument(span)))
        } else {
            futures::future::Either::Right(handled)
        };
        Handled {
            inner: handled,
            probe,
        }
    }

    fn handle_supervisor_evt<'s, 'st>(
        &'s self,
        myself: ActorRef<Self::Msg>,
        message: SupervisionEvent,
        state: &'st mut Self::State,
    ) -> impl std::future::Future<Output = Result<(), ActorProcessingErr>> + Send + use<'s, 'st, A>
    {
        self.inner
            .handle_supervisor_evt(myself, message, &mut state.inner)
    }
}
