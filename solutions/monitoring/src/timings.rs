//! The "profiling decorator": `#[tracing::instrument]` on a function is all
//! it takes to have its duration in `function_duration_seconds`, because
//! this layer times every span from creation to close.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus::{HistogramOpts, HistogramVec};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// One per process, like the subscriber that feeds it; every service's
/// registry exposes it.
pub static FUNCTION_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    let opts = HistogramOpts::new("function_duration_seconds", "Time spent in each instrumented function.")
        .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]);
    HistogramVec::new(opts, &["function"]).expect("a valid histogram")
});

/// Times every span.
#[derive(Debug)]
pub struct SpanTimings;

struct Started(Instant);

impl<S> Layer<S> for SpanTimings
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let _ = attrs;
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(Started(at)) = span.extensions().get::<Started>()
        {
            // The label is the function's name: a fixed set, never a value from a request.
            FUNCTION_DURATION.with_label_values(&[span.name()]).observe(at.elapsed().as_secs_f64());
        }
    }
}
