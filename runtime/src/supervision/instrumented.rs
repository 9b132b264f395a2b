//! The wrapper that every supervised actor runs inside.
//!
//! [`Supervised`] wraps an actor `A` with the same message type. Around each handler it
//! updates the actor's [`Probe`] (progress for frozen-actor detection, messages handled,
//! handle latency), opens a tracing span, and turns a panic into a counted failure.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::Instrument;

use crate::metrics::ProbeGuard;

/// One message in this many has its handle time measured (`seawatch_actor_handle_seconds`
/// is a sampled histogram; `seawatch_actor_messages_total` counts every message). Reading
/// the clock twice costs about a tenth of a bare ractor message, so it is done rarely: a
/// power of two, so the test is a mask.
pub const HANDLE_TIME_SAMPLE: u64 = 64;

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

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.inner.post_start(myself, &mut state.inner).await
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.inner.post_stop(myself, &mut state.inner).await
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Borrow the probe through the guard's Arc (no clone: that would be two locked
        // atomic operations per message). Reading the clock twice costs about as much as a
        // bare ractor message here, so handle time is sampled: one message in
        // HANDLE_TIME_SAMPLE is timed.
        let started = {
            let probe = state.probe.probe();
            let started = (probe.handled() & (HANDLE_TIME_SAMPLE - 1) == 0).then(Instant::now);
            probe.begin();
            started
        };
        let inner = &mut state.inner;
        let result = if tracing::enabled!(tracing::Level::TRACE) {
            // Boxed: the span and its wrapper then take a pointer in every actor's task,
            // not their full size, and only when TRACE is on is anything allocated.
            let span = tracing::trace_span!("handle", kind = state.probe.stats().kind());
            let traced: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
                Box::pin(
                    AssertUnwindSafe(self.inner.handle(myself, message, inner))
                        .catch_unwind()
                        .instrument(span),
                );
            traced.await
        } else {
            AssertUnwindSafe(self.inner.handle(myself, message, inner))
                .catch_unwind()
                .await
        };
        state.probe.end(started.map(|t| t.elapsed()));
        match result {
            Ok(r) => r,
            Err(payload) => {
                state.probe.stats().record_panic();
                let msg = panic_message(&*payload);
                Err(format!("panicked: {msg}").into())
            }
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.inner
            .handle_supervisor_evt(myself, message, &mut state.inner)
            .await
    }
}
